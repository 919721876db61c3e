/* The contract between tnat64.bpf.c and user space (src/lib/bpf/layout.ts mirrors it; a test
 * compares that mirror with the BTF of the built object and with this file's constants).
 * Every map's key and value is here.
 *
 * Addresses are kept as the kernel keeps them: network byte order, as bytes or __u32 words. */
#ifndef TNAT64_BPF_H
#define TNAT64_BPF_H

#include <linux/types.h>

#define TNAT64_MAX_PREFIXES 256 /* a multiple of 64: struct prefix_set is a bitmap of them */
#define TNAT64_MAX_RULES (1 << 18)
#define TNAT64_MAX_NETNS 4096
#define TNAT64_REVERSE_SLOTS 8192 /* direct-mapped by socket cookie; a power of two */
#define TNAT64_MAX_REVERSE_OVERFLOW 65536
#define TNAT64_EVENT_RING_BYTES (256 * 1024) /* a power of two of pages: ~3600 events */

/* IPv4 networks that never go through NAT64, whatever the configuration says: "this network",
 * loopback, multicast and the reserved 240/4 (with the limited broadcast). {address, length}
 * pairs, host byte order; the preload and the CLI use this table too (a test holds them equal). */
#define TNAT64_ALWAYS_IPV4_NETS                                                                    \
	{                                                                                          \
		{0x00000000, 8}, {0x7f000000, 8}, {0xe0000000, 4}, { 0xf0000000, 4 }               \
	}

/* tnat64_rules: LPM trie of every attached cgroup's rules. The key starts with the cgroup's id,
 * so one lookup of {id, destination} with prefixlen 64 + 32 finds that cgroup's longest match
 * and never another's. User space compiles each configuration into it (local beats path beats
 * default; operator pins are /32 entries). */
struct rule_key {
	__u32 prefixlen; /* 64 (the cgroup) + 0..32 (the IPv4 network) */
	__u8 cgroup[8];  /* the cgroup's id, big-endian: the trie matches from the first byte */
	__u8 addr[4];
};

enum rule_action {
	ACTION_IPV4 = 1,  /* stays IPv4 (127/8, `local`, a pin to IPv4) */
	ACTION_NAT64 = 2, /* rewritten into tnat64_prefixes[prefix_id] */
	ACTION_NONE = 3,  /* non-global under the well-known prefix (RFC 6052 §3.1): stays IPv4 */
};

enum rule_flag {
	RULE_PINNED = 1, /* set by an operator (tnat64 cache set), not compiled from the configuration */
};

struct rule_value {
	__u8 action;    /* enum rule_action */
	__u8 prefix_id; /* index into tnat64_prefixes, for ACTION_NAT64 */
	__u8 flags;     /* enum rule_flag */
	__u8 pad;
};

/* tnat64_prefixes: array of the NAT64 prefixes that rules use; length 0 marks a free entry. */
struct prefix_value {
	__u8 addr[16];
	__u8 length; /* 32, 40, 48, 56, 64 or 96 */
	/* Some namespace cannot reach it: only then is tnat64_unreachable worth its lookup
	 * (~60 ns of a ~150 ns connect6). User space sets it after, and clears it before, the entry. */
	__u8 unreachable_somewhere;
	__u8 pad[2];
};

/* tnat64_unreachable: per network namespace (bpf_get_netns_cookie), the prefixes it has no route
 * to. A namespace without an entry has never been refreshed: every prefix counts as reachable. */
struct prefix_set {
	__u64 bits[TNAT64_MAX_PREFIXES / 64]; /* bit id%64 of word id/64 */
};

/* What connect6 wrote into a socket's destination, so that getpeername6 and recvmsg6 give the
 * mapped address back only while the socket's peer is still exactly that NAT64 address and port:
 * a record that outlives its connection (refused, disconnected, reconnected) can never match. */
struct reverse_record {
	__u64 cgroup;    /* whose connect6 wrote it: detaching that cgroup frees its records */
	__u32 nat64[4];  /* the address connect6 wrote */
	__u32 port;      /* the destination port, as in bpf_sock_addr.user_port */
	__u8 ipv4[4];    /* the IPv4 address the application asked for */
};

/* tnat64_reverse: array indexed by socket cookie modulo TNAT64_REVERSE_SLOTS. A slot belongs to
 * the socket whose cookie it holds until sock_release frees it. Cookies are handed out in
 * sequence (per CPU, in batches), so the common path is one array write to a warm line (a hash
 * insert costs ~170 ns of cache misses). A socket whose slot a live one holds goes to
 * tnat64_reverse_overflow, a hash keyed by cookie, and the slot counts it, so readers try the
 * hash only when needed (the count is a hint: too high costs a lookup, never a wrong answer). */
struct reverse_slot {
	__u64 cookie; /* 0: free */
	struct reverse_record record;
	__u32 overflow; /* records of this slot's cookies in tnat64_reverse_overflow */
	__u32 pad;
};

/* tnat64_counters: per-CPU array of __u64, indexed by enum counter. */
enum counter {
	COUNT_REWRITTEN = 0,    /* connect6 rewrote a mapped destination to NAT64 */
	COUNT_IPV4 = 1,         /* a mapped destination stayed IPv4 by rule (local, always-IPv4 nets) */
	COUNT_NON_GLOBAL = 2,   /* stayed IPv4: the well-known prefix must not carry it */
	COUNT_UNREACHABLE = 3,  /* stayed IPv4: no route to its NAT64 prefix in this namespace */
	COUNT_PINNED_IPV4 = 4,  /* stayed IPv4: an operator pinned the destination to IPv4 */
	COUNT_BOUND_IPV4 = 5,   /* stayed IPv4: the socket is bound to an IPv4(-mapped) source */
	COUNT_NO_RULES = 6,     /* stayed IPv4: no rules for this cgroup (being attached or detached) */
	COUNT_REVERSED = 7,     /* getpeername6/recvmsg6 gave back the mapped address */
	COUNT_REVERSE_LOST = 8, /* rewritten, but no room to record it: the program sees the NAT64 address */
	COUNT_MAX = 9,
};

/* tnat64_monitor: one entry, written by `tnat64 monitor`. connect6 writes events only while it is
 * in the future, so a monitor killed without a word stops them within one lease; the first
 * connect6 after that finds it expired and sets it back to 0, the one-load-and-branch case. */
struct monitor_lease {
	__u64 until; /* bpf_ktime_get_ns() (CLOCK_MONOTONIC) when the lease ends; 0: no monitor */
};

/* tnat64_events: a ring buffer of one connect6 decision each. Events that find it full are
 * counted in tnat64_monitor_dropped (per-CPU array, one __u64). */
struct connect_event {
	__u64 time;     /* bpf_ktime_get_ns() */
	__u64 cgroup;   /* the attached cgroup whose rules decided (tnat64_cgroup) */
	__u32 pid;      /* the process (thread group) that called connect() */
	__u32 outcome;  /* enum counter: COUNT_REWRITTEN, or why the destination stayed IPv4 */
	__u32 nat64[4]; /* the address connected to, for COUNT_REWRITTEN; else zero (unchanged) */
	__u8 ipv4[4];   /* the destination asked for, ::ffff:a.b.c.d */
	__u32 port;     /* as in bpf_sock_addr.user_port: network order, in the low 16 bits */
	char comm[16];  /* bpf_get_current_comm() */
};

#endif
