// SPDX-License-Identifier: GPL-2.0
/* Kernel mode: IPv4-mapped destinations (::ffff:a.b.c.d) of dual-stack sockets in a cgroup go
 * through NAT64 (RFC 6052), and the application still sees the mapped address it asked for.
 *
 *   cgroup/connect6      rewrite ::ffff:a.b.c.d to the NAT64 address its cgroup's rule gives
 *   cgroup/getpeername6  give a rewritten socket's peer back as ::ffff:a.b.c.d
 *   cgroup/recvmsg6      the same for the source of datagrams on a rewritten UDP socket
 *   cgroup/sock_release  free a rewritten socket's reverse slot for the next
 *
 * connect6 also reports each decision to `tnat64 monitor` through a ring buffer, while one runs.
 *
 * One object is loaded per attached cgroup; its read-only tnat64_cgroup says whose rules it
 * applies, so every attachment keeps its own configuration in the shared maps.
 */
#include <linux/bpf.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "tnat64.h"

/* A cgroup sock_addr program that returns 1 lets the call proceed (0 would refuse it). */
#define PROCEED 1
/* Socket API constants, which the uapi headers do not carry. */
#define AF_INET6 10

/* The id of the cgroup this copy of the programs is attached to, set by user space at load. */
const volatile __u64 tnat64_cgroup = 0;

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, TNAT64_MAX_RULES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct rule_key);
	__type(value, struct rule_value);
} tnat64_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TNAT64_MAX_PREFIXES);
	__type(key, __u32);
	__type(value, struct prefix_value);
} tnat64_prefixes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TNAT64_MAX_NETNS);
	__type(key, __u64);
	__type(value, struct prefix_set);
} tnat64_unreachable SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TNAT64_REVERSE_SLOTS);
	__type(key, __u32);
	__type(value, struct reverse_slot);
} tnat64_reverse SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TNAT64_MAX_REVERSE_OVERFLOW);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, struct reverse_record);
} tnat64_reverse_overflow SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, COUNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} tnat64_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct monitor_lease);
} tnat64_monitor SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, TNAT64_EVENT_RING_BYTES);
} tnat64_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} tnat64_monitor_dropped SEC(".maps");

static __always_inline void counter_add(enum counter which)
{
	__u32 key = which;
	__u64 *value = bpf_map_lookup_elem(&tnat64_counters, &key);
	if (value)
		*value += 1;
}

static __always_inline int addr6_is_v4_mapped(const __u32 words[4])
{
	return words[0] == 0 && words[1] == 0 && words[2] == bpf_htonl(0xffff);
}

/* A socket bound to an IPv4-mapped source (a specific address, or ::ffff:0.0.0.0), or given one by
 * an earlier IPv4 connect, can only reach IPv4: an IPv6 destination would fail EAFNOSUPPORT. */
static __always_inline int sock6_has_v4_source(const struct bpf_sock_addr *ctx)
{
	const struct bpf_sock *sk = ctx->sk;
	if (!sk)
		return 0;
	__u32 source[4] = {sk->src_ip6[0], sk->src_ip6[1], sk->src_ip6[2], sk->src_ip6[3]};
	return addr6_is_v4_mapped(source);
}

/* A namespace that no one has refreshed has no entry: its prefixes count as reachable. */
static __always_inline int prefix_is_unreachable(struct bpf_sock_addr *ctx, __u8 id)
{
	__u64 netns = bpf_get_netns_cookie(ctx);
	const struct prefix_set *unreachable = bpf_map_lookup_elem(&tnat64_unreachable, &netns);
	return unreachable && (unreachable->bits[id / 64] >> (id % 64)) & 1;
}

/* Where a mapped destination goes: COUNT_REWRITTEN with its prefix, or the reason it stays IPv4. */
static __always_inline enum counter sock6_decide(struct bpf_sock_addr *ctx, const __u8 ipv4[4],
						 const struct prefix_value **prefix)
{
	if (sock6_has_v4_source(ctx))
		return COUNT_BOUND_IPV4;

	struct rule_key key = {.prefixlen = 64 + 32};
	__u64 cgroup = bpf_cpu_to_be64(tnat64_cgroup);
	__builtin_memcpy(key.cgroup, &cgroup, 8);
	__builtin_memcpy(key.addr, ipv4, 4);
	const struct rule_value *rule = bpf_map_lookup_elem(&tnat64_rules, &key);
	if (!rule)
		return COUNT_NO_RULES; /* every rule set has a 0.0.0.0/0 entry */
	if (rule->action == ACTION_NONE)
		return COUNT_NON_GLOBAL;
	if (rule->action != ACTION_NAT64)
		return rule->flags & RULE_PINNED ? COUNT_PINNED_IPV4 : COUNT_IPV4;

	__u32 id = rule->prefix_id;
	*prefix = bpf_map_lookup_elem(&tnat64_prefixes, &id);
	/* A free entry: user space writes a prefix before any rule names it, so only a rule being
	 * replaced can see one; staying IPv4 for that one call is safe. */
	if (!*prefix || !(*prefix)->length)
		return COUNT_NO_RULES;
	if ((*prefix)->unreachable_somewhere && prefix_is_unreachable(ctx, rule->prefix_id))
		return COUNT_UNREACHABLE;
	return COUNT_REWRITTEN;
}

