/* How programs use IPv4 UDP sockets, one pattern per mode. It knows nothing of tnat64: the tests
 * run each mode with and without the library (loopback) or only with it (through NAT64) and
 * check what it printed.
 *
 *   udp names ADDR PORT              sendto, then the source through short and long buffers
 *                                    (recvfrom, recvmsg, MSG_PEEK), as the kernel truncates it
 *   udp mmsg ADDR PORT ADDR2 PORT2   one sendmmsg to two destinations in turn, replies by recvmmsg
 *   udp turns ADDR PORT ADDR2 PORT2  connect, send, disconnect (AF_UNSPEC), sendto each in turn
 *   udp server PORT MS [own-filter]  bound to 0.0.0.0:PORT: echoes for MS ms, prints who it heard
 *                                    (with a socket filter of its own that accepts everything)
 *   udp bound LADDR ADDR PORT        bound to LADDR, sendto ADDR:PORT: what an AF_INET socket gets
 *   udp send PORT ADDR PORT2         bound to 0.0.0.0:PORT, sendto ADDR:PORT2, the reply's source
 *   udp special                      sendto the broadcast, multicast and reserved addresses
 *   udp efault ADDR PORT             every call given a pointer the kernel refuses (EFAULT)
 *   udp namelen ADDR PORT            recvmsg/recvmmsg with a negative name length, then the datagram
 *   udp partial ADDR PORT            sendmmsg whose second message the kernel refuses: count, errno
 *   udp big ADDR PORT                datagrams of 65507 and 65508 bytes
 *   udp reuse ADDR PORT              a UDP socket closed behind the library's back, its number
 *                                    reused by a unix socket that then sends
 *   udp pending ADDR PORT            IP_RECVERR, four datagrams 300 ms apart to a destination an
 *                                    ICMP error answers: each send reports the one before's
 *   udp hears PORT MS                bound to 0.0.0.0:PORT: prints each payload read for MS ms, by
 *                                    recv() with no address (what the socket lets in at all)
 *   udp again ADDR PORT              200 times: send, recvfrom with the source, then recv() at once:
 *                                    how often a datagram came twice
 *   udp waits ADDR PORT              blocking receives that end otherwise than by a datagram: a
 *                                    shutdown() from another thread, SO_RCVTIMEO under SA_RESTART
 *                                    signals; then a datagram into a buffer the kernel refuses in
 *                                    part (EFAULT), and sends with an empty name (to the peer)
 *
 * Output is `key=value` lines; errors by errno name, so the output is locale-free. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static const char *errname(int e)
{
	switch (e) {
	case 0: return "OK";
	case EINVAL: return "EINVAL";
	case EAFNOSUPPORT: return "EAFNOSUPPORT";
	case ENETUNREACH: return "ENETUNREACH";
	case EHOSTUNREACH: return "EHOSTUNREACH";
	case ECONNREFUSED: return "ECONNREFUSED";
	case EAGAIN: return "EAGAIN";
	case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
	case EDESTADDRREQ: return "EDESTADDRREQ";
	case EFAULT: return "EFAULT";
	case ENOTCONN: return "ENOTCONN";
	case EACCES: return "EACCES";
	case EPERM: return "EPERM";
	case EMSGSIZE: return "EMSGSIZE";
	default: return "OTHER";
	}
}

static struct sockaddr_in address(const char *text, const char *port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port))};
	if (inet_pton(AF_INET, text, &sin.sin_addr) != 1) {
		fprintf(stderr, "bad address %s\n", text);
		exit(2);
	}
	return sin;
}

static const char *text_of(const struct sockaddr_in *sin, char out[32])
{
	char a[16];
	inet_ntop(AF_INET, &sin->sin_addr, a, sizeof(a));
	snprintf(out, 32, "%s:%u", a, ntohs(sin->sin_port));
	return out;
}

static int udp_socket(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0) {
		perror("socket");
		exit(1);
	}
	struct timeval wait = {.tv_sec = 3};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof(wait));
	return fd;
}

static void send_to(int fd, const char *label, const void *data, size_t len, const struct sockaddr_in *to)
{
	ssize_t r = sendto(fd, data, len, 0, (const struct sockaddr *)to, sizeof(*to));
	printf("%s=%s\n", label, r < 0 ? errname(errno) : "OK");
}

static int names(const char *addr, const char *port)
{
	int fd = udp_socket();
	struct sockaddr_in to = address(addr, port);
	char text[32], buf[64];
	for (int i = 0; i < 4; i++)
		send_to(fd, "send", "name", 4, &to);

	/* A buffer of 4 bytes: the kernel copies 4 and says 16. */
	unsigned char small[16];
	memset(small, 0xee, sizeof(small));
	socklen_t len = 4;
	ssize_t r = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)small, &len);
	printf("short.r=%zd len=%u family=%u untouched=%d\n", r, len, small[0] | small[1] << 8, small[4] == 0xee);

	/* MSG_PEEK leaves it: the source seen twice. */
	struct sockaddr_in from;
	len = sizeof(from);
	r = recvfrom(fd, buf, sizeof(buf), MSG_PEEK, (struct sockaddr *)&from, &len);
	printf("peek.r=%zd len=%u from=%s\n", r, len, text_of(&from, text));
	len = 64;
	struct sockaddr_storage big;
	r = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&big, &len);
	printf("long.r=%zd len=%u from=%s\n", r, len, text_of((struct sockaddr_in *)&big, text));

	/* recvmsg: msg_namelen in and out, truncation flag for a short data buffer. */
	struct iovec iov = {.iov_base = buf, .iov_len = 2};
	struct msghdr msg = {.msg_name = &big, .msg_namelen = sizeof(big), .msg_iov = &iov, .msg_iovlen = 1};
	r = recvmsg(fd, &msg, 0);
	printf("msg.r=%zd namelen=%u from=%s trunc=%d\n", r, msg.msg_namelen, text_of((struct sockaddr_in *)&big, text),
	       !!(msg.msg_flags & MSG_TRUNC));

	/* No address wanted. */
	r = recvfrom(fd, buf, sizeof(buf), 0, NULL, NULL);
	printf("none.r=%zd\n", r);
	return 0;
}

