/* listen() on a swapped socket: it accepts exactly what an AF_INET socket would, IPv4 only.
 * Not bound yet: bound to ::ffff:0.0.0.0, as AF_INET's automatic bind would. Bound to [::] (the
 * program's 0.0.0.0): a socket filter drops every IPv6 packet, so native IPv6 clients never get
 * a connection (they see no answer, where an AF_INET socket's host would refuse them). A
 * program with a filter of its own keeps it, and accept() keeps IPv6 out instead. */
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <netinet/tcp.h>
#include <string.h>

#include "tnat64.h"

static const struct sock_filter drop_ipv6_code[] = {
	BPF_STMT(BPF_LD | BPF_H | BPF_ABS, SKF_AD_OFF + SKF_AD_PROTOCOL),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IPV6, 0, 1),
	BPF_STMT(BPF_RET | BPF_K, 0),
	BPF_STMT(BPF_RET | BPF_K, 0xffffffff),
};
#define DROP_IPV6_LEN (sizeof(drop_ipv6_code) / sizeof(drop_ipv6_code[0]))

static int drop_ipv6(int fd)
{
	const struct sock_fprog program = {.len = DROP_IPV6_LEN, .filter = (struct sock_filter *)drop_ipv6_code};
	return libc.setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof(program));
}

void listen_filter_remove(int fd, uint64_t word)
{
	int saved = errno, zero = 0;
	libc.setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &zero, sizeof(zero));
	registry_set(fd, word & ~FD_FILTERED);
	errno = saved;
}

bool listen_filter_is_ours(int fd)
{
	struct sock_filter code[DROP_IPV6_LEN];
	socklen_t n = DROP_IPV6_LEN; /* SO_GET_FILTER counts instructions */
	int saved = errno;
	bool ours = libc.getsockopt(fd, SOL_SOCKET, SO_GET_FILTER, code, &n) == 0 && n == DROP_IPV6_LEN &&
		    memcmp(code, drop_ipv6_code, sizeof(code)) == 0;
	errno = saved;
	return ours;
}

/* listen() only succeeds on a closed or listening socket; any other is left to the kernel to
 * refuse, untouched (a filter on a connected socket would cut its traffic). */
static bool may_listen(int fd)
{
	struct tcp_info info;
	socklen_t len = sizeof(info);
	return libc.getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) == 0 &&
	       (info.tcpi_state == TCP_CLOSE || info.tcpi_state == TCP_LISTEN);
}

/* A classic filter tells its length; an eBPF one (SO_ATTACH_BPF) cannot be read: EACCES. */
static bool has_filter(int fd)
{
	socklen_t n = 0;
	return libc.getsockopt(fd, SOL_SOCKET, SO_GET_FILTER, NULL, &n) == 0 ? n > 0 : errno == EACCES;
}

/* Makes the socket IPv4-only before it listens; what it did, for undoing if listen() fails. */
static uint64_t listen_ipv4_only(int fd, uint64_t word)
{
	struct sockaddr_in6 local;
	socklen_t len = sizeof(local);
	int saved = errno;
	if (!may_listen(fd) || libc.getsockname(fd, (struct sockaddr *)&local, &len) < 0 ||
	    IN6_IS_ADDR_V4MAPPED(&local.sin6_addr)) {
		errno = saved;
		return 0;
	}
	if (local.sin6_port == 0) {
		struct sockaddr_in6 any4 = {.sin6_family = AF_INET6};
		ipv4_mapped((struct in_addr){htonl(INADDR_ANY)}, &any4.sin6_addr);
		/* Bound to IPv4 for good, as an AF_INET socket is: a later connect goes over IPv4. */
		if (libc.bind(fd, (const struct sockaddr *)&any4, sizeof(any4)) == 0)
			registry_set(fd, word | FD_BOUND4);
	} else if (!(word & FD_FILTERED) && !has_filter(fd) && drop_ipv6(fd) == 0) {
		registry_set(fd, word | FD_FILTERED);
		errno = saved;
		return FD_FILTERED;
	}
	errno = saved;
	return 0;
}

TNAT64_EXPORT int listen(int fd, int backlog)
{
	tnat64_init();
	uint64_t word = fd_state(fd);
	if (!(word & FD_SWAPPED) || !fd_recheck(fd))
		return libc.listen(fd, backlog);
	uint64_t done = listen_ipv4_only(fd, word);
	int r = libc.listen(fd, backlog);
	if (r < 0 && done) {
		int error = errno;
		listen_filter_remove(fd, word);
		errno = error;
	}
	return r;
}
