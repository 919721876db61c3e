/* recvmmsg() on a served socket: each message's source and control messages as recvmsg() gives
 * them, in batches of up to BATCH (fewer messages than asked for is an answer the call may
 * always give). A socket whose arrivals are screened here is read one message at a time, so that
 * a refused datagram can be dropped without losing those behind it. */
#include "tnat64.h"

#define BATCH 16

static int recvmmsg_served(int fd, uint64_t word, struct mmsghdr *vec, unsigned int vlen, int flags,
			   struct timespec *timeout)
{
	if (arrival_screened_here(word))
		vlen = 1;
	else if (vlen > BATCH)
		vlen = BATCH;
	for (;;) {
		struct mmsghdr batch[BATCH];
		struct sockaddr_in6 real[BATCH];
		struct control_room rooms[BATCH];
		for (unsigned int i = 0; i < vlen; i++) {
			batch[i] = vec[i];
			bool named = vec[i].msg_hdr.msg_name || arrival_screened_here(word);
			batch[i].msg_hdr.msg_name = named ? &real[i] : NULL;
			batch[i].msg_hdr.msg_namelen = named ? sizeof(real[i]) : 0;
			control_prepare(word, flags, &batch[i].msg_hdr, &rooms[i]);
		}
		int r = libc.recvmmsg(fd, batch, vlen, flags, timeout);
		if (r < 0)
			return r;
		for (int i = 0; i < r; i++) {
			struct msghdr *msg = &vec[i].msg_hdr;
			struct view seen = {.size = 0};
			/* Refused: dropped when it came alone; in a batch the filter screened them, and
			 * what slipped in before it shows as the stand-in. */
			if (batch[i].msg_hdr.msg_name && !arrival_view(word, &real[i], batch[i].msg_hdr.msg_namelen, &seen) &&
			    r == 1 && !(flags & MSG_ERRQUEUE))
				goto refused;
			if (msg->msg_name && copy_view(&seen, msg->msg_name, &msg->msg_namelen) < 0)
				return i > 0 ? i : -1;
			msg->msg_flags = batch[i].msg_hdr.msg_flags;
			vec[i].msg_len = batch[i].msg_len;
			control_finish(&batch[i].msg_hdr, msg);
		}
		return r;
	refused:
		if (!arrival_drop(fd, flags))
			return -1;
	}
}

static __attribute__((noinline)) int recvmmsg_slow(int fd, struct mmsghdr *vec, unsigned int vlen, int flags,
						   struct timespec *timeout)
{
	tnat64_init();
	uint64_t word = fd_state(fd);
	/* Up to the first header the kernel would refuse; that one first: the kernel's answer. */
	unsigned int good = word & FD_SERVED ? user_mmsghdrs(vec, vlen < BATCH ? vlen : BATCH) : 0;
	if (good > 0)
		return recvmmsg_served(fd, word, vec, good, flags, timeout);
	return libc.recvmmsg(fd, vec, vlen, flags, timeout);
}

TNAT64_EXPORT int recvmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags, struct timespec *timeout)
{
	if (tnat64_is_ready() && !(fd_state(fd) & FD_SERVED))
		return libc.recvmmsg(fd, vec, vlen, flags, timeout);
	return recvmmsg_slow(fd, vec, vlen, flags, timeout);
}
