/* sendmsg() with a destination, on a served socket: as sendto(), with the message's own data and
 * control messages. */
#include "tnat64.h"

ssize_t reach_sendmsg(int fd, const struct sockaddr_in6 *target, void *ctx)
{
	const struct message *m = ctx;
	struct msghdr msg = *m->msg;
	msg.msg_name = (void *)target;
	msg.msg_namelen = sizeof(*target);
	return libc.sendmsg(fd, &msg, m->flags);
}

static __attribute__((noinline)) ssize_t sendmsg_served(int fd, const struct msghdr *msg, int flags)
{
	tnat64_init();
	uint64_t word = fd_state(fd);
	bool datagram = word & FD_DGRAM;
	if (!(word & FD_SERVED) || !user_memory(msg, sizeof(*msg)) || !msg->msg_name ||
	    msg->msg_namelen < sizeof(sa_family_t) ||
	    !(datagram || (flags & MSG_FASTOPEN)))
		return libc.sendmsg(fd, msg, flags);
	struct sockaddr_in dest;
	int served = send_destination(fd, word, msg->msg_name, msg->msg_namelen, message_size(msg), &dest);
	if (served <= 0)
		return served < 0 ? -1 : libc.sendmsg(fd, msg, flags);
	struct message m = {msg, flags};
	if (!datagram)
		return route_reach(fd, word, &dest, reach_sendmsg, &m);
	return route_send(fd, filter_before_send(fd, word), &dest, reach_sendmsg, &m);
}

TNAT64_EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	if (tnat64_is_ready() && (!user_memory(msg, sizeof(*msg)) || !msg->msg_name))
		return libc.sendmsg(fd, msg, flags);
	return sendmsg_served(fd, msg, flags);
}
