// SPDX-License-Identifier: GPL-2.0
/* Kernel mode: IPv4-mapped destinations (::ffff:a.b.c.d) of dual-stack sockets in a cgroup go
 * through NAT64 (RFC 6052), and the application still sees the mapped address it asked for.
 *
 *   cgroup/connect6      rewrite ::ffff:a.b.c.d to the NAT64 address its rule gives
 *   cgroup/getpeername6  give a rewritten socket's peer back as ::ffff:a.b.c.d
 *   cgroup/recvmsg6      the same for the source of datagrams on a rewritten UDP socket
 *   cgroup/sock_release  forget a rewritten socket (its slot is free for the next)
 */
#include <linux/bpf.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "tnat64.h"

/* A cgroup/connect6 program that returns 1 lets the call proceed (0 would refuse it). */
#define PROCEED 1
/* Socket API constants, which the uapi headers do not carry. */
#define AF_INET6 10
#define SOCK_DGRAM 2

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
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TNAT64_MAX_CACHE);
	__type(key, __u32);
	__type(value, struct cache_value);
} tnat64_cache SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TNAT64_MARK_SLOTS);
	__type(key, __u32);
	__type(value, struct mark_slot);
} tnat64_marks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TNAT64_MAX_OVERFLOW);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, struct mark_value);
} tnat64_marks_overflow SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, COUNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} tnat64_counters SEC(".maps");

static __always_inline void count(enum counter which)
{
	__u32 key = which;
	__u64 *value = bpf_map_lookup_elem(&tnat64_counters, &key);
	if (value)
		*value += 1;
}

static __always_inline int is_ipv4_mapped(const struct bpf_sock_addr *ctx)
{
	return ctx->user_ip6[0] == 0 && ctx->user_ip6[1] == 0 && ctx->user_ip6[2] == bpf_htonl(0xffff);
}

static __always_inline void set_ipv4_mapped(struct bpf_sock_addr *ctx, const __u8 ipv4[4])
{
	__u32 word;
	__builtin_memcpy(&word, ipv4, 4);
	ctx->user_ip6[0] = 0;
	ctx->user_ip6[1] = 0;
	ctx->user_ip6[2] = bpf_htonl(0xffff);
	ctx->user_ip6[3] = word;
}

static __always_inline struct mark_slot *slot_of(__u64 cookie)
{
	__u32 index = cookie & (TNAT64_MARK_SLOTS - 1);
	return bpf_map_lookup_elem(&tnat64_marks, &index);
}

/* Records that this socket was rewritten from ::ffff:addr (again, for a UDP socket that reconnects). */
static __always_inline void mark(__u64 cookie, const __u8 addr[4])
{
	struct mark_slot *slot = slot_of(cookie);
	if (!slot)
		return;
	__u64 holder = __sync_val_compare_and_swap(&slot->cookie, 0, cookie);
	if (holder == 0 || holder == cookie) {
		__builtin_memcpy(slot->addr, addr, 4);
		return;
	}
	struct mark_value value;
	__builtin_memcpy(value.addr, addr, 4);
	if (bpf_map_update_elem(&tnat64_marks_overflow, &cookie, &value, BPF_NOEXIST) == 0)
		__sync_fetch_and_add(&slot->overflow, 1);
}

/* The IPv4 address a rewritten socket asked for; NULL for every other socket. */
static __always_inline const __u8 *marked(__u64 cookie)
{
	struct mark_slot *slot = slot_of(cookie);
	if (!slot)
		return 0;
	if (slot->cookie == cookie)
		return slot->addr;
	if (!slot->overflow)
		return 0;
	struct mark_value *value = bpf_map_lookup_elem(&tnat64_marks_overflow, &cookie);
	return value ? value->addr : 0;
}

static __always_inline void unmark(__u64 cookie)
{
	struct mark_slot *slot = slot_of(cookie);
	if (!slot)
		return;
	if (__sync_val_compare_and_swap(&slot->cookie, cookie, 0) == cookie)
		return;
	if (slot->overflow && bpf_map_delete_elem(&tnat64_marks_overflow, &cookie) == 0)
		__sync_fetch_and_sub(&slot->overflow, 1);
}

