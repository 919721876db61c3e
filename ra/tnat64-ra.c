/* tnat64-ra: the RFC 8781 (PREF64) side of NAT64 prefix discovery.
 *
 *   listen     the PREF64 options of the router advertisements the kernel accepts, as JSON lines
 *   advertise  router advertisements carrying PREF64 options (the lab's router, the tests)
 *   encode     the 16 bytes of one option
 *
 * The kernel parses advertisements itself and hands the options it does not use, PREF64 among
 * them, to user space as ND user options on NETLINK_ROUTE (RTM_NEWNDUSEROPT, one option a message,
 * multicast to RTNLGRP_ND_USEROPT): listening needs no privilege and sees exactly what the
 * interface accepts (accept_ra on, forwarding off). Plain libc and Linux uapi headers. */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <math.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../preload/tnat64.h"
#include "pref64.h"

#define NAME "tnat64-ra"
/* Seconds advertise waits for the interface to run and for its link-local address: DAD takes about
 * 1 s after a random delay of up to 1 s (RFC 4862 §5.4.2, Linux's defaults). */
#define LINK_LOCAL_WAIT 5.0
/* An advertisement fits the IPv6 minimum MTU: 1280 bytes less the 40 of the IPv6 header. */
#define RA_MAX 1240
/* --for and --every: longer is surely a typo. */
#define SECONDS_MAX 1e7

static const char *command = NULL; /* the subcommand, for messages */

/* One line on stderr, whatever the arguments it quotes hold, and exit. */
static void __attribute__((format(printf, 2, 3), noreturn)) fail(int status, const char *format, ...)
{
	char text[512];
	va_list ap;
	va_start(ap, format);
	vsnprintf(text, sizeof(text), format, ap);
	va_end(ap);
	for (char *c = text; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	fprintf(stderr, NAME ": %s%s%s\n", command ? command : "", command ? ": " : "", text);
	exit(status);
}

#define usage_error(...) fail(2, __VA_ARGS__)

/* ---- arguments ------------------------------------------------------------------------------ */

/* The value of option argv[*i] (`--name value` or `--name=value`), moving *i past it. */
static const char *option_value(int argc, char **argv, int *i, const char *name)
{
	const char *arg = argv[*i];
	size_t n = strlen(name);
	if (arg[n] == '=')
		return arg + n + 1;
	if (*i + 1 >= argc)
		usage_error("%s needs a value (try --help)", name);
	return argv[++*i];
}

/* Whether argv[i] is the option `name`, alone or as `name=value`. */
static bool is_option(const char *arg, const char *name)
{
	size_t n = strlen(name);
	return strncmp(arg, name, n) == 0 && (arg[n] == '\0' || arg[n] == '=');
}

static double parse_seconds(const char *name, const char *text, bool zero_ok)
{
	char *end;
	errno = 0;
	double value = strtod(text, &end);
	if (end == text || *end != '\0' || errno || !isfinite(value) || value < 0 || (!zero_ok && value == 0) ||
	    value > SECONDS_MAX)
		usage_error("%s %s: not a number of seconds %s 1e7", name, text,
			    zero_ok ? "from 0 to" : "above 0, up to");
	return value;
}

static uint32_t parse_lifetime(const char *text)
{
	/* Digits only: strtoul would take "-1" as a huge number. 65535 at most, the 16 bits of the RA's
	 * own lifetimes; above 65528 it is capped (RFC 8781 §4.1). */
	size_t n = strlen(text);
	if (n == 0 || n > 5 || strspn(text, "0123456789") != n || strtoul(text, NULL, 10) > 65535)
		usage_error("--lifetime %s: not a number of seconds from 0 to 65535", text);
	return (uint32_t)strtoul(text, NULL, 10);
}

static struct nat64_prefix parse_prefix(const char *text)
{
	struct nat64_prefix prefix;
	enum prefix_error error = nat64_prefix_parse(text, &prefix);
	if (error != PREFIX_OK)
		usage_error("--prefix %s: %s", text, prefix_error_text(error));
	return prefix;
}

static const char *parse_ifname(const char *name, const char *text)
{
	if (text[0] == '\0' || strlen(text) >= IFNAMSIZ)
		usage_error("%s %s: not an interface name (1 to %d bytes)", name, text, IFNAMSIZ - 1);
	return text;
}

/* ---- JSON lines ----------------------------------------------------------------------------- */

/* The length of the well-formed UTF-8 sequence at s (RFC 3629 §4), or 0. */
static size_t utf8_sequence(const unsigned char *s)
{
	if (s[0] < 0x80)
		return 1;
	size_t n = 0;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	/* No overlong forms, surrogates or code points beyond U+10FFFF. */
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0) || (s[0] == 0xf0 && s[1] < 0x90) ||
	    (s[0] == 0xf4 && s[1] >= 0x90))
		return 0;
	return n;
}

