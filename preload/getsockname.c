/* getsockname() on a swapped socket: AF_INET with the real local port. A connection over IPv4
 * shows its real local IPv4 address; one through NAT64 has none and shows 192.0.0.1 (RFC 7335's
 * range, which CLATs use for the same purpose). Other sockets are left alone. */
#include "tnat64.h"

TNAT64_EXPORT int getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
	tnat64_init();
	if (!(registry_get(fd) & FD_SWAPPED))
		return libc.getsockname(fd, addr, len);
	struct sockaddr_in6 real;
	socklen_t real_len = sizeof(real);
	if (libc.getsockname(fd, (struct sockaddr *)&real, &real_len) < 0)
		return -1;
	if (real.sin6_family != AF_INET6) {
		registry_clear(fd);
		return libc.getsockname(fd, addr, len);
	}
	struct sockaddr_in local;
	ipv4_view(&real, &local);
	return copy_sockaddr_in(&local, addr, len);
}
