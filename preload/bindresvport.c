/* bindresvport(): glibc's binds through an internal call that the library never sees, with an
 * AF_INET address that a swapped socket refuses. On a swapped socket it is done here through
 * bind() above: the reserved ports 512-1023 from a point that depends on the process, the first
 * one free. Other sockets get the real one. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "tnat64.h"

#define RESERVED_LOW 512
#define RESERVED_END 1024

TNAT64_EXPORT int bindresvport(int fd, struct sockaddr_in *sin)
{
	tnat64_init();
	if (!(fd_state(fd) & FD_SWAPPED) && libc.bindresvport)
		return libc.bindresvport(fd, sin);
	struct sockaddr_in any = {.sin_family = AF_INET};
	if (!sin)
		sin = &any;
	if (sin->sin_family != AF_INET) {
		errno = EPFNOSUPPORT;
		return -1;
	}
	int n = RESERVED_END - RESERVED_LOW;
	int start = (int)(getpid() % n);
	for (int i = 0; i < n; i++) {
		sin->sin_port = htons((uint16_t)(RESERVED_LOW + (start + i) % n));
		if (bind(fd, (const struct sockaddr *)sin, sizeof(*sin)) == 0)
			return 0;
		if (errno != EADDRINUSE)
			break;
	}
	return -1;
}
