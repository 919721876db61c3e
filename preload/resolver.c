/* glibc's stub resolver through NAT64. Its queries leave through libc-internal socket calls that
 * no preload can see, so the public calls that may ask a nameserver are wrapped instead: for the
 * length of the call, the resolver state it uses (the calling thread's `_res`, or the one a res_n*
 * call is given) holds each IPv4 nameserver whose rule is NAT64 as its NAT64 address, the way
 * glibc holds an IPv6 nameserver; then the state is put back. What this rests on (glibc's resolv/):
 *
 * - an IPv6 nameserver is nsaddr_list[i] of family 0 with its address in _u._ext.nsaddrs[i], a
 *   malloc'd sockaddr_in6 (res_get_nsaddr.c, resolv_conf.c); res_send keeps a copy of an IPv4 one
 *   there too (res_send.c), and res_nclose(), a reload and the thread's exit free them all
 *   (res-close.c). The slot keeps its buffer afterwards, holding the IPv4 address again.
 * - a state that no longer matches resolv.conf is the program's own: glibc uses it as it is and
 *   never reloads over it (resolv_conf.c resolv_conf_matches, resolv_context.c maybe_init). Put
 *   back, it matches again, so a changed resolv.conf is still read: the check (and a thread's
 *   first set-up) is made before the swap by res_mkquery(), which builds a query and sends nothing.
 *
 * Out of reach: getaddrinfo_a (glibc's own threads call getaddrinfo inside libc), nscd's lookups
 * (made by the daemon), and statically linked programs. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <resolv.h>
#include <stdlib.h>
#include <string.h>

#include "tnat64.h"

struct swap {
	struct __res_state *state;
	unsigned int slots; /* bit i: nameserver i was swapped */
	struct sockaddr_in6 nat64[MAXNS];
};

/* Whether an IPv4 nameserver is asked through NAT64, at *out: its rule says NAT64 and that way
 * has a route, checked at every call (glibc's own attempts are never seen, so what was learnt
 * from them cannot end: the check is what tells a route that came back). What it finds is
 * learnt for the program's connections too. */
static bool via_nat64(const struct sockaddr_in *server, struct sockaddr_in6 *out)
{
	char text[16], text6[46], name[24];
	struct rule rule = config_resolve(tnat64_config(), server->sin_addr);
	if (rule.kind != RULE_NAT64) {
		if (log_enabled(LOG_DEBUG))
			log_msg(LOG_DEBUG, "resolver: nameserver %s over IPv4 (%s)", log_ipv4(server->sin_addr, text),
				rule.kind == RULE_LOCAL ? "local" : "no prefix may carry it");
		return false;
	}
	*out = (struct sockaddr_in6){.sin6_family = AF_INET6, .sin6_port = server->sin_port};
	nat64_synthesize(rule.prefix, server->sin_addr, &out->sin6_addr);
	int error = route_missing(out);
	if (error || cache_prefers_ipv4(server->sin_addr))
		cache_learn(server->sin_addr, METHOD_NAT64, !error);
	if (error) {
		log_msg(LOG_INFO, "resolver: nameserver %s: NAT64 unreachable (%s), over IPv4",
			log_ipv4(server->sin_addr, text), log_errno(error, name));
		return false;
	}
	if (log_enabled(LOG_DEBUG))
		log_msg(LOG_DEBUG, "resolver: nameserver %s via NAT64 [%s]", log_ipv4(server->sin_addr, text),
			log_ipv6(&out->sin6_addr, text6));
	return true;
}

/* A socket glibc keeps open for the next call (RES_STAYOPEN) to nameserver i: closed when the
 * nameserver changes address for a call or back, since glibc's own check for a changed
 * nameserver passes over an IPv6 one and would use the old socket. */
static void close_kept_socket(struct __res_state *state, int i)
{
	int *fd = &state->_u._ext.nssocks[i];
	if ((state->options & RES_STAYOPEN) && state->_u._ext.nscount != 0 && *fd >= 0) {
		registry_clear(*fd);
		libc.close(*fd);
		*fd = -1;
	}
}

static void swap_in(struct __res_state *state, struct swap *swap)
{
	swap->state = state;
	swap->slots = 0;
	if (!(state->options & RES_INIT))
		return;
	for (int i = 0; i < state->nscount && i < MAXNS; i++) {
		struct sockaddr_in *server = &state->nsaddr_list[i];
		if (server->sin_family != AF_INET || !via_nat64(server, &swap->nat64[i]))
			continue;
		/* res_send's copy when it made one, else a buffer of ours: glibc frees either. */
		struct sockaddr_in6 *slot = state->_u._ext.nsaddrs[i] ?: malloc(sizeof(*slot));
		if (!slot)
			continue;
		close_kept_socket(state, i);
		*slot = swap->nat64[i];
		state->_u._ext.nsaddrs[i] = slot;
		server->sin_family = 0; /* an IPv6 nameserver, at nsaddrs[i] */
		swap->slots |= 1u << i;
	}
}

