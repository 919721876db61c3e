/* libtnat64: the core shared by the per-call files (socket.c, connect.c, ...).
 *
 * rfc6052.c  address synthesis      config.c    tnat64.conf, rule resolution
 * registry.c which fds we swapped   cache.c     what worked, per destination
 * log.c      one-line diagnostics   init.c      real libc calls, process-wide state
 * route.c    NAT64 or IPv4, fallback sockaddr.c  what the program sees of a served socket
 * filter.c   keeping native IPv6 out of a swapped socket
 */
#ifndef TNAT64_H
#define TNAT64_H

#include <limits.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <time.h>

#include "defaults.h"
#include "../bpf/tnat64.h"

/* Only the intercepted calls are exported; everything else stays inside the library. */
#define TNAT64_EXPORT __attribute__((visibility("default")))

/* Whether the library may touch `size` bytes the program pointed at before the kernel has: a
 * pointer into the first page or the top quarter of the address space (the kernel's half) is left
 * for the kernel to refuse (EFAULT), as it does, rather than faulting in the library. */
static inline bool user_memory(const void *p, size_t size)
{
	/* One compare: below the first page wraps round to beyond the bound. */
	return (uintptr_t)p - 4096 < ((uintptr_t)1 << 62) - size;
}

/* The same for a message header and the name and control buffers it points at; a negative name
 * length is refused by the kernel (EINVAL) before it takes a datagram, so it is left to it too. */
static inline bool user_msghdr(const struct msghdr *msg)
{
	return user_memory(msg, sizeof(*msg)) &&
	       (!msg->msg_name || ((int)msg->msg_namelen >= 0 && user_memory(msg->msg_name, msg->msg_namelen))) &&
	       (!msg->msg_controllen || user_memory(msg->msg_control, msg->msg_controllen));
}

/* How many of a vector's first `vlen` messages pass user_msghdr(): the kernel handles those
 * before the first it refuses. */
static inline unsigned int user_mmsghdrs(struct mmsghdr *vec, unsigned int vlen)
{
	unsigned int n = 0;
	while (n < vlen && user_memory(&vec[n], sizeof(vec[n])) && user_msghdr(&vec[n].msg_hdr))
		n++;
	return n;
}

/* ---- rfc6052.c ---------------------------------------------------------------------------- */

struct nat64_prefix {
	uint8_t bytes[16];
	uint8_t length; /* 32, 40, 48, 56, 64 or 96 */
};

/* Why a prefix was rejected; the names match the codes of test/vectors/rfc6052.txt. */
enum prefix_error {
	PREFIX_OK = 0,
	PREFIX_SYNTAX,
	PREFIX_LENGTH,
	PREFIX_HOST_BITS,
	PREFIX_U_OCTET,
	PREFIX_MAPPED,
	PREFIX_MULTICAST,
	PREFIX_NOT_GLOBAL,
};

enum prefix_error nat64_prefix_parse(const char *text, struct nat64_prefix *out);
const char *prefix_error_code(enum prefix_error error);
const char *prefix_error_text(enum prefix_error error);
void nat64_synthesize_any(const struct nat64_prefix *prefix, struct in_addr ipv4, struct in6_addr *out);
/* The IPv4-embedded address of `ipv4` under `prefix`. Inline: it is on the path of every datagram. */
static inline void nat64_synthesize(const struct nat64_prefix *prefix, struct in_addr ipv4, struct in6_addr *out)
{
	if (prefix->length != 96)
		return nat64_synthesize_any(prefix, ipv4, out);
	memcpy(out->s6_addr, prefix->bytes, 12);
	memcpy(&out->s6_addr[12], &ipv4.s_addr, 4);
}

/* The IPv4-mapped address of `ipv4` (::ffff:a.b.c.d): the way over IPv4 from an AF_INET6 socket. */
static inline void ipv4_mapped(struct in_addr ipv4, struct in6_addr *out)
{
	memset(out, 0, sizeof(*out));
	out->s6_addr[10] = 0xff;
	out->s6_addr[11] = 0xff;
	memcpy(&out->s6_addr[12], &ipv4.s_addr, 4);
}

/* Bits 64-71 of every IPv4-embedded address: zero (RFC 6052 §2.2). */
#define U_OCTET 8

/* The byte offsets of the IPv4 address under a prefix of each length (RFC 6052 §2.2). */
const uint8_t *ipv4_offsets(unsigned length);

/* The address's two halves, as numbers: a prefix test is then two masked compares, which
 * matters on the path of every datagram. */
static inline uint64_t half(const uint8_t *bytes)
{
	uint64_t v;
	memcpy(&v, bytes, 8);
	return __builtin_bswap64(v);
}