/* Replies to the messages of one sendmmsg, whatever order they come in: one line per source. */
static int mmsg(const char *a1, const char *p1, const char *a2, const char *p2)
{
	int fd = udp_socket();
	struct sockaddr_in to[2] = {address(a1, p1), address(a2, p2)};
	enum { N = 6 };
	struct mmsghdr out[N];
	struct iovec iov[N];
	char data[N][8];
	memset(out, 0, sizeof(out));
	for (int i = 0; i < N; i++) {
		snprintf(data[i], sizeof(data[i]), "m%d", i);
		iov[i] = (struct iovec){data[i], strlen(data[i])};
		out[i].msg_hdr = (struct msghdr){.msg_name = &to[i % 2], .msg_namelen = sizeof(to[0]), .msg_iov = &iov[i], .msg_iovlen = 1};
	}
	int r = sendmmsg(fd, out, N, 0);
	printf("sendmmsg=%d%s%s\n", r, r < 0 ? " " : "", r < 0 ? errname(errno) : "");
	for (int i = 0; i < N && r > 0; i++)
		printf("sent.%d=%u\n", i, out[i].msg_len);

	int got = 0;
	char seen[N][64];
	while (got < N) {
		struct mmsghdr in[N];
		struct sockaddr_in from[N];
		struct iovec riov[N];
		char rdata[N][16];
		memset(in, 0, sizeof(in));
		for (int i = 0; i < N; i++) {
			riov[i] = (struct iovec){rdata[i], sizeof(rdata[i]) - 1};
			in[i].msg_hdr = (struct msghdr){.msg_name = &from[i], .msg_namelen = sizeof(from[i]), .msg_iov = &riov[i], .msg_iovlen = 1};
		}
		struct timespec wait = {.tv_sec = 3};
		int n = recvmmsg(fd, in, N, MSG_WAITFORONE, &wait);
		if (n <= 0) {
			printf("recvmmsg=%s\n", n < 0 ? errname(errno) : "0");
			break;
		}
		for (int i = 0; i < n && got < N; i++) {
			char text[32];
			rdata[i][in[i].msg_len] = 0;
			snprintf(seen[got++], sizeof(seen[0]), "%s namelen=%u data=%s", text_of(&from[i], text),
				 in[i].msg_hdr.msg_namelen, rdata[i]);
		}
	}
	qsort(seen, (size_t)got, sizeof(seen[0]), (int (*)(const void *, const void *))strcmp);
	for (int i = 0; i < got; i++)
		printf("reply.%d=%s\n", i, seen[i]);
	return 0;
}

