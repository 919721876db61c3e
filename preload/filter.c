/* The socket filter that keeps native IPv6 out of a swapped socket (screen.c builds it), so that
 * it hears only what an AF_INET socket would. The kernel runs it on each packet before it is
 * queued, so poll() and read() never see what it drops. A program that attaches a filter of its
 * own replaces it: recvfrom() and kin then screen sources themselves (arrival_view), and accept()
 * closes what gets in. The filter is not the program's: SO_GET_FILTER and SO_DETACH_FILTER answer
 * as if it were not there (getsockopt.c, setsockopt.c). */
#include <errno.h>
#include <string.h>

#include "tnat64.h"

static bool has_filter(int fd)
{
	socklen_t n = 0;
	/* A classic filter tells its length; an eBPF one (SO_ATTACH_BPF) cannot be read: EACCES. */
	return libc.getsockopt(fd, SOL_SOCKET, SO_GET_FILTER, NULL, &n) == 0 ? n > 0 : errno == EACCES;
}

uint64_t filter_screen(int fd, uint64_t word)
{
	int saved = errno;
	const struct sock_fprog program = screen_program();
	word |= FD_SCREENED;
	if (program.len && !(word & FD_FILTERED) && !has_filter(fd) &&
	    libc.setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof(program)) == 0)
		word |= FD_FILTERED;
	registry_set(fd, word);
	errno = saved;
	return word;
}

void filter_remove(int fd, uint64_t word)
{
	int saved = errno, zero = 0;
	libc.setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &zero, sizeof(zero));
	registry_set(fd, word & ~FD_FILTERED);
	errno = saved;
}

bool filter_is_ours(int fd)
{
	const struct sock_fprog program = screen_program();
	if (!program.len)
		return false;
	struct sock_filter theirs[SCREEN_MAX];
	socklen_t n = SCREEN_MAX; /* SO_GET_FILTER counts instructions */
	int saved = errno;
	bool ours = libc.getsockopt(fd, SOL_SOCKET, SO_GET_FILTER, theirs, &n) == 0 && n == program.len &&
		    memcmp(theirs, program.filter, program.len * sizeof(theirs[0])) == 0;
	errno = saved;
	return ours;
}

bool source_is_ipv4(const struct in6_addr *source)
{
	return config_is_ipv4_source(tnat64_config(), source);
}