/* Whether `ipv6` starts with the prefix (its first `length` bits, 32 to 96). */
static inline bool prefix_holds(const struct nat64_prefix *prefix, const uint8_t *ipv6)
{
	unsigned length = prefix->length;
	if (length == 96) { /* the common case: whole words, equal or not */
		uint64_t a, b;
		uint32_t c, d;
		memcpy(&a, ipv6, 8);
		memcpy(&b, prefix->bytes, 8);
		memcpy(&c, ipv6 + 8, 4);
		memcpy(&d, prefix->bytes + 8, 4);
		return a == b && c == d;
	}
	uint64_t high = length >= 64 ? ~0ULL : ~0ULL << (64 - length);
	uint64_t low = length > 64 ? ~0ULL << (128 - length) : 0;
	return ((half(ipv6) ^ half(prefix->bytes)) & high) == 0 && ((half(ipv6 + 8) ^ half(prefix->bytes + 8)) & low) == 0;
}

/* The IPv4 address `ipv6` carries under `prefix`, if it is under it. Inline: it is on the path of
 * every datagram received. */
static inline bool nat64_extract(const struct nat64_prefix *prefix, const struct in6_addr *ipv6, struct in_addr *out)
{
	uint8_t *v4 = (uint8_t *)&out->s_addr;
	if (!prefix_holds(prefix, ipv6->s6_addr) || ipv6->s6_addr[U_OCTET] != 0)
		return false;
	if (prefix->length == 96) {
		memcpy(v4, &ipv6->s6_addr[12], 4);
		return true;
	}
	const uint8_t *offsets = ipv4_offsets(prefix->length);
	for (int i = 0; i < 4; i++)
		v4[i] = ipv6->s6_addr[offsets[i]];
	return true;
}

bool nat64_is_well_known(const struct nat64_prefix *prefix);
static inline bool nat64_prefix_equal(const struct nat64_prefix *a, const struct nat64_prefix *b)
{
	return a->length == b->length && memcmp(a->bytes, b->bytes, sizeof(a->bytes)) == 0;
}
bool ipv4_is_non_global(struct in_addr ipv4);
bool ipv4_parse(const char *text, struct in_addr *out);

/* ---- config.c ----------------------------------------------------------------------------- */

struct ipv4_net {
	uint32_t address; /* host byte order */
	uint8_t length;
	int line;
};

struct config_path {
	int line;
	struct ipv4_net *subnets;
	size_t n_subnets;
	struct nat64_prefix prefix;
};

struct config {
	bool has_default;
	struct nat64_prefix default_prefix;
	struct ipv4_net *locals;
	size_t n_locals;
	struct config_path *paths;
	size_t n_paths;
};

typedef void (*config_error_fn)(void *ctx, int line, const char *message);

/* Parses the whole text, reporting every error; returns how many there were. */
int config_parse(const char *text, struct config *cfg, config_error_fn on_error, void *ctx);
/* Reads and parses a file; an unreadable file is one error on line 0. */
int config_load(const char *path, struct config *cfg, config_error_fn on_error, void *ctx);
void config_free(struct config *cfg);

enum rule_kind { RULE_LOCAL, RULE_NAT64, RULE_NONE };

struct rule {
	enum rule_kind kind;
	const struct nat64_prefix *prefix; /* RULE_NAT64 and RULE_NONE */
};

/* With no default prefix configured, destinations go through the well-known prefix. */
extern const struct nat64_prefix config_builtin_prefix;

/* The prefix of destinations no path covers: the default one, else the well-known one. */
static inline const struct nat64_prefix *config_fallback_prefix(const struct config *cfg)
{
	return cfg->has_default ? &cfg->default_prefix : &config_builtin_prefix;
}

static inline uint32_t ipv4_mask(unsigned length)
{
	return length == 0 ? 0 : 0xffffffffu << (32 - length);
}

static inline bool ipv4_net_holds(const struct ipv4_net *net, uint32_t address)
{
	return (address & ipv4_mask(net->length)) == net->address;
}

/* Loopback and `local` go direct (the always-IPv4 networks: bpf/tnat64.h's table, for every part);
 * else the most specific path, the default, the well-known prefix; the well-known prefix never
 * carries a non-global address (RULE_NONE). Inline: it decides every datagram's way. */
static inline struct rule config_resolve(const struct config *cfg, struct in_addr ipv4)
{
	uint32_t address = ntohl(ipv4.s_addr);
	static const struct {
		uint32_t address;
		uint8_t length;
	} always_ipv4[] = TNAT64_ALWAYS_IPV4_NETS;
	/* Unrolled, the table's masks are constants: a few instructions for every datagram. */
#pragma GCC unroll 16
	for (size_t i = 0; i < sizeof(always_ipv4) / sizeof(always_ipv4[0]); i++)
		if ((address & ipv4_mask(always_ipv4[i].length)) == always_ipv4[i].address)
			return (struct rule){.kind = RULE_LOCAL};
	for (size_t i = 0; i < cfg->n_locals; i++)
		if (ipv4_net_holds(&cfg->locals[i], address))
			return (struct rule){.kind = RULE_LOCAL};

	const struct nat64_prefix *prefix = NULL;
	int best = -1;
	for (size_t i = 0; i < cfg->n_paths; i++) {
		for (size_t j = 0; j < cfg->paths[i].n_subnets; j++) {
			const struct ipv4_net *net = &cfg->paths[i].subnets[j];
			if (ipv4_net_holds(net, address) && net->length > best) {
				best = net->length;
				prefix = &cfg->paths[i].prefix;
			}
		}
	}
	if (!prefix)
		prefix = config_fallback_prefix(cfg);
	if (nat64_is_well_known(prefix) && ipv4_is_non_global(ipv4))
		return (struct rule){.kind = RULE_NONE, .prefix = prefix};
	return (struct rule){.kind = RULE_NAT64, .prefix = prefix};
}