/* A JSON string (RFC 8259 §7), or null. To the kernel an interface name is any bytes: ill-formed
 * UTF-8 comes out as U+FFFD, so that every line stays valid JSON. */
static void json_string(const char *text)
{
	if (!text) {
		fputs("null", stdout);
		return;
	}
	putchar('"');
	for (const unsigned char *s = (const unsigned char *)text; *s;) {
		size_t n = utf8_sequence(s);
		if (n == 0) {
			fputs("\\ufffd", stdout);
			s++;
		} else if (*s == '"' || *s == '\\') {
			printf("\\%c", *s++);
		} else if (*s < 0x20 || *s == 0x7f) {
			printf("\\u%04x", *s++);
		} else {
			fwrite(s, 1, n, stdout);
			s += n;
		}
	}
	putchar('"');
}

/* The end of a line: callers read it at once, and a reader gone ends the program. */
static void json_end(void)
{
	fputs("}\n", stdout);
	if (fflush(stdout) != 0 || ferror(stdout))
		fail(1, "cannot write to standard output: %s", strerror(errno));
}

/* ---- time and signals ----------------------------------------------------------------------- */

static volatile sig_atomic_t stop_signal;
static sigset_t wait_mask; /* the signal mask while waiting: SIGTERM and SIGINT come through only then */

static void on_stop(int signal)
{
	stop_signal = signal;
}

/* SIGTERM and SIGINT end the program with status 0, but only while it waits, so that a line is never
 * cut short. */
static void catch_stop(void)
{
	struct sigaction action = {.sa_handler = on_stop};
	sigemptyset(&action.sa_mask);
	sigaction(SIGTERM, &action, NULL);
	sigaction(SIGINT, &action, NULL);
	sigset_t stops;
	sigemptyset(&stops);
	sigaddset(&stops, SIGTERM);
	sigaddset(&stops, SIGINT);
	sigprocmask(SIG_BLOCK, &stops, &wait_mask);
	sigdelset(&wait_mask, SIGTERM);
	sigdelset(&wait_mask, SIGINT);
	signal(SIGPIPE, SIG_IGN); /* a closed standard output is reported by json_end() */
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

enum wake { WAKE_READABLE, WAKE_TIMEOUT, WAKE_STOP };

/* Waits until fd (none if -1) is readable or the monotonic time `until` (INFINITY: no limit). */
static enum wake wait_until(int fd, double until)
{
	for (;;) {
		if (stop_signal)
			return WAKE_STOP;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		struct timespec timeout, *t = NULL;
		if (isfinite(until)) {
			double left = until - now();
			if (left <= 0)
				return WAKE_TIMEOUT;
			timeout.tv_sec = (time_t)left;
			timeout.tv_nsec = (long)((left - (double)timeout.tv_sec) * 1e9);
			t = &timeout;
		}
		int n = ppoll(&p, 1, t, &wait_mask);
		if (n > 0)
			return WAKE_READABLE;
		if (n < 0 && errno != EINTR)
			fail(1, "poll: %s", strerror(errno));
	}
}

/* ---- sockets -------------------------------------------------------------------------------- */

static int set_int(int fd, int level, int name, int value)
{
	return setsockopt(fd, level, name, &value, sizeof(value));
}

/* A raw ICMPv6 socket sending on one interface with hop limit 255: RFC 4861 §6.1 has receivers drop
 * router solicitations and advertisements with any other, so that they can only come from the link.
 * The kernel fills in the ICMPv6 checksum (RFC 3542 §3.1). -1 with errno on failure. */
static int nd_socket(const char *ifname, unsigned ifindex)
{
	int fd = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6);
	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)strlen(ifname)) < 0 ||
	    set_int(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, (int)ifindex) < 0 ||
	    set_int(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, 255) < 0 ||
	    set_int(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, 255) < 0 ||
	    /* Not to our own stack: it would only log an advertisement from one of its addresses. */
	    set_int(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 0) < 0) {
		int error = errno;
		close(fd);
		errno = error;
		return -1;
	}
	return fd;
}

