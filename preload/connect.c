/* connect() on a swapped socket: its IPv4 destination goes where route.c says. AF_UNSPEC
 * disconnects, and forgets the peer. */
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

TNAT64_EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	tnat64_init();
	uint64_t word = fd_state(fd);
	if (!(word & FD_SWAPPED) || !addr || len < sizeof(sa_family_t))
		return libc.connect(fd, addr, len);
	if (addr->sa_family == AF_UNSPEC) {
		int r = libc.connect(fd, addr, len);
		if (r == 0)
			registry_set(fd, word & ~(FD_PEER | FD_PENDING | FD_LEARN));
		return r;
	}
	struct sockaddr_in dest;
	if (ipv4_sockaddr_arg(addr, len, false, &dest) < 0)
		return fd_recheck(fd) ? refuse_address(fd, len) : libc.connect(fd, addr, len);
	int r = (int)route_reach(fd, word, &dest, reach_connect, NULL);
	if (r < 0 && (errno == EAFNOSUPPORT || errno == EINVAL) && !fd_recheck(fd))
		return libc.connect(fd, addr, len);
	return r;
}
