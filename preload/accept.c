/* accept() and accept4() on a swapped listening socket: the new connection is swapped too, and
 * its peer comes out as sockaddr_in. listen() keeps native IPv6 clients out; one that still got in
 * (the program replaced the socket filter) is closed unseen, as an AF_INET socket never had it. */
#include <errno.h>
#include <fcntl.h>

#include "tnat64.h"

static int accept_ipv4(int listener, uint64_t listener_word, struct sockaddr *addr, socklen_t *len, int flags)
{
	for (;;) {
		struct sockaddr_in6 real = {0};
		socklen_t real_len = sizeof(real);
		int fd = libc.accept4(listener, (struct sockaddr *)&real, &real_len, flags);
		if (fd < 0)
			return fd;
		if (real.sin6_family == AF_INET6 && !source_is_ipv4(&real.sin6_addr)) {
			libc.close(fd);
			if (libc.fcntl(listener, F_GETFL) & O_NONBLOCK) {
				errno = EAGAIN;
				return -1;
			}
			continue;
		}
		struct sockaddr_in peer;
		ipv4_view(&real, &peer);
		registry_set(fd, FD_SWAPPED | (listener_word & FD_FILTERED)); /* the kernel copied the filter */
		if (addr && copy_sockaddr(&peer, sizeof(peer), addr, len) < 0) {
			int error = errno;
			libc.close(fd);
			registry_clear(fd);
			errno = error;
			return -1;
		}
		return fd;
	}
}

TNAT64_EXPORT int accept4(int listener, struct sockaddr *addr, socklen_t *len, int flags)
{
	tnat64_init();
	uint64_t word = fd_state(listener);
	if (word & FD_SWAPPED)
		return accept_ipv4(listener, word, addr, len, flags);
	int fd = libc.accept4(listener, addr, len, flags);
	if (fd >= 0)
		registry_set(fd, 0);
	return fd;
}

TNAT64_EXPORT int accept(int listener, struct sockaddr *addr, socklen_t *len)
{
	return accept4(listener, addr, len, 0);
}
