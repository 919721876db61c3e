/* listen() on a swapped socket: it accepts exactly what an AF_INET socket would, IPv4 only.
 * Not bound yet: bound to ::ffff:0.0.0.0, as AF_INET's automatic bind would. Bound to [::] (the
 * program's 0.0.0.0): a socket filter drops every IPv6 packet, so native IPv6 clients never get
 * a connection (they see no answer, where an AF_INET socket's host would refuse them). */
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>

#include "tnat64.h"

static int drop_ipv6(int fd)
{
	static const struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_H | BPF_ABS, SKF_AD_OFF + SKF_AD_PROTOCOL),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IPV6, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, 0),
		BPF_STMT(BPF_RET | BPF_K, 0xffffffff),
	};
	const struct sock_fprog program = {.len = sizeof(code) / sizeof(code[0]), .filter = (struct sock_filter *)code};
	return libc.setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof(program));
}

/* Bound to IPv4 only, or filtered to be; -1 with errno when it cannot be made so. */
static int listen_ipv4_only(int fd)
{
	struct sockaddr_in6 local;
	socklen_t len = sizeof(local);
	if (libc.getsockname(fd, (struct sockaddr *)&local, &len) < 0)
		return -1;
	if (IN6_IS_ADDR_V4MAPPED(&local.sin6_addr))
		return 0;
	if (local.sin6_port == 0) {
		struct sockaddr_in6 any4 = {.sin6_family = AF_INET6};
		ipv4_mapped((struct in_addr){htonl(INADDR_ANY)}, &any4.sin6_addr);
		return libc.bind(fd, (const struct sockaddr *)&any4, sizeof(any4));
	}
	return drop_ipv6(fd);
}

TNAT64_EXPORT int listen(int fd, int backlog)
{
	tnat64_init();
	if ((fd_state(fd) & FD_SWAPPED) && listen_ipv4_only(fd) < 0)
		return -1;
	return libc.listen(fd, backlog);
}
