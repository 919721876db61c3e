// SPDX-License-Identifier: GPL-2.0
/* Kernel mode: IPv4-mapped destinations (::ffff:a.b.c.d) of dual-stack sockets in a cgroup go
 * through NAT64 (RFC 6052), and the application still sees the mapped address it asked for.
 *
 *   cgroup/connect6      rewrite ::ffff:a.b.c.d to the NAT64 address its rule gives
 *   cgroup/getpeername6  give a rewritten socket's peer back as ::ffff:a.b.c.d
 *   cgroup/recvmsg6      the same for the source of datagrams on a rewritten UDP socket
 *   cgroup/sock_release  forget a rewritten socket
 */
#include <linux/bpf.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "tnat64.h"

/* A cgroup/connect6 program that returns 1 lets the call proceed (0 would refuse it). */
#define PROCEED 1

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
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TNAT64_MAX_MARKS);
	__type(key, __u64);
	__type(value, struct mark_value);
} tnat64_marks SEC(".maps");

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
	if (!is_ipv4_mapped(ctx))
		return PROCEED; /* native IPv6: never touched */

	struct rule_key key = {.prefixlen = 32};
	__u32 word = ctx->user_ip6[3];
	__builtin_memcpy(key.addr, &word, 4);

	struct rule_value *rule = bpf_map_lookup_elem(&tnat64_rules, &key);
	if (!rule || rule->action != ACTION_NAT64) {
		count(rule && rule->action == ACTION_NONE ? COUNT_NON_GLOBAL : COUNT_LOCAL);
		return PROCEED;
	}
	__u32 destination = word;
	struct cache_value *cached = bpf_map_lookup_elem(&tnat64_cache, &destination);
	if (cached && cached->method == METHOD_IPV4) {
		count(COUNT_CACHE_IPV4);
		return PROCEED;
	}
	__u32 id = rule->prefix_id;
	struct prefix_value *prefix = bpf_map_lookup_elem(&tnat64_prefixes, &id);
	if (!prefix || !prefix->reachable) {
		count(COUNT_UNREACHABLE);
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

	__u64 cookie = bpf_get_socket_cookie(ctx);
	struct mark_value mark;
	__builtin_memcpy(mark.addr, key.addr, 4);
	bpf_map_update_elem(&tnat64_marks, &cookie, &mark, BPF_ANY);
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
	__u64 cookie = bpf_get_socket_cookie(ctx);
	struct mark_value *mark = bpf_map_lookup_elem(&tnat64_marks, &cookie);
	if (mark) {
		set_ipv4_mapped(ctx, mark->addr);
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
	if (sk->family == 10 /* AF_INET6 */) {
		__u64 cookie = bpf_get_socket_cookie(sk);
		bpf_map_delete_elem(&tnat64_marks, &cookie);
	}
	return PROCEED;
}

char LICENSE[] SEC("license") = "GPL";
