/* recvmsg(): on a served socket the source comes out as recvfrom() gives it, and the control
 * messages as an AF_INET socket would have them (cmsg.c). Descriptors received with SCM_RIGHTS
 * (over a unix socket) are new to this process, whatever their numbers held before (a number
 * closed behind the library's back, by fclose() for one): they are forgotten, so that each is
 * asked of the kernel at its first use. */
#include <string.h>

#include "tnat64.h"

static void forget_rights(struct msghdr *msg)
{
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
}

static ssize_t recvmsg_served(int fd, uint64_t word, struct msghdr *msg, int flags)
{
	/* The source is needed to screen what the filter did not (arrival_screened_here). */
	bool named = msg->msg_name || arrival_screened_here(word);
	for (;;) {
		struct sockaddr_in6 real;
		struct control_room room;
		struct msghdr kernel = *msg;
		kernel.msg_name = named ? &real : NULL;
		kernel.msg_namelen = named ? sizeof(real) : 0;
		control_prepare(word, flags, &kernel, &room);
		ssize_t r = libc.recvmsg(fd, &kernel, flags);
		if (r < 0)
			return r;
		struct view seen = {.size = 0};
		if (named && !arrival_view(word, &real, kernel.msg_namelen, &seen) && !(flags & MSG_ERRQUEUE)) {
			if (!arrival_drop(fd, flags))
				return -1;
			continue;
		}
		if (msg->msg_name && copy_view(&seen, msg->msg_name, &msg->msg_namelen) < 0)
			return -1;
		msg->msg_flags = kernel.msg_flags;
		control_finish(&kernel, msg);
		return r;
	}
}

static __attribute__((noinline)) ssize_t recvmsg_slow(int fd, struct msghdr *msg, int flags)
{
	tnat64_init();
	uint64_t word = fd_state(fd);
	if ((word & FD_SERVED) && user_msghdr(msg))
		return recvmsg_served(fd, word, msg, flags);
	ssize_t r = libc.recvmsg(fd, msg, flags);
	if (r >= 0 && msg->msg_controllen)
		forget_rights(msg);
	return r;
}

TNAT64_EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	/* A header the kernel refuses before it takes a datagram (EFAULT, or EINVAL for a negative
	 * name length) goes to it untouched; so does one that asks for nothing the library gives. */
	if (tnat64_is_ready() && (!user_msghdr(msg) || (!msg->msg_name && !msg->msg_controllen)))
		return libc.recvmsg(fd, msg, flags);
	return recvmsg_slow(fd, msg, flags);
}
