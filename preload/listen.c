/* listen() on a swapped socket: it accepts exactly what an AF_INET socket would, IPv4 only.
 * Not bound yet: bound to ::ffff:0.0.0.0, as AF_INET's automatic bind would. Bound to [::] (the
 * program's 0.0.0.0): the socket filter keeps native IPv6 out (filter.c), so native IPv6
 * clients never get a connection (they see no answer, where an AF_INET socket's host would
 * refuse them). A program with a filter of its own keeps it, and accept() keeps IPv6 out instead. */
#include <errno.h>
#include <netinet/tcp.h>

#include "tnat64.h"

/* listen() only succeeds on a closed or listening socket; any other is left to the kernel to
 * refuse, untouched (a filter on a connected socket would cut its traffic). */
static bool may_listen(int fd)
{
	struct tcp_info info;
	socklen_t len = sizeof(info);
	return libc.getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) == 0 &&
	       (info.tcpi_state == TCP_CLOSE || info.tcpi_state == TCP_LISTEN);
}

/* Makes the socket IPv4-only before it listens; whether it gave it the filter, for undoing if
 * listen() fails. */
static bool listen_ipv4_only(int fd, uint64_t word)
{
	struct sockaddr_in6 local;
	socklen_t len = sizeof(local);
	int saved = errno;
	bool filtered = false;
	if (!may_listen(fd) || libc.getsockname(fd, (struct sockaddr *)&local, &len) < 0 ||
	    IN6_IS_ADDR_V4MAPPED(&local.sin6_addr)) {
		errno = saved;
		return false;
	}
	if (local.sin6_port == 0) {
		struct sockaddr_in6 any4 = {.sin6_family = AF_INET6};
		ipv4_mapped((struct in_addr){htonl(INADDR_ANY)}, &any4.sin6_addr);
		/* Bound to IPv4 for good, as an AF_INET socket is: a later connect goes over IPv4. */
		if (libc.bind(fd, (const struct sockaddr *)&any4, sizeof(any4)) == 0)
			registry_set(fd, word | FD_BOUND4);
	} else if (!(word & FD_FILTERED)) {
		filtered = filter_screen(fd, word) & FD_FILTERED;
	}
	errno = saved;
	return filtered;
}

TNAT64_EXPORT int listen(int fd, int backlog)
{
	tnat64_init();
	uint64_t word = fd_state(fd);
	if (!(word & FD_SWAPPED) || !fd_recheck(fd))
		return libc.listen(fd, backlog);
	bool filtered = listen_ipv4_only(fd, word);
	int r = libc.listen(fd, backlog);
	if (r < 0 && filtered) {
		int error = errno;
		filter_remove(fd, word);
		errno = error;
	}
	return r;
}
