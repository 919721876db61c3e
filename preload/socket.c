/* socket(): an AF_INET TCP or UDP socket becomes a dual-stack AF_INET6 one, marked as ours in
 * the kernel (IPV6_FLOWINFO_SEND) so that a process that inherits it knows it too; nothing else
 * changes. The program's own AF_INET6 TCP and UDP sockets are noted: their IPv4-mapped
 * destinations are served too. */
#include <errno.h>
#include <unistd.h>

#include "tnat64.h"

/* FD_KNOWN for TCP, FD_DGRAM for UDP, 0 for a socket the library leaves alone. */
static uint64_t served_kind(int type, int protocol)
{
	switch (type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) {
	case SOCK_STREAM:
		return protocol == 0 || protocol == IPPROTO_TCP ? FD_KNOWN : 0;
	case SOCK_DGRAM:
		return protocol == 0 || protocol == IPPROTO_UDP ? FD_DGRAM : 0;
	default:
		return 0;
	}
}

static int swapped_socket(int type, int protocol, uint64_t kind)
{
	int fd = libc.socket(AF_INET6, type, protocol);
	if (fd < 0)
		return -1;
	int off = 0, on = 1;
	/* IP_MULTICAST_ALL: an AF_INET socket's default (an AF_INET6 one has it off), so that a
	 * socket bound to 0.0.0.0 hears the groups other sockets of the host joined. */
	if (libc.setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) < 0 ||
	    libc.setsockopt(fd, IPPROTO_IPV6, IPV6_FLOWINFO_SEND, &on, sizeof(on)) < 0 ||
	    ((kind & FD_DGRAM) && libc.setsockopt(fd, IPPROTO_IP, IP_MULTICAST_ALL, &on, sizeof(on)) < 0)) {
		libc.close(fd);
		return -1;
	}
	registry_set(fd, FD_SWAPPED | (kind & FD_DGRAM));
	if (log_enabled(LOG_DEBUG))
		log_msg(LOG_DEBUG, "socket: fd %d is AF_INET6 for an AF_INET %s socket", fd,
			kind & FD_DGRAM ? "UDP" : "TCP");
	return fd;
}

TNAT64_EXPORT int socket(int domain, int type, int protocol)
{
	tnat64_init();
	uint64_t kind = tnat64_active() && (domain == AF_INET || domain == AF_INET6) ? served_kind(type, protocol) : 0;
	if (kind && domain == AF_INET) {
		int saved = errno;
		int fd = swapped_socket(type, protocol, kind);
		if (fd >= 0)
			return fd;
		/* No IPv6 here: the program gets what it asked for. */
		errno = saved;
		kind = 0;
	}
	int fd = libc.socket(domain, type, protocol);
	if (fd >= 0)
		registry_set(fd, kind ? FD_INET6 | (kind & FD_DGRAM) : 0);
	return fd;
}
