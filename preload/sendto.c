/* sendto() with MSG_FASTOPEN on a swapped socket connects while it sends (TCP Fast Open): the
 * destination goes where route.c says, as for connect(). Without it a TCP socket ignores the
 * address, so everything else passes through. */
#include "tnat64.h"

struct fastopen {
	const void *buf;
	size_t len;
	int flags;
};

static ssize_t reach_sendto(int fd, const struct sockaddr_in6 *target, void *ctx)
{
	const struct fastopen *f = ctx;
	return libc.sendto(fd, f->buf, f->len, f->flags, (const struct sockaddr *)target, sizeof(*target));
}

static __attribute__((noinline)) ssize_t sendto_fastopen(int fd, const void *buf, size_t len, int flags,
							  const struct sockaddr *addr, socklen_t addr_len)
{
	tnat64_init();
	uint64_t word;
	if (!(flags & MSG_FASTOPEN) || !addr || addr_len < sizeof(sa_family_t) || !((word = fd_state(fd)) & FD_SWAPPED))
		return libc.sendto(fd, buf, len, flags, addr, addr_len);
	struct sockaddr_in dest;
	if (ipv4_sockaddr_arg(addr, addr_len, false, &dest) < 0)
		return -1;
	struct fastopen f = {buf, len, flags};
	return route_reach(fd, word, &dest, reach_sendto, &f);
}

TNAT64_EXPORT ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *addr,
			     socklen_t addr_len)
{
	if (!(flags & MSG_FASTOPEN) && tnat64_is_ready())
		return libc.sendto(fd, buf, len, flags, addr, addr_len);
	return sendto_fastopen(fd, buf, len, flags, addr, addr_len);
}
