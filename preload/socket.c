/* socket(): an AF_INET TCP socket becomes a dual-stack AF_INET6 one; nothing else changes. */
#include <errno.h>
#include <unistd.h>

#include "tnat64.h"

static bool is_ipv4_tcp(int domain, int type, int protocol)
{
	return domain == AF_INET && (type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) == SOCK_STREAM &&
	       (protocol == 0 || protocol == IPPROTO_TCP);
}

TNAT64_EXPORT int socket(int domain, int type, int protocol)
{
	tnat64_init();
	if (tnat64_active() && is_ipv4_tcp(domain, type, protocol)) {
		int saved = errno;
		int fd = libc.socket(AF_INET6, type, protocol);
		if (fd >= 0) {
			int off = 0;
			if (libc.setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) == 0 &&
			    registry_set(fd, FD_SWAPPED)) {
				log_msg(LOG_DEBUG, "socket: fd %d is AF_INET6 for an AF_INET socket", fd);
				return fd;
			}
			libc.close(fd);
		}
		/* No IPv6 here, or a descriptor we cannot track: the application gets what it asked for. */
		errno = saved;
	}
	int fd = libc.socket(domain, type, protocol);
	registry_clear(fd);
	return fd;
}
