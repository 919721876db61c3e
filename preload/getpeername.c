/* getpeername() on a served socket: the peer the program connected to, as it named it (a
 * sockaddr_in on a swapped socket, the IPv4-mapped address on the program's own AF_INET6 one).
 * Every other socket (AF_UNIX, AF_NETLINK, ...) is left alone. */
#include "tnat64.h"

int served_peer(int fd, uint64_t word, struct view *out)
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
	bool asked = (word & FD_PEER) && fd_method(word) == METHOD_NAT64;
	if (word & FD_INET6) {
		out->addr.in6 = real;
		out->size = sizeof(real);
		if (asked) {
			struct sockaddr_in peer;
			fd_peer(word, &peer);
			ipv4_mapped(peer.sin_addr, &out->addr.in6.sin6_addr);
			out->addr.in6.sin6_port = peer.sin_port;
			out->addr.in6.sin6_scope_id = 0;
		}
		return 0;
	}
	out->size = sizeof(out->addr.in);
	if (asked)
		fd_peer(word, &out->addr.in);
	else
		ipv4_view(&real, &out->addr.in);
	return 0;
}

TNAT64_EXPORT int getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
	tnat64_init();
	uint64_t word = fd_state(fd);
	struct view peer;
	int r = word & FD_SERVED ? served_peer(fd, word, &peer) : 1;
	if (r > 0)
		return libc.getpeername(fd, addr, len);
	return r < 0 ? r : copy_view(&peer, addr, len);
}