/* RFC 6052 §2.2: the IPv4 address follows the prefix, around the u-octet (byte 8), which stays
 * zero like the suffix. The prefix's own bytes past its length are zero (user space checks). */
static __always_inline void nat64_synthesize(const struct prefix_value *prefix, const __u8 v4[4],
					     __u8 out[16])
{
	__builtin_memcpy(out, prefix->addr, 16);
	switch (prefix->length) {
	case 32:
		out[4] = v4[0], out[5] = v4[1], out[6] = v4[2], out[7] = v4[3];
		break;
	case 40:
		out[5] = v4[0], out[6] = v4[1], out[7] = v4[2], out[9] = v4[3];
		break;
	case 48:
		out[6] = v4[0], out[7] = v4[1], out[9] = v4[2], out[10] = v4[3];
		break;
	case 56:
		out[7] = v4[0], out[9] = v4[1], out[10] = v4[2], out[11] = v4[3];
		break;
	case 64:
		out[9] = v4[0], out[10] = v4[1], out[11] = v4[2], out[12] = v4[3];
		break;
	default: /* 96 */
		out[12] = v4[0], out[13] = v4[1], out[14] = v4[2], out[15] = v4[3];
	}
}

static __always_inline struct reverse_slot *reverse_slot_of(__u64 cookie)
{
	__u32 index = cookie & (TNAT64_REVERSE_SLOTS - 1);
	return bpf_map_lookup_elem(&tnat64_reverse, &index);
}

/* Records the rewrite for the reverse path: in the socket's slot (claimed atomically, or already
 * its own from an earlier connect), else in the overflow hash. */
static __always_inline void reverse_record_save(__u64 cookie, const struct reverse_record *record)
{
	struct reverse_slot *slot = reverse_slot_of(cookie);
	if (!slot)
		return;
	__u64 holder = __sync_val_compare_and_swap(&slot->cookie, 0, cookie);
	if (holder == 0 || holder == cookie) {
		__builtin_memcpy(&slot->record, record, sizeof(*record));
		return;
	}
	struct reverse_record *kept = bpf_map_lookup_elem(&tnat64_reverse_overflow, &cookie);
	if (kept) {
		__builtin_memcpy(kept, record, sizeof(*record));
		return;
	}
	if (bpf_map_update_elem(&tnat64_reverse_overflow, &cookie, record, BPF_NOEXIST) == 0)
		__sync_fetch_and_add(&slot->overflow, 1);
	else
		counter_add(COUNT_REVERSE_LOST); /* full: this socket shows its NAT64 peer */
}

static __always_inline const struct reverse_record *reverse_record_find(__u64 cookie)
{
	struct reverse_slot *slot = reverse_slot_of(cookie);
	if (!slot)
		return 0;
	if (slot->cookie == cookie)
		return &slot->record;
	if (!slot->overflow)
		return 0;
	return bpf_map_lookup_elem(&tnat64_reverse_overflow, &cookie);
}

static __always_inline void reverse_record_free(__u64 cookie)
{
	struct reverse_slot *slot = reverse_slot_of(cookie);
	if (!slot)
		return;
	if (slot->overflow && bpf_map_delete_elem(&tnat64_reverse_overflow, &cookie) == 0)
		__sync_fetch_and_sub(&slot->overflow, 1);
	__sync_val_compare_and_swap(&slot->cookie, cookie, 0);
}

/* The forward translation: a mapped destination that its rule sends through a reachable prefix
 * becomes the NAT64 address (left in record->nat64); every other destination is left as the
 * program gave it. */
static __always_inline enum counter sock6_xlate_fwd(struct bpf_sock_addr *ctx,
						     struct reverse_record *record)
{
	const struct prefix_value *prefix = 0;
	enum counter outcome = sock6_decide(ctx, record->ipv4, &prefix);
	if (outcome != COUNT_REWRITTEN || !prefix)
		return outcome;

