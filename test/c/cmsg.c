/* The socket options and control messages UDP programs use, on an AF_INET socket. It knows
 * nothing of tnat64: the tests run it with and without the library and compare what it printed.
 *
 *   cmsg serve PORT TOS TTL ADDR...       echo datagrams on ADDR:PORT (IPv4 or IPv6 each), answering
 *                                         with TOS/TTL (traffic class/hop limit) and the payload
 *                                         "4" or "6", the family they came in by; "ready" once bound
 *   cmsg recv ADDR PORT OPTS SIZE...      per SIZE: a datagram to ADDR:PORT, its echo read with
 *                                         recvmsg() and a control buffer of SIZE bytes
 *   cmsg recvmmsg ADDR PORT OPTS SIZE...  as many datagrams, their echoes read by one recvmmsg()
 *   cmsg handoff ADDR PORT OPTS SIZE...   the socket with its options set, handed across exec to
 *                                         "recv" in a new image (as inetd hands one over)
 *   cmsg errqueue ADDR PORT OPTS SIZE [LENGTH]  a datagram (of LENGTH bytes, else 1) that meets an
 *                                         error, read from the error queue with a control buffer
 *                                         of SIZE bytes
 *
 * OPTS: a comma-separated list of pktinfo, ttl, tos, origdst, recverr (IP_PKTINFO, IP_RECVTTL,
 * IP_RECVTOS, IP_RECVORIGDSTADDR, IP_RECVERR), timestamp (SO_TIMESTAMPNS), set in order; "-NAME"
 * turns one off, "NAME/1" sets it with a one-byte value; "hops=N" sets IP_TTL; "none" for none.
 * Each is read back with getsockopt(). Output: one line per call and one per control message,
 * decoded where it is whole. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_SIZES 16

static void die(const char *what)
{
	printf("error=%s %s\n", what, strerrorname_np(errno));
	exit(1);
}

static struct sockaddr_in ipv4_address(const char *text, const char *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port))};
	if (inet_pton(AF_INET, text, &a.sin_addr) != 1) {
		printf("error=address %s\n", text);
		exit(2);
	}
	return a;
}

static const char *ipv4_text(struct in_addr a, char out[INET_ADDRSTRLEN])
{
	return inet_ntop(AF_INET, &a, out, INET_ADDRSTRLEN);
}

/* ---- serve ---------------------------------------------------------------------------------- */

static int serve(int argc, char **argv)
{
	if (argc < 6)
		return 2;
	uint16_t port = (uint16_t)atoi(argv[2]);
	int tos = (int)strtol(argv[3], NULL, 0), ttl = atoi(argv[4]);
	struct pollfd fds[8];
	int n = 0;
	for (int i = 5; i < argc && n < 8; i++, n++) {
		struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
		struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons(port)};
		bool v6 = inet_pton(AF_INET6, argv[i], &a6.sin6_addr) == 1;
		if (!v6 && inet_pton(AF_INET, argv[i], &a4.sin_addr) != 1)
			return 2;
		int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM, 0), one = 1;
		if (fd < 0)
			die("socket");
		if (v6 && (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0 ||
			   setsockopt(fd, IPPROTO_IPV6, IPV6_TCLASS, &tos, sizeof(tos)) < 0 ||
			   setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &ttl, sizeof(ttl)) < 0))
			die("setsockopt");
		if (!v6 && (setsockopt(fd, IPPROTO_IP, IP_TOS, &tos, sizeof(tos)) < 0 ||
			    setsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl)) < 0))
			die("setsockopt");
		if (bind(fd, v6 ? (struct sockaddr *)&a6 : (struct sockaddr *)&a4, v6 ? sizeof(a6) : sizeof(a4)) < 0)
			die("bind");
		fds[n] = (struct pollfd){.fd = fd, .events = POLLIN};
	}
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		if (poll(fds, (nfds_t)n, -1) < 0)
			die("poll");
		for (int i = 0; i < n; i++) {
			if (!(fds[i].revents & POLLIN))
				continue;
			struct sockaddr_storage from;
			socklen_t len = sizeof(from);
			char byte;
			if (recvfrom(fds[i].fd, &byte, 1, 0, (struct sockaddr *)&from, &len) < 0)
				continue;
			const char *family = from.ss_family == AF_INET6 ? "6" : "4";
			sendto(fds[i].fd, family, 1, 0, (struct sockaddr *)&from, len);
		}
	}
}

/* ---- the client ------------------------------------------------------------------------------ */

struct option {
	const char *name;
	int level, option;
};

static const struct option OPTIONS[] = {
	{"pktinfo", IPPROTO_IP, IP_PKTINFO},	     {"ttl", IPPROTO_IP, IP_RECVTTL},
	{"tos", IPPROTO_IP, IP_RECVTOS},	     {"origdst", IPPROTO_IP, IP_RECVORIGDSTADDR},
	{"recverr", IPPROTO_IP, IP_RECVERR},	     {"timestamp", SOL_SOCKET, SO_TIMESTAMPNS},
};

