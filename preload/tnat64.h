/* libtnat64: the core shared by the per-call files (socket.c, connect.c, ...).
 *
 * rfc6052.c  address synthesis      config.c    tnat64.conf, rule resolution
 * registry.c which fds we swapped   cache.c     what worked, per destination
 * log.c      one-line diagnostics   init.c      real libc calls, process-wide state
 */
#ifndef TNAT64_H
#define TNAT64_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Only the intercepted calls are exported; everything else stays inside the library. */
#define TNAT64_EXPORT __attribute__((visibility("default")))

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
void nat64_synthesize(const struct nat64_prefix *prefix, struct in_addr ipv4, struct in6_addr *out);
bool nat64_extract(const struct nat64_prefix *prefix, const struct in6_addr *ipv6, struct in_addr *out);
bool nat64_is_well_known(const struct nat64_prefix *prefix);
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

/* Loopback and `local` go direct; else the most specific path, the default, the well-known
 * prefix; the well-known prefix never carries a non-global address (RULE_NONE). */
struct rule config_resolve(const struct config *cfg, struct in_addr ipv4);

/* ---- log.c -------------------------------------------------------------------------------- */

enum log_level { LOG_WARN = 0, LOG_INFO = 1, LOG_DEBUG = 2 };

void log_open(const char *level, const char *file);
bool log_enabled(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- registry.c: per-fd state, one atomic word per descriptor ----------------------------- */

enum method { METHOD_NONE = 0, METHOD_NAT64 = 1, METHOD_IPV4 = 2 };

#define FD_SWAPPED (1ULL << 63) /* we made this AF_INET socket an AF_INET6 one */
#define FD_PEER (1ULL << 62)    /* the app connected it: port and address below are its peer */
#define FD_PENDING (1ULL << 61) /* a non-blocking connect is in progress: SO_ERROR tells how it ended */
#define FD_METHOD_SHIFT 56
#define FD_PORT_SHIFT 32

void registry_init(void);
uint64_t registry_get(int fd);
/* False when the fd is beyond what the registry tracks (the caller then does not swap). */
bool registry_set(int fd, uint64_t word);
void registry_clear(int fd);
void registry_clear_range(unsigned int first, unsigned int last);
void registry_copy(int from, int to);

static inline enum method fd_method(uint64_t word)
{
	return (enum method)((word >> FD_METHOD_SHIFT) & 3);
}

static inline uint64_t fd_peer_word(const struct sockaddr_in *peer, enum method method)
{
	return FD_SWAPPED | FD_PEER | ((uint64_t)method << FD_METHOD_SHIFT) |
	       ((uint64_t)ntohs(peer->sin_port) << FD_PORT_SHIFT) | peer->sin_addr.s_addr;
}

static inline void fd_peer(uint64_t word, struct sockaddr_in *out)
{
	out->sin_family = AF_INET;
	out->sin_port = htons((uint16_t)(word >> FD_PORT_SHIFT));
	out->sin_addr.s_addr = (uint32_t)word;
}

/* ---- cache.c: which method worked for a destination, bounded and lock-free ---------------- */

enum method cache_lookup(struct in_addr destination);
void cache_store(struct in_addr destination, enum method method);

/* ---- init.c ------------------------------------------------------------------------------- */

struct libc_calls {
	int (*socket)(int, int, int);
	int (*connect)(int, const struct sockaddr *, socklen_t);
	int (*bind)(int, const struct sockaddr *, socklen_t);
	int (*accept)(int, struct sockaddr *, socklen_t *);
	int (*accept4)(int, struct sockaddr *, socklen_t *, int);
	int (*getpeername)(int, struct sockaddr *, socklen_t *);
	int (*getsockname)(int, struct sockaddr *, socklen_t *);
	int (*getsockopt)(int, int, int, void *, socklen_t *);
	int (*setsockopt)(int, int, int, const void *, socklen_t);
	int (*close)(int);
	int (*close_range)(unsigned int, unsigned int, int);
	void (*closefrom)(int);
	int (*dup)(int);
	int (*dup2)(int, int);
	int (*dup3)(int, int, int);
	int (*fcntl)(int, int, ...);
	int (*fcntl64)(int, int, ...);
};

extern struct libc_calls libc;

/* Resolves the real calls and reads the configuration, once; safe from any thread. */
void tnat64_init(void);
/* False when the configuration is broken: every call then passes through untouched. */
bool tnat64_active(void);
const struct config *tnat64_config(void);

/* The stand-in local IPv4 address of a connection made through NAT64 (RFC 7335). */
#define TNAT64_STANDIN_IPV4 "192.0.0.1"

/* IPv4-mapped IPv6 (::ffff:a.b.c.d) and back. */
void ipv4_mapped(struct in_addr ipv4, struct in6_addr *out);
/* The IPv4 address an AF_INET6 socket address stands for, as an IPv4 application sees it. */
void ipv4_view(const struct sockaddr_in6 *real, struct sockaddr_in *out);
/* The sockaddr_in an application passed for its AF_INET socket, checked as the kernel checks it
 * (EINVAL when short, EAFNOSUPPORT for another family; bind() also takes AF_UNSPEC with 0.0.0.0). */
int ipv4_sockaddr_arg(const struct sockaddr *addr, socklen_t len, bool unspec_any, struct sockaddr_in *out);
/* Copies a sockaddr_in out as the kernel would: truncated to *len, *len set to the full size. */
int copy_sockaddr_in(const struct sockaddr_in *sin, struct sockaddr *addr, socklen_t *len);

#endif
