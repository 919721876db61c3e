/* setsockopt() on a swapped socket. IPPROTO_IP options work on a dual-stack socket for its IPv4
 * traffic; those that matter to traffic through NAT64 are also set at IPPROTO_IPV6 level (below).
 * IPv6-level options fail as they do on an AF_INET socket. The program's own socket filter
 * replaces the one listen() gave (accept() still keeps IPv6 out), and the library's is not the
 * program's to detach. */
#include <errno.h>
#include <netinet/ip.h>

#include "tnat64.h"

static bool filter_option(int level, int name)
{
	return level == SOL_SOCKET && (name == SO_ATTACH_FILTER || name == SO_ATTACH_BPF || name == SO_DETACH_FILTER);
}

/* An IPPROTO_IP option the kernel took, at IPv6 level too: IP_TOS and IP_TTL, so that datagrams
 * and connections through NAT64 carry them (the translator copies traffic class and hop limit
 * into IPv4); and the receiving ones, on and off as the kernel read the program's value (an int
 * or a byte), the socket then marked for cmsg.c. Best effort: the IPv4 setting stands. */
static void mirror(int fd, uint64_t word, int name, const void *value, socklen_t len)
{
	int saved = errno, twin = cmsg_twin(name), on = 0;
	socklen_t n = sizeof(on);
	if ((name == IP_TOS || name == IP_TTL) && len >= sizeof(int))
		libc.setsockopt(fd, IPPROTO_IPV6, name == IP_TOS ? IPV6_TCLASS : IPV6_UNICAST_HOPS, value, sizeof(int));
	else if (twin >= 0 && libc.getsockopt(fd, IPPROTO_IP, name, &on, &n) == 0 &&
		 libc.setsockopt(fd, IPPROTO_IPV6, twin, &on, sizeof(on)) == 0 && on && !(word & FD_CMSG))
		registry_set(fd, word | FD_CMSG);
	errno = saved;
}

static __attribute__((noinline)) int setsockopt_ours(int fd, int level, int name, const void *value, socklen_t len)
{
	tnat64_init();
	uint64_t word;
	if (!((word = fd_state(fd)) & FD_SWAPPED) || (level == IPPROTO_IPV6 && !fd_recheck(fd)))
		return libc.setsockopt(fd, level, name, value, len);
	if (level == IPPROTO_IPV6) {
		errno = ENOPROTOOPT; /* what an AF_INET socket answers */
		return -1;
	}
	if (level == SOL_SOCKET && name == SO_DETACH_FILTER && (word & FD_FILTERED)) {
		int locked = 0;
		socklen_t n = sizeof(locked);
		libc.getsockopt(fd, SOL_SOCKET, SO_LOCK_FILTER, &locked, &n);
		/* The kernel's answers when the program has attached none. */
		errno = len < sizeof(int) ? EINVAL : locked ? EPERM : ENOENT;
		return -1;
	}
	int r = libc.setsockopt(fd, level, name, value, len);
	if (r == 0 && level == SOL_SOCKET)
		registry_set(fd, word & ~FD_FILTERED);
	if (r == 0 && level == IPPROTO_IP)
		mirror(fd, word, name, value, len);
	return r;
}

TNAT64_EXPORT int setsockopt(int fd, int level, int name, const void *value, socklen_t len)
{
	if (level != IPPROTO_IP && level != IPPROTO_IPV6 && !filter_option(level, name) && tnat64_is_ready())
		return libc.setsockopt(fd, level, name, value, len);
	return setsockopt_ours(fd, level, name, value, len);
}
