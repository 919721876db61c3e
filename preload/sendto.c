/* sendto() with a destination, on a served socket: a UDP datagram goes where route.c says, each
 * to its own destination; TCP Fast Open's (MSG_FASTOPEN) connects as connect() does. A TCP
 * socket otherwise ignores the address, and sends without one pass through untouched. */
#include "tnat64.h"

struct payload {
	const void *buf;
	size_t len;
	int flags;
};

static ssize_t reach_sendto(int fd, const struct sockaddr_in6 *target, void *ctx)
{
	const struct payload *p = ctx;
	return libc.sendto(fd, p->buf, p->len, p->flags, (const struct sockaddr *)target, sizeof(*target));
}

/* Everything but the usual datagram. */
static __attribute__((noinline)) ssize_t sendto_long(int fd, uint64_t word, const void *buf, size_t len, int flags,
						     const struct sockaddr *addr, socklen_t addr_len)
{
	bool datagram = word & FD_DGRAM;
	if (!(word & FD_SERVED) || !addr || addr_len < sizeof(sa_family_t) || !(datagram || (flags & MSG_FASTOPEN)))
		return libc.sendto(fd, buf, len, flags, addr, addr_len);
	struct sockaddr_in dest;
	int served = send_destination(fd, word, addr, addr_len, len, &dest);
	if (served <= 0)
		return served < 0 ? -1 : libc.sendto(fd, buf, len, flags, addr, addr_len);
	struct payload p = {buf, len, flags};
	if (!datagram)
		return route_reach(fd, word, &dest, reach_sendto, &p);
	return route_send(fd, filter_before_send(fd, word), &dest, reach_sendto, &p);
}

static __attribute__((noinline)) ssize_t sendto_served(int fd, const void *buf, size_t len, int flags,
						       const struct sockaddr *addr, socklen_t addr_len)
{
	tnat64_init();
	uint64_t word = fd_state(fd);
	struct sockaddr_in6 target;
	if (len > IPV4_UDP_MAX_PAYLOAD || !datagram_fast(word, addr, addr_len, &target))
		return sendto_long(fd, word, buf, len, flags, addr, addr_len);
	int saved = errno;
	ssize_t r = libc.sendto(fd, buf, len, flags, (const struct sockaddr *)&target, sizeof(target));
	if (r >= 0 || !TNAT64_UNREACHABLE(errno) || !route_missing(&target))
		return r; /* sent, or refused as the kernel says (an earlier datagram's ICMP error, pending) */
	errno = saved; /* no route: the long way tries the other, and learns */
	return sendto_long(fd, word, buf, len, flags, addr, addr_len);
}

TNAT64_EXPORT ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *addr,
			     socklen_t addr_len)
{
	if (!addr && tnat64_is_ready())
		return libc.sendto(fd, buf, len, flags, addr, addr_len);
	return sendto_served(fd, buf, len, flags, addr, addr_len);
}
