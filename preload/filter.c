/* The socket filter that keeps native IPv6 out of a swapped socket, so that it hears only what
 * an AF_INET socket would: IPv4, and IPv6 from a NAT64 prefix in use (IPv4 hosts, translated).
 * A classic BPF program built once from the configuration; the kernel runs it on each packet
 * before it is queued, so poll() and read() never see what it drops. A program that attaches a
 * filter of its own replaces it: recvfrom() and kin then screen sources themselves
 * (arrival_view), and accept() closes what gets in. The filter is not the program's:
 * SO_GET_FILTER and SO_DETACH_FILTER answer as if it were not there (getsockopt.c, setsockopt.c). */
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <string.h>

#include "tnat64.h"

/* Where the IPv6 source address starts, relative to the network header. */
#define IPV6_SOURCE_OFFSET 8
/* Room for 17 distinct /96 prefixes (7 instructions each), kept small because filter_is_ours()
 * reads a socket's filter onto the stack, in a signal handler perhaps. A configuration with more
 * gets no filter: recvfrom() and kin then screen every swapped socket (after poll() saw them). */
#define FILTER_MAX 128

static struct sock_filter code[FILTER_MAX];
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
	if (end + 1 > FILTER_MAX) {
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

void filter_build(const struct config *cfg)
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

static bool has_filter(int fd)
{
	socklen_t n = 0;
	/* A classic filter tells its length; an eBPF one (SO_ATTACH_BPF) cannot be read: EACCES. */
	return libc.getsockopt(fd, SOL_SOCKET, SO_GET_FILTER, NULL, &n) == 0 ? n > 0 : errno == EACCES;
}

uint64_t filter_screen(int fd, uint64_t word)
{
	int saved = errno;
	const struct sock_fprog program = {.len = code_len, .filter = code};
	word |= FD_SCREENED;
	if (code_len && !(word & FD_FILTERED) && !has_filter(fd) &&
	    libc.setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof(program)) == 0)
		word |= FD_FILTERED;
	registry_set(fd, word);
	errno = saved;
	return word;
}

void filter_remove(int fd, uint64_t word)
{
	int saved = errno, zero = 0;
	libc.setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &zero, sizeof(zero));
	registry_set(fd, word & ~FD_FILTERED);
	errno = saved;
}

bool filter_is_ours(int fd)
{
	if (!code_len)
		return false;
	struct sock_filter theirs[FILTER_MAX];
	socklen_t n = FILTER_MAX; /* SO_GET_FILTER counts instructions */
	int saved = errno;
	bool ours = libc.getsockopt(fd, SOL_SOCKET, SO_GET_FILTER, theirs, &n) == 0 && n == code_len &&
		    memcmp(theirs, code, code_len * sizeof(code[0])) == 0;
	errno = saved;
	return ours;
}

bool source_is_ipv4(const struct in6_addr *source)
{
	return config_is_ipv4_source(tnat64_config(), source);
}