/* The IPv4 address a NAT64 address carries, through the most specific (longest) prefix in use
 * that holds it: every path's, and the default one (the well-known one when none is set). */
bool config_extract_paths(const struct config *cfg, const struct in6_addr *ipv6, struct in_addr *out);
static inline bool config_extract(const struct config *cfg, const struct in6_addr *ipv6, struct in_addr *out)
{
	if (cfg->n_paths == 0) /* the common case, inline: one prefix */
		return nat64_extract(config_fallback_prefix(cfg), ipv6, out);
	return config_extract_paths(cfg, ipv6, out);
}

/* Which file is in force, as configFileInForce (src/lib/config.ts) answers: the explicit one, else
 * a non-empty $TNAT64_CONF_FILE (both must then exist and parse), else /etc/tnat64.conf when it
 * exists; NULL when none is (the empty configuration). */
const char *config_file_in_force(const char *explicit_file);

/* Whether a source is one an AF_INET socket could have: IPv4-mapped, or under a prefix of the rules. */
bool config_is_ipv4_source(const struct config *cfg, const struct in6_addr *source);
/* An AF_INET6 name as the IPv4 program sees it: a mapped address as itself, a NAT64 one as the IPv4
 * address it carries (through the most specific prefix in use), any other as the stand-in
 * TNAT64_STANDIN_IPV4 (a local name of a connection through NAT64 has no IPv4 address). */
void config_ipv4_view(const struct config *cfg, const struct sockaddr_in6 *real, struct sockaddr_in *out);

/* supervise.c, the launcher's: runs `command` under the seccomp supervisor until its whole process
 * tree has ended; returns its exit status (a signal that killed it is raised again here). */
int supervise(char **command, const struct config *cfg);

/* Why nat64_prefix_parse refused text, in the CLI's words: "'TEXT': reason". */
void config_prefix_message(const char *text, enum prefix_error error, char *out, size_t size);

/* ---- log.c: async-signal-safe, never into the program's own descriptors ------------------- */

enum log_level { LOG_WARN = 0, LOG_INFO = 1, LOG_DEBUG = 2 };

void log_open(const char *level, const char *file);
extern enum log_level log_level;

static inline bool log_enabled(enum log_level level)
{
	return level <= log_level;
}

/* printf-like with %s, %d and %u only: no locale, no malloc, safe in a signal handler. */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Text forms for log_msg's %s, written into the caller's buffer. */
const char *log_ipv4(struct in_addr ipv4, char out[16]);
const char *log_ipv6(const struct in6_addr *ipv6, char out[46]);
const char *log_errno(int error, char out[24]);

/* ---- registry.c: what each descriptor is, one atomic word per descriptor ------------------ */

enum method { METHOD_NAT64 = 1, METHOD_IPV4 = 2 }; /* 0 in a word: no connect yet */

#define FD_SWAPPED (1ULL << 63) /* an AF_INET6 socket standing in for the program's AF_INET one */
#define FD_PEER (1ULL << 62)    /* the program connected it: port and address below are its peer */
#define FD_PENDING (1ULL << 61) /* a connect is under way: SO_ERROR or connect() tells how it ended */
#define FD_KNOWN (1ULL << 60)   /* this process knows what the descriptor is (else: ask the kernel) */
#define FD_BOUND4 (1ULL << 59)  /* bound to, or once connecting over, IPv4: it stays on IPv4 */
#define FD_LEARN (1ULL << 58)   /* the pending connect's outcome teaches the cache */
#define FD_FILTERED (1ULL << 55) /* it has the socket filter that keeps native IPv6 out (filter.c) */
#define FD_DGRAM (1ULL << 54)    /* a UDP socket */
#define FD_INET6 (1ULL << 53)    /* the program's own AF_INET6 socket: its IPv4-mapped destinations are served */
#define FD_SCREENED (1ULL << 52) /* a swapped UDP socket whose arrivals are seen to (filter, or its own) */
#define FD_SHOW_MAPPED (1ULL << 51) /* an FD_INET6 socket that went through NAT64: arrivals from there show mapped */
#define FD_CMSG (1ULL << 50)     /* a swapped socket whose program asked for IPv4 control messages (cmsg.c) */
#define FD_SERVED (FD_SWAPPED | FD_INET6)
#define FD_METHOD_SHIFT 56
#define FD_PORT_SHIFT 32

