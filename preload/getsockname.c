/* getsockname() on a swapped socket: AF_INET with the real local port. A connection over IPv4
 * shows its real local IPv4 address; one through NAT64 has none and shows the stand-in
 * TNAT64_STANDIN_IPV4. Other sockets are left alone. */
#include "tnat64.h"

TNAT64_EXPORT int getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
	tnat64_init();
	if (!(fd_state(fd) & FD_SWAPPED))
		return libc.getsockname(fd, addr, len);
	struct sockaddr_in6 real;
	socklen_t real_len = sizeof(real);
	if (libc.getsockname(fd, (struct sockaddr *)&real, &real_len) < 0)
		return -1;
	if (real.sin6_family != AF_INET6) {
		registry_set(fd, 0);
		return libc.getsockname(fd, addr, len);
	}
	struct sockaddr_in local;
	ipv4_view(&real, &local);
	return copy_sockaddr(&local, sizeof(local), addr, len);
}