static struct sockaddr_in6 link_multicast(const char *group, unsigned ifindex)
{
	struct sockaddr_in6 to = {.sin6_family = AF_INET6, .sin6_scope_id = ifindex};
	inet_pton(AF_INET6, group, &to.sin6_addr);
	return to;
}

/* ---- listen --------------------------------------------------------------------------------- */

static const char listen_help[] =
	"Usage: " NAME " listen [--solicit IFNAME]... [--for SECONDS]\n"
	"\n"
	"Print the PREF64 options (RFC 8781) of the router advertisements the kernel accepts, one JSON\n"
	"object a line: {\"event\":\"ready\"} once listening, then\n"
	"  {\"event\":\"pref64\",\"prefix\":P/LEN,\"length\":LEN,\"lifetime\":S,\"router\":ADDR,\"interface\":NAME,\n"
	"   \"ifindex\":N}\n"
	"  {\"event\":\"invalid\",\"router\":ADDR,\"interface\":NAME,\"ifindex\":N,\"reason\":TEXT}\n"
	"  {\"event\":\"solicit\",\"interface\":NAME,\"error\":null or TEXT}\n"
	"  {\"event\":\"lost\"} when options were lost, the receive buffer full\n"
	"An interface accepts advertisements when its sysctls accept_ra is 1 and forwarding 0 (or\n"
	"accept_ra 2). No privilege needed, but for --solicit.\n"
	"\n"
	"  --solicit IFNAME  once listening, send a router solicitation on IFNAME so that routers answer at\n"
	"                    once (needs CAP_NET_RAW; a failure is reported and listening goes on)\n"
	"  --for SECONDS     exit after that long (fractions allowed); otherwise at SIGTERM or SIGINT\n";

/* RFC 4861 §4.1: a router solicitation to all routers. Without a source link-layer address option:
 * routers answer it with a multicast advertisement all the same. NULL, or why it was not sent. */
static const char *solicit(const char *ifname)
{
	unsigned ifindex = if_nametoindex(ifname);
	if (ifindex == 0)
		return strerror(errno);
	int fd = nd_socket(ifname, ifindex);
	if (fd < 0)
		return strerror(errno);
	struct nd_router_solicit rs = {.nd_rs_type = ND_ROUTER_SOLICIT};
	struct sockaddr_in6 to = link_multicast("ff02::2", ifindex);
	ssize_t sent = sendto(fd, &rs, sizeof(rs), 0, (struct sockaddr *)&to, sizeof(to));
	int error = errno;
	close(fd);
	if (sent >= 0)
		return NULL;
	/* The kernel sends from no tentative address, and a raw socket cannot send from ::. */
	if (error == EADDRNOTAVAIL)
		return "no source address: the link-local address of the interface is missing or still tentative (DAD)";
	return strerror(error);
}

