/* Where a served socket's IPv4 destination really goes: for connect(), for each datagram sent
 * to its own destination, and for TCP Fast Open's sendto/sendmsg with MSG_FASTOPEN.
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
#include <stddef.h>
#include <string.h>

#include "tnat64.h"

/* What the call that reaches a target does: connects the socket (its peer is recorded), or sends
 * one datagram to its own destination. */
enum reach_kind { REACH_CONNECT, REACH_SEND };

static const char *method_name(enum method method)
{
	return method == METHOD_NAT64 ? "NAT64" : "IPv4";
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

/* What a call that reached its target leaves in the word: a connecting call's peer (a refused
 * call, EISCONN, EALREADY, EBADF, ..., changes nothing the program can see); for the program's
 * own AF_INET6 socket, that its arrivals from NAT64 now show mapped. */
static void record(int fd, uint64_t word, const struct sockaddr_in *dest, enum method method,
		   const struct sockaddr_in6 *target, bool learn, ssize_t r, int error, enum reach_kind kind)
{
	if (kind == REACH_SEND) {
		if (method == METHOD_NAT64 && (word & (FD_INET6 | FD_SHOW_MAPPED)) == FD_INET6 && r >= 0)
			registry_set(fd, word | FD_SHOW_MAPPED);
		return;
	}
	if (started(r, error) && !(r >= 0 && (word & FD_PEER) && !peer_is(fd, target)))
		registry_set(fd, fd_peer_word(word, dest, method) | (r < 0 ? FD_PENDING | (learn ? FD_LEARN : 0) : 0));
}

static void log_attempt(int fd, const struct sockaddr_in *dest, enum method method, const struct sockaddr_in6 *target,
			ssize_t r, int error, enum reach_kind kind)
{
	if (!log_enabled(LOG_DEBUG))
		return;
	char text[46], name[24];
	log_msg(LOG_DEBUG, "%s fd %d via %s to [%s]:%u: %s", kind == REACH_SEND ? "send" : "connect", fd,
		method_name(method), log_ipv6(&target->sin6_addr, text), ntohs(dest->sin_port),
		r < 0 ? log_errno(error, name) : kind == REACH_SEND ? "sent" : "connected");
}

/* `learn`: the way was chosen by the cache, so how it ends is worth remembering. */
static ssize_t attempt(int fd, uint64_t word, const struct sockaddr_in *dest, enum method method,
		       const struct nat64_prefix *prefix, bool learn, reach_fn reach, void *ctx, enum reach_kind kind)
{
	struct sockaddr_in6 target;
	route_target_of(dest, method, prefix, &target);
	ssize_t r = reach(fd, &target, ctx);
	int error = r < 0 ? errno : 0;
	record(fd, word, dest, method, &target, learn, r, error, kind);
	log_attempt(fd, dest, method, &target, r, error, kind);
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
	route_target_of(&dest, method, config_resolve(tnat64_config(), dest.sin_addr).prefix, &target);
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

/* The rule's way, or IPv4 when the socket can only go there; RULE_NONE warns. */
__thread uint64_t route_memo __attribute__((tls_model("initial-exec")));

int route_way(struct in_addr dest, const struct nat64_prefix **prefix)
{
	const struct nat64_prefix *ignored;
	if (!prefix)
		prefix = &ignored;
	int way = route_remembered(dest);
	if (way >= 0) {
		*prefix = route_prefix(way); /* a remembered IPv4 way is the rules' (the cache's runs out) */
		return way;
	}
	uint64_t epoch = __atomic_load_n(&route_epoch, __ATOMIC_RELAXED); /* before the cache is read */
	const struct config *cfg = tnat64_config();
	struct rule rule = config_resolve(cfg, dest);
	*prefix = rule.kind == RULE_NAT64 ? rule.prefix : NULL;
	if (rule.kind == RULE_NONE)
		warn_once_no_prefix(&(struct sockaddr_in){.sin_addr = dest});
	if (rule.kind != RULE_NAT64)
		way = ROUTE_WAY_IPV4;
	else if (cache_prefers_ipv4(dest))
		return ROUTE_WAY_IPV4; /* not remembered: it runs out in time, not by a change */
	else if (rule.prefix == config_fallback_prefix(cfg))
		way = ROUTE_WAY_FALLBACK;
	else
		way = ROUTE_WAY_PATH + (int)((const struct config_path *)((const char *)rule.prefix -
								      offsetof(struct config_path, prefix)) -
					     cfg->paths);
	if (way <= 0xff)
		route_memo = epoch | dest.s_addr | ((uint64_t)way << ROUTE_MEMO_WAY_SHIFT);
	return way;
}

enum method route_choose(uint64_t word, const struct sockaddr_in *dest, struct sockaddr_in6 *target)
{
	int way = word & FD_BOUND4 ? ROUTE_WAY_IPV4 : route_way(dest->sin_addr, NULL);
	route_target(dest, way, target);
	return way == ROUTE_WAY_IPV4 ? METHOD_IPV4 : METHOD_NAT64;
}

int route_missing(const struct sockaddr_in6 *target)
{
	int saved = errno;
	int fd = libc.socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int error = fd >= 0 && libc.connect(fd, (const struct sockaddr *)target, sizeof(*target)) < 0 ? errno : 0;
	if (fd >= 0)
		libc.close(fd);
	errno = saved;
	return TNAT64_UNREACHABLE(error) ? error : 0;
}

/* The first way had no route (or is broken): learn it, and try the other one on the same call.
 * `saved`: errno as the program left it, which a success must leave. */
static ssize_t fall_back(int fd, uint64_t word, const struct sockaddr_in *dest, const struct nat64_prefix *prefix,
			 enum method first, int saved, reach_fn reach, void *ctx, enum reach_kind kind)
{
	int first_error = errno;
	if (TNAT64_BROKEN(first_error))
		cache_learn(dest->sin_addr, first, false);
	if (!TNAT64_UNREACHABLE(first_error))
		return -1;
	enum method second = first == METHOD_NAT64 ? METHOD_IPV4 : METHOD_NAT64;
	char name[24];
	log_msg(LOG_INFO, "fd %d: %s unreachable (%s), trying %s", fd, method_name(first), log_errno(first_error, name),
		method_name(second));
	ssize_t r = attempt(fd, word, dest, second, prefix, true, reach, ctx, kind);
	if (r >= 0) {
		errno = saved;
		return r;
	}
	if (second == METHOD_NAT64 && !(kind == REACH_CONNECT && started(r, errno)))
		errno = first_error; /* the IPv4 attempt's error is the program's own */
	return -1;
}

ssize_t route_reach(int fd, uint64_t word, const struct sockaddr_in *dest, reach_fn reach, void *ctx)
{
	if ((word & FD_PENDING) && still_pending(fd))
		return continue_pending(fd, word, reach, ctx);
	if ((word & (FD_FILTERED | FD_DGRAM)) == FD_FILTERED) { /* a listener shut down, connecting now */
		filter_remove(fd, word);
		word &= ~FD_FILTERED;
	}

	/* No prefix: IPv4 is the only way (the rules', or the socket's bound there). */
	const struct nat64_prefix *prefix = NULL;
	int way = word & FD_BOUND4 ? ROUTE_WAY_IPV4 : route_way(dest->sin_addr, &prefix);
	if (!prefix)
		return attempt(fd, word, dest, METHOD_IPV4, NULL, false, reach, ctx, REACH_CONNECT);

	int saved = errno;
	enum method first = way == ROUTE_WAY_IPV4 ? METHOD_IPV4 : METHOD_NAT64;
	ssize_t r = attempt(fd, word, dest, first, prefix, true, reach, ctx, REACH_CONNECT);
	if (r >= 0) {
		errno = saved;
		return r;
	}
	return fall_back(fd, word, dest, prefix, first, saved, reach, ctx, REACH_CONNECT);
}

ssize_t route_send(int fd, uint64_t word, const struct sockaddr_in *dest, reach_fn reach, void *ctx)
{
	const struct nat64_prefix *prefix = NULL;
	int way = word & FD_BOUND4 ? ROUTE_WAY_IPV4 : route_way(dest->sin_addr, &prefix);
	enum method method = way == ROUTE_WAY_IPV4 ? METHOD_IPV4 : METHOD_NAT64;
	struct sockaddr_in6 target;
	route_target(dest, way, &target);
	int saved = errno;
	ssize_t r = reach(fd, &target, ctx);
	int error = r < 0 ? errno : 0;
	record(fd, word, dest, method, &target, false, r, error, REACH_SEND);
	log_attempt(fd, dest, method, &target, r, error, REACH_SEND);
	/* Sent; or IPv4 is the only way; or the error is an earlier datagram's, an ICMP report the
	 * socket had pending (IP_RECVERR), not this one's missing route: as the kernel said. */
	if (r >= 0 || !prefix || (TNAT64_UNREACHABLE(error) && !route_missing(&target)))
		return r;
	return fall_back(fd, word, dest, prefix, method, saved, reach, ctx, REACH_SEND);
}

int send_destination(int fd, uint64_t word, const struct sockaddr *addr, socklen_t len, size_t size,
		     struct sockaddr_in *dest)
{
	bool datagram = word & FD_DGRAM;
	int served = served_destination(word, addr, len, datagram, dest);
	if (served < 0)
		return fd_recheck(fd) ? -1 : 0;
	if (served == 0) {
		native_destination(fd, word, addr, len);
		return 0;
	}
	if (datagram && (word & FD_SWAPPED) && size > IPV4_UDP_MAX_PAYLOAD) {
		errno = EMSGSIZE;
		return -1;
	}
	return 1;
}

void native_destination(int fd, uint64_t word, const struct sockaddr *addr, socklen_t len)
{
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
	if ((word & FD_SHOW_MAPPED) && len >= sizeof(*in6) && user_memory(addr, sizeof(*in6)) &&
	    in6->sin6_family == AF_INET6 && source_is_ipv4(&in6->sin6_addr))
		registry_set(fd, word & ~FD_SHOW_MAPPED);
}
