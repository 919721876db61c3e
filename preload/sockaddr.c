/* What an IPv4 application sees of the AF_INET6 socket we gave it. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "tnat64.h"

/* ::ffff:a.b.c.d is a.b.c.d and :: is 0.0.0.0; an address inside a NAT64 prefix in use is the
 * IPv4 address it carries (the most specific prefix's reading); any other IPv6 address (our own
 * source address on a NAT64 connection) has no IPv4 form and shows as the stand-in. */
void ipv4_view(const struct sockaddr_in6 *real, struct sockaddr_in *out)
{
	config_ipv4_view(tnat64_config(), real, out);
}

int copy_sockaddr(const void *sa, socklen_t size, struct sockaddr *addr, socklen_t *len)
{
	if (!user_memory(len, sizeof(*len))) {
		errno = EFAULT;
		return -1;
	}
	if ((int)*len < 0) {
		errno = EINVAL;
		return -1;
	}
	socklen_t n = *len < size ? *len : size;
	if (n > 0) {
		if (!user_memory(addr, n)) {
			errno = EFAULT;
			return -1;
		}
		memcpy(addr, sa, n);
	}
	*len = size;
	return 0;
}

void heard_news(struct in_addr source, enum method method)
{
	if (method == METHOD_NAT64)
		cache_learn(source, METHOD_NAT64, true);
	else if (route_way(source, NULL) != ROUTE_WAY_IPV4)
		cache_learn(source, METHOD_NAT64, false);
}

bool arrival_view_slow(uint64_t word, const struct sockaddr_in6 *real, socklen_t real_len, struct view *out)
{
	struct in_addr ipv4;
	if (real_len < sizeof(*real) || real->sin6_family != AF_INET6) { /* no address (TCP), or not IPv6 */
		out->size = real_len < sizeof(out->addr) ? real_len : sizeof(out->addr);
		memcpy(&out->addr, real, out->size);
		return true;
	}
	if (word & FD_INET6) {
		out->addr.in6 = *real;
		out->size = sizeof(out->addr.in6);
		if ((word & FD_SHOW_MAPPED) && !IN6_IS_ADDR_V4MAPPED(&real->sin6_addr) &&
		    config_extract(tnat64_config(), &real->sin6_addr, &ipv4)) {
			ipv4_mapped(ipv4, &out->addr.in6.sin6_addr);
			out->addr.in6.sin6_flowinfo = 0;
			out->addr.in6.sin6_scope_id = 0;
			heard_from(word, ipv4, METHOD_NAT64);
		}
		return true;
	}
	/* Native IPv6: an AF_INET socket never hears from it. */
	out->size = sizeof(out->addr.in);
	ipv4_view(real, &out->addr.in);
	return false;
}

int ipv4_sockaddr_arg(const struct sockaddr *addr, socklen_t len, enum unspec unspec, struct sockaddr_in *out)
{
	/* The kernel refuses a length beyond any address before it looks at one. */
	if (len < sizeof(*out) || len > sizeof(struct sockaddr_storage)) {
		errno = EINVAL;
		return -1;
	}
	memcpy(out, addr, sizeof(*out));
	bool any = out->sin_addr.s_addr == htonl(INADDR_ANY);
	if (out->sin_family == AF_UNSPEC && (unspec == UNSPEC_ANY_ADDRESS || (unspec == UNSPEC_ANY_BIND && any)))
		out->sin_family = AF_INET;
	if (out->sin_family != AF_INET) {
		errno = EAFNOSUPPORT;
		return -1;
	}
	return 0;
}

bool arrival_drop(int fd, int flags)
{
	if (flags & MSG_PEEK) {
		char none;
		libc.recvfrom(fd, &none, 0, (flags & ~MSG_PEEK) | MSG_DONTWAIT, NULL, NULL);
	}
	if ((flags & MSG_DONTWAIT) || (libc.fcntl(fd, F_GETFL) & O_NONBLOCK)) {
		errno = EAGAIN;
		return false;
	}
	return true;
}
