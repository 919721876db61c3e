/* bind() on a swapped socket: the IPv4 address becomes its IPv4-mapped form (0.0.0.0 becomes
 * ::ffff:0.0.0.0, which accepts IPv4 only), so a server keeps exactly the exposure it asked for. */
#include "tnat64.h"

TNAT64_EXPORT int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	tnat64_init();
	if (!(registry_get(fd) & FD_SWAPPED) || !addr || len < sizeof(sa_family_t))
		return libc.bind(fd, addr, len);
	struct sockaddr_in local;
	if (ipv4_sockaddr_arg(addr, len, true, &local) < 0)
		return -1;
	struct sockaddr_in6 mapped = {.sin6_family = AF_INET6, .sin6_port = local.sin_port};
	ipv4_mapped(local.sin_addr, &mapped.sin6_addr);
	return libc.bind(fd, (const struct sockaddr *)&mapped, sizeof(mapped));
}