static void echo_once(int fd, const char *label)
{
	char buf[64], text[32];
	struct sockaddr_in from;
	socklen_t len = sizeof(from);
	ssize_t r = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &len);
	if (r < 0)
		printf("%s.reply=%s\n", label, errname(errno));
	else
		printf("%s.reply=%.*s from=%s\n", label, (int)r, buf, text_of(&from, text));
}

static int turns(const char *a1, const char *p1, const char *a2, const char *p2)
{
	int fd = udp_socket();
	struct sockaddr_in one = address(a1, p1), two = address(a2, p2), peer, local;
	char text[32];
	printf("connect=%s\n", connect(fd, (struct sockaddr *)&one, sizeof(one)) < 0 ? errname(errno) : "OK");
	printf("send=%s\n", send(fd, "c1", 2, 0) < 0 ? errname(errno) : "OK");
	echo_once(fd, "connected");
	socklen_t len = sizeof(peer);
	if (getpeername(fd, (struct sockaddr *)&peer, &len) == 0)
		printf("peer=%s len=%u\n", text_of(&peer, text), len);
	/* A connected socket may still name a destination, its own. */
	send_to(fd, "sendto.connected", "c2", 2, &one);
	echo_once(fd, "connected.sendto");
	struct sockaddr unspec = {.sa_family = AF_UNSPEC};
	printf("disconnect=%s\n", connect(fd, &unspec, sizeof(unspec)) < 0 ? errname(errno) : "OK");
	len = sizeof(peer);
	printf("peer.after=%s\n", getpeername(fd, (struct sockaddr *)&peer, &len) < 0 ? errname(errno) : "OK");
	for (int i = 0; i < 2; i++) {
		send_to(fd, "sendto.two", "t2", 2, &two);
		echo_once(fd, "two");
		send_to(fd, "sendto.one", "t1", 2, &one);
		echo_once(fd, "one");
	}
	len = sizeof(local);
	getsockname(fd, (struct sockaddr *)&local, &len);
	printf("local.family=%u len=%u\n", local.sin_family, len);
	return 0;
}

static int server(const char *port, const char *ms, bool own_filter)
{
	int fd = udp_socket();
	struct sockaddr_in any = address("0.0.0.0", port);
	struct sock_filter accept_all = BPF_STMT(BPF_RET | BPF_K, 0xffffffff);
	struct sock_fprog program = {.len = 1, .filter = &accept_all};
	if (own_filter && setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof(program)) < 0)
		printf("filter=%s\n", errname(errno));
	if (bind(fd, (struct sockaddr *)&any, sizeof(any)) < 0) {
		printf("bind=%s\n", errname(errno));
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	int heard = 0;
	struct pollfd p = {.fd = fd, .events = POLLIN};
	while (poll(&p, 1, atoi(ms)) > 0) {
		char buf[64], text[32];
		struct sockaddr_in from;
		socklen_t len = sizeof(from);
		ssize_t r = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &len);
		if (r < 0)
			continue;
		printf("heard=%s\n", text_of(&from, text));
		sendto(fd, buf, (size_t)r, 0, (struct sockaddr *)&from, len);
		heard++;
	}
	printf("count=%d\n", heard);
	return 0;
}

