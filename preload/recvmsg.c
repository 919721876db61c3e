/* recvmsg(): descriptors received with SCM_RIGHTS are new to this process, whatever their numbers
 * held before (a number closed behind the library's back, by fclose() for one): they are
 * forgotten, so that each is asked of the kernel at its first use. */
#include <string.h>

#include "tnat64.h"

static __attribute__((noinline)) ssize_t recvmsg_rights(int fd, struct msghdr *msg, int flags)
{
	tnat64_init();
	ssize_t r = libc.recvmsg(fd, msg, flags);
	if (r < 0)
		return r;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int received;
			memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof(received));
			registry_clear(received);
		}
	}
	return r;
}

TNAT64_EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	if ((!msg || !msg->msg_control || !msg->msg_controllen) && tnat64_is_ready())
		return libc.recvmsg(fd, msg, flags);
	return recvmsg_rights(fd, msg, flags);
}
