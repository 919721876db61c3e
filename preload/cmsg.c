/* Control messages of a swapped socket, as an AF_INET socket has them. A datagram through NAT64
 * is real IPv6: the kernel gives it IPv6 messages only, for the IPv6 options setsockopt.c sets
 * beside the program's IPv4 ones. Here they take their IPv4 form: in6_pktinfo as in_pktinfo, the
 * hop limit as IP_TTL, the traffic class as IP_TOS (one byte, as the kernel gives it), the
 * original destination as IP_ORIGDSTADDR, and IPV6_RECVERR, the form of every error-queue entry
 * of an AF_INET6 socket, as IP_RECVERR (an ICMPv6 error as the ICMP one a translator makes of it).
 * A datagram that came over IPv4 has the kernel's IPv4 messages and an IPV6_PKTINFO besides,
 * which is dropped. Every other message passes, in order.
 *
 * The kernel writes into the library's room; the program's buffer is then filled as put_cmsg()
 * fills it, so that msg_controllen and MSG_CTRUNC are what an AF_INET socket would have had. */
#include <time.h> /* before linux/errqueue.h, which uses struct timespec */

#include <errno.h>
#include <linux/errqueue.h>
#include <linux/icmpv6.h>
#include <netinet/ip_icmp.h>
#include <string.h>

#include "tnat64.h"

/* RFC 7600's IPv4 dummy address, 192.0.0.8: what a translator gives an ICMPv6 error from an
 * address that carries no IPv4 one (RFC 7915 §5.1), an IPv6 router on the way to the NAT64. */
#define DUMMY_IPV4 0xc0000008

void control_prepare(uint64_t word, int flags, struct msghdr *kernel, struct control_room *room)
{
	if ((word & FD_CMSG) || ((flags & MSG_ERRQUEUE) && (word & FD_SWAPPED))) {
		kernel->msg_control = room->bytes;
		kernel->msg_controllen = sizeof(room->bytes);
	}
}

/* The program's buffer, being filled, on a read of the error queue or not. */
struct control_out {
	char *at;
	size_t left;
	bool cut;
	bool error_queue;
};

/* One message as put_cmsg() writes it: cut to what is left (MSG_CTRUNC), and only the flag once
 * not even a header fits; the padding after it is skipped, not written. */
static void put(struct control_out *out, int level, int type, const void *data, size_t len)
{
	if (!out->at || out->left < sizeof(struct cmsghdr)) {
		out->cut = true;
		return;
	}
	size_t size = CMSG_LEN(len);
	if (size > out->left) {
		size = out->left;
		out->cut = true;
	}
	struct cmsghdr head = {.cmsg_len = size, .cmsg_level = level, .cmsg_type = type};
	memcpy(out->at, &head, sizeof(head));
	memcpy(out->at + sizeof(head), data, size - sizeof(head));
	size_t step = CMSG_SPACE(len) < out->left ? CMSG_SPACE(len) : out->left;
	out->at += step;
	out->left -= step;
}

/* An address of this host as the program sees it: a mapped one's IPv4 address, else the
 * stand-in, as getsockname() shows it. */
static struct in_addr local_view(const struct in6_addr *address)
{
	struct sockaddr_in6 real = {.sin6_family = AF_INET6, .sin6_addr = *address};
	struct sockaddr_in view;
	ipv4_view(&real, &view);
	return view.sin_addr;
}

static void put_pktinfo(struct control_out *out, const unsigned char *data)
{
	struct in6_pktinfo real;
	memcpy(&real, data, sizeof(real));
	if (IN6_IS_ADDR_V4MAPPED(&real.ipi6_addr))
		return; /* a datagram that came over IPv4: the kernel's own IP_PKTINFO follows */
	struct in_pktinfo info = {.ipi_ifindex = (int)real.ipi6_ifindex, .ipi_addr = local_view(&real.ipi6_addr)};
	if (!out->error_queue) /* the kernel gives an ICMP error's none */
		info.ipi_spec_dst = info.ipi_addr;
	put(out, IPPROTO_IP, IP_PKTINFO, &info, sizeof(info));
}