static int bound(const char *laddr, const char *addr, const char *port)
{
	int fd = udp_socket();
	struct sockaddr_in local = address(laddr, "0"), to = address(addr, port);
	printf("bind=%s\n", bind(fd, (struct sockaddr *)&local, sizeof(local)) < 0 ? errname(errno) : "OK");
	send_to(fd, "send", "b", 1, &to);
	echo_once(fd, "bound");
	return 0;
}

static int send_bound(const char *lport, const char *addr, const char *port)
{
	int fd = udp_socket();
	struct sockaddr_in local = address("0.0.0.0", lport), to = address(addr, port), me;
	printf("bind=%s\n", bind(fd, (struct sockaddr *)&local, sizeof(local)) < 0 ? errname(errno) : "OK");
	send_to(fd, "send", "s", 1, &to);
	echo_once(fd, "bound");
	socklen_t len = sizeof(me);
	getsockname(fd, (struct sockaddr *)&me, &len);
	printf("local.port.kept=%d\n", ntohs(me.sin_port) == atoi(lport));
	return 0;
}

/* Destinations that never go through NAT64: what the kernel answers for each is the program's own. */
static int special(void)
{
	int fd = udp_socket(), on = 1;
	setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &on, sizeof(on));
	const char *to[] = {"255.255.255.255", "224.0.0.1", "239.1.2.3", "240.0.0.1", "0.0.0.0", "127.0.0.1"};
	for (size_t i = 0; i < sizeof(to) / sizeof(to[0]); i++) {
		struct sockaddr_in sin = address(to[i], "9");
		char label[32];
		snprintf(label, sizeof(label), "send.%s", to[i]);
		send_to(fd, label, "x", 1, &sin);
	}
	return 0;
}

/* A call's result and, when it failed, why: the call first, then errno. */
#define SHOW(label, call)                                                                          \
	do {                                                                                       \
		long result_ = (long)(call);                                                       \
		int error_ = errno;                                                                \
		printf("%s=%ld%s%s\n", label, result_, result_ < 0 ? " " : "", result_ < 0 ? errname(error_) : ""); \
	} while (0)

/* Pointers no call may read: the first page, and beyond user space. */
static void *const BAD = (void *)8, *const WILD = (void *)-4096L;

static int efault(const char *addr, const char *port)
{
	int fd = udp_socket();
	struct sockaddr_in to = address(addr, port);
	char buf[8];
	socklen_t len = sizeof(to);
	SHOW("sendto", sendto(fd, "x", 1, 0, BAD, sizeof(to)));
	SHOW("sendto.wild", sendto(fd, "x", 1, 0, WILD, sizeof(to)));
	SHOW("sendmsg", sendmsg(fd, BAD, 0));
	struct iovec iov = {.iov_base = "x", .iov_len = 1};
	struct msghdr named = {.msg_name = BAD, .msg_namelen = sizeof(to), .msg_iov = &iov, .msg_iovlen = 1};
	SHOW("sendmsg.name", sendmsg(fd, &named, 0));
	SHOW("sendmmsg", sendmmsg(fd, BAD, 2, 0));
	SHOW("connect", connect(fd, BAD, sizeof(to)));
	SHOW("bind", bind(fd, WILD, sizeof(to)));
	send_to(fd, "sent", "x", 1, &to);
	usleep(200 * 1000);
	SHOW("recvfrom.len", recvfrom(fd, buf, sizeof(buf), MSG_PEEK, (struct sockaddr *)&to, (socklen_t *)WILD));
	SHOW("recvmsg", recvmsg(fd, BAD, MSG_PEEK));
	struct msghdr to_bad = {.msg_name = BAD, .msg_namelen = sizeof(to), .msg_iov = &iov, .msg_iovlen = 1};
	SHOW("recvmsg.name", recvmsg(fd, &to_bad, MSG_PEEK));
	SHOW("recvmmsg", recvmmsg(fd, BAD, 1, MSG_PEEK, NULL));
	SHOW("getsockname", getsockname(fd, (struct sockaddr *)&to, BAD));
	SHOW("getsockopt.peername", getsockopt(fd, SOL_SOCKET, SO_PEERNAME, BAD, &len));
	SHOW("getsockopt.filter", getsockopt(fd, SOL_SOCKET, SO_GET_FILTER, buf, BAD));
	SHOW("getsockopt.domain", getsockopt(fd, SOL_SOCKET, SO_DOMAIN, WILD, &len));
	SHOW("getpeername", getpeername(fd, BAD, &len));
	printf("left=%zd\n", recvfrom(fd, buf, sizeof(buf), 0, NULL, NULL));
	return 0;
}

