/* close() and its range forms: forget the descriptors, so a reused number starts clean. */
#include <errno.h>
#include <linux/close_range.h>

#include "tnat64.h"

TNAT64_EXPORT int close(int fd)
{
	tnat64_init();
	registry_clear(fd);
	return libc.close(fd);
}

TNAT64_EXPORT int close_range(unsigned int first, unsigned int last, int flags)
{
	tnat64_init();
	if (!libc.close_range) {
		errno = ENOSYS;
		return -1;
	}
	int r = libc.close_range(first, last, flags);
	if (r == 0 && !(flags & CLOSE_RANGE_CLOEXEC))
		registry_clear_range(first, last);
	return r;
}

TNAT64_EXPORT void closefrom(int lowfd)
{
	tnat64_init();
	if (lowfd >= 0)
		registry_clear_range((unsigned int)lowfd, ~0u);
	if (libc.closefrom)
		libc.closefrom(lowfd);
}
