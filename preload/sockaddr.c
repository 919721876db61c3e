/* What an IPv4 application sees of the AF_INET6 socket we gave it. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "tnat64.h"

void ipv4_mapped(struct in_addr ipv4, struct in6_addr *out)
{
	memset(out, 0, sizeof(*out));
	out->s6_addr[10] = 0xff;
	out->s6_addr[11] = 0xff;
	memcpy(&out->s6_addr[12], &ipv4.s_addr, 4);
}

/* ::ffff:a.b.c.d is a.b.c.d and :: is 0.0.0.0; an address inside a NAT64 prefix in use is the
 * IPv4 address it carries (the most specific prefix's reading); any other IPv6 address (our own
 * source address on a NAT64 connection) has no IPv4 form and shows as the stand-in. */
void ipv4_view(const struct sockaddr_in6 *real, struct sockaddr_in *out)
{
	const struct in6_addr *a = &real->sin6_addr;
	memset(out, 0, sizeof(*out));
	out->sin_family = AF_INET;
	out->sin_port = real->sin6_port;
	if (IN6_IS_ADDR_V4MAPPED(a)) {
		memcpy(&out->sin_addr.s_addr, &a->s6_addr[12], 4);
		return;
	}
	if (IN6_IS_ADDR_UNSPECIFIED(a))
		return;
	if (config_extract(tnat64_config(), a, &out->sin_addr))
		return;
	inet_pton(AF_INET, TNAT64_STANDIN_IPV4, &out->sin_addr);
}

int copy_sockaddr_in(const struct sockaddr_in *sin, struct sockaddr *addr, socklen_t *len)
{
	if (!len) {
		errno = EFAULT;
		return -1;
	}
	if ((int)*len < 0) {
		errno = EINVAL;
		return -1;
	}
	size_t n = *len < sizeof(*sin) ? *len : sizeof(*sin);
	if (n > 0) {
		if (!addr) {
			errno = EFAULT;
			return -1;
		}
		memcpy(addr, sin, n);
	}
	*len = sizeof(*sin);
	return 0;
}

int ipv4_sockaddr_arg(const struct sockaddr *addr, socklen_t len, bool unspec_any, struct sockaddr_in *out)
{
	/* The kernel refuses a length beyond any address before it looks at one. */
	if (len < sizeof(*out) || len > sizeof(struct sockaddr_storage)) {
		errno = EINVAL;
		return -1;
	}
	memcpy(out, addr, sizeof(*out));
	if (out->sin_family == AF_UNSPEC && unspec_any && out->sin_addr.s_addr == htonl(INADDR_ANY))
		out->sin_family = AF_INET;
	if (out->sin_family != AF_INET) {
		errno = EAFNOSUPPORT;
		return -1;
	}
	return 0;
}