static int namelen(const char *addr, const char *port)
{
	int fd = udp_socket();
	struct sockaddr_in to = address(addr, port), from;
	char buf[8];
	send_to(fd, "sent", "n", 1, &to);
	usleep(200 * 1000);
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
	struct msghdr msg = {.msg_name = &from, .msg_namelen = (socklen_t)-1, .msg_iov = &iov, .msg_iovlen = 1};
	SHOW("recvmsg", recvmsg(fd, &msg, MSG_DONTWAIT));
	struct mmsghdr vec = {.msg_hdr = msg};
	SHOW("recvmmsg", recvmmsg(fd, &vec, 1, MSG_DONTWAIT, NULL));
	socklen_t len = sizeof(from);
	printf("then=%zd\n", recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &len));
	return 0;
}

static int partial(const char *addr, const char *port)
{
	int fd = udp_socket();
	struct sockaddr_in to = address(addr, port), wrong = to;
	wrong.sin_family = AF_INET6;
	struct iovec iov = {.iov_base = "p", .iov_len = 1};
	struct mmsghdr vec[2] = {
		{.msg_hdr = {.msg_name = &to, .msg_namelen = sizeof(to), .msg_iov = &iov, .msg_iovlen = 1}},
		{.msg_hdr = {.msg_name = &wrong, .msg_namelen = sizeof(wrong), .msg_iov = &iov, .msg_iovlen = 1}},
	};
	errno = ENOTCONN; /* a mark: a count is a success, which leaves errno alone */
	int r = sendmmsg(fd, vec, 2, 0);
	printf("sendmmsg=%d errno=%s\n", r, errname(errno));
	errno = 0;
	SHOW("first", sendmmsg(fd, vec + 1, 1, 0));
	return 0;
}

static int big(const char *addr, const char *port)
{
	int fd = udp_socket();
	struct sockaddr_in to = address(addr, port);
	static char payload[65508];
	printf("65507=%zd\n", sendto(fd, payload, 65507, 0, (struct sockaddr *)&to, sizeof(to)));
	SHOW("65508", sendto(fd, payload, 65508, 0, (struct sockaddr *)&to, sizeof(to)));
	struct iovec iov[2] = {{payload, 65500}, {payload, 8}};
	struct msghdr msg = {.msg_name = &to, .msg_namelen = sizeof(to), .msg_iov = iov, .msg_iovlen = 2};
	SHOW("sendmsg.65508", sendmsg(fd, &msg, 0));
	struct mmsghdr vec[2] = {{.msg_hdr = msg}, {.msg_hdr = msg}};
	vec[0].msg_hdr.msg_iovlen = 1;
	printf("sendmmsg=%d\n", sendmmsg(fd, vec, 2, 0));
	/* More iovecs than the kernel takes, and more than fit in memory. */
	static struct iovec many[1025];
	for (int i = 0; i < 1025; i++)
		many[i] = (struct iovec){payload, 1};
	msg.msg_iov = many;
	msg.msg_iovlen = 1025;
	SHOW("sendmsg.iovlen1025", sendmsg(fd, &msg, 0));
	msg.msg_iovlen = (size_t)1 << 60;
	SHOW("sendmsg.iovlen2^60", sendmsg(fd, &msg, 0));
	return 0;
}

