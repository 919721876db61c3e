/* bind() on a swapped socket. 0.0.0.0 becomes [::], dual-stack, so that a connection through
 * NAT64 keeps the port the program chose (listen() then keeps the socket IPv4-only). A specific
 * IPv4 address becomes its IPv4-mapped form: it only exists on IPv4, so the socket's
 * connections go over IPv4 and it accepts what an AF_INET socket bound there would. */
#include <errno.h>

#include "tnat64.h"

TNAT64_EXPORT int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	tnat64_init();
	uint64_t word = fd_state(fd);
	if (!(word & FD_SWAPPED) || !addr || len < sizeof(sa_family_t))
		return libc.bind(fd, addr, len);
	struct sockaddr_in local;
	int r = ipv4_sockaddr_arg(addr, len, true, &local);
	if (r == 0) {
		struct sockaddr_in6 real = {.sin6_family = AF_INET6, .sin6_port = local.sin_port};
		bool any = local.sin_addr.s_addr == htonl(INADDR_ANY);
		if (!any)
			ipv4_mapped(local.sin_addr, &real.sin6_addr);
		r = libc.bind(fd, (const struct sockaddr *)&real, sizeof(real));
		if (r == 0 && !any)
			registry_set(fd, word | FD_BOUND4);
	}
	if (r < 0 && (errno == EAFNOSUPPORT || errno == EINVAL) && !fd_recheck(fd))
		return libc.bind(fd, addr, len);
	return r;
}
