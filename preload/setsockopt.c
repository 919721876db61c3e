/* setsockopt() on a swapped socket. IPPROTO_IP options work on a dual-stack socket for its IPv4
 * traffic; the two that matter to packets (IP_TOS, IP_TTL) are also set at IPPROTO_IPV6 level,
 * so a connection through NAT64 carries them too (the translator copies traffic class and hop
 * limit into IPv4). IPv6-level options fail as they do on an AF_INET socket. The program's own
 * socket filter replaces the one listen() gave (accept() still keeps IPv6 out), and the
 * library's is not the program's to detach. */
#include <errno.h>
#include <netinet/ip.h>

#include "tnat64.h"

static bool filter_option(int level, int name)
{
	return level == SOL_SOCKET && (name == SO_ATTACH_FILTER || name == SO_ATTACH_BPF || name == SO_DETACH_FILTER);
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
	if (r == 0 && level == IPPROTO_IP && (name == IP_TOS || name == IP_TTL) && len >= sizeof(int)) {
		int saved = errno;
		/* Best effort: the IPv4 setting, which the program asked for, stands. */
		libc.setsockopt(fd, IPPROTO_IPV6, name == IP_TOS ? IPV6_TCLASS : IPV6_UNICAST_HOPS, value, sizeof(int));
		errno = saved;
	}
	return r;
}

TNAT64_EXPORT int setsockopt(int fd, int level, int name, const void *value, socklen_t len)
{
	if (level != IPPROTO_IP && level != IPPROTO_IPV6 && !filter_option(level, name) && tnat64_is_ready())
		return libc.setsockopt(fd, level, name, value, len);
	return setsockopt_ours(fd, level, name, value, len);
}