static void put_tos(struct control_out *out, const unsigned char *data)
{
	int tclass;
	memcpy(&tclass, data, sizeof(tclass));
	unsigned char tos = (unsigned char)tclass;
	put(out, IPPROTO_IP, IP_TOS, &tos, sizeof(tos));
}

static void put_origdstaddr(struct control_out *out, const unsigned char *data)
{
	struct sockaddr_in6 real;
	memcpy(&real, data, sizeof(real));
	struct sockaddr_in view;
	ipv4_view(&real, &view);
	put(out, IPPROTO_IP, IP_ORIGDSTADDR, &view, sizeof(view));
}

/* RFC 7915 Figure 6: the IPv4 header field of the IPv6 one a Parameter Problem points at, -1
 * where there is none (the flow label, extension headers). */
static int ipv4_pointer(uint32_t pointer)
{
	static const int8_t field[40] = {0, 1, -1, -1, 2, 2, 9, 8, [8 ... 23] = 12, [24 ... 39] = 16};
	return pointer < sizeof(field) ? field[pointer] : -1;
}

/* RFC 7915 §5.2: the ICMP error a translator makes of an ICMPv6 one. The errors it drops, having
 * no ICMP form for them, still reach the program (the kernel queued them): as host unreachable,
 * except unreachable codes 5 and 6, which RFC 4443 makes subsets of code 1, administratively
 * prohibited. ee_errno stays as the kernel read the ICMPv6 error. */
static void icmp_from_icmp6(struct sock_extended_err *ee)
{
	uint8_t type = ICMP_DEST_UNREACH, code = ICMP_HOST_UNREACH;
	switch (ee->ee_type) {
	case ICMPV6_DEST_UNREACH:
		if (ee->ee_code == ICMPV6_ADM_PROHIBITED || ee->ee_code == ICMPV6_POLICY_FAIL ||
		    ee->ee_code == ICMPV6_REJECT_ROUTE)
			code = ICMP_HOST_ANO;
		else if (ee->ee_code == ICMPV6_PORT_UNREACH)
			code = ICMP_PORT_UNREACH;
		break;
	case ICMPV6_PKT_TOOBIG:
		code = ICMP_FRAG_NEEDED;
		ee->ee_info = ee->ee_info > 20 ? ee->ee_info - 20 : 0; /* the IPv4 header is 20 bytes shorter */
		break;
	case ICMPV6_TIME_EXCEED:
		type = ICMP_TIME_EXCEEDED;
		code = ee->ee_code;
		break;
	case ICMPV6_PARAMPROB: {
		int pointer = ipv4_pointer(ee->ee_info);
		if (ee->ee_code == ICMPV6_UNK_NEXTHDR) {
			code = ICMP_PROT_UNREACH;
		} else if (ee->ee_code == ICMPV6_HDR_FIELD && pointer >= 0) {
			type = ICMP_PARAMETERPROB;
			code = 0; /* the pointer indicates the error */
			ee->ee_info = (uint32_t)pointer;
		}
		break;
	}
	}
	ee->ee_origin = SO_EE_ORIGIN_ICMP;
	ee->ee_type = type;
	ee->ee_code = code;
}

/* Who sent an error: none for a local one; an ICMP error over IPv4 names a mapped address, an
 * ICMPv6 one an address under a prefix in use or RFC 7600's dummy; a timestamp's is ours. */
static void offender_view(const struct sockaddr_in6 *real, uint8_t origin, struct sockaddr_in *out)
{
	memset(out, 0, sizeof(*out));
	if (real->sin6_family != AF_INET6)
		return;
	ipv4_view(real, out);
	struct in_addr carried;
	if (origin == SO_EE_ORIGIN_ICMP6 && !config_extract(tnat64_config(), &real->sin6_addr, &carried))
		out->sin_addr.s_addr = htonl(DUMMY_IPV4);
}