static void print_source(const char *router, int ifindex)
{
	char name[IF_NAMESIZE];
	fputs(",\"router\":", stdout);
	json_string(router);
	fputs(",\"interface\":", stdout);
	json_string(ifindex > 0 && if_indextoname((unsigned)ifindex, name) ? name : NULL);
	printf(",\"ifindex\":%d", ifindex);
}

static void print_option(const uint8_t *option, size_t size, const char *router, int ifindex)
{
	struct pref64 pref64;
	const char *reason = pref64_decode(option, size, &pref64);
	if (reason) {
		fputs("{\"event\":\"invalid\"", stdout);
		print_source(router, ifindex);
		fputs(",\"reason\":", stdout);
		json_string(reason);
	} else {
		char prefix[INET6_ADDRSTRLEN];
		inet_ntop(AF_INET6, pref64.prefix, prefix, sizeof(prefix));
		printf("{\"event\":\"pref64\",\"prefix\":\"%s/%u\",\"length\":%u,\"lifetime\":%u", prefix,
		       pref64.length, pref64.length, pref64.lifetime);
		print_source(router, ifindex);
	}
	json_end();
}

/* One RTM_NEWNDUSEROPT message, nothing read beyond its nlmsg_len (already checked against what
 * was received): a nduseroptmsg, nduseropt_opts_len bytes of ND options, then attributes. */
static void useropt_message(const struct nlmsghdr *nlh)
{
	if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(struct nduseroptmsg)))
		return;
	const struct nduseroptmsg *msg = NLMSG_DATA(nlh);
	size_t payload = nlh->nlmsg_len - NLMSG_LENGTH(0);
	size_t opts_len = msg->nduseropt_opts_len;
	if (msg->nduseropt_family != AF_INET6 || msg->nduseropt_icmp_type != ND_ROUTER_ADVERT ||
	    opts_len > payload - sizeof(*msg))
		return;
	const uint8_t *opts = (const uint8_t *)(msg + 1);

	char router_text[INET6_ADDRSTRLEN];
	const char *router = NULL;
	size_t attrs = NLMSG_ALIGN(sizeof(*msg) + opts_len);
	if (attrs < payload) {
		int left = (int)(payload - attrs);
		for (const struct rtattr *rta = (const struct rtattr *)((const char *)msg + attrs); RTA_OK(rta, left);
		     rta = RTA_NEXT(rta, left))
			if (rta->rta_type == NDUSEROPT_SRCADDR && RTA_PAYLOAD(rta) == sizeof(struct in6_addr))
				router = inet_ntop(AF_INET6, RTA_DATA(rta), router_text, sizeof(router_text));
	}

	/* RFC 4861 §4.6: an option is at least 8 bytes, its length field in units of 8. */
	for (size_t at = 0; at + 2 <= opts_len;) {
		size_t size = (size_t)opts[at + 1] * 8;
		if (size == 0 || size > opts_len - at)
			break;
		if (opts[at] == PREF64_TYPE)
			print_option(opts + at, size, router, msg->nduseropt_ifindex);
		at += size;
	}
}

