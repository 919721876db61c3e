/* dup(), dup2(), dup3(): the copy is as swapped as the original; whatever the target held is gone. */
#include "tnat64.h"

TNAT64_EXPORT int dup(int fd)
{
	tnat64_init();
	int copy = libc.dup(fd);
	if (copy >= 0)
		registry_copy(fd, copy);
	return copy;
}

TNAT64_EXPORT int dup2(int fd, int target)
{
	tnat64_init();
	int copy = libc.dup2(fd, target);
	if (copy >= 0)
		registry_copy(fd, copy);
	return copy;
}

TNAT64_EXPORT int dup3(int fd, int target, int flags)
{
	tnat64_init();
	int copy = libc.dup3(fd, target, flags);
	if (copy >= 0)
		registry_copy(fd, copy);
	return copy;
}
