/* connect(): where a swapped socket's IPv4 destination really goes.
 *
 * Local destinations (127/8, `local`) and those no prefix may carry go to the IPv4-mapped address,
 * that is over IPv4. Others go through NAT64 first, or by the method that last worked for that
 * destination; when the first method's route is missing (ENETUNREACH, EHOSTUNREACH,
 * EADDRNOTAVAIL) the other one is tried at once on the same socket. When both fail the
 * application gets the error of the IPv4 attempt: the one it would have had without tnat64. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "tnat64.h"

static bool unreachable(int error)
{
	return error == ENETUNREACH || error == EHOSTUNREACH || error == EADDRNOTAVAIL;
}

static const char *method_name(enum method method)
{
	return method == METHOD_NAT64 ? "NAT64" : "IPv4";
}

static int attempt(int fd, const struct sockaddr_in *dest, enum method method, const struct nat64_prefix *prefix)
{
	struct sockaddr_in6 target = {.sin6_family = AF_INET6, .sin6_port = dest->sin_port};
	if (method == METHOD_NAT64)
		nat64_synthesize(prefix, dest->sin_addr, &target.sin6_addr);
	else
		ipv4_mapped(dest->sin_addr, &target.sin6_addr);
	int r = libc.connect(fd, (const struct sockaddr *)&target, sizeof(target));
	int error = errno;
	/* A non-blocking connect's outcome comes later, through SO_ERROR: keep it pending till then. */
	bool pending = r < 0 && error == EINPROGRESS;
	registry_set(fd, fd_peer_word(dest, method) | (pending ? FD_PENDING : 0));
	if (log_enabled(LOG_DEBUG)) {
		char text[INET6_ADDRSTRLEN];
		inet_ntop(AF_INET6, &target.sin6_addr, text, sizeof(text));
		log_msg(LOG_DEBUG, "connect fd %d via %s to [%s]:%u: %s", fd, method_name(method), text,
			ntohs(dest->sin_port), r == 0 ? "connected" : strerror(error));
	}
	errno = error;
	return r;
}

/* RULE_NONE: the well-known prefix was the only one for a non-global destination. */
static void warn_once_no_prefix(const struct sockaddr_in *dest)
{
	static atomic_flag warned = ATOMIC_FLAG_INIT;
	if (atomic_flag_test_and_set(&warned))
		return;
	char text[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &dest->sin_addr, text, sizeof(text));
	log_msg(LOG_WARN,
		"%s is not a global address and the only prefix for it is the well-known 64:ff9b::/96, which must "
		"not carry it (RFC 6052 §3.1): such destinations go over IPv4 (configure a network-specific prefix)",
		text);
}

static int connect_swapped(int fd, const struct sockaddr_in *dest)
{
	struct rule rule = config_resolve(tnat64_config(), dest->sin_addr);
	if (rule.kind == RULE_NONE)
		warn_once_no_prefix(dest);
	if (rule.kind != RULE_NAT64)
		return attempt(fd, dest, METHOD_IPV4, NULL);

	enum method first = cache_lookup(dest->sin_addr);
	if (first == METHOD_NONE)
		first = METHOD_NAT64;
	enum method second = first == METHOD_NAT64 ? METHOD_IPV4 : METHOD_NAT64;

	int r = attempt(fd, dest, first, rule.prefix);
	if (r == 0 || errno == EINPROGRESS) {
		cache_store(dest->sin_addr, first);
		return r;
	}
	int first_error = errno;
	if (!unreachable(first_error))
		return -1;
	log_msg(LOG_INFO, "fd %d: %s unreachable (%s), trying %s", fd, method_name(first), strerror(first_error),
		method_name(second));
	r = attempt(fd, dest, second, rule.prefix);
	if (r == 0 || errno == EINPROGRESS) {
		cache_store(dest->sin_addr, second);
		return r;
	}
	if (second == METHOD_NAT64)
		errno = first_error; /* the IPv4 attempt's error is the application's own */
	return -1;
}

TNAT64_EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	tnat64_init();
	uint64_t word = registry_get(fd);
	if (!(word & FD_SWAPPED) || !addr || len < sizeof(sa_family_t) || addr->sa_family == AF_UNSPEC)
		return libc.connect(fd, addr, len);
	struct sockaddr_in dest;
	if (ipv4_sockaddr_arg(addr, len, false, &dest) < 0)
		return -1;
	return connect_swapped(fd, &dest);
}