static int reuse(const char *addr, const char *port)
{
	int fd = udp_socket();
	struct sockaddr_in to = address(addr, port);
	send_to(fd, "udp", "r", 1, &to);
	fclose(fdopen(fd, "r")); /* libc closes it with a call of its own */
	int pair[2];
	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, pair) < 0 || pair[0] != fd) {
		printf("socketpair: not the same number\n");
		return 1;
	}
	/* A unix socket to send to, at an abstract name of its own. */
	struct sockaddr_un target = {.sun_family = AF_UNIX};
	snprintf(target.sun_path + 1, sizeof(target.sun_path) - 1, "tnat64-reuse-%d", getpid());
	int sink = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (bind(sink, (struct sockaddr *)&target, sizeof(target)) < 0) {
		printf("bind: %s\n", errname(errno));
		return 1;
	}
	SHOW("sendto.unix", sendto(pair[0], "u", 1, 0, (struct sockaddr *)&target, sizeof(target)));
	struct msghdr msg = {.msg_name = &target, .msg_namelen = sizeof(target), .msg_iov = &(struct iovec){"u", 1}, .msg_iovlen = 1};
	SHOW("sendmsg.unix", sendmsg(pair[0], &msg, 0));
	return 0;
}

static int pending(const char *addr, const char *port)
{
	int fd = udp_socket(), on = 1;
	struct sockaddr_in to = address(addr, port);
	setsockopt(fd, IPPROTO_IP, IP_RECVERR, &on, sizeof(on));
	for (int i = 0; i < 4; i++) {
		ssize_t r = sendto(fd, "e", 1, 0, (struct sockaddr *)&to, sizeof(to));
		int error = errno;
		/* Which unreachable it is depends on the router: the test reads "refused" or not. */
		printf("send.%d=%s\n", i, r >= 0 ? "OK" : error == ENETUNREACH || error == EHOSTUNREACH ? "UNREACH" : errname(error));
		usleep(300 * 1000);
	}
	return 0;
}

