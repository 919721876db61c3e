/* What each descriptor is, and what its program believes about it: one atomic 64-bit word per
 * descriptor (layout in tnat64.h). Lock-free, so a fork in the middle of a call can never leave
 * the child holding a lock. The words are a cache of what the kernel knows: a descriptor this
 * process has not seen is asked of the kernel once (its IPV6_FLOWINFO_SEND mark). */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "tnat64.h"

/* At most this many descriptors are cached (Linux's default fs.nr_open; 8 MiB of address space,
 * touched only where used); one beyond is asked of the kernel at each call. A test build sets a
 * small one, to have descriptors beyond it. */
#ifndef REGISTRY_MAX
#define REGISTRY_MAX (1u << 20)
#endif

uint64_t *registry_words; /* accessed with __atomic builtins only */
unsigned int registry_size;

void registry_init(void)
{
	struct rlimit limit;
	rlim_t n = REGISTRY_MAX;
	/* Sized to the hard limit: the soft limit may be raised up to it later. */
	if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_max != RLIM_INFINITY && limit.rlim_max < n)
		n = limit.rlim_max;
	void *p = mmap(NULL, n * sizeof(*registry_words), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		       -1, 0);
	if (p == MAP_FAILED)
		return; /* nothing cached: every call asks the kernel */
	registry_words = p;
	registry_size = (unsigned int)n;
}

static bool tracked(int fd)
{
	return fd >= 0 && (unsigned int)fd < registry_size;
}

uint64_t fd_bound4(int fd)
{
	struct sockaddr_in6 local;
	socklen_t len = sizeof(local);
	int saved = errno;
	bool mapped = libc.getsockname(fd, (struct sockaddr *)&local, &len) == 0 && local.sin6_family == AF_INET6 &&
		      IN6_IS_ADDR_V4MAPPED(&local.sin6_addr);
	errno = saved;
	return mapped ? FD_BOUND4 : 0;
}

/* TCP and UDP sockets are served; anything else (raw, SCTP, ...) is not. */
static uint64_t served_type(int fd)
{
	int type = 0;
	socklen_t len = sizeof(type);
	if (libc.getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return 0;
	return type == SOCK_DGRAM ? FD_DGRAM : type == SOCK_STREAM ? FD_KNOWN : 0;
}

/* Ours when it carries the mark; a swapped socket bound to an IPv4(-mapped) address keeps its
 * connections on IPv4; another AF_INET6 TCP or UDP socket is the program's own, served for its
 * IPv4-mapped destinations. Only errno is left as it was. */
static uint64_t probe(int fd, bool *known)
{
	int saved = errno, mark = 0;
	socklen_t len = sizeof(mark);
	uint64_t word = FD_KNOWN;
	*known = true;
	if (!tnat64_active()) { /* a broken configuration: nothing is ours; still setting up: ask later */
		*known = tnat64_is_ready();
		return word;
	}
	if (libc.getsockopt(fd, IPPROTO_IPV6, IPV6_FLOWINFO_SEND, &mark, &len) == 0) {
		uint64_t type = served_type(fd);
		if (!type)
			goto out;
		word |= (mark ? FD_SWAPPED : FD_INET6) | (type & FD_DGRAM) | fd_bound4(fd);
		if (mark && filter_is_ours(fd))
			word |= FD_FILTERED | FD_SCREENED;
		if (mark && cmsg_asked(fd))
			word |= FD_CMSG;
	} else if (errno == EBADF) {
		*known = false; /* nothing there yet: whatever comes to this number is asked about then */
	}
out:
	errno = saved;
	return word;
}

uint64_t fd_probe(int fd)
{
	bool known;
	uint64_t word = probe(fd, &known);
	if (known && tracked(fd))
		__atomic_store_n(&registry_words[fd], word, __ATOMIC_RELEASE);
	return word;
}

bool fd_recheck(int fd)
{
	bool known;
	uint64_t word = probe(fd, &known);
	if (!(word & FD_SWAPPED) && tracked(fd))
		__atomic_store_n(&registry_words[fd], known ? word : 0, __ATOMIC_RELEASE);
	return word & FD_SWAPPED;
}

void registry_clear(int fd)
{
	if (tracked(fd) && __atomic_load_n(&registry_words[fd], __ATOMIC_RELAXED))
		__atomic_store_n(&registry_words[fd], 0, __ATOMIC_RELEASE);
}

void registry_clear_range(unsigned int first, unsigned int last)
{
	for (unsigned int fd = first; fd <= last && fd < registry_size; fd++)
		registry_clear((int)fd);
}

void registry_copy(int from, int to)
{
	if (from != to && tracked(to))
		__atomic_store_n(&registry_words[to], tracked(from) ? __atomic_load_n(&registry_words[from], __ATOMIC_ACQUIRE) : 0,
				 __ATOMIC_RELEASE);
}
