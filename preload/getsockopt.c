/* getsockopt(): SO_ERROR ends a non-blocking connect, so it is where its outcome is learnt for
 * the destination cache; SO_DOMAIN answers AF_INET, as the application expects. */
#include <errno.h>
#include <string.h>

#include "tnat64.h"

static void learn(int fd, uint64_t word, int error)
{
	struct sockaddr_in dest;
	fd_peer(word, &dest);
	enum method method = fd_method(word);
	registry_set(fd, word & ~FD_PENDING);
	if (error == 0) {
		cache_store(dest.sin_addr, method);
	} else if (error == ENETUNREACH || error == EHOSTUNREACH || error == EADDRNOTAVAIL || error == ETIMEDOUT) {
		/* This way is broken for now: the next connect to this destination tries the other first. */
		cache_store(dest.sin_addr, method == METHOD_NAT64 ? METHOD_IPV4 : METHOD_NAT64);
		log_msg(LOG_INFO, "fd %d: %s connect failed (%s); next time the other way first", fd,
			method == METHOD_NAT64 ? "NAT64" : "IPv4", strerror(error));
	}
}

TNAT64_EXPORT int getsockopt(int fd, int level, int name, void *value, socklen_t *len)
{
	tnat64_init();
	int r = libc.getsockopt(fd, level, name, value, len);
	if (r < 0 || level != SOL_SOCKET)
		return r;
	uint64_t word = registry_get(fd);
	if (!(word & FD_SWAPPED))
		return r;
	if (name == SO_ERROR && (word & FD_PENDING) && *len >= sizeof(int)) {
		int error;
		memcpy(&error, value, sizeof(error));
		/* 0 while still connecting too: only a connected socket or an error ends the attempt. */
		struct sockaddr_in6 peer;
		socklen_t peer_len = sizeof(peer);
		if (error != 0 || libc.getpeername(fd, (struct sockaddr *)&peer, &peer_len) == 0)
			learn(fd, word, error);
	} else if (name == SO_DOMAIN && *len >= sizeof(int)) {
		int domain = AF_INET;
		memcpy(value, &domain, sizeof(domain));
	}
	return r;
}
