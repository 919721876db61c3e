/* getsockopt() on a swapped socket answers as an AF_INET socket would: SO_DOMAIN is AF_INET,
 * SO_PEERNAME a sockaddr_in, IPv6-level options fail, and the filter that keeps IPv6 out of a
 * listener is not there. SO_ERROR ends a pending connect, so it is where its outcome is learnt. */
#include <errno.h>
#include <string.h>

#include "tnat64.h"

static void learn(int fd, uint64_t word, int error)
{
	registry_set(fd, word & ~(FD_PENDING | FD_LEARN));
	if (!(word & FD_LEARN) || (error != 0 && !TNAT64_BROKEN(error)))
		return;
	struct sockaddr_in dest;
	fd_peer(word, &dest);
	cache_learn(dest.sin_addr, fd_method(word), error == 0);
	char name[24];
	if (error != 0)
		log_msg(LOG_INFO, "fd %d: %s connect failed (%s); next time the other way first", fd,
			fd_method(word) == METHOD_NAT64 ? "NAT64" : "IPv4", log_errno(error, name));
}

/* 0 while still connecting too: only a connected socket or an error ends the attempt. */
static void pending_error(int fd, uint64_t word, const void *value, socklen_t len)
{
	int error;
	if (len < sizeof(error))
		return;
	memcpy(&error, value, sizeof(error));
	int saved = errno;
	struct sockaddr_in6 peer;
	socklen_t peer_len = sizeof(peer);
	if (error != 0 || libc.getpeername(fd, (struct sockaddr *)&peer, &peer_len) == 0)
		learn(fd, word, error);
	errno = saved;
}

/* An int option's value as the kernel copies it: as many of its bytes as the buffer holds. */
static int int_answer(int v, void *value, socklen_t *len)
{
	if ((int)*len < 0) {
		errno = EINVAL;
		return -1;
	}
	if (*len > sizeof(v))
		*len = sizeof(v);
	memcpy(value, &v, *len);
	return 0;
}

/* SO_PEERNAME, as the kernel answers it: ENOTCONN when there is no peer, EINVAL for a buffer
 * larger than the address, else as much of the address as the buffer holds. */
static int peername_answer(int fd, uint64_t word, void *value, socklen_t *len)
{
	struct view peer;
	int r = served_peer(fd, word, &peer);
	if (r > 0)
		return libc.getsockopt(fd, SOL_SOCKET, SO_PEERNAME, value, len);
	if (r < 0) {
		errno = ENOTCONN;
		return -1;
	}
	if ((int)*len < 0 || *len > peer.size) {
		errno = EINVAL;
		return -1;
	}
	memcpy(value, &peer.addr, *len);
	return 0;
}

static __attribute__((noinline)) int getsockopt_ours(int fd, int level, int name, void *value, socklen_t *len)
{
	tnat64_init();
	uint64_t word = fd_state(fd);
	/* Buffers the kernel refuses (EFAULT, EINVAL) are its to refuse: nothing is read or written. */
	if (!user_memory(len, sizeof(*len)) || (*len > 0 && !user_memory(value, *len)))
		return libc.getsockopt(fd, level, name, value, len);
	if (word & FD_INET6) { /* the program's own AF_INET6 socket: only its mapped peer is ours */
		if (level == SOL_SOCKET && name == SO_PEERNAME && (word & FD_PEER))
			return peername_answer(fd, word, value, len);
		int r = libc.getsockopt(fd, level, name, value, len);
		if (r == 0 && level == SOL_SOCKET && name == SO_ERROR && (word & FD_PENDING))
			pending_error(fd, word, value, *len);
		return r;
	}
	/* Answers that only a swapped socket gets are given after checking it still is one. */
	bool recheck = level == IPPROTO_IPV6 || name == SO_DOMAIN;
	if (!(word & FD_SWAPPED) || (recheck && !fd_recheck(fd)))
		return libc.getsockopt(fd, level, name, value, len);
	if (level == IPPROTO_IPV6) {
		errno = EOPNOTSUPP; /* what an AF_INET socket answers */
		return -1;
	}
	if (name == SO_PEERNAME)
		return peername_answer(fd, word, value, len);
	if (name == SO_GET_FILTER && (word & FD_FILTERED)) {
		if ((int)*len < 0) {
			errno = EINVAL;
			return -1;
		}
		*len = 0; /* no filter of the program's */
		return 0;
	}
	int r = libc.getsockopt(fd, level, name, value, len);
	if (r < 0)
		return r;
	if (name == SO_ERROR && (word & FD_PENDING))
		pending_error(fd, word, value, *len);
	else if (name == SO_DOMAIN)
		return int_answer(AF_INET, value, len);
	return r;
}

static bool ours(int level, int name)
{
	return level == IPPROTO_IPV6 || (level == SOL_SOCKET && (name == SO_DOMAIN || name == SO_ERROR ||
								name == SO_PEERNAME || name == SO_GET_FILTER));
}

TNAT64_EXPORT int getsockopt(int fd, int level, int name, void *value, socklen_t *len)
{
	if (!ours(level, name) && tnat64_is_ready())
		return libc.getsockopt(fd, level, name, value, len);
	return getsockopt_ours(fd, level, name, value, len);
}