static void set_options(int fd, const char *list)
{
	char copy[256];
	snprintf(copy, sizeof(copy), "%s", list);
	for (char *save, *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		if (!strcmp(item, "none"))
			continue;
		if (!strncmp(item, "hops=", 5)) {
			int hops = atoi(item + 5);
			if (setsockopt(fd, IPPROTO_IP, IP_TTL, &hops, sizeof(hops)) < 0)
				die("setsockopt");
			continue;
		}
		bool off = *item == '-';
		char *name = item + off, *byte = strstr(name, "/1");
		if (byte)
			*byte = '\0';
		const struct option *o = NULL;
		for (size_t i = 0; i < sizeof(OPTIONS) / sizeof(*OPTIONS); i++)
			if (!strcmp(OPTIONS[i].name, name))
				o = &OPTIONS[i];
		if (!o) {
			printf("error=option %s\n", name);
			exit(2);
		}
		int value = !off;
		unsigned char small = (unsigned char)value;
		if (byte ? setsockopt(fd, o->level, o->option, &small, 1) : setsockopt(fd, o->level, o->option, &value, sizeof(value)))
			die("setsockopt");
		socklen_t len = sizeof(value);
		value = -1;
		if (getsockopt(fd, o->level, o->option, &value, &len) < 0)
			die("getsockopt");
		printf("get %s=%d len=%u\n", name, value, len);
	}
}

static const char *origin_name(uint8_t origin)
{
	switch (origin) {
	case SO_EE_ORIGIN_NONE: return "NONE";
	case SO_EE_ORIGIN_LOCAL: return "LOCAL";
	case SO_EE_ORIGIN_ICMP: return "ICMP";
	case SO_EE_ORIGIN_ICMP6: return "ICMP6";
	default: return "OTHER";
	}
}

/* One control message: decoded when it is whole, its length and bytes when it was cut. */
static void print_cmsg(const struct cmsghdr *c, uint16_t local_port)
{
	const unsigned char *data = CMSG_DATA(c);
	size_t len = c->cmsg_len - CMSG_LEN(0);
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];
	if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO && len == sizeof(struct in_pktinfo)) {
		struct in_pktinfo info;
		memcpy(&info, data, sizeof(info));
		printf("cmsg ip pktinfo len=%zu ifindex=%d spec_dst=%s addr=%s\n", (size_t)c->cmsg_len, info.ipi_ifindex,
		       ipv4_text(info.ipi_spec_dst, a), ipv4_text(info.ipi_addr, b));
	} else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL && len == sizeof(int)) {
		int ttl;
		memcpy(&ttl, data, sizeof(ttl));
		printf("cmsg ip ttl len=%zu %d\n", (size_t)c->cmsg_len, ttl);
	} else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS && len == 1) {
		printf("cmsg ip tos len=%zu 0x%02x\n", (size_t)c->cmsg_len, data[0]);
	} else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_ORIGDSTADDR && len == sizeof(struct sockaddr_in)) {
		struct sockaddr_in sin;
		memcpy(&sin, data, sizeof(sin));
		printf("cmsg ip origdstaddr len=%zu family=%d %s port=%s\n", (size_t)c->cmsg_len, sin.sin_family,
		       ipv4_text(sin.sin_addr, a), ntohs(sin.sin_port) == local_port ? "ours" : "other");
	} else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR &&
		   len == sizeof(struct sock_extended_err) + sizeof(struct sockaddr_in)) {
		struct sock_extended_err ee;
		struct sockaddr_in offender;
		memcpy(&ee, data, sizeof(ee));
		memcpy(&offender, data + sizeof(ee), sizeof(offender));
		printf("cmsg ip recverr len=%zu errno=%s origin=%s type=%u code=%u info=%u data=%u offender=%d:%s\n",
		       (size_t)c->cmsg_len, strerrorname_np((int)ee.ee_errno), origin_name(ee.ee_origin), ee.ee_type,
		       ee.ee_code, ee.ee_info, ee.ee_data, offender.sin_family, ipv4_text(offender.sin_addr, a));
	} else if (c->cmsg_level == SOL_SOCKET) {
		printf("cmsg socket type=%d len=%zu\n", c->cmsg_type, (size_t)c->cmsg_len); /* values vary */
	} else {
		printf("cmsg %s level=%d type=%d len=%zu bytes=", c->cmsg_level == IPPROTO_IPV6 ? "ipv6" : "raw",
		       c->cmsg_level, c->cmsg_type, (size_t)c->cmsg_len);
		for (size_t i = 0; i < len; i++)
			printf("%02x", data[i]);
		printf("\n");
	}
}