	nat64_synthesize(prefix, record->ipv4, (__u8 *)record->nat64);
	ctx->user_ip6[0] = record->nat64[0];
	ctx->user_ip6[1] = record->nat64[1];
	ctx->user_ip6[2] = record->nat64[2];
	ctx->user_ip6[3] = record->nat64[3];
	reverse_record_save(bpf_get_socket_cookie(ctx), record);
	return COUNT_REWRITTEN;
}

/* One event for `tnat64 monitor`, only while its lease runs: without a monitor this costs the
 * lease's load and a branch. An expired lease (its monitor was killed) is cleared here, unless a
 * monitor renewed it meanwhile, so the next calls are back to that one load. */
static __always_inline void monitor_report(const struct reverse_record *record, enum counter outcome)
{
	__u32 zero = 0;
	struct monitor_lease *lease = bpf_map_lookup_elem(&tnat64_monitor, &zero);
	if (!lease)
		return;
	__u64 until = lease->until;
	if (!until)
		return;
	__u64 now = bpf_ktime_get_ns();
	if (now > until) {
		__sync_val_compare_and_swap(&lease->until, until, 0);
		return;
	}
	struct connect_event *event = bpf_ringbuf_reserve(&tnat64_events, sizeof(*event), 0);
	if (!event) {
		__u64 *dropped = bpf_map_lookup_elem(&tnat64_monitor_dropped, &zero);
		if (dropped)
			*dropped += 1;
		return;
	}
	event->time = now;
	event->cgroup = tnat64_cgroup;
	event->pid = bpf_get_current_pid_tgid() >> 32;
	event->outcome = outcome;
	/* Read only when written: the common path never zeroes record->nat64 for this. */
	if (outcome == COUNT_REWRITTEN)
		__builtin_memcpy(event->nat64, record->nat64, sizeof(event->nat64));
	else
		__builtin_memset(event->nat64, 0, sizeof(event->nat64));
	__builtin_memcpy(event->ipv4, record->ipv4, 4);
	event->port = record->port;
	bpf_get_current_comm(event->comm, sizeof(event->comm));
	bpf_ringbuf_submit(event, 0);
}

/* The reverse: the mapped address back, only while the address in hand is the one connect6 wrote
 * for this very socket. Anything else (a native peer, a reconnected socket) passes untouched. */
static __always_inline void sock6_xlate_rev(struct bpf_sock_addr *ctx)
{
	const struct reverse_record *record = reverse_record_find(bpf_get_socket_cookie(ctx));
	if (!record || record->port != ctx->user_port || record->nat64[0] != ctx->user_ip6[0] ||
	    record->nat64[1] != ctx->user_ip6[1] || record->nat64[2] != ctx->user_ip6[2] ||
	    record->nat64[3] != ctx->user_ip6[3])
		return;
	__u32 ipv4;
	__builtin_memcpy(&ipv4, record->ipv4, 4);
	ctx->user_ip6[0] = 0;
	ctx->user_ip6[1] = 0;
	ctx->user_ip6[2] = bpf_htonl(0xffff);
	ctx->user_ip6[3] = ipv4;
	counter_add(COUNT_REVERSED);
}

SEC("cgroup/connect6")
int tnat64_connect6(struct bpf_sock_addr *ctx)
{
	/* Native IPv6 (also what a nested cgroup's copy already rewrote): never touched. */
	__u32 words[4] = {ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2], 0};
	if (!addr6_is_v4_mapped(words))
		return PROCEED;
	/* record.nat64 is written by a rewrite and read only after one: not zeroed on every call. */
	struct reverse_record record;
	record.cgroup = tnat64_cgroup;
	record.port = ctx->user_port;
	__u32 ipv4 = ctx->user_ip6[3];
	__builtin_memcpy(record.ipv4, &ipv4, 4);
	enum counter outcome = sock6_xlate_fwd(ctx, &record);
	counter_add(outcome);
	monitor_report(&record, outcome);
	return PROCEED;
}

SEC("cgroup/getpeername6")
int tnat64_getpeername6(struct bpf_sock_addr *ctx)
{
	sock6_xlate_rev(ctx);
	return PROCEED;
}

SEC("cgroup/recvmsg6")
int tnat64_recvmsg6(struct bpf_sock_addr *ctx)
{
	sock6_xlate_rev(ctx);
	return PROCEED;
}

SEC("cgroup/sock_release")
int tnat64_sock_release(struct bpf_sock *sk)
{
	if (sk->family == AF_INET6)
		reverse_record_free(bpf_get_socket_cookie(sk));
	return PROCEED;
}

char LICENSE[] SEC("license") = "GPL";
