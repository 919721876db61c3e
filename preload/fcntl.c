/* fcntl(F_DUPFD, F_DUPFD_CLOEXEC) duplicates like dup(); every other command passes through. */
#include <fcntl.h>
#include <stdarg.h>

#include "tnat64.h"

/* Every fcntl command takes at most one argument, an int or a pointer: pass it on as a pointer. */
static int intercept(int (*real)(int, int, ...), int fd, int cmd, void *arg)
{
	int r = real(fd, cmd, arg);
	if (r >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC))
		registry_copy(fd, r);
	return r;
}

TNAT64_EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	tnat64_init();
	return intercept(libc.fcntl, fd, cmd, arg);
}

/* glibc 2.28+ also exports fcntl64, which programs built with 64-bit file offsets call. */
TNAT64_EXPORT int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	tnat64_init();
	return intercept(libc.fcntl64 ? libc.fcntl64 : libc.fcntl, fd, cmd, arg);
}