static void put_error(struct control_out *out, const unsigned char *data)
{
	struct {
		struct sock_extended_err ee;
		struct sockaddr_in6 offender;
	} real;
	struct {
		struct sock_extended_err ee;
		struct sockaddr_in offender;
	} error;
	memcpy(&real, data, sizeof(real));
	error.ee = real.ee;
	offender_view(&real.offender, real.ee.ee_origin, &error.offender);
	if (real.ee.ee_origin == SO_EE_ORIGIN_ICMP6)
		icmp_from_icmp6(&error.ee);
	put(out, IPPROTO_IP, IP_RECVERR, &error, sizeof(error));
}

/* One of the kernel's messages, as the program gets it. An IPv6 one the room cut short (beyond
 * its size; the kernel then set MSG_CTRUNC) is left out, as is any the program did not ask for. */
static void translate(struct control_out *out, const struct cmsghdr *c)
{
	const unsigned char *data = CMSG_DATA(c);
	size_t len = c->cmsg_len - CMSG_LEN(0);
	if (c->cmsg_level != IPPROTO_IPV6) {
		put(out, c->cmsg_level, c->cmsg_type, data, len);
		return;
	}
	switch (c->cmsg_type) {
	case IPV6_PKTINFO:
		if (len >= sizeof(struct in6_pktinfo))
			put_pktinfo(out, data);
		break;
	case IPV6_HOPLIMIT:
		if (len >= sizeof(int))
			put(out, IPPROTO_IP, IP_TTL, data, sizeof(int));
		break;
	case IPV6_TCLASS:
		if (len >= sizeof(int))
			put_tos(out, data);
		break;
	case IPV6_ORIGDSTADDR:
		if (len >= sizeof(struct sockaddr_in6))
			put_origdstaddr(out, data);
		break;
	case IPV6_RECVERR:
		if (len >= sizeof(struct sock_extended_err) + sizeof(struct sockaddr_in6))
			put_error(out, data);
		break;
	}
}

void control_finish(const struct msghdr *kernel, struct msghdr *program)
{
	if (kernel->msg_control == program->msg_control) {
		program->msg_controllen = kernel->msg_controllen;
		return;
	}
	struct control_out out = {program->msg_control, program->msg_controllen, false, kernel->msg_flags & MSG_ERRQUEUE};
	struct msghdr room = {.msg_control = kernel->msg_control, .msg_controllen = kernel->msg_controllen};
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&room); c; c = CMSG_NXTHDR(&room, c))
		translate(&out, c);
	program->msg_controllen -= out.left;
	if (out.cut)
		program->msg_flags |= MSG_CTRUNC;
}

/* The IPv6 option that asks for what an IPv4 one asks for on received traffic: control messages
 * (cmsg.c gives them back in IPv4 form), or errors queued; -1 for none. */
int cmsg_twin(int name)
{
	switch (name) {
	case IP_PKTINFO:
		return IPV6_RECVPKTINFO;
	case IP_RECVTTL:
		return IPV6_RECVHOPLIMIT;
	case IP_RECVTOS:
		return IPV6_RECVTCLASS;
	case IP_RECVORIGDSTADDR:
		return IPV6_RECVORIGDSTADDR;
	case IP_RECVERR:
		return IPV6_RECVERR;
	default:
		return -1;
	}
}

bool cmsg_asked(int fd)
{
	static const int asking[] = {IP_PKTINFO, IP_RECVTTL, IP_RECVTOS, IP_RECVORIGDSTADDR, IP_RECVERR};
	int saved = errno;
	bool asked = false;
	for (size_t i = 0; i < sizeof(asking) / sizeof(asking[0]) && !asked; i++) {
		int on = 0;
		socklen_t n = sizeof(on);
		asked = libc.getsockopt(fd, IPPROTO_IPV6, cmsg_twin(asking[i]), &on, &n) == 0 && on;
	}
	errno = saved;
	return asked;
}
