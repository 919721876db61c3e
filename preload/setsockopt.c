/* setsockopt(): IPPROTO_IP options work on a dual-stack socket for its IPv4 traffic; the two that
 * matter to packets (IP_TOS, IP_TTL) are also set at IPPROTO_IPV6 level, so a connection through
 * NAT64 carries them too (the translator copies traffic class and hop limit into IPv4). */
#include <netinet/ip.h>

#include "tnat64.h"

TNAT64_EXPORT int setsockopt(int fd, int level, int name, const void *value, socklen_t len)
{
	tnat64_init();
	int r = libc.setsockopt(fd, level, name, value, len);
	if (r == 0 && level == IPPROTO_IP && (name == IP_TOS || name == IP_TTL) && len >= sizeof(int) &&
	    (registry_get(fd) & FD_SWAPPED))
		libc.setsockopt(fd, IPPROTO_IPV6, name == IP_TOS ? IPV6_TCLASS : IPV6_UNICAST_HOPS, value,
				sizeof(int)); /* best effort: the IPv4 setting, which the application asked for, stands */
	return r;
}