/* What a swapped socket carries in the kernel, so that a process that inherits it (exec, or a
 * descriptor passed over a unix socket) knows it: IPV6_FLOWINFO_SEND set. It only matters when a
 * destination carries a flow label, and the library never gives one. */
#ifndef IPV6_FLOWINFO_SEND
#define IPV6_FLOWINFO_SEND 33
#endif

void registry_init(void);

/* The words, indexed by descriptor; read and written with __atomic builtins only. */
extern uint64_t *registry_words;
extern unsigned int registry_size;

/* Asks the kernel about a descriptor the process has not seen (inherited, made by a call the
 * library does not intercept, beyond the registry) and remembers the answer where it can. */
uint64_t fd_probe(int fd);

/* The descriptor's word. */
static inline uint64_t fd_state(int fd)
{
	/* Unsigned: a negative number is beyond the registry too. */
	uint64_t word = (unsigned int)fd < registry_size ? __atomic_load_n(&registry_words[fd], __ATOMIC_ACQUIRE) : 0;
	return word & FD_KNOWN ? word : fd_probe(fd);
}

/* FD_BOUND4 when the kernel has the socket on an IPv4(-mapped) local address, else 0. */
uint64_t fd_bound4(int fd);

/* After an answer a swapped socket would not give: is the descriptor still ours, or a number
 * reused behind the library's back (closed by fclose() or a raw system call)? */
bool fd_recheck(int fd);

static inline void registry_set(int fd, uint64_t word)
{
	if (fd >= 0 && (unsigned int)fd < registry_size)
		__atomic_store_n(&registry_words[fd], word | FD_KNOWN, __ATOMIC_RELEASE);
}

void registry_clear(int fd);
void registry_clear_range(unsigned int first, unsigned int last);
void registry_copy(int from, int to);

static inline enum method fd_method(uint64_t word)
{
	return (enum method)((word >> FD_METHOD_SHIFT) & 3);
}

/* The bits of a word that outlive a connect: what the socket is, and what was done to it. */
#define FD_KIND (FD_SWAPPED | FD_INET6 | FD_DGRAM | FD_BOUND4 | FD_FILTERED | FD_SCREENED | FD_SHOW_MAPPED | FD_CMSG)

/* The word of a served socket connected (or connecting) to `peer` by `method`. A socket that
 * once connected over IPv4 stays there: the kernel keeps it on its IPv4 path (a TCP connect
 * through NAT64 after a pending one was shut down would never be answered; UDP refuses one with
 * EAFNOSUPPORT until it is disconnected). */
static inline uint64_t fd_peer_word(uint64_t word, const struct sockaddr_in *peer, enum method method)
{
	return FD_KNOWN | FD_PEER | (word & FD_KIND) | (method == METHOD_IPV4 ? FD_BOUND4 : 0) |
	       (method == METHOD_NAT64 && (word & FD_INET6) ? FD_SHOW_MAPPED : 0) |
	       ((uint64_t)method << FD_METHOD_SHIFT) | ((uint64_t)ntohs(peer->sin_port) << FD_PORT_SHIFT) |
	       peer->sin_addr.s_addr;
}

static inline void fd_peer(uint64_t word, struct sockaddr_in *out)
{
	out->sin_family = AF_INET;
	out->sin_port = htons((uint16_t)(word >> FD_PORT_SHIFT));
	out->sin_addr.s_addr = (uint32_t)word;
}

/* ---- screen.c: the filter that keeps native IPv6 out, shared with the supervisor ---------- */

/* Room for 17 distinct /96 prefixes (7 instructions each), kept small because filter_is_ours()
 * reads a socket's filter onto the stack, in a signal handler perhaps. */
#define SCREEN_MAX 128
/* Builds the filter for the configuration: IPv4 passes, and IPv6 from a NAT64 prefix in use. */
void screen_build(const struct config *cfg);
/* The filter built; of length 0 when the configuration has more prefixes than it holds. */
struct sock_fprog screen_program(void);

/* ---- filter.c: native IPv6 kept out of swapped sockets ------------------------------------- */

/* Gives a swapped socket the filter, unless the program has one of its own; the word it then has. */
uint64_t filter_screen(int fd, uint64_t word);
/* Whether the socket's filter is the library's (for a socket inherited by a new image). */
bool filter_is_ours(int fd);
/* An unconnected swapped UDP socket that sends can be answered by anyone: it gets the filter
 * once, before its first datagram; the word it then has. */
static inline uint64_t filter_before_send(int fd, uint64_t word)
{
	if ((word & (FD_SWAPPED | FD_DGRAM | FD_SCREENED | FD_PEER)) == (FD_SWAPPED | FD_DGRAM))
		return filter_screen(fd, word);
	return word;
}
/* Takes the library's filter off a socket (a listen() that failed, a listener connecting). */
void filter_remove(int fd, uint64_t word);
/* Whether a source address is one an AF_INET socket could have had: IPv4, or under a prefix in use. */
bool source_is_ipv4(const struct in6_addr *source);