/* RFC 6052 §2.2: the IPv4 address follows the prefix, around the u-octet (byte 8), which stays
 * zero like the suffix. The prefix's own bytes past its length are zero (user space checks). */
static __always_inline void synthesize(const struct prefix_value *prefix, const __u8 v4[4], __u8 out[16])
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

SEC("cgroup/connect6")
int tnat64_connect6(struct bpf_sock_addr *ctx)
{
	if (!is_ipv4_mapped(ctx)) {
		/* Native IPv6: never touched. A UDP socket may have been rewritten by an earlier
		 * connect; it is not any more. (TCP sockets connect once: they skip the cookie.) */
		if (ctx->type == SOCK_DGRAM)
			unmark(bpf_get_socket_cookie(ctx));
		return PROCEED;
	}

	struct rule_key key = {.prefixlen = 32};
	__u32 word = ctx->user_ip6[3];
	__builtin_memcpy(key.addr, &word, 4);

	struct rule_value *rule = bpf_map_lookup_elem(&tnat64_rules, &key);
	enum counter outcome = COUNT_REWRITTEN;
	__u32 destination = word;
	struct cache_value *cached = 0;
	struct prefix_value *prefix = 0;
	if (!rule || rule->action != ACTION_NAT64) {
		outcome = rule && rule->action == ACTION_NONE ? COUNT_NON_GLOBAL : COUNT_LOCAL;
	} else if ((cached = bpf_map_lookup_elem(&tnat64_cache, &destination)) && cached->method == METHOD_IPV4) {
		outcome = COUNT_CACHE_IPV4;
	} else {
		__u32 id = rule->prefix_id;
		prefix = bpf_map_lookup_elem(&tnat64_prefixes, &id);
		if (!prefix || !prefix->reachable)
			outcome = COUNT_UNREACHABLE;
	}
	if (outcome != COUNT_REWRITTEN || !prefix) {
		if (ctx->type == SOCK_DGRAM)
			unmark(bpf_get_socket_cookie(ctx));
		count(outcome);
		return PROCEED;
	}

	__u8 address[16];
	synthesize(prefix, key.addr, address);
	__u32 words[4];
	__builtin_memcpy(words, address, 16);
	ctx->user_ip6[0] = words[0];
	ctx->user_ip6[1] = words[1];
	ctx->user_ip6[2] = words[2];
	ctx->user_ip6[3] = words[3];

	mark(bpf_get_socket_cookie(ctx), key.addr);
	if (!cached) {
		struct cache_value seen = {
			.updated_ns = bpf_ktime_get_ns(), .method = METHOD_NAT64, .source = SOURCE_CONNECT};
		bpf_map_update_elem(&tnat64_cache, &destination, &seen, BPF_NOEXIST);
	}
	count(COUNT_REWRITTEN);
	return PROCEED;
}

/* The mapped address back, for the sockets connect6 rewrote and no others. */
static __always_inline int reverse(struct bpf_sock_addr *ctx)
{
	const __u8 *addr = marked(bpf_get_socket_cookie(ctx));
	if (addr) {
		set_ipv4_mapped(ctx, addr);
		count(COUNT_REVERSED);
	}
	return PROCEED;
}

SEC("cgroup/getpeername6")
int tnat64_getpeername6(struct bpf_sock_addr *ctx)
{
	return reverse(ctx);
}

SEC("cgroup/recvmsg6")
int tnat64_recvmsg6(struct bpf_sock_addr *ctx)
{
	return reverse(ctx);
}

SEC("cgroup/sock_release")
int tnat64_sock_release(struct bpf_sock *sk)
{
	if (sk->family == AF_INET6)
		unmark(bpf_get_socket_cookie(sk));
	return PROCEED;
}

char LICENSE[] SEC("license") = "GPL";
