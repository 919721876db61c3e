/* sendmsg() with MSG_FASTOPEN on a swapped socket: as sendto(), with the message's own data. */
#include "tnat64.h"

struct fastopen {
	const struct msghdr *msg;
	int flags;
};

static ssize_t reach_sendmsg(int fd, const struct sockaddr_in6 *target, void *ctx)
{
	const struct fastopen *f = ctx;
	struct msghdr msg = *f->msg;
	msg.msg_name = (void *)target;
	msg.msg_namelen = sizeof(*target);
	return libc.sendmsg(fd, &msg, f->flags);
}

static __attribute__((noinline)) ssize_t sendmsg_fastopen(int fd, const struct msghdr *msg, int flags)
{
	tnat64_init();
	uint64_t word;
	if (!(flags & MSG_FASTOPEN) || !msg || !msg->msg_name || msg->msg_namelen < sizeof(sa_family_t) ||
	    !((word = fd_state(fd)) & FD_SWAPPED))
		return libc.sendmsg(fd, msg, flags);
	struct sockaddr_in dest;
	if (ipv4_sockaddr_arg(msg->msg_name, msg->msg_namelen, false, &dest) < 0)
		return -1;
	struct fastopen f = {msg, flags};
	return route_reach(fd, word, &dest, reach_sendmsg, &f);
}

TNAT64_EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	if (!(flags & MSG_FASTOPEN) && tnat64_is_ready())
		return libc.sendmsg(fd, msg, flags);
	return sendmsg_fastopen(fd, msg, flags);
}