/* ---- cache.c: destinations to try over IPv4 first, for a while ---------------------------- */

extern bool cache_used;
bool cache_lookup(struct in_addr destination);
static inline bool cache_prefers_ipv4(struct in_addr destination)
{
	return __atomic_load_n(&cache_used, __ATOMIC_RELAXED) && cache_lookup(destination);
}
/* What an attempt by `method` taught: it worked, or this way is broken for now. */
void cache_learn(struct in_addr destination, enum method method, bool worked);

/* ---- route.c: where a swapped socket's IPv4 destination really goes ----------------------- */

/* The real call that reaches `target`: connect, a datagram's send, or TCP Fast Open's. */
typedef ssize_t (*reach_fn)(int fd, const struct sockaddr_in6 *target, void *ctx);

/* Connects to `dest` (connect(), or TCP Fast Open's send) through NAT64 or over IPv4 as the
 * rules, the socket and what was learnt say, trying the other way when the first has no route;
 * records the peer only when the call started or made a connection. */
ssize_t route_reach(int fd, uint64_t word, const struct sockaddr_in *dest, reach_fn reach, void *ctx);
/* sendmsg()'s reach_fn (sendmsg.c), for sendmmsg's messages too: `ctx` is a struct message. */
struct message {
	const struct msghdr *msg;
	int flags;
};
ssize_t reach_sendmsg(int fd, const struct sockaddr_in6 *target, void *ctx);
/* How many bytes a message carries (0 when its iovecs are the kernel's to refuse: too many, out
 * of reach, or more than it adds up). */
static inline size_t message_size(const struct msghdr *msg)
{
	size_t size = 0;
	if (msg->msg_iovlen > IOV_MAX || !user_memory(msg->msg_iov, msg->msg_iovlen * sizeof(*msg->msg_iov)))
		return 0;
	for (size_t i = 0; i < msg->msg_iovlen; i++) {
		if (msg->msg_iov[i].iov_len > SSIZE_MAX - size)
			return 0;
		size += msg->msg_iov[i].iov_len;
	}
	return size;
}

/* The largest datagram an AF_INET UDP socket sends: 65535 less the IPv4 and UDP headers (an
 * AF_INET6 one sends 20 bytes more, which would not fit once translated). */
#define IPV4_UDP_MAX_PAYLOAD 65507

/* A send with an address on a served socket, `size` bytes: 1 to route it (`dest` set), 0 to pass
 * it through (not the library's: a native address, a number reused behind its back), -1 with
 * errno as an AF_INET socket's kernel answers. */
int send_destination(int fd, uint64_t word, const struct sockaddr *addr, socklen_t len, size_t size,
		     struct sockaddr_in *dest);
/* The program's own AF_INET6 socket sends or connects to a native address: one inside a NAT64
 * prefix is its own business again, and what comes from there shows as it is. */
void native_destination(int fd, uint64_t word, const struct sockaddr *addr, socklen_t len);

/* Whether `target` has no route, as a connect() would find (a throw-away UDP socket's connect()
 * answers at once and sends nothing): the error, or 0. errno is left as it was. */
int route_missing(const struct sockaddr_in6 *target);

/* One datagram to its own destination, as route_reach() reaches one but recording no peer. */
ssize_t route_send(int fd, uint64_t word, const struct sockaddr_in *dest, reach_fn reach, void *ctx);
/* The first way route_reach() would take, and its address, for calls that batch (sendmmsg). */
enum method route_choose(uint64_t word, const struct sockaddr_in *dest, struct sockaddr_in6 *target);

/* A destination's way: ROUTE_WAY_IPV4, or through the prefix of the fallback or of path i. */
enum { ROUTE_WAY_IPV4 = 0, ROUTE_WAY_FALLBACK = 1, ROUTE_WAY_PATH = 2 };

/* The way to `dest` by the rules and what was learnt (no socket's own reasons), remembered;
 * `prefix` (may be NULL): the rules' prefix for it, NULL when they send it over IPv4. */
int route_way(struct in_addr dest, const struct nat64_prefix **prefix);

/* ---- cmsg.c: control messages of a swapped socket, as an AF_INET socket has them ----------- */

/* What the kernel's control messages are received into when they are translated. They are
 * larger in IPv6 form, and a datagram that came over IPv4 gets an IPV6_PKTINFO besides the IPv4
 * ones: the kernel is always given all of the room, which holds what a UDP datagram brings with
 * every IPv4 option and the socket's timestamps set. Beyond it, messages are cut with MSG_CTRUNC,
 * as for a short buffer. */
struct control_room {
	_Alignas(struct cmsghdr) char bytes[512];
};

