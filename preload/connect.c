/* connect() on a swapped socket: its IPv4 destination goes where route.c says. AF_UNSPEC
 * disconnects, and forgets the peer. */
#include <errno.h>

#include "tnat64.h"

static ssize_t reach_connect(int fd, const struct sockaddr_in6 *target, void *ctx)
{
	(void)ctx;
	return libc.connect(fd, (const struct sockaddr *)target, sizeof(*target));
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
	int r = ipv4_sockaddr_arg(addr, len, false, &dest);
	if (r == 0)
		r = (int)route_reach(fd, word, &dest, reach_connect, NULL);
	if (r < 0 && (errno == EAFNOSUPPORT || errno == EINVAL) && !fd_recheck(fd))
		return libc.connect(fd, addr, len);
	return r;
}
