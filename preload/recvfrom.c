/* recvfrom() with an address buffer, on a served socket: the source as the program expects it
 * (sockaddr_in on a swapped socket, the mapped address of a NAT64 peer on the program's own
 * AF_INET6 one), truncated and its length set as the kernel does. A datagram an AF_INET socket
 * would never have had (native IPv6, when the program replaced the library's filter) is dropped. */
#include "tnat64.h"

/* One datagram, its source as the program sees it. `refused`: one an AF_INET socket would never
 * have had (native IPv6), which the caller drops. */
static inline __attribute__((always_inline)) ssize_t receive(int fd, uint64_t word, void *buf, size_t len, int flags,
							     struct sockaddr *addr, socklen_t *addr_len, bool *refused)
{
	struct sockaddr_in6 real;
	socklen_t real_len = sizeof(real);
	ssize_t r = libc.recvfrom(fd, buf, len, flags, (struct sockaddr *)&real, &real_len);
	if (r < 0)
		return r;
	struct view seen;
	*refused = !arrival_view(word, &real, real_len, &seen) && !(flags & MSG_ERRQUEUE);
	if (*refused)
		return r;
	return copy_view(&seen, addr, addr_len) < 0 ? -1 : r;
}

/* After a refused datagram: dropped, and the next one waited for. */
static __attribute__((noinline)) ssize_t recvfrom_next(int fd, uint64_t word, void *buf, size_t len, int flags,
						       struct sockaddr *addr, socklen_t *addr_len)
{
	bool refused = true;
	ssize_t r = -1;
	while (refused && arrival_drop(fd, flags))
		if ((r = receive(fd, word, buf, len, flags, addr, addr_len, &refused)) < 0)
			return r;
	return refused ? -1 : r;
}

static __attribute__((noinline)) ssize_t recvfrom_served(int fd, void *buf, size_t len, int flags,
							 struct sockaddr *addr, socklen_t *addr_len)
{
	tnat64_init();
	uint64_t word = fd_state(fd);
	if (!(word & FD_SERVED))
		return libc.recvfrom(fd, buf, len, flags, addr, addr_len);
	bool refused = false;
	ssize_t r = receive(fd, word, buf, len, flags, addr, addr_len, &refused);
	return refused ? recvfrom_next(fd, word, buf, len, flags, addr, addr_len) : r;
}

TNAT64_EXPORT ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *addr, socklen_t *addr_len)
{
	if (!addr && tnat64_is_ready())
		return libc.recvfrom(fd, buf, len, flags, addr, addr_len);
	return recvfrom_served(fd, buf, len, flags, addr, addr_len);
}