static int hears(const char *port, const char *ms)
{
	int fd = udp_socket();
	struct sockaddr_in any = address("0.0.0.0", port);
	if (bind(fd, (struct sockaddr *)&any, sizeof(any)) < 0) {
		printf("bind=%s\n", errname(errno));
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	char buf[64];
	struct pollfd p = {.fd = fd, .events = POLLIN};
	while (poll(&p, 1, atoi(ms)) > 0) {
		ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (r >= 0)
			printf("heard=%.*s\n", (int)r, buf);
	}
	return 0;
}

static int again(const char *addr, const char *port)
{
	int fd = udp_socket(), twice = 0;
	struct sockaddr_in to = address(addr, port), from;
	char buf[16];
	for (int i = 0; i < 200; i++) {
		socklen_t len = sizeof(from);
		sendto(fd, "d", 1, 0, (struct sockaddr *)&to, sizeof(to));
		recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &len);
		twice += recv(fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0;
	}
	printf("twice=%d\n", twice);
	return 0;
}

static int shut_fd;

static void *shut_later(void *unused)
{
	(void)unused;
	usleep(300 * 1000);
	shutdown(shut_fd, SHUT_RDWR);
	return NULL;
}

static void tick(int sig)
{
	(void)sig;
}

static int waits(const char *addr, const char *port)
{
	char buf[16];
	struct sockaddr_in from, to = address(addr, port);
	socklen_t len = sizeof(from);
	/* shutdown() wakes a receiver: 0, the end of the stream. */
	shut_fd = udp_socket();
	pthread_t thread;
	pthread_create(&thread, NULL, shut_later, NULL);
	SHOW("after_shutdown", recvfrom(shut_fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &len));
	pthread_join(thread, NULL);
	/* SA_RESTART signals every 200 ms, SO_RCVTIMEO 1 s (udp_socket's is 3 s): the kernel answers
	 * EINTR, the supervisor's restarted calls keep their deadline; either way it ends in time. */
	int fd = udp_socket();
	struct timeval wait = {.tv_sec = 1};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof(wait));
	struct sigaction restart = {.sa_handler = tick, .sa_flags = SA_RESTART};
	sigaction(SIGALRM, &restart, NULL);
	struct itimerval every = {{0, 200 * 1000}, {0, 200 * 1000}};
	setitimer(ITIMER_REAL, &every, NULL);
	struct timespec start, end;
	clock_gettime(CLOCK_MONOTONIC, &start);
	ssize_t r = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &len);
	clock_gettime(CLOCK_MONOTONIC, &end);
	setitimer(ITIMER_REAL, &(struct itimerval){0}, NULL);
	printf("timed_out=%s\n", r < 0 && end.tv_sec - start.tv_sec < 2 ? "in time" : "late or not at all");
	/* A second buffer the kernel refuses: EFAULT, whatever the first got. */
	connect(fd, (struct sockaddr *)&to, sizeof(to));
	send(fd, "0123456789", 10, 0);
	struct iovec parts[2] = {{buf, 2}, {BAD, 8}};
	struct msghdr msg = {.msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = parts, .msg_iovlen = 2};
	SHOW("bad_second_buffer", recvmsg(fd, &msg, 0));
	/* A message's name of length 0 is none: to the connected peer. */
	struct iovec one = {"n", 1};
	struct msghdr unnamed = {.msg_name = &to, .msg_namelen = 0, .msg_iov = &one, .msg_iovlen = 1};
	SHOW("sendmsg_empty_name", sendmsg(fd, &unnamed, 0));
	struct mmsghdr vec = {.msg_hdr = unnamed};
	SHOW("sendmmsg_empty_name", sendmmsg(fd, &vec, 1, 0));
	SHOW("replies", recv(fd, buf, sizeof(buf), 0) + recv(fd, buf, sizeof(buf), 0));
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 4 && strcmp(argv[1], "names") == 0)
		return names(argv[2], argv[3]);
	if (argc == 6 && strcmp(argv[1], "mmsg") == 0)
		return mmsg(argv[2], argv[3], argv[4], argv[5]);
	if (argc == 6 && strcmp(argv[1], "turns") == 0)
		return turns(argv[2], argv[3], argv[4], argv[5]);
	if ((argc == 4 || argc == 5) && strcmp(argv[1], "server") == 0)
		return server(argv[2], argv[3], argc == 5 && strcmp(argv[4], "own-filter") == 0);
	if (argc == 5 && strcmp(argv[1], "bound") == 0)
		return bound(argv[2], argv[3], argv[4]);
	if (argc == 5 && strcmp(argv[1], "send") == 0)
		return send_bound(argv[2], argv[3], argv[4]);
	if (argc == 2 && strcmp(argv[1], "special") == 0)
		return special();
	if (argc == 4 && strcmp(argv[1], "efault") == 0)
		return efault(argv[2], argv[3]);
	if (argc == 4 && strcmp(argv[1], "namelen") == 0)
		return namelen(argv[2], argv[3]);
	if (argc == 4 && strcmp(argv[1], "partial") == 0)
		return partial(argv[2], argv[3]);
	if (argc == 4 && strcmp(argv[1], "big") == 0)
		return big(argv[2], argv[3]);
	if (argc == 4 && strcmp(argv[1], "reuse") == 0)
		return reuse(argv[2], argv[3]);
	if (argc == 4 && strcmp(argv[1], "pending") == 0)
		return pending(argv[2], argv[3]);
	if (argc == 4 && strcmp(argv[1], "again") == 0)
		return again(argv[2], argv[3]);
	if (argc == 4 && strcmp(argv[1], "hears") == 0)
		return hears(argv[2], argv[3]);
	if (argc == 4 && strcmp(argv[1], "waits") == 0)
		return waits(argv[2], argv[3]);
	fprintf(stderr, "usage: see the comment at the top of udp.c\n");
	return 2;
}
