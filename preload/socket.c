/* socket(): an AF_INET TCP socket becomes a dual-stack AF_INET6 one, marked as ours in the kernel
 * (IPV6_FLOWINFO_SEND) so that a process that inherits it knows it too; nothing else changes. */
#include <errno.h>
#include <unistd.h>

#include "tnat64.h"

static bool is_ipv4_tcp(int domain, int type, int protocol)
{
	return domain == AF_INET && (type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) == SOCK_STREAM &&
	       (protocol == 0 || protocol == IPPROTO_TCP);
}

static int swapped_socket(int type, int protocol)
{
	int fd = libc.socket(AF_INET6, type, protocol);
	if (fd < 0)
		return -1;
	int off = 0, on = 1;
	if (libc.setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) < 0 ||
	    libc.setsockopt(fd, IPPROTO_IPV6, IPV6_FLOWINFO_SEND, &on, sizeof(on)) < 0) {
		libc.close(fd);
		return -1;
	}
	registry_set(fd, FD_SWAPPED);
	if (log_enabled(LOG_DEBUG))
		log_msg(LOG_DEBUG, "socket: fd %d is AF_INET6 for an AF_INET socket", fd);
	return fd;
}

TNAT64_EXPORT int socket(int domain, int type, int protocol)
{
	tnat64_init();
	if (tnat64_active() && is_ipv4_tcp(domain, type, protocol)) {
		int saved = errno;
		int fd = swapped_socket(type, protocol);
		if (fd >= 0)
			return fd;
		/* No IPv6 here: the program gets what it asked for. */
		errno = saved;
	}
	int fd = libc.socket(domain, type, protocol);
	if (fd >= 0)
		registry_set(fd, 0);
	return fd;
}
