/* sendmmsg() on a served UDP socket: each message with a destination goes where route.c says, in
 * batches that keep the one system call per batch. A message whose first way has no route is
 * sent alone through route_reach(), which tries the other way and learns; the batch goes on
 * from the next. As the kernel does, an error after some messages went out is not reported:
 * the count is. */
#include <errno.h>
#include <limits.h>

#include "tnat64.h"

#define BATCH 64

/* Up to BATCH messages from vec, their destinations on their first way. How many; `routed` says
 * which of them were given a way (-1 with errno: a destination the kernel would refuse). */
static int prepare(int fd, uint64_t word, struct mmsghdr *vec, unsigned int n, struct mmsghdr *batch,
		   struct sockaddr_in6 *targets, bool *routed)
{
	for (unsigned int i = 0; i < n; i++) {
		batch[i] = vec[i];
		const struct msghdr *msg = &vec[i].msg_hdr;
		struct sockaddr_in dest;
		int served = msg->msg_name && msg->msg_namelen >= sizeof(sa_family_t)
				     ? send_destination(fd, word, msg->msg_name, msg->msg_namelen, message_size(msg), &dest)
				     : 0;
		if (served < 0)
			return i > 0 ? (int)i : -1; /* the kernel stops at it: so do we */
		routed[i] = served > 0;
		if (routed[i]) {
			route_choose(word, &dest, &targets[i]);
			batch[i].msg_hdr.msg_name = &targets[i];
			batch[i].msg_hdr.msg_namelen = sizeof(targets[i]);
		}
	}
	return (int)n;
}

static int sendmmsg_served(int fd, uint64_t word, struct mmsghdr *vec, unsigned int vlen, int flags)
{
	word = filter_before_send(fd, word);
	int saved = errno; /* a count is a success: errno as it was */
	unsigned int sent = 0;
	while (sent < vlen) {
		struct mmsghdr batch[BATCH];
		struct sockaddr_in6 targets[BATCH];
		bool routed[BATCH];
		int n = prepare(fd, word, vec + sent, vlen - sent < BATCH ? vlen - sent : BATCH, batch, targets, routed);
		if (n < 0)
			break;
		int r = libc.sendmmsg(fd, batch, (unsigned int)n, flags);
		if (r < 0 && routed[0] && TNAT64_UNREACHABLE(errno)) {
			/* The first message's way has no route: it alone, the other way. */
			struct sockaddr_in dest;
			struct message m = {&vec[sent].msg_hdr, flags};
			served_destination(word, m.msg->msg_name, m.msg->msg_namelen, true, &dest);
			ssize_t one = route_send(fd, word, &dest, reach_sendmsg, &m);
			if (one < 0)
				break;
			vec[sent++].msg_len = (unsigned int)one;
			continue;
		}
		if (r < 0)
			break;
		for (int i = 0; i < r; i++)
			vec[sent + i].msg_len = batch[i].msg_len;
		sent += (unsigned int)r;
		if (r < n && !routed[r])
			break; /* an error the program's own destination met: the kernel's answer stands */
	}
	if (sent == 0)
		return -1; /* the loop ends with nothing sent only on an error */
	errno = saved;
	return (int)sent;
}

static __attribute__((noinline)) int sendmmsg_slow(int fd, struct mmsghdr *vec, unsigned int vlen, int flags)
{
	tnat64_init();
	uint64_t word = fd_state(fd);
	/* Up to the first header the kernel would refuse; that one first: the kernel's answer. */
	unsigned int good = (word & FD_SERVED) && (word & FD_DGRAM) ? user_mmsghdrs(vec, vlen < IOV_MAX ? vlen : IOV_MAX) : 0;
	if (good > 0)
		return sendmmsg_served(fd, word, vec, good, flags);
	return libc.sendmmsg(fd, vec, vlen, flags);
}

TNAT64_EXPORT int sendmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags)
{
	if (tnat64_is_ready() && !(fd_state(fd) & FD_DGRAM))
		return libc.sendmmsg(fd, vec, vlen, flags);
	return sendmmsg_slow(fd, vec, vlen, flags);
}
