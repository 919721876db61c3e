/* getpeername() on a swapped socket: the IPv4 peer the program connected to, as sockaddr_in.
 * Every other socket (AF_UNIX, AF_NETLINK, a native AF_INET6 one) is left alone. */
#include "tnat64.h"

TNAT64_EXPORT int getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
	tnat64_init();
	uint64_t word = fd_state(fd);
	if (!(word & FD_SWAPPED))
		return libc.getpeername(fd, addr, len);
	struct sockaddr_in6 real;
	socklen_t real_len = sizeof(real);
	/* The real call first: it gives ENOTCONN, EBADF and the like exactly as the kernel would. */
	if (libc.getpeername(fd, (struct sockaddr *)&real, &real_len) < 0)
		return -1;
	if (real.sin6_family != AF_INET6) { /* a number reused behind our back: not ours any more */
		registry_set(fd, 0);
		return libc.getpeername(fd, addr, len);
	}
	struct sockaddr_in peer;
	if (word & FD_PEER)
		fd_peer(word, &peer);
	else
		ipv4_view(&real, &peer);
	return copy_sockaddr_in(&peer, addr, len);
}
