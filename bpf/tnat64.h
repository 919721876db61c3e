/* The contract between tnat64.bpf.c and user space (src/lib/bpf/layout.ts mirrors it; a test
 * compares that mirror with the BTF of the built object). Every map's key and value is here.
 *
 * Addresses are kept as the kernel keeps them: network byte order, as bytes or __u32 words. */
#ifndef TNAT64_BPF_H
#define TNAT64_BPF_H

#include <linux/types.h>

#define TNAT64_MAX_PREFIXES 256
#define TNAT64_MAX_RULES (1 << 18)
#define TNAT64_MAX_CACHE 65536
#define TNAT64_MARK_SLOTS 8192 /* direct-mapped by socket cookie; a power of two */
#define TNAT64_MAX_OVERFLOW 65536

/* tnat64_rules: LPM trie keyed by IPv4 network; user space compiles the configuration into it so
 * that the longest match is the configured rule (local beats path beats default). */
struct rule_key {
	__u32 prefixlen; /* 0..32 */
	__u8 addr[4];
};

enum rule_action {
	ACTION_LOCAL = 1, /* stays IPv4 (127/8, `local`) */
	ACTION_NAT64 = 2, /* rewritten into tnat64_prefixes[prefix_id] */
	ACTION_NONE = 3,  /* non-global under the well-known prefix (RFC 6052 §3.1): stays IPv4 */
};

struct rule_value {
	__u8 action;    /* enum rule_action */
	__u8 prefix_id; /* index into tnat64_prefixes, for ACTION_NAT64 */
	__u8 pad[2];
};

/* tnat64_prefixes: array of NAT64 prefixes, with whether this host has a route to each. */
struct prefix_value {
	__u8 addr[16];
	__u8 length;    /* 32, 40, 48, 56, 64 or 96 */
	__u8 reachable; /* set by user space from the routing table; 0: destinations stay IPv4 */
	__u8 pad[2];
};

/* tnat64_cache: LRU hash, IPv4 destination (network order) -> the method it uses. */
enum method {
	METHOD_NAT64 = 1,
	METHOD_IPV4 = 2,
};

struct cache_value {
	__u64 updated_ns; /* bpf_ktime_get_ns() of the last change */
	__u32 method;     /* enum method */
	__u32 source;     /* enum cache_source */
};

enum cache_source {
	SOURCE_USER = 1,    /* set by an operator (tnat64 cache set) */
	SOURCE_CONNECT = 2, /* recorded by connect6 the first time it rewrote the destination */
};

/* Which sockets connect6 rewrote, so that only they are reverse-mapped. tnat64_marks is an array
 * indexed by socket cookie modulo TNAT64_MARK_SLOTS: a slot belongs to the socket whose cookie it
 * holds, until sock_release frees it. Cookies are handed out in sequence, so neighbouring sockets
 * use neighbouring slots and the common path is one array write (a hash insert costs ~170 ns of
 * cache misses). A socket whose slot is held by a live one goes to tnat64_marks_overflow, a hash
 * keyed by cookie, and the slot counts it, so lookups and releases try the hash only when needed. */
struct mark_slot {
	__u64 cookie; /* 0: free */
	__u8 addr[4]; /* the IPv4 address the application asked for */
	__u32 overflow; /* sockets of this slot that are in tnat64_marks_overflow */
};

struct mark_value {
	__u8 addr[4];
};

/* tnat64_counters: per-CPU array of __u64, indexed by enum counter. */
enum counter {
	COUNT_REWRITTEN = 0,   /* connect6 rewrote a mapped destination to NAT64 */
	COUNT_LOCAL = 1,       /* a mapped destination stayed IPv4 by rule (local) */
	COUNT_NON_GLOBAL = 2,  /* stayed IPv4: the well-known prefix must not carry it */
	COUNT_UNREACHABLE = 3, /* stayed IPv4: no route to its NAT64 prefix */
	COUNT_CACHE_IPV4 = 4,  /* stayed IPv4: the cache says IPv4 works for it */
	COUNT_REVERSED = 5,    /* getpeername6/recvmsg6 gave back the mapped address */
	COUNT_MAX = 6,
};

#endif