static int listen_main(int argc, char **argv)
{
	const char **solicits = calloc((size_t)argc, sizeof(*solicits));
	size_t n_solicits = 0;
	double duration = INFINITY;
	if (!solicits)
		fail(1, "out of memory");
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(listen_help, stdout);
			return 0;
		} else if (is_option(argv[i], "--solicit")) {
			solicits[n_solicits++] = parse_ifname("--solicit", option_value(argc, argv, &i, "--solicit"));
		} else if (is_option(argv[i], "--for")) {
			duration = parse_seconds("--for", option_value(argc, argv, &i, "--for"), true);
		} else {
			usage_error("unknown argument %s (try --help)", argv[i]);
		}
	}
	catch_stop();
	/* A listener serves the process that started it: it ends with it, even one killed outright. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	double until = now() + duration;

	int nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	struct sockaddr_nl local = {.nl_family = AF_NETLINK};
	int group = RTNLGRP_ND_USEROPT;
	/* Room for a burst of advertisements while the reader is slow (the kernel caps it at rmem_max). */
	int room = 1 << 20;
	if (nl >= 0)
		setsockopt(nl, SOL_SOCKET, SO_RCVBUF, &room, sizeof(room));
	if (nl < 0 || bind(nl, (struct sockaddr *)&local, sizeof(local)) < 0 ||
	    setsockopt(nl, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)) < 0)
		fail(1, "cannot listen to the kernel's ND user options (NETLINK_ROUTE, RTNLGRP_ND_USEROPT): %s",
		     strerror(errno));
	fputs("{\"event\":\"ready\"", stdout);
	json_end();

	for (size_t i = 0; i < n_solicits; i++) {
		const char *error = solicit(solicits[i]);
		fputs("{\"event\":\"solicit\",\"interface\":", stdout);
		json_string(solicits[i]);
		fputs(",\"error\":", stdout);
		json_string(error);
		json_end();
	}

	/* The kernel sends one option a message, a few hundred bytes at most. */
	static char buffer[65536] __attribute__((aligned(NLMSG_ALIGNTO)));
	while (wait_until(nl, until) == WAKE_READABLE) {
		struct iovec iov = {.iov_base = buffer, .iov_len = sizeof(buffer)};
		struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
		ssize_t n = recvmsg(nl, &msg, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			if (errno == ENOBUFS) {
				/* Said on stdout too: whoever reads the events must know it may have missed one. */
				fputs("{\"event\":\"lost\"", stdout);
				json_end();
				continue;
			}
			fail(1, "netlink: %s", strerror(errno));
		}
		if (msg.msg_flags & MSG_TRUNC)
			continue;
		/* Any sender the kernel lets into this group is heard: the kernel itself, or a process with
		 * CAP_NET_ADMIN over the namespace, which could send a real advertisement anyway (the tests
		 * send malformed messages this way). */
		for (size_t at = 0; at + sizeof(struct nlmsghdr) <= (size_t)n;) {
			const struct nlmsghdr *nlh = (const struct nlmsghdr *)(buffer + at);
			if (nlh->nlmsg_len < sizeof(*nlh) || nlh->nlmsg_len > (size_t)n - at)
				break;
			if (nlh->nlmsg_type == RTM_NEWNDUSEROPT)
				useropt_message(nlh);
			at += NLMSG_ALIGN(nlh->nlmsg_len);
		}
	}
	return 0;
}

/* ---- advertise ------------------------------------------------------------------------------ */

static const char advertise_help[] =
	"Usage: " NAME " advertise --interface IFNAME [--prefix P/LEN [--lifetime S]]... [--option HEX]...\n"
	"                         [--every SECONDS]\n"
	"\n"
	"Send router advertisements on IFNAME, from its link-local address to ff02::1, with router\n"
	"lifetime 0 (receivers add no default route) and no flags. Needs root (a raw socket). Waits up to\n"
	"5 s for IFNAME to run and for its link-local address to leave its tentative state (DAD).\n"
	"\n"
	"  --interface IFNAME  the interface to advertise on\n"
	"  --prefix P/LEN      a NAT64 prefix (RFC 6052: /32, /40, /48, /56, /64 or /96) sent as a PREF64\n"
	"                      option; repeatable\n"
	"  --lifetime S        the lifetime of the --prefix it follows, 0 to 65535 s (default 1800); sent\n"
	"                      rounded up to a multiple of 8, at most 65528 (RFC 8781 §4.1)\n"
	"  --option HEX        raw bytes appended as they are, for malformed options (an option of length 0\n"
	"                      makes receivers drop the whole advertisement); repeatable\n"
	"  --every SECONDS     send again every SECONDS (fractions allowed) and answer each router\n"
	"                      solicitation on IFNAME at once, until SIGTERM or SIGINT; otherwise send one\n"
	"\n"
	"Options go into the advertisement in the order given.\n";

