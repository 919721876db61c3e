/* Where a swapped socket's IPv4 destination really goes, for connect() and for the calls that
 * connect while sending (TCP Fast Open's sendto/sendmsg with MSG_FASTOPEN).
 *
 * Always-IPv4 and `local` destinations, those no prefix may carry, and every destination of a
 * socket bound to a specific IPv4 address go to the IPv4-mapped address, that is over IPv4.
 * Others go through NAT64 first, or over IPv4 first while the cache says so; when the first way
 * has no route (TNAT64_UNREACHABLE) the other is tried at once on the same socket. When both
 * fail the program gets the error of the IPv4 attempt: the one it would have had without
 * tnat64. Async-signal-safe, as connect() is: no malloc, no locale, no lock. */
#include <errno.h>
#include <netinet/tcp.h>
#include <stdatomic.h>

#include "tnat64.h"

static const char *method_name(enum method method)
{
	return method == METHOD_NAT64 ? "NAT64" : "IPv4";
}

static void target_of(const struct sockaddr_in *dest, enum method method, const struct nat64_prefix *prefix,
		      struct sockaddr_in6 *target)
{
	*target = (struct sockaddr_in6){.sin6_family = AF_INET6, .sin6_port = dest->sin_port};
	if (method == METHOD_NAT64)
		nat64_synthesize(prefix, dest->sin_addr, &target->sin6_addr);
	else
		ipv4_mapped(dest->sin_addr, &target->sin6_addr);
}

/* The call under way goes on without us: a non-blocking connect, or a blocking one a signal
 * interrupted (it completes in the background, as POSIX says). */
static bool started(ssize_t r, int error)
{
	return r >= 0 || error == EINPROGRESS || error == EINTR;
}

/* A socket that had a connect before answers 0 to a new one when the earlier one has just
 * completed (the kernel then ignores the new address): is `target` really its peer? */
static bool peer_is(int fd, const struct sockaddr_in6 *target)
{
	int saved = errno;
	struct sockaddr_in6 real;
	socklen_t len = sizeof(real);
	bool same = libc.getpeername(fd, (struct sockaddr *)&real, &len) == 0 && real.sin6_port == target->sin6_port &&
		    IN6_ARE_ADDR_EQUAL(&real.sin6_addr, &target->sin6_addr);
	errno = saved;
	return same;
}

/* `learn`: the way was chosen by the cache, so how it ends is worth remembering. */
static ssize_t attempt(int fd, uint64_t word, const struct sockaddr_in *dest, enum method method,
		       const struct nat64_prefix *prefix, bool learn, reach_fn reach, void *ctx)
{
	struct sockaddr_in6 target;
	target_of(dest, method, prefix, &target);
	ssize_t r = reach(fd, &target, ctx);
	int error = r < 0 ? errno : 0;
	/* A refused call (EISCONN, EALREADY, EBADF, ...) changes nothing the program can see. */
	if (started(r, error) && !(r >= 0 && (word & FD_PEER) && !peer_is(fd, &target)))
		registry_set(fd, fd_peer_word(word, dest, method) | (r < 0 ? FD_PENDING | (learn ? FD_LEARN : 0) : 0));
	if (log_enabled(LOG_DEBUG)) {
		char text[46], name[24];
		log_msg(LOG_DEBUG, "connect fd %d via %s to [%s]:%u: %s", fd, method_name(method),
			log_ipv6(&target.sin6_addr, text), ntohs(dest->sin_port),
			r >= 0 ? "connected" : log_errno(error, name));
	}
	if (r < 0)
		errno = error; /* on success errno stays as the program left it */
	return r;
}

/* RULE_NONE: the well-known prefix was the only one for a non-global destination. */
static void warn_once_no_prefix(const struct sockaddr_in *dest)
{
	static atomic_flag warned = ATOMIC_FLAG_INIT;
	if (atomic_flag_test_and_set(&warned))
		return;
	char text[16];
	log_msg(LOG_WARN,
		"%s is not a global address and the only prefix for it is the well-known 64:ff9b::/96, which must "
		"not carry it (RFC 6052 §3.1): such destinations go over IPv4 (configure a network-specific "
		"prefix)",
		log_ipv4(dest->sin_addr, text));
}

/* A connect() while one is under way (after poll, as many programs do): the kernel ignores the
 * new address and answers about the attempt under way, so it is asked by that attempt's way,
 * and its answer ends the attempt as SO_ERROR would. */
static ssize_t continue_pending(int fd, uint64_t word, reach_fn reach, void *ctx)
{
	struct sockaddr_in dest;
	fd_peer(word, &dest);
	enum method method = fd_method(word);
	struct sockaddr_in6 target;
	target_of(&dest, method, config_resolve(tnat64_config(), dest.sin_addr).prefix, &target);
	ssize_t r = reach(fd, &target, ctx);
	if (r < 0 && (errno == EALREADY || errno == EINPROGRESS || errno == EINTR))
		return r;
	int error = r < 0 ? errno : 0;
	registry_set(fd, word & ~(FD_PENDING | FD_LEARN));
	if ((word & FD_LEARN) && (r >= 0 || error == EISCONN || TNAT64_BROKEN(error)))
		cache_learn(dest.sin_addr, method, r >= 0 || error == EISCONN);
	if (r < 0)
		errno = error;
	return r;
}

/* The kernel is still connecting the socket (SYN sent) or has connected it unasked: a pending
 * word can outlive the attempt (shutdown() ends one, and is not watched). */
static bool still_pending(int fd)
{
	int saved = errno;
	struct tcp_info info;
	socklen_t len = sizeof(info);
	bool pending = libc.getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) == 0 && info.tcpi_state != TCP_CLOSE;
	errno = saved;
	return pending;
}

ssize_t route_reach(int fd, uint64_t word, const struct sockaddr_in *dest, reach_fn reach, void *ctx)
{
	if ((word & FD_PENDING) && still_pending(fd))
		return continue_pending(fd, word, reach, ctx);
	if (word & FD_FILTERED) { /* a listener shut down, connecting now */
		listen_filter_remove(fd, word);
		word &= ~FD_FILTERED;
	}

	struct rule rule = config_resolve(tnat64_config(), dest->sin_addr);
	if (rule.kind == RULE_NONE)
		warn_once_no_prefix(dest);
	if (rule.kind != RULE_NAT64 || (word & FD_BOUND4))
		return attempt(fd, word, dest, METHOD_IPV4, NULL, false, reach, ctx);

	int saved = errno;
	enum method first = cache_prefers_ipv4(dest->sin_addr) ? METHOD_IPV4 : METHOD_NAT64;
	enum method second = first == METHOD_NAT64 ? METHOD_IPV4 : METHOD_NAT64;
	ssize_t r = attempt(fd, word, dest, first, rule.prefix, true, reach, ctx);
	if (r >= 0) {
		errno = saved;
		return r;
	}
	int first_error = errno;
	if (TNAT64_BROKEN(first_error))
		cache_learn(dest->sin_addr, first, false);
	if (!TNAT64_UNREACHABLE(first_error))
		return -1;
	char name[24];
	log_msg(LOG_INFO, "fd %d: %s unreachable (%s), trying %s", fd, method_name(first), log_errno(first_error, name),
		method_name(second));
	r = attempt(fd, word, dest, second, rule.prefix, true, reach, ctx);
	if (r >= 0) {
		errno = saved;
		return r;
	}
	if (second == METHOD_NAT64 && !started(r, errno))
		errno = first_error; /* the IPv4 attempt's error is the program's own */
	return -1;
}
