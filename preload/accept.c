/* accept() and accept4() on a swapped listening socket: the new connection is swapped too, and
 * its peer comes out as sockaddr_in. */
#include "tnat64.h"

static int accepted(int listener, int fd, struct sockaddr *addr, socklen_t *len, const struct sockaddr_in6 *real)
{
	if (fd < 0)
		return fd;
	if (!(registry_get(listener) & FD_SWAPPED) || real->sin6_family != AF_INET6) {
		registry_clear(fd);
		return fd;
	}
	struct sockaddr_in peer;
	ipv4_view(real, &peer);
	registry_set(fd, FD_SWAPPED);
	if (addr && copy_sockaddr_in(&peer, addr, len) < 0) {
		libc.close(fd);
		registry_clear(fd);
		return -1;
	}
	return fd;
}

TNAT64_EXPORT int accept(int listener, struct sockaddr *addr, socklen_t *len)
{
	tnat64_init();
	if (!(registry_get(listener) & FD_SWAPPED)) {
		int fd = libc.accept(listener, addr, len);
		registry_clear(fd);
		return fd;
	}
	struct sockaddr_in6 real = {0};
	socklen_t real_len = sizeof(real);
	return accepted(listener, libc.accept(listener, (struct sockaddr *)&real, &real_len), addr, len, &real);
}

TNAT64_EXPORT int accept4(int listener, struct sockaddr *addr, socklen_t *len, int flags)
{
	tnat64_init();
	if (!(registry_get(listener) & FD_SWAPPED)) {
		int fd = libc.accept4(listener, addr, len, flags);
		registry_clear(fd);
		return fd;
	}
	struct sockaddr_in6 real = {0};
	socklen_t real_len = sizeof(real);
	return accepted(listener, libc.accept4(listener, (struct sockaddr *)&real, &real_len, flags), addr, len, &real);
}