/* Points the kernel's copy of the header at the room when its messages are to be translated:
 * the program asked for IPv4 ones (FD_CMSG), or it reads the error queue, whose entries come as
 * IPV6_RECVERR. Otherwise the kernel writes into the program's buffer, at the cost of a test. */
void control_prepare(uint64_t word, int flags, struct msghdr *kernel, struct control_room *room);
/* Gives the program the control messages as an AF_INET socket would have had them, with
 * msg_controllen and MSG_CTRUNC as the kernel sets them for the program's buffer. */
void control_finish(const struct msghdr *kernel, struct msghdr *program);
/* The IPv6 option that asks for what an IPPROTO_IP one asks for on received traffic, or -1. */
int cmsg_twin(int name);
/* Whether any of them is on (a swapped socket the process has not seen: is it FD_CMSG?). */
bool cmsg_asked(int fd);

/* ---- init.c ------------------------------------------------------------------------------- */

struct addrinfo;
struct hostent;
struct __res_state;

struct libc_calls {
	int (*socket)(int, int, int);
	int (*connect)(int, const struct sockaddr *, socklen_t);
	int (*bind)(int, const struct sockaddr *, socklen_t);
	int (*listen)(int, int);
	int (*accept4)(int, struct sockaddr *, socklen_t *, int);
	int (*getpeername)(int, struct sockaddr *, socklen_t *);
	int (*getsockname)(int, struct sockaddr *, socklen_t *);
	int (*getsockopt)(int, int, int, void *, socklen_t *);
	int (*setsockopt)(int, int, int, const void *, socklen_t);
	ssize_t (*sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
	ssize_t (*sendmsg)(int, const struct msghdr *, int);
	int (*sendmmsg)(int, struct mmsghdr *, unsigned int, int);
	ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
	ssize_t (*recvmsg)(int, struct msghdr *, int);
	int (*recvmmsg)(int, struct mmsghdr *, unsigned int, int, struct timespec *);
	int (*close)(int);
	int (*close_range)(unsigned int, unsigned int, int);
	void (*closefrom)(int);
	int (*dup)(int);
	int (*dup2)(int, int);
	int (*dup3)(int, int, int);
	int (*fcntl)(int, int, ...);
	int (*fcntl64)(int, int, ...);
	int (*bindresvport)(int, struct sockaddr_in *);
	/* resolver.c: the resolver's entry points, and res_mkquery for its check of resolv.conf */
	int (*getaddrinfo)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
	struct hostent *(*gethostbyname)(const char *);
	struct hostent *(*gethostbyname2)(const char *, int);
	int (*gethostbyname_r)(const char *, struct hostent *, char *, size_t, struct hostent **, int *);
	int (*gethostbyname2_r)(const char *, int, struct hostent *, char *, size_t, struct hostent **, int *);
	struct hostent *(*gethostbyaddr)(const void *, socklen_t, int);
	int (*gethostbyaddr_r)(const void *, socklen_t, int, struct hostent *, char *, size_t, struct hostent **,
			       int *);
	int (*getnameinfo)(const struct sockaddr *, socklen_t, char *, socklen_t, char *, socklen_t, int);
	int (*res_mkquery)(int, const char *, int, int, const unsigned char *, int, const unsigned char *,
			   unsigned char *, int);
	int (*res_query)(const char *, int, int, unsigned char *, int);
	int (*res_search)(const char *, int, int, unsigned char *, int);
	int (*res_querydomain)(const char *, const char *, int, int, unsigned char *, int);
	int (*res_send)(const unsigned char *, int, unsigned char *, int);
	int (*res_nquery)(struct __res_state *, const char *, int, int, unsigned char *, int);
	int (*res_nsearch)(struct __res_state *, const char *, int, int, unsigned char *, int);
	int (*res_nquerydomain)(struct __res_state *, const char *, const char *, int, int, unsigned char *, int);
	int (*res_nsend)(struct __res_state *, const unsigned char *, int, unsigned char *, int);
};

extern struct libc_calls libc;

extern int tnat64_ready; /* set up: the library's state is complete */
void tnat64_init_slow(void);

/* A call whose common case is to pass through checks this first and tail-calls libc, with the
 * rest of its work in a function of its own (no registers to save on the way). */
static inline bool tnat64_is_ready(void)
{
	return __atomic_load_n(&tnat64_ready, __ATOMIC_ACQUIRE);
}

/* Makes sure the library is set up (a constructor normally has done it); safe from any thread,
 * and from a signal handler: a call that arrives while this thread is setting up passes through. */
static inline void tnat64_init(void)
{
	if (!tnat64_is_ready())
		tnat64_init_slow();
}

/* False when the configuration is broken: every call then passes through untouched. */
bool tnat64_active(void);
extern struct config tnat64_configuration; /* read through tnat64_config() */
static inline const struct config *tnat64_config(void)
{
	return &tnat64_configuration;
}

/* ---- sockaddr.c --------------------------------------------------------------------------- */

/* The IPv4 address an AF_INET6 socket address stands for, as an IPv4 application sees it. */
void ipv4_view(const struct sockaddr_in6 *real, struct sockaddr_in *out);
/* What an AF_INET socket's call makes of an AF_UNSPEC address. */
enum unspec {
	UNSPEC_REFUSED,     /* connect(): EAFNOSUPPORT */
	UNSPEC_ANY_BIND,    /* bind(): 0.0.0.0 only */
	UNSPEC_ANY_ADDRESS, /* a datagram's destination: udp_sendmsg() reads it as AF_INET (old programs send so) */
};

/* The sockaddr_in a program passed for its AF_INET socket, checked as the kernel checks it
 * (EINVAL when short or longer than any address, EAFNOSUPPORT for another family). */
int ipv4_sockaddr_arg(const struct sockaddr *addr, socklen_t len, enum unspec unspec, struct sockaddr_in *out);

/* The IPv4 destination a served socket's address argument names: a sockaddr_in for a swapped
 * socket, an IPv4-mapped sockaddr_in6 for the program's own AF_INET6 one. 1 when it names one,
 * 0 when the call is not the library's (pass it through), -1 with errno as an AF_INET socket's
 * kernel answers. `datagram`: a send, where AF_UNSPEC is AF_INET as the kernel reads it. */
static inline int served_destination(uint64_t word, const struct sockaddr *addr, socklen_t len, bool datagram,
				     struct sockaddr_in *out)
{
	if (!user_memory(addr, len < sizeof(struct sockaddr_in6) ? len : sizeof(struct sockaddr_in6)))
		return 0; /* the kernel's EFAULT */
	if (word & FD_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
		if (len < sizeof(*in6) || addr->sa_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			return 0;
		*out = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = in6->sin6_port};
		memcpy(&out->sin_addr, &in6->sin6_addr.s6_addr[12], 4);
		return 1;
	}
	return ipv4_sockaddr_arg(addr, len, datagram ? UNSPEC_ANY_ADDRESS : UNSPEC_REFUSED, out) < 0 ? -1 : 1;
}

/* Copies an address of `size` bytes out as the kernel would: truncated to *len, *len set to the
 * full size (0 for none, as a TCP socket's recvfrom gives). */
int copy_sockaddr(const void *sa, socklen_t size, struct sockaddr *addr, socklen_t *len);

/* An address of a served socket as the program sees it: a swapped socket's sockaddr_in, the
 * program's own AF_INET6 socket's sockaddr_in6. */
struct view {
	union {
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	} addr;
	socklen_t size;
};

/* copy_sockaddr() of a view; inline for the usual sockaddr_in into a buffer that holds it. */
static inline int copy_view(const struct view *view, struct sockaddr *addr, socklen_t *len)
{
	if (view->size == sizeof(struct sockaddr_in) && user_memory(len, sizeof(*len)) &&
	    (int)*len >= (int)sizeof(struct sockaddr_in) && user_memory(addr, sizeof(struct sockaddr_in))) {
		memcpy(addr, &view->addr.in, sizeof(struct sockaddr_in));
		*len = sizeof(struct sockaddr_in);
		return 0;
	}
	return copy_sockaddr(&view->addr, view->size, addr, len);
}

/* The peer of a served socket as the program sees it: 0, -1 with errno as getpeername() gives
 * it, or 1 when the number turns out not to be ours any more (the caller then passes through). */
int served_peer(int fd, uint64_t word, struct view *out);
/* Drops a datagram arrival_view() refused (a peek left it at the head of the queue); whether
 * to wait for the next one, as the call would have (else errno is EAGAIN). */
bool arrival_drop(int fd, int flags);
/* Whether a swapped socket's arrivals must be screened here: our filter is not on it, and it is
 * not connected (a connected socket only hears from its peer). */
static inline bool arrival_screened_here(uint64_t word)
{
	return (word & (FD_SWAPPED | FD_DGRAM | FD_FILTERED | FD_PEER)) == (FD_SWAPPED | FD_DGRAM);
}

/* ---- route.c: the way of the last datagram, remembered ------------------------------------ */

/* The way this thread last decided, while nothing that decides ways has changed since: a
 * datagram to the same destination then costs a few instructions, not the rules' walk. Bits
 * 0-31 the IPv4 address, 32-39 the way, 40-62 the route_epoch it was decided in, 63 set. One
 * word: a signal handler never sees half of one. */
extern __thread uint64_t route_memo __attribute__((tls_model("initial-exec")));
/* The memo's bits 40-63 as they are now: bumped (route_new_epoch) by every change to what was
 * learnt (cache.c), which ends every memo. */
extern uint64_t route_epoch;
#define ROUTE_MEMO_SET (1ULL << 63)
#define ROUTE_MEMO_WAY_SHIFT 32
#define ROUTE_MEMO_WAY (0xffULL << ROUTE_MEMO_WAY_SHIFT)
void route_new_epoch(void);

/* The remembered way to `dest`, or -1. */
static inline int route_remembered(struct in_addr dest)
{
	uint64_t memo = route_memo;
	uint64_t key = __atomic_load_n(&route_epoch, __ATOMIC_RELAXED) | dest.s_addr;
	return (memo & ~ROUTE_MEMO_WAY) == key ? (int)((memo & ROUTE_MEMO_WAY) >> ROUTE_MEMO_WAY_SHIFT) : -1;
}

/* Where `dest` is reached by `method`: its NAT64 address under `prefix`, or its mapped one. */
static inline void route_target_of(const struct sockaddr_in *dest, enum method method,
				   const struct nat64_prefix *prefix, struct sockaddr_in6 *target)
{
	*target = (struct sockaddr_in6){.sin6_family = AF_INET6, .sin6_port = dest->sin_port};
	if (method == METHOD_NAT64)
		nat64_synthesize(prefix, dest->sin_addr, &target->sin6_addr);
	else
		ipv4_mapped(dest->sin_addr, &target->sin6_addr);
}

/* The prefix a way goes through: the fallback's, path i's, or none (IPv4). */
static inline const struct nat64_prefix *route_prefix(int way)
{
	const struct config *cfg = tnat64_config();
	return way == ROUTE_WAY_FALLBACK ? config_fallback_prefix(cfg)
	       : way >= ROUTE_WAY_PATH	 ? &cfg->paths[way - ROUTE_WAY_PATH].prefix
					 : NULL;
}

/* The same by a way. */
static inline void route_target(const struct sockaddr_in *dest, int way, struct sockaddr_in6 *target)
{
	route_target_of(dest, way == ROUTE_WAY_IPV4 ? METHOD_IPV4 : METHOD_NAT64, route_prefix(way), target);
}

/* ---- the usual datagram, inline: its way out, and where it came from ---------------------- */

/* The usual datagram: a swapped UDP socket already screened, a sockaddr_in to a destination
 * whose way this thread remembers, no debug log: its target, in a few instructions. False: the
 * long way (route_send). */
static inline bool datagram_fast(uint64_t word, const struct sockaddr *addr, socklen_t len, struct sockaddr_in6 *target)
{
	if ((word & (FD_SWAPPED | FD_DGRAM | FD_SCREENED | FD_BOUND4)) != (FD_SWAPPED | FD_DGRAM | FD_SCREENED) ||
	    len != sizeof(struct sockaddr_in) || !user_memory(addr, len) || addr->sa_family != AF_INET ||
	    log_enabled(LOG_DEBUG))
		return false;
	const struct sockaddr_in *dest = (const struct sockaddr_in *)addr;
	int way = route_remembered(dest->sin_addr);
	if (way < 0)
		return false;
	route_target(dest, way, target);
	return true;
}

/* What a datagram's way says about its sender, for the unconnected socket that will answer: one
 * heard over IPv4 that the rules send through NAT64 is answered over IPv4 (for TNAT64_CACHE_TTL),
 * and one heard through NAT64 is no longer sent over IPv4. Inline: mostly there is no news. */
void heard_news(struct in_addr source, enum method method);
static inline void heard_from(uint64_t word, struct in_addr source, enum method method)
{
	if (word & FD_PEER)
		return; /* a connected socket's way is settled */
	if (method == METHOD_NAT64 ? cache_prefers_ipv4(source) : route_remembered(source) != ROUTE_WAY_IPV4)
		heard_news(source, method);
}

/* How a served socket's received source looks to the program: a swapped socket's is a
 * sockaddr_in, the program's own AF_INET6 socket sees the mapped address of a NAT64 peer. False
 * when a swapped socket got what an AF_INET one never would (native IPv6): the caller drops it.
 * The usual case inline; the rest in sockaddr.c. */
bool arrival_view_slow(uint64_t word, const struct sockaddr_in6 *real, socklen_t real_len, struct view *out);
static inline bool arrival_view(uint64_t word, const struct sockaddr_in6 *real, socklen_t real_len, struct view *out)
{
	/* The usual datagram of a swapped socket, inline: from an IPv4 host, or through NAT64. */
	if (!(word & FD_SWAPPED) || real_len != sizeof(*real) || real->sin6_family != AF_INET6)
		return arrival_view_slow(word, real, real_len, out);
	out->size = sizeof(out->addr.in);
	out->addr.in = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = real->sin6_port};
	struct in_addr *source = &out->addr.in.sin_addr;
	enum method way = METHOD_IPV4;
	if (IN6_IS_ADDR_V4MAPPED(&real->sin6_addr))
		memcpy(source, &real->sin6_addr.s6_addr[12], 4);
	else if (config_extract(tnat64_config(), &real->sin6_addr, source))
		way = METHOD_NAT64;
	else
		return arrival_view_slow(word, real, real_len, out);
	heard_from(word, *source, way);
	return true;
}

#endif
