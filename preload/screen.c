/* The classic BPF socket filter that keeps native IPv6 out of a socket standing for an AF_INET
 * one: IPv4 passes (which includes what reaches an IPv4-mapped address), and IPv6 from a NAT64
 * prefix in use (IPv4 hosts, translated). Built once from the configuration; the library
 * (filter.c) and the supervisor attach it. */
#include <linux/if_ether.h>
#include <string.h>

#include "tnat64.h"

/* Where the IPv6 source address starts, relative to the network header. */
#define IPV6_SOURCE_OFFSET 8
/* A configuration with more prefixes than SCREEN_MAX holds gets no filter: recvfrom() and kin
 * then screen every swapped socket (after poll() saw them). */
static struct sock_filter code[SCREEN_MAX];
static unsigned short code_len; /* 0: no filter */
static bool code_full;

static void emit(struct sock_filter insn)
{
	code[code_len++] = insn;
}

/* A block that accepts a source inside `prefix`: each word of the source against the prefix's,
 * a mismatch jumping past the block to the next one. */
static void emit_prefix(const struct nat64_prefix *prefix)
{
	unsigned int words = (prefix->length + 31) / 32;
	unsigned int end = code_len + 2 * words + (prefix->length % 32 != 0) + 1;
	if (end + 1 > SCREEN_MAX) {
		code_full = true;
		return;
	}
	for (unsigned int i = 0; i < words; i++) {
		uint32_t want;
		memcpy(&want, &prefix->bytes[4 * i], 4);
		want = ntohl(want);
		emit((struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SKF_NET_OFF + IPV6_SOURCE_OFFSET + 4 * i));
		unsigned int bits = prefix->length - 32 * i;
		if (bits < 32) {
			uint32_t mask = ~0u << (32 - bits);
			emit((struct sock_filter)BPF_STMT(BPF_ALU | BPF_AND | BPF_K, mask));
			want &= mask;
		}
		emit((struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, want, 0, (uint8_t)(end - code_len - 1)));
	}
	emit((struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0xffffffff));
}

void screen_build(const struct config *cfg)
{
	code_len = 0;
	/* Not IPv6 (IPv4, which includes what reaches an IPv4-mapped address): accepted. */
	emit((struct sock_filter)BPF_STMT(BPF_LD | BPF_H | BPF_ABS, SKF_AD_OFF + SKF_AD_PROTOCOL));
	emit((struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IPV6, 1, 0));
	emit((struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0xffffffff));
	/* The prefixes config_extract() reads back through: the default one, and every path's that
	 * is not one of those before it. */
	emit_prefix(config_fallback_prefix(cfg));
	for (size_t i = 0; i < cfg->n_paths; i++) {
		const struct nat64_prefix *prefix = &cfg->paths[i].prefix;
		bool seen = nat64_prefix_equal(prefix, config_fallback_prefix(cfg));
		for (size_t j = 0; j < i && !seen; j++)
			seen = nat64_prefix_equal(prefix, &cfg->paths[j].prefix);
		if (!seen)
			emit_prefix(prefix);
	}
	emit((struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0));
	if (code_full)
		code_len = 0;
}

struct sock_fprog screen_program(void)
{
	return (struct sock_fprog){.len = code_len, .filter = code};
}