#define DEFAULT_LIFETIME 1800

struct ra {
	uint8_t bytes[RA_MAX];
	size_t size;
	uint8_t *last_pref64; /* where the last --prefix went, for a --lifetime after it */
	struct nat64_prefix last_prefix;
};

static void ra_append(struct ra *ra, const uint8_t *bytes, size_t size)
{
	if (size > sizeof(ra->bytes) - ra->size)
		usage_error("the advertisement would exceed %d bytes (the IPv6 minimum MTU less its header)", RA_MAX);
	memcpy(ra->bytes + ra->size, bytes, size);
	ra->size += size;
}

static void ra_append_hex(struct ra *ra, const char *hex)
{
	size_t n = strlen(hex);
	if (n == 0 || n % 2 || strspn(hex, "0123456789abcdefABCDEF") != n)
		usage_error("--option %s: not an even number of hex digits", hex);
	for (size_t i = 0; i < n; i += 2) {
		char pair[3] = {hex[i], hex[i + 1], '\0'};
		uint8_t byte = (uint8_t)strtoul(pair, NULL, 16);
		ra_append(ra, &byte, 1);
	}
}

/* Binds fd to the interface's link-local address once the interface can send from it. Two waits
 * after a link comes up: until it runs (a carrier, and the kernel's link watcher has been by: until
 * then its queue is a no-op that drops what is sent, without an error), and until DAD ends (the
 * kernel refuses to bind a tentative address, EADDRNOTAVAIL). */
static void bind_link_local(int fd, const char *ifname, unsigned ifindex)
{
	double until = now() + LINK_LOCAL_WAIT;
	for (;;) {
		struct ifaddrs *list;
		if (getifaddrs(&list) < 0)
			fail(1, "getifaddrs: %s", strerror(errno));
		bool running = false;
		for (struct ifaddrs *a = list; a; a = a->ifa_next)
			if (strcmp(a->ifa_name, ifname) == 0 && (a->ifa_flags & IFF_RUNNING))
				running = true;
		char seen[INET6_ADDRSTRLEN] = "";
		for (struct ifaddrs *a = list; a && running; a = a->ifa_next) {
			if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET6 || strcmp(a->ifa_name, ifname) != 0)
				continue;
			struct sockaddr_in6 addr = *(struct sockaddr_in6 *)a->ifa_addr;
			if (!IN6_IS_ADDR_LINKLOCAL(&addr.sin6_addr))
				continue;
			addr.sin6_port = 0;
			addr.sin6_scope_id = ifindex;
			inet_ntop(AF_INET6, &addr.sin6_addr, seen, sizeof(seen));
			if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
				freeifaddrs(list);
				return;
			}
			if (errno != EADDRNOTAVAIL)
				fail(1, "cannot bind to %s%%%s: %s", seen, ifname, strerror(errno));
		}
		freeifaddrs(list);
		if (wait_until(-1, now() + 0.05) == WAKE_STOP)
			exit(0);
		if (now() < until)
			continue;
		if (!running)
			fail(1, "%s is not running after %g s (is it up, with a carrier?)", ifname, LINK_LOCAL_WAIT);
		if (!seen[0])
			fail(1, "%s has no IPv6 link-local address after %g s", ifname, LINK_LOCAL_WAIT);
		fail(1, "the link-local address %s of %s is still tentative after %g s (duplicate address "
			"detection unfinished, or failed)",
		     seen, ifname, LINK_LOCAL_WAIT);
	}
}

/* A failure ends a single advertisement; --every reports it and carries on (a link down a while). */
static void send_ra(int fd, const struct ra *ra, unsigned ifindex, const char *ifname, bool once)
{
	struct sockaddr_in6 to = link_multicast("ff02::1", ifindex);
	if (sendto(fd, ra->bytes, ra->size, 0, (struct sockaddr *)&to, sizeof(to)) >= 0)
		return;
	if (once)
		fail(1, "cannot send on %s: %s", ifname, strerror(errno));
	fprintf(stderr, NAME ": advertise: cannot send on %s: %s\n", ifname, strerror(errno));
}

