/* connect() on a served socket: a swapped socket's IPv4 destination, or an IPv4-mapped one of
 * the program's own AF_INET6 socket, goes where route.c says. AF_UNSPEC disconnects, and
 * forgets the peer. */
#include <errno.h>

#include "tnat64.h"

static ssize_t reach_connect(int fd, const struct sockaddr_in6 *target, void *ctx)
{
	(void)ctx;
	return libc.connect(fd, (const struct sockaddr *)target, sizeof(*target));
}

/* An address an AF_INET socket refuses (errno says why): the kernel answers about the socket's
 * state first (EISCONN, EALREADY) and looks at the address only when it is free to connect.
 * Asked with an address too short for anything, it tells which. */
static int refuse_address(int fd, socklen_t len)
{
	int mine = errno;
	if (len > sizeof(struct sockaddr_storage))
		return -1;
	sa_family_t family = AF_INET6;
	int r = libc.connect(fd, (const struct sockaddr *)&family, sizeof(family));
	if (r == 0 || errno != EINVAL)
		return r;
	errno = mine;
	return -1;
}

static uint64_t without_peer(uint64_t word)
{
	return word & ~(FD_PEER | FD_PENDING | FD_LEARN);
}

/* A UDP socket leaves the IPv4 path it connected over when it disconnects, unless it was bound
 * there: the kernel says which. */
static int disconnect(int fd, uint64_t word, const struct sockaddr *addr, socklen_t len)
{
	int r = libc.connect(fd, addr, len);
	if (r == 0) {
		word = without_peer(word);
		if (word & FD_DGRAM)
			word = (word & ~FD_BOUND4) | fd_bound4(fd);
		registry_set(fd, word);
	}
	return r;
}

/* The program's own AF_INET6 socket to a native IPv6 address: its own business; a mapped peer
 * recorded before is no longer its peer once this one is. */
static int connect_native(int fd, uint64_t word, const struct sockaddr *addr, socklen_t len)
{
	int r = libc.connect(fd, addr, len);
	if (r == 0 || errno == EINPROGRESS || errno == EINTR) {
		native_destination(fd, word, addr, len);
		if (word & FD_PEER)
			registry_set(fd, without_peer(fd_state(fd)));
	}
	return r;
}

TNAT64_EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	tnat64_init();
	uint64_t word = fd_state(fd);
	if (!(word & FD_SERVED) || len < sizeof(sa_family_t) || !user_memory(addr, len))
		return libc.connect(fd, addr, len);
	if (addr->sa_family == AF_UNSPEC)
		return disconnect(fd, word, addr, len);
	struct sockaddr_in dest;
	int served = served_destination(word, addr, len, false, &dest);
	if (served == 0)
		return connect_native(fd, word, addr, len);
	if (served < 0)
		return fd_recheck(fd) ? refuse_address(fd, len) : libc.connect(fd, addr, len);
	/* A UDP socket connected one way keeps that way's local address when it connects again the
	 * other: connected over IPv4 it refuses an IPv6 peer (EAFNOSUPPORT), connected through NAT64
	 * it never hears its new IPv4 peer. An AF_INET socket has neither trouble, so it disconnects
	 * first when the way changes (one bound to an IPv4 address stays on IPv4 all the same). */
	if ((word & (FD_SWAPPED | FD_DGRAM | FD_PEER)) == (FD_SWAPPED | FD_DGRAM | FD_PEER) &&
	    (fd_method(word) == METHOD_IPV4) != (route_way(dest.sin_addr, NULL) == ROUTE_WAY_IPV4)) {
		struct sockaddr unspec = {.sa_family = AF_UNSPEC};
		if (disconnect(fd, word, &unspec, sizeof(unspec)) == 0)
			word = fd_state(fd);
	}
	int r = (int)route_reach(fd, word, &dest, reach_connect, NULL);
	if (r < 0 && (word & FD_SWAPPED) && (errno == EAFNOSUPPORT || errno == EINVAL) && !fd_recheck(fd))
		return libc.connect(fd, addr, len);
	return r;
}