/* A swapped nameserver still as it was put (else glibc rebuilt the state during the call, and
 * the slot is its own) becomes IPv4 again, its buffer holding the IPv4 address as res_send's
 * copy does. A socket glibc kept open for the next call (RES_STAYOPEN) is connected to the
 * NAT64 address: it is closed, so that the next call connects to the address it is given. */
static void swap_out(const struct swap *swap)
{
	struct __res_state *state = swap->state;
	int saved = errno;
	for (int i = 0; i < state->nscount && i < MAXNS; i++) {
		struct sockaddr_in6 *slot = state->_u._ext.nsaddrs[i];
		if (!(swap->slots & 1u << i) || state->nsaddr_list[i].sin_family != 0 || !slot ||
		    memcmp(slot, &swap->nat64[i], sizeof(*slot)) != 0)
			continue;
		state->nsaddr_list[i].sin_family = AF_INET;
		*slot = (struct sockaddr_in6){0};
		memcpy(slot, &state->nsaddr_list[i], sizeof(state->nsaddr_list[i]));
		close_kept_socket(state, i);
	}
	errno = saved;
}

/* Before a call on the thread's state that may ask a nameserver (`asks`): the state set up and
 * up to date with resolv.conf, as the call itself would find it, then swapped. */
static void enter(struct swap *swap, bool asks)
{
	swap->slots = 0;
	tnat64_init();
	if (!asks || !tnat64_active() || !libc.res_mkquery)
		return;
	int saved = errno, saved_h = h_errno;
	unsigned char query[64];
	libc.res_mkquery(ns_o_query, "", ns_c_in, ns_t_ns, NULL, 0, NULL, query, sizeof(query));
	swap_in(&_res, swap);
	errno = saved;
	h_errno = saved_h;
}

/* Before a res_n* call on the state it was given, which glibc checks against nothing. */
static void enter_state(struct swap *swap, struct __res_state *state)
{
	swap->slots = 0;
	tnat64_init();
	if (!tnat64_active() || !state)
		return;
	int saved = errno;
	swap_in(state, swap);
	errno = saved;
}

static inline void leave(const struct swap *swap)
{
	if (swap->slots)
		swap_out(swap);
}

/* A call about `name` may ask a nameserver; one about an address literal never does. */
static bool asks_for(const char *name)
{
	struct in6_addr address;
	return name && inet_pton(AF_INET, name, &address) != 1 && inet_pton(AF_INET6, name, &address) != 1;
}

/* Under tnat64 the host has IPv4: its connections go through NAT64. AI_ADDRCONFIG has glibc skip
 * IPv4 answers on a host with no IPv4 address but 127.0.0.1 (sysdeps/posix/getaddrinfo.c,
 * check_pf.c), so it is dropped for AF_INET, where that is all it does, and for AF_UNSPEC on
 * such a host (AF_INET6 keeps it). Whether the host is one is glibc's own answer: AF_INET with
 * AI_ADDRCONFIG refuses even a numeric address (EAI_NONAME) exactly when it sees none. */
static bool host_has_ipv4(void)
{
	const struct addrinfo hints = {.ai_family = AF_INET, .ai_flags = AI_ADDRCONFIG | AI_NUMERICHOST};
	struct addrinfo *list;
	int r = libc.getaddrinfo("127.0.0.1", NULL, &hints, &list);
	if (r == 0)
		freeaddrinfo(list);
	return r != EAI_NONAME;
}

static const struct addrinfo *with_ipv4(const struct addrinfo *hints, struct addrinfo *copy)
{
	if (!tnat64_active() || !hints || !(hints->ai_flags & AI_ADDRCONFIG) ||
	    (hints->ai_family != AF_INET && hints->ai_family != AF_UNSPEC))
		return hints;
	int saved = errno;
	bool drop = hints->ai_family == AF_INET || !host_has_ipv4();
	errno = saved;
	if (!drop)
		return hints;
	*copy = *hints;
	copy->ai_flags &= ~AI_ADDRCONFIG;
	if (log_enabled(LOG_DEBUG))
		log_msg(LOG_DEBUG, "resolver: getaddrinfo without AI_ADDRCONFIG (IPv4 goes through NAT64)");
	return copy;
}

TNAT64_EXPORT int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
			      struct addrinfo **res)
{
	struct swap swap;
	enter(&swap, asks_for(node) && !(hints && (hints->ai_flags & AI_NUMERICHOST)));
	struct addrinfo copy;
	int r = libc.getaddrinfo(node, service, with_ipv4(hints, &copy), res);
	leave(&swap);
	return r;
}

TNAT64_EXPORT struct hostent *gethostbyname(const char *name)
{
	struct swap swap;
	enter(&swap, asks_for(name));
	struct hostent *r = libc.gethostbyname(name);
	leave(&swap);
	return r;
}

TNAT64_EXPORT struct hostent *gethostbyname2(const char *name, int af)
{
	struct swap swap;
	enter(&swap, asks_for(name));
	struct hostent *r = libc.gethostbyname2(name, af);
	leave(&swap);
	return r;
}

TNAT64_EXPORT int gethostbyname_r(const char *name, struct hostent *ret, char *buf, size_t buflen,
				  struct hostent **result, int *h_errnop)
{
	struct swap swap;
	enter(&swap, asks_for(name));
	int r = libc.gethostbyname_r(name, ret, buf, buflen, result, h_errnop);
	leave(&swap);
	return r;
}

