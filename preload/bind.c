/* bind() on a swapped socket. 0.0.0.0 becomes [::], dual-stack, so that a connection or a
 * datagram through NAT64 keeps the port the program chose; a UDP socket then gets the filter
 * that keeps native IPv6 out (listen() does it for TCP). A specific IPv4 address becomes its
 * IPv4-mapped form: it only exists on IPv4, so the socket's traffic goes over IPv4 and it hears
 * what an AF_INET socket bound there would. The program's own AF_INET6 socket bound to an
 * IPv4-mapped address is noted: it too can only go over IPv4. */
#include <errno.h>

#include "tnat64.h"

static int bind_swapped(int fd, uint64_t word, const struct sockaddr *addr, socklen_t len)
{
	struct sockaddr_in local;
	int r = ipv4_sockaddr_arg(addr, len, UNSPEC_ANY_BIND, &local);
	if (r == 0) {
		struct sockaddr_in6 real = {.sin6_family = AF_INET6, .sin6_port = local.sin_port};
		bool any = local.sin_addr.s_addr == htonl(INADDR_ANY);
		if (!any)
			ipv4_mapped(local.sin_addr, &real.sin6_addr);
		r = libc.bind(fd, (const struct sockaddr *)&real, sizeof(real));
		if (r == 0 && !any)
			registry_set(fd, word | FD_BOUND4);
		else if (r == 0 && (word & FD_DGRAM))
			filter_screen(fd, word);
	}
	if (r < 0 && (errno == EAFNOSUPPORT || errno == EINVAL) && !fd_recheck(fd))
		return libc.bind(fd, addr, len);
	return r;
}

TNAT64_EXPORT int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	tnat64_init();
	uint64_t word = fd_state(fd);
	if (!(word & FD_SERVED) || len < sizeof(sa_family_t) || !user_memory(addr, len))
		return libc.bind(fd, addr, len);
	if (word & FD_SWAPPED)
		return bind_swapped(fd, word, addr, len);
	int r = libc.bind(fd, addr, len);
	if (r == 0 && fd_bound4(fd))
		registry_set(fd, word | FD_BOUND4);
	return r;
}