/* A router solicitation that RFC 4861 §6.1.1 has routers take: hop limit 255, code 0, 8 bytes at
 * least (the checksum the kernel checked, the filter took type 133 only). */
static bool read_solicitation(int fd)
{
	uint8_t packet[RA_MAX];
	union {
		char buffer[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control;
	struct iovec iov = {.iov_base = packet, .iov_len = sizeof(packet)};
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control, .msg_controllen = sizeof(control)};
	ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT);
	if (n < (ssize_t)sizeof(struct nd_router_solicit) || packet[0] != ND_ROUTER_SOLICIT || packet[1] != 0)
		return false;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT) {
			int hops;
			memcpy(&hops, CMSG_DATA(c), sizeof(hops));
			return hops == 255;
		}
	return false;
}

static int advertise_main(int argc, char **argv)
{
	static struct ra ra;
	const char *ifname = NULL;
	double every = 0;
	struct nd_router_advert header = {.nd_ra_type = ND_ROUTER_ADVERT}; /* all else 0: router lifetime too */
	ra_append(&ra, (const uint8_t *)&header, sizeof(header));
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(advertise_help, stdout);
			return 0;
		} else if (is_option(argv[i], "--interface")) {
			if (ifname)
				usage_error("--interface given twice");
			ifname = parse_ifname("--interface", option_value(argc, argv, &i, "--interface"));
		} else if (is_option(argv[i], "--prefix")) {
			ra.last_prefix = parse_prefix(option_value(argc, argv, &i, "--prefix"));
			uint8_t option[PREF64_SIZE];
			pref64_encode(ra.last_prefix.bytes, ra.last_prefix.length, DEFAULT_LIFETIME, option);
			ra_append(&ra, option, sizeof(option));
			ra.last_pref64 = ra.bytes + ra.size - sizeof(option);
		} else if (is_option(argv[i], "--lifetime")) {
			uint32_t lifetime = parse_lifetime(option_value(argc, argv, &i, "--lifetime"));
			if (!ra.last_pref64)
				usage_error("--lifetime must follow the --prefix it is for");
			pref64_encode(ra.last_prefix.bytes, ra.last_prefix.length, lifetime, ra.last_pref64);
			ra.last_pref64 = NULL;
		} else if (is_option(argv[i], "--option")) {
			ra_append_hex(&ra, option_value(argc, argv, &i, "--option"));
			ra.last_pref64 = NULL;
		} else if (is_option(argv[i], "--every")) {
			every = parse_seconds("--every", option_value(argc, argv, &i, "--every"), false);
		} else {
			usage_error("unknown argument %s (try --help)", argv[i]);
		}
	}
	if (!ifname)
		usage_error("--interface is required (try --help)");
	catch_stop();

	unsigned ifindex = if_nametoindex(ifname);
	if (ifindex == 0)
		fail(1, "no interface %s here: %s", ifname, strerror(errno));
	int fd = nd_socket(ifname, ifindex);
	if (fd < 0 && (errno == EPERM || errno == EACCES))
		fail(1, "needs root (a raw ICMPv6 socket, CAP_NET_RAW): %s", strerror(errno));
	if (fd < 0)
		fail(1, "cannot open a raw ICMPv6 socket on %s: %s", ifname, strerror(errno));
	bind_link_local(fd, ifname, ifindex);

	if (every == 0) {
		send_ra(fd, &ra, ifindex, ifname, true);
		return 0;
	}

	/* Solicitations go to all routers, a group only forwarding interfaces join by themselves. */
	struct icmp6_filter filter;
	ICMP6_FILTER_SETBLOCKALL(&filter);
	ICMP6_FILTER_SETPASS(ND_ROUTER_SOLICIT, &filter);
	struct ipv6_mreq routers = {.ipv6mr_interface = ifindex};
	inet_pton(AF_INET6, "ff02::2", &routers.ipv6mr_multiaddr);
	if (setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &filter, sizeof(filter)) < 0 ||
	    set_int(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1) < 0 ||
	    setsockopt(fd, IPPROTO_IPV6, IPV6_JOIN_GROUP, &routers, sizeof(routers)) < 0)
		fail(1, "cannot hear router solicitations on %s: %s", ifname, strerror(errno));

	double next = now();
	for (;;) {
		switch (wait_until(fd, next)) {
		case WAKE_STOP:
			return 0;
		case WAKE_TIMEOUT:
			send_ra(fd, &ra, ifindex, ifname, false);
			next += every;
			if (next < now()) /* stopped a while (SIGSTOP): no burst of the ones missed */
				next = now() + every;
			break;
		case WAKE_READABLE:
			/* RFC 4861 §6.2.6 would delay the answer by up to 0.5 s, to spread the answers of many
			 * routers; a lab has one, and a prompt answer is what --solicit is tested on. */
			if (read_solicitation(fd))
				send_ra(fd, &ra, ifindex, ifname, false);
			break;
		}
	}
}