TNAT64_EXPORT int gethostbyname2_r(const char *name, int af, struct hostent *ret, char *buf, size_t buflen,
				   struct hostent **result, int *h_errnop)
{
	struct swap swap;
	enter(&swap, asks_for(name));
	int r = libc.gethostbyname2_r(name, af, ret, buf, buflen, result, h_errnop);
	leave(&swap);
	return r;
}

TNAT64_EXPORT struct hostent *gethostbyaddr(const void *addr, socklen_t len, int type)
{
	struct swap swap;
	enter(&swap, true);
	struct hostent *r = libc.gethostbyaddr(addr, len, type);
	leave(&swap);
	return r;
}

TNAT64_EXPORT int gethostbyaddr_r(const void *addr, socklen_t len, int type, struct hostent *ret, char *buf,
				  size_t buflen, struct hostent **result, int *h_errnop)
{
	struct swap swap;
	enter(&swap, true);
	int r = libc.gethostbyaddr_r(addr, len, type, ret, buf, buflen, result, h_errnop);
	leave(&swap);
	return r;
}

TNAT64_EXPORT int getnameinfo(const struct sockaddr *sa, socklen_t salen, char *host, socklen_t hostlen,
			      char *serv, socklen_t servlen, int flags)
{
	struct swap swap;
	enter(&swap, host && hostlen && !(flags & NI_NUMERICHOST));
	int r = libc.getnameinfo(sa, salen, host, hostlen, serv, servlen, flags);
	leave(&swap);
	return r;
}

/* The res_* calls, also under the __res_* names that programs built before glibc 2.34 use. */

TNAT64_EXPORT int res_query(const char *dname, int class, int type, unsigned char *answer, int anslen)
{
	struct swap swap;
	enter(&swap, true);
	int r = libc.res_query(dname, class, type, answer, anslen);
	leave(&swap);
	return r;
}

TNAT64_EXPORT int res_search(const char *dname, int class, int type, unsigned char *answer, int anslen)
{
	struct swap swap;
	enter(&swap, true);
	int r = libc.res_search(dname, class, type, answer, anslen);
	leave(&swap);
	return r;
}

TNAT64_EXPORT int res_querydomain(const char *name, const char *domain, int class, int type, unsigned char *answer,
				  int anslen)
{
	struct swap swap;
	enter(&swap, true);
	int r = libc.res_querydomain(name, domain, class, type, answer, anslen);
	leave(&swap);
	return r;
}

TNAT64_EXPORT int res_send(const unsigned char *msg, int msglen, unsigned char *answer, int anslen)
{
	struct swap swap;
	enter(&swap, true);
	int r = libc.res_send(msg, msglen, answer, anslen);
	leave(&swap);
	return r;
}

TNAT64_EXPORT int res_nquery(res_state state, const char *dname, int class, int type, unsigned char *answer,
			     int anslen)
{
	struct swap swap;
	enter_state(&swap, state);
	int r = libc.res_nquery(state, dname, class, type, answer, anslen);
	leave(&swap);
	return r;
}

TNAT64_EXPORT int res_nsearch(res_state state, const char *dname, int class, int type, unsigned char *answer,
			      int anslen)
{
	struct swap swap;
	enter_state(&swap, state);
	int r = libc.res_nsearch(state, dname, class, type, answer, anslen);
	leave(&swap);
	return r;
}

TNAT64_EXPORT int res_nquerydomain(res_state state, const char *name, const char *domain, int class, int type,
				   unsigned char *answer, int anslen)
{
	struct swap swap;
	enter_state(&swap, state);
	int r = libc.res_nquerydomain(state, name, domain, class, type, answer, anslen);
	leave(&swap);
	return r;
}

TNAT64_EXPORT int res_nsend(res_state state, const unsigned char *msg, int msglen, unsigned char *answer, int anslen)
{
	struct swap swap;
	enter_state(&swap, state);
	int r = libc.res_nsend(state, msg, msglen, answer, anslen);
	leave(&swap);
	return r;
}

TNAT64_EXPORT __typeof__(res_query) __res_query __THROW __attribute__((alias("res_query")));
TNAT64_EXPORT __typeof__(res_search) __res_search __THROW __attribute__((alias("res_search")));
TNAT64_EXPORT __typeof__(res_querydomain) __res_querydomain __THROW __attribute__((alias("res_querydomain")));
TNAT64_EXPORT __typeof__(res_send) __res_send __THROW __attribute__((alias("res_send")));
TNAT64_EXPORT __typeof__(res_nquery) __res_nquery __THROW __attribute__((alias("res_nquery")));
TNAT64_EXPORT __typeof__(res_nsearch) __res_nsearch __THROW __attribute__((alias("res_nsearch")));
TNAT64_EXPORT __typeof__(res_nquerydomain) __res_nquerydomain __THROW __attribute__((alias("res_nquerydomain")));
TNAT64_EXPORT __typeof__(res_nsend) __res_nsend __THROW __attribute__((alias("res_nsend")));
