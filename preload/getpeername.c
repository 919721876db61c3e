/* getpeername() on a swapped socket: the IPv4 peer the program connected to, as sockaddr_in.
 * Every other socket (AF_UNIX, AF_NETLINK, a native AF_INET6 one) is left alone. */
#include "tnat64.h"

int swapped_peer(int fd, uint64_t word, struct sockaddr_in *out)
{
	struct sockaddr_in6 real;
	socklen_t real_len = sizeof(real);
	/* The real call first: it gives ENOTCONN, EBADF and the like exactly as the kernel would. */
	if (libc.getpeername(fd, (struct sockaddr *)&real, &real_len) < 0)
		return -1;
	if (real.sin6_family != AF_INET6) { /* a number reused behind our back: not ours any more */
		registry_set(fd, 0);
		return 1;
	}
	/* Through NAT64, the address the program asked for (no reading back through prefixes);
	 * over IPv4, the kernel's own answer (it connects 0.0.0.0 to 127.0.0.1, for one). */
	if ((word & FD_PEER) && fd_method(word) == METHOD_NAT64)
		fd_peer(word, out);
	else
		ipv4_view(&real, out);
	return 0;
}

TNAT64_EXPORT int getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
	tnat64_init();
	uint64_t word = fd_state(fd);
	struct sockaddr_in peer;
	int r = word & FD_SWAPPED ? swapped_peer(fd, word, &peer) : 1;
	if (r > 0)
		return libc.getpeername(fd, addr, len);
	return r < 0 ? r : copy_sockaddr_in(&peer, addr, len);
}