/* ---- encode --------------------------------------------------------------------------------- */

static const char encode_help[] =
	"Usage: " NAME " encode --prefix P/LEN [--lifetime S]\n"
	"\n"
	"Print the 16 bytes of the PREF64 option (RFC 8781 §4) of a NAT64 prefix, as lowercase hex on one\n"
	"line. --lifetime: 0 to 65535 s (default 1800), rounded up to a multiple of 8, at most 65528.\n";

static int encode_main(int argc, char **argv)
{
	const char *prefix_text = NULL;
	uint32_t lifetime = DEFAULT_LIFETIME;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(encode_help, stdout);
			return 0;
		} else if (is_option(argv[i], "--prefix")) {
			if (prefix_text)
				usage_error("--prefix given twice");
			prefix_text = option_value(argc, argv, &i, "--prefix");
		} else if (is_option(argv[i], "--lifetime")) {
			lifetime = parse_lifetime(option_value(argc, argv, &i, "--lifetime"));
		} else {
			usage_error("unknown argument %s (try --help)", argv[i]);
		}
	}
	if (!prefix_text)
		usage_error("--prefix is required (try --help)");
	struct nat64_prefix prefix = parse_prefix(prefix_text);
	uint8_t option[PREF64_SIZE];
	pref64_encode(prefix.bytes, prefix.length, lifetime, option);
	for (size_t i = 0; i < sizeof(option); i++)
		printf("%02x", option[i]);
	putchar('\n');
	return fflush(stdout) == 0 ? 0 : 1;
}

/* ---- main ----------------------------------------------------------------------------------- */

static const char main_help[] =
	"Usage: " NAME " COMMAND [OPTION]...\n"
	"\n"
	"The RFC 8781 (PREF64) side of NAT64 prefix discovery.\n"
	"\n"
	"  listen     print the PREF64 options of received router advertisements as JSON lines\n"
	"  advertise  send router advertisements with PREF64 options (root)\n"
	"  encode     print the bytes of a PREF64 option\n"
	"\n"
	"`" NAME " COMMAND --help` describes each. Bad arguments exit with status 2, failures with 1.\n";

int main(int argc, char **argv)
{
	if (argc < 2)
		usage_error("a command is needed: listen, advertise or encode (try --help)");
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
		fputs(main_help, stdout);
		return 0;
	}
	static const struct {
		const char *name;
		int (*main)(int argc, char **argv);
	} commands[] = {{"listen", listen_main}, {"advertise", advertise_main}, {"encode", encode_main}};
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0) {
			command = commands[i].name;
			return commands[i].main(argc - 1, argv + 1);
		}
	usage_error("unknown command %s: listen, advertise or encode (try --help)", argv[1]);
}
