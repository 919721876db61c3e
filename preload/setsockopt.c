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

/* The IPv6 option that does for traffic through NAT64 what an IPPROTO_IP one does for IPv4:
 * the translator copies traffic class and hop limit into IPv4, and path MTU discovery decides
 * whether a datagram too big for the path is refused or fragmented; -1 for none. */
static int send_twin(int name)
{
	switch (name) {
	case IP_TOS:
		return IPV6_TCLASS;
	case IP_TTL:
		return IPV6_UNICAST_HOPS;
	case IP_MTU_DISCOVER:
		return IPV6_MTU_DISCOVER; /* the IP_PMTUDISC_* values are the IPV6_PMTUDISC_* ones */
	default:
		return -1;
	}
}

/* An IPPROTO_IP option the kernel took, at IPv6 level too, with the value as the kernel read the
 * program's (an int or a byte): the sending ones, and the receiving ones, on and off, the socket
 * then marked for cmsg.c. Best effort: the IPv4 setting stands. */
static void mirror(int fd, uint64_t word, int name)
{
	int saved = errno, receiving = cmsg_twin(name), twin = receiving >= 0 ? receiving : send_twin(name), value = 0;
	socklen_t n = sizeof(value);
	if (twin >= 0 && libc.getsockopt(fd, IPPROTO_IP, name, &value, &n) == 0 &&
	    libc.setsockopt(fd, IPPROTO_IPV6, twin, &value, sizeof(value)) == 0 && receiving >= 0 && value &&
	    !(word & FD_CMSG))
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
		mirror(fd, word, name);
	return r;
}

TNAT64_EXPORT int setsockopt(int fd, int level, int name, const void *value, socklen_t len)
{
	if (level != IPPROTO_IP && level != IPPROTO_IPV6 && !filter_option(level, name) && tnat64_is_ready())
		return libc.setsockopt(fd, level, name, value, len);
	return setsockopt_ours(fd, level, name, value, len);
}