static void print_message(const char *call, size_t size, struct msghdr *msg, ssize_t r, uint16_t local_port)
{
	char a[INET_ADDRSTRLEN];
	const struct sockaddr_in *from = msg->msg_name;
	printf("%s size=%zu r=%zd controllen=%zu ctrunc=%s errqueue=%s from=%d:%s:%u", call, size, r,
	       (size_t)msg->msg_controllen, msg->msg_flags & MSG_CTRUNC ? "yes" : "no",
	       msg->msg_flags & MSG_ERRQUEUE ? "yes" : "no", from->sin_family, ipv4_text(from->sin_addr, a),
	       ntohs(from->sin_port));
	if (!(msg->msg_flags & MSG_ERRQUEUE) && r == 1)
		printf(" via=%c", *(char *)msg->msg_iov->iov_base);
	printf(" namelen=%u\n", msg->msg_namelen);
	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c))
		print_cmsg(c, local_port);
}

struct slot {
	_Alignas(struct cmsghdr) unsigned char control[512];
	char data[16];
	struct iovec iov;
	struct sockaddr_in from;
};

/* A header for a read into `slot` with a control buffer of `size` bytes; its padding marked, so
 * that whatever is copied there shows. */
static void prepare(struct msghdr *msg, struct slot *slot, size_t size)
{
	memset(slot, 0xee, sizeof(*slot));
	slot->iov = (struct iovec){slot->data, sizeof(slot->data)};
	*msg = (struct msghdr){.msg_name = &slot->from, .msg_namelen = sizeof(slot->from), .msg_iov = &slot->iov,
			       .msg_iovlen = 1, .msg_control = slot->control, .msg_controllen = size};
}

static uint16_t local_port(int fd)
{
	struct sockaddr_in local;
	socklen_t len = sizeof(local);
	if (getsockname(fd, (struct sockaddr *)&local, &len) < 0)
		die("getsockname");
	return ntohs(local.sin_port);
}

static int client(int argc, char **argv)
{
	if (argc < 6)
		return 2;
	const char *mode = argv[1];
	struct sockaddr_in to = ipv4_address(argv[2], argv[3]);
	const char *handed = getenv("CMSG_FD"); /* the socket a "handoff" gave this image */
	int fd = handed ? atoi(handed) : socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		die("socket");
	struct timeval timeout = {.tv_sec = 5};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
	if (!handed)
		set_options(fd, argv[4]);
	if (!strcmp(mode, "handoff")) {
		char number[16];
		snprintf(number, sizeof(number), "%d", fd);
		setenv("CMSG_FD", number, 1);
		argv[1] = "recv";
		execv("/proc/self/exe", argv);
		die("execv");
	}
	size_t sizes[MAX_SIZES];
	int n = 0;
	for (int i = 5; i < argc && n < (strcmp(mode, "errqueue") ? MAX_SIZES : 1); i++)
		sizes[n++] = (size_t)atoi(argv[i]);
	static struct slot slots[MAX_SIZES];
	struct msghdr msg;

	if (!strcmp(mode, "errqueue")) {
		static char payload[65507];
		size_t length = argc > 6 ? (size_t)atoi(argv[6]) : 1;
		if (sendto(fd, payload, length, 0, (struct sockaddr *)&to, sizeof(to)) < 0)
			die("sendto");
		struct pollfd p = {.fd = fd, .events = 0};
		if (poll(&p, 1, 5000) != 1 || !(p.revents & POLLERR)) {
			printf("error=no error queued\n");
			return 1;
		}
		prepare(&msg, &slots[0], sizes[0]);
		ssize_t r = recvmsg(fd, &msg, MSG_ERRQUEUE);
		if (r < 0)
			die("recvmsg");
		print_message("errqueue", sizes[0], &msg, r, local_port(fd));
		return 0;
	}
	if (!strcmp(mode, "recvmmsg")) {
		struct mmsghdr vec[MAX_SIZES];
		for (int i = 0; i < n; i++) {
			if (sendto(fd, "x", 1, 0, (struct sockaddr *)&to, sizeof(to)) < 0)
				die("sendto");
			prepare(&vec[i].msg_hdr, &slots[i], sizes[i]);
		}
		usleep(200 * 1000); /* the echoes in, to be read in one call */
		int got = 0;
		while (got < n) {
			int r = recvmmsg(fd, vec + got, (unsigned int)(n - got), MSG_WAITFORONE, NULL);
			if (r < 0)
				die("recvmmsg");
			got += r;
		}
		for (int i = 0; i < n; i++)
			print_message("recvmmsg", sizes[i], &vec[i].msg_hdr, vec[i].msg_len, local_port(fd));
		return 0;
	}
	if (strcmp(mode, "recv"))
		return 2;
	for (int i = 0; i < n; i++) {
		if (sendto(fd, "x", 1, 0, (struct sockaddr *)&to, sizeof(to)) < 0)
			die("sendto");
		prepare(&msg, &slots[i], sizes[i]);
		ssize_t r = recvmsg(fd, &msg, 0);
		if (r < 0)
			die("recvmsg");
		print_message("recv", sizes[i], &msg, r, local_port(fd));
	}
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 2 && !strcmp(argv[1], "serve"))
		return serve(argc, argv);
	if (argc >= 2)
		return client(argc, argv);
	fprintf(stderr, "usage: see the comment at the top of test/c/cmsg.c\n");
	return 2;
}
