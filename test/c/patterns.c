/* How programs in the wild use IPv4 sockets, one pattern per mode. It knows nothing of tnat64:
 * the tests run each mode with and without the library and compare what it printed.
 *
 *   patterns bind LADDR LPORT ADDR PORT  bind (LPORT "noport": IP_BIND_ADDRESS_NO_PORT), connect, GET /
 *   patterns resvport ADDR PORT          bindresvport(), connect, GET /
 *   patterns listen none|LADDR           listen (bound or not): does a native IPv6 client get in?
 *   patterns fastopen ADDR PORT          GET / sent with sendto(MSG_FASTOPEN), connecting on the way
 *   patterns already                     connect() again on a pending and on a connected socket
 *   patterns reconnect ADDR PORT PORT2   a completed non-blocking connect, then connect() elsewhere
 *   patterns soerror                     SO_ERROR on a pending connect: errno untouched
 *   patterns listen-connected ADDR PORT  listen() on a connected socket fails and cuts nothing
 *   patterns filters                     the program's own socket filters on listeners
 *   patterns options ADDR PORT           SO_PEERNAME and short SO_DOMAIN on a connected socket
 *   patterns stderr-data ADDR PORT FILE  stderr closed and FILE opened in its place, then connect
 *   patterns chdir-log DIR ADDR PORT     chdir(DIR), closefrom(3), connect: DIR's files untouched
 *   patterns closefrom ADDR PORT FILE    closefrom(3) takes the log's descriptor; FILE then reuses it
 *   patterns exec ADDR PORT              a connected socket inherited across exec, as inetd hands it
 *   patterns listen-exec                 a listener bound to 0.0.0.0 inherited across exec
 *   patterns shutdown ADDR PORT          a pending connect shut down, then a connect to ADDR:PORT
 *   patterns listener-connects ADDR PORT bound|none|failed  a listener (or a failed listen) connecting
 *   patterns scm-stale                   a native IPv6 socket received into a number closed by fclose()
 *   patterns vfork ADDR PORT             a vfork child's dup2/close before _exit
 *   patterns reuse ADDR PORT             a socket closed behind the library's back, its number reused
 *   patterns addrlen ADDR PORT           address lengths the kernel refuses, errno on success
 *   patterns beyond ADDR                 a connection accepted on descriptor 200 or above
 *   patterns signal ADDR PORT MS         connects from a signal handler while main mallocs and prints
 *   patterns stress ADDR PORT T N        T threads of N connect/dup/fork/close, every answer checked
 *
 * Output is `key=value` lines; errors by errno name, so the output is locale-free. */
#include <arpa/inet.h>
#include <dirent.h>
#include <linux/filter.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *errname(int e)
{
	switch (e) {
	case 0: return "OK";
	case EINVAL: return "EINVAL";
	case EAFNOSUPPORT: return "EAFNOSUPPORT";
	case EALREADY: return "EALREADY";
	case EISCONN: return "EISCONN";
	case EINPROGRESS: return "EINPROGRESS";
	case ENOTCONN: return "ENOTCONN";
	case ENETUNREACH: return "ENETUNREACH";
	case EHOSTUNREACH: return "EHOSTUNREACH";
	case ECONNREFUSED: return "ECONNREFUSED";
	case ETIMEDOUT: return "ETIMEDOUT";
	case EADDRINUSE: return "EADDRINUSE";
	case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
	case EBADF: return "EBADF";
	case ENOTSOCK: return "ENOTSOCK";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case EAGAIN: return "EAGAIN";
	case ENOPROTOOPT: return "ENOPROTOOPT";
	case ENOENT: return "ENOENT";
	case EPERM: return "EPERM";
	default: return "other";
	}
}

static struct sockaddr_in address_of(const char *ip, const char *port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port))};
	if (inet_pton(AF_INET, ip, &sin.sin_addr) != 1) {
		fprintf(stderr, "%s: not an IPv4 address\n", ip);
		exit(2);
	}
	return sin;
}

static const char *text_of(const struct sockaddr_in *sin, socklen_t len, char out[64])
{
	char ip[INET_ADDRSTRLEN] = "?";
	inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
	snprintf(out, 64, "%s %s:%u len=%u", sin->sin_family == AF_INET ? "AF_INET" : "other", ip,
		 ntohs(sin->sin_port), (unsigned)len);
	return out;
}

/* peer=, local= and domain= of a socket, as a program sees them. */
static void print_names(const char *tag, int fd)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	char text[64];
	if (getpeername(fd, (struct sockaddr *)&sin, &len) == 0)
		printf("%speer=%s\n", tag, text_of(&sin, len, text));
	else
		printf("%speer=%s\n", tag, errname(errno));
	len = sizeof(sin);
	if (getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
		printf("%slocal=%s\n", tag, text_of(&sin, len, text));
	else
		printf("%slocal=%s\n", tag, errname(errno));
	int domain = 0;
	len = sizeof(domain);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0)
		printf("%sdomain=%s\n", tag,
		       domain == AF_INET    ? "AF_INET"
		       : domain == AF_INET6 ? "AF_INET6"
		       : domain == AF_UNIX  ? "AF_UNIX"
					    : "other");
	else
		printf("%sdomain=%s\n", tag, errname(errno));
}

/* Sends GET / (unless already sent) and prints the body's line: the server names the address and
 * port it saw. */
static int http_body(int fd, bool sent)
{
	static const char request[] = "GET / HTTP/1.0\r\n\r\n";
	if (!sent && write(fd, request, sizeof(request) - 1) != (ssize_t)sizeof(request) - 1) {
		printf("body=write %s\n", errname(errno));
		return 1;
	}
	char reply[2048];
	size_t got = 0;
	ssize_t n;
	while (got < sizeof(reply) - 1 && (n = read(fd, reply + got, sizeof(reply) - 1 - got)) > 0)
		got += (size_t)n;
	reply[got] = '\0';
	char *body = strstr(reply, "\r\n\r\n");
	printf("body=%s", body ? body + 4 : "none\n");
	return body ? 0 : 1;
}

static int connect_or_report(int fd, const struct sockaddr_in *to)
{
	int r = connect(fd, (const struct sockaddr *)to, sizeof(*to));
	int error = errno;
	printf("connect=%s\n", errname(r == 0 ? 0 : error));
	errno = error;
	return r;
}

static int mode_bind(char **argv)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in local = address_of(argv[0], strcmp(argv[1], "noport") == 0 ? "0" : argv[1]);
	if (strcmp(argv[1], "noport") == 0) {
		int on = 1;
		printf("no_port=%s\n", errname(setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &on, sizeof(on)) ? errno : 0));
	}
	printf("bind=%s\n", errname(bind(fd, (struct sockaddr *)&local, sizeof(local)) ? errno : 0));
	struct sockaddr_in server = address_of(argv[2], argv[3]);
	errno = EDOM;
	if (connect_or_report(fd, &server) < 0)
		return 1;
	/* untouched by a successful call, whatever it tried first */
	printf("errno_after=%s\n", errno == EDOM ? "untouched" : errname(errno));
	print_names("", fd);
	return http_body(fd, false);
}

static int mode_resvport(char **argv)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (bindresvport(fd, NULL) < 0) {
		printf("bindresvport=%s\n", errname(errno));
		return 1;
	}
	struct sockaddr_in local;
	socklen_t len = sizeof(local);
	getsockname(fd, (struct sockaddr *)&local, &len);
	printf("bindresvport=OK reserved=%s\n", ntohs(local.sin_port) >= 512 && ntohs(local.sin_port) < 1024 ? "yes" : "no");
	struct sockaddr_in server = address_of(argv[0], argv[1]);
	if (connect_or_report(fd, &server) < 0)
		return 1;
	return http_body(fd, false);
}

/* Whether a client of `family` gets a connection to 127.0.0.1 / ::1 at `port` within 300 ms. */
static const char *gets_in(int family, uint16_t port)
{
	struct sockaddr_storage ss = {0};
	socklen_t len;
	if (family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		*a = (struct sockaddr_in6){.sin6_family = AF_INET6, .sin6_port = htons(port), .sin6_addr = IN6ADDR_LOOPBACK_INIT};
		len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		*a = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		len = sizeof(*a);
	}
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	connect(fd, (struct sockaddr *)&ss, len);
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	int error = ETIMEDOUT;
	socklen_t elen = sizeof(error);
	if (poll(&p, 1, 300) == 1)
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &elen);
	close(fd);
	return error == 0 ? "yes" : "no";
}

static int mode_listen(char **argv)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (strcmp(argv[0], "none") != 0) {
		struct sockaddr_in local = address_of(argv[0], "0");
		printf("bind=%s\n", errname(bind(fd, (struct sockaddr *)&local, sizeof(local)) ? errno : 0));
	}
	printf("listen=%s\n", errname(listen(fd, 8) ? errno : 0));
	struct sockaddr_in local;
	socklen_t len = sizeof(local);
	getsockname(fd, (struct sockaddr *)&local, &len);
	char ip[INET_ADDRSTRLEN];
	printf("listening=%s\n", inet_ntop(AF_INET, &local.sin_addr, ip, sizeof(ip)));
	printf("ipv4_client=%s\n", gets_in(AF_INET, ntohs(local.sin_port)));
	printf("ipv6_client=%s\n", gets_in(AF_INET6, ntohs(local.sin_port)));
	struct sockaddr_in peer;
	len = sizeof(peer);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	int c = accept4(fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK);
	char text[64];
	printf("accepted=%s\n", c >= 0 ? text_of(&peer, len, text) : errname(errno));
	socklen_t n = 0;
	getsockopt(c, SOL_SOCKET, SO_GET_FILTER, NULL, &n);
	printf("accepted_filter_length=%u\n", (unsigned)n);
	len = sizeof(peer);
	c = accept4(fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK);
	printf("accepted_more=%s\n", c >= 0 ? text_of(&peer, len, text) : errname(errno));
	return 0;
}

static int mode_fastopen(char **argv)
{
	static const char request[] = "GET / HTTP/1.0\r\n\r\n";
	struct sockaddr_in server = address_of(argv[0], argv[1]);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ssize_t n = sendto(fd, request, sizeof(request) - 1, MSG_FASTOPEN, (struct sockaddr *)&server, sizeof(server));
	printf("sendto=%s\n", n == (ssize_t)sizeof(request) - 1 ? "OK" : errname(errno));
	if (n < 0)
		return 1;
	print_names("", fd);
	return http_body(fd, true);
}

/* A listener whose queue is full: a connect to it stays pending (its SYN is dropped). */
static struct sockaddr_in full_listener(void)
{
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	bind(l, (struct sockaddr *)&a, sizeof(a));
	listen(l, 0);
	getsockname(l, (struct sockaddr *)&a, &len);
	for (int i = 0; i < 2; i++) {
		int f = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		connect(f, (struct sockaddr *)&a, sizeof(a));
	}
	usleep(100000);
	return a;
}

static int mode_already(void)
{
	struct sockaddr_in stuck = full_listener();
	int open_l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in other = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(other);
	bind(open_l, (struct sockaddr *)&other, sizeof(other));
	listen(open_l, 8);
	getsockname(open_l, (struct sockaddr *)&other, &len);

	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int r = connect(fd, (struct sockaddr *)&stuck, sizeof(stuck));
	printf("first=%s\n", errname(r ? errno : 0));
	r = connect(fd, (struct sockaddr *)&other, sizeof(other));
	printf("second_elsewhere=%s\n", errname(r ? errno : 0));
	r = connect(fd, (struct sockaddr *)&stuck, sizeof(stuck));
	printf("again=%s\n", errname(r ? errno : 0));
	print_names("pending_", fd);
	close(fd);

	fd = socket(AF_INET, SOCK_STREAM, 0);
	r = connect(fd, (struct sockaddr *)&other, sizeof(other));
	printf("connected=%s\n", errname(r ? errno : 0));
	r = connect(fd, (struct sockaddr *)&stuck, sizeof(stuck));
	printf("connected_elsewhere=%s\n", errname(r ? errno : 0));
	char text[64];
	struct sockaddr_in peer;
	len = sizeof(peer);
	getpeername(fd, (struct sockaddr *)&peer, &len);
	printf("connected_peer_is_first=%s\n", peer.sin_port == other.sin_port ? "yes" : text_of(&peer, len, text));
	return 0;
}

static int mode_reconnect(char **argv)
{
	struct sockaddr_in first = address_of(argv[0], argv[1]), second = address_of(argv[0], argv[2]);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int r = connect(fd, (struct sockaddr *)&first, sizeof(first));
	printf("first=%s\n", errname(r ? errno : 0));
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	poll(&p, 1, 3000);
	errno = EDOM;
	r = connect(fd, (struct sockaddr *)&second, sizeof(second));
	printf("elsewhere=%s errno_after=%s\n", errname(r ? errno : 0), r == 0 && errno == EDOM ? "untouched" : "-");
	print_names("", fd);
	return 0;
}

static int mode_soerror(void)
{
	struct sockaddr_in stuck = full_listener();
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	connect(fd, (struct sockaddr *)&stuck, sizeof(stuck));
	int error = -1;
	socklen_t len = sizeof(error);
	errno = EDOM;
	int r = getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len);
	printf("so_error=%s value=%d errno_after=%s\n", errname(r ? errno : 0), error, errno == EDOM ? "untouched" : "changed");
	return 0;
}

static int mode_listen_connected(char **argv)
{
	struct sockaddr_in server = address_of(argv[0], argv[1]);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	connect_or_report(fd, &server);
	printf("listen=%s\n", errname(listen(fd, 4) ? errno : 0));
	char buf[16] = {0};
	struct pollfd p = {.fd = fd, .events = POLLIN};
	ssize_t n = write(fd, "hello", 5) == 5 && poll(&p, 1, 2000) == 1 ? read(fd, buf, sizeof(buf) - 1) : -1;
	printf("echo=%s\n", n == 5 ? buf : "lost");
	return 0;
}

/* A filter of the program's (accept everything, 2 instructions), on a listener bound to 0.0.0.0. */
static int mode_filters(void)
{
	struct sock_filter accept_all[] = {{0x06, 0, 0, 0xffffffff}, {0x06, 0, 0, 0xffffffff}};
	struct sock_fprog program = {.len = 2, .filter = accept_all};
	struct sockaddr_in any = {.sin_family = AF_INET};
	for (int lock = 0; lock < 2; lock++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof(program));
		int on = 1;
		if (lock)
			setsockopt(fd, SOL_SOCKET, SO_LOCK_FILTER, &on, sizeof(on));
		bind(fd, (struct sockaddr *)&any, sizeof(any));
		printf("own%s_listen=%s\n", lock ? "_locked" : "", errname(listen(fd, 4) ? errno : 0));
		socklen_t n = 0;
		getsockopt(fd, SOL_SOCKET, SO_GET_FILTER, NULL, &n);
		printf("own%s_filter_length=%u\n", lock ? "_locked" : "", (unsigned)n);
		close(fd);
	}
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	bind(fd, (struct sockaddr *)&any, sizeof(any));
	listen(fd, 4);
	socklen_t n = 0;
	getsockopt(fd, SOL_SOCKET, SO_GET_FILTER, NULL, &n);
	printf("none_filter_length=%u\n", (unsigned)n);
	int zero = 0;
	printf("none_detach=%s\n", errname(setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &zero, sizeof(zero)) ? errno : 0));
	printf("none_detach_short=%s\n", errname(setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, NULL, 0) ? errno : 0));
	return 0;
}

static int mode_options(char **argv)
{
	struct sockaddr_in server = address_of(argv[0], argv[1]);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	connect_or_report(fd, &server);
	char text[64];
	for (socklen_t size = 8; size <= 28; size += 8) {
		struct sockaddr_storage peer = {0};
		socklen_t len = size;
		int r = getsockopt(fd, SOL_SOCKET, SO_PEERNAME, &peer, &len);
		printf("peername_%u=%s\n", (unsigned)size,
		       r ? errname(errno) : text_of((struct sockaddr_in *)&peer, len, text));
	}
	int domain = 0;
	socklen_t len = 2;
	getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len);
	printf("domain_2=%d len=%u\n", domain, (unsigned)len);
	struct sockaddr_in6 v6 = {.sin6_family = AF_INET6};
	printf("connected_inet6=%s\n", errname(connect(fd, (struct sockaddr *)&v6, sizeof(v6)) ? errno : 0));
	printf("connected_short=%s\n", errname(connect(fd, (struct sockaddr *)&server, 8) ? errno : 0));
	return 0;
}

static int mode_stderr_data(char **argv)
{
	struct sockaddr_in server = address_of(argv[0], argv[1]);
	close(2);
	int data = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (data != 2)
		return 1;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	connect(fd, (struct sockaddr *)&server, sizeof(server));
	return write(data, "data\n", 5) != 5;
}

static int mode_chdir_log(char **argv)
{
	struct sockaddr_in server = address_of(argv[1], argv[2]);
	if (chdir(argv[0]) < 0)
		return 1;
	closefrom(3);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	return connect_or_report(fd, &server) < 0;
}

/* The descriptor that is open on `path`, or -1. */
static int fd_on(const char *path)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int found = -1;
	while (d && (e = readdir(d))) {
		char link[300], target[4096];
		snprintf(link, sizeof(link), "/proc/self/fd/%s", e->d_name);
		ssize_t n = readlink(link, target, sizeof(target) - 1);
		if (n > 0) {
			target[n] = '\0';
			if (strcmp(target, path) == 0)
				found = atoi(e->d_name);
		}
	}
	if (d)
		closedir(d);
	return found;
}

static int mode_closefrom(char **argv)
{
	struct sockaddr_in server = address_of(argv[0], argv[1]);
	const char *log = getenv("TNAT64_DEBUG_FILE");
	int log_fd = log ? fd_on(log) : -1;
	int flags = log_fd >= 0 ? fcntl(log_fd, F_GETFD) : 0;
	printf("log_fd=%s\n", log_fd < 0 ? "none" : log_fd >= 100 && (flags & FD_CLOEXEC) ? "high-cloexec" : "low");
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	connect_or_report(fd, &server);
	closefrom(3);
	int data = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (log_fd >= 0 && data != log_fd) /* the program takes the number the library had */
		dup2(data, log_fd);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	connect_or_report(fd, &server);
	close(fd);
	if (write(data, "data\n", 5) != 5)
		return 1;
	if (log_fd >= 0)
		write(log_fd, "more\n", 5);
	return 0;
}

static int mode_exec(char **argv, const char *self)
{
	struct sockaddr_in server = address_of(argv[0], argv[1]);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (connect_or_report(fd, &server) < 0)
		return 1;
	int inherited = dup2(fd, 20); /* dup2 leaves close-on-exec off, as inetd-style hand-offs do */
	char number[16];
	snprintf(number, sizeof(number), "%d", inherited);
	fflush(stdout);
	execl(self, self, "inherited", number, (char *)NULL);
	return 1;
}

static int mode_listen_exec(const char *self)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in any = {.sin_family = AF_INET};
	bind(fd, (struct sockaddr *)&any, sizeof(any));
	listen(fd, 8);
	int inherited = dup2(fd, 21);
	char number[16];
	snprintf(number, sizeof(number), "%d", inherited);
	fflush(stdout);
	execl(self, self, "inherited-listener", number, (char *)NULL);
	return 1;
}

static int mode_inherited_listener(char **argv)
{
	int fd = atoi(argv[0]);
	socklen_t n = 0;
	getsockopt(fd, SOL_SOCKET, SO_GET_FILTER, NULL, &n);
	printf("inherited_filter_length=%u\n", (unsigned)n);
	struct sockaddr_in local;
	socklen_t len = sizeof(local);
	getsockname(fd, (struct sockaddr *)&local, &len);
	printf("ipv4_client=%s\n", gets_in(AF_INET, ntohs(local.sin_port)));
	printf("ipv6_client=%s\n", gets_in(AF_INET6, ntohs(local.sin_port)));
	return 0;
}

static int mode_shutdown(char **argv)
{
	struct sockaddr_in stuck = full_listener(), server = address_of(argv[0], argv[1]);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	connect(fd, (struct sockaddr *)&stuck, sizeof(stuck));
	printf("shutdown=%s\n", errname(shutdown(fd, SHUT_RDWR) ? errno : 0));
	fcntl(fd, F_SETFL, 0);
	connect_or_report(fd, &server);
	print_names("", fd);
	return 0;
}

static int mode_listener_connects(char **argv)
{
	struct sockaddr_in server = address_of(argv[0], argv[1]), any = {.sin_family = AF_INET};
	int on = 1, fd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (strcmp(argv[2], "none") != 0)
		bind(fd, (struct sockaddr *)&any, sizeof(any));
	if (strcmp(argv[2], "failed") == 0) {
		socklen_t len = sizeof(any);
		getsockname(fd, (struct sockaddr *)&any, &len);
		int other = socket(AF_INET, SOCK_STREAM, 0);
		setsockopt(other, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
		bind(other, (struct sockaddr *)&any, sizeof(any));
		listen(other, 4); /* the port is taken for listening: ours fails */
	}
	printf("listen=%s\n", errname(listen(fd, 4) ? errno : 0));
	if (strcmp(argv[2], "failed") != 0)
		printf("shutdown=%s\n", errname(shutdown(fd, SHUT_RDWR) ? errno : 0));
	socklen_t n = 0;
	getsockopt(fd, SOL_SOCKET, SO_GET_FILTER, NULL, &n);
	printf("filter_length=%u\n", (unsigned)n);
	struct timeval t = {3, 0};
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &t, sizeof(t));
	connect_or_report(fd, &server);
	print_names("", fd);
	return 0;
}

static int mode_scm_stale(void)
{
	int pair[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, pair);
	int native = (int)syscall(SYS_socket, AF_INET6, SOCK_STREAM, 0);
	int swapped = socket(AF_INET, SOCK_STREAM, 0);
	fclose(fdopen(swapped, "r+"));
	char byte = 0, control[CMSG_SPACE(sizeof(int))] = {0};
	struct iovec io = {&byte, 1};
	struct msghdr msg = {.msg_iov = &io, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof(control)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	*c = (struct cmsghdr){.cmsg_len = CMSG_LEN(sizeof(int)), .cmsg_level = SOL_SOCKET, .cmsg_type = SCM_RIGHTS};
	memcpy(CMSG_DATA(c), &native, sizeof(int));
	sendmsg(pair[0], &msg, 0);
	recvmsg(pair[1], &msg, 0);
	int received;
	memcpy(&received, CMSG_DATA(CMSG_FIRSTHDR(&msg)), sizeof(int));
	printf("same_number=%s\n", received == swapped ? "yes" : "no");
	struct sockaddr_in6 any6 = {.sin6_family = AF_INET6};
	bind(received, (struct sockaddr *)&any6, sizeof(any6));
	printf("listen=%s\n", errname(listen(received, 4) ? errno : 0));
	struct sockaddr_in6 local;
	socklen_t len = sizeof(local);
	getsockname(received, (struct sockaddr *)&local, &len);
	printf("local_family=%s\n", local.sin6_family == AF_INET6 ? "AF_INET6" : "other");
	printf("ipv6_client=%s\n", gets_in(AF_INET6, ntohs(local.sin6_port)));
	return 0;
}

static int mode_inherited(char **argv)
{
	int fd = atoi(argv[0]);
	print_names("inherited_", fd);
	return http_body(fd, false);
}

static int mode_vfork(char **argv)
{
	struct sockaddr_in server = address_of(argv[0], argv[1]);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (connect_or_report(fd, &server) < 0)
		return 1;
	int pair[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, pair);
	pid_t pid = vfork();
	if (pid == 0) {
		dup2(fd, pair[0]);
		close(fd);
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	print_names("socket_", fd);
	print_names("unix_", pair[0]);
	return http_body(fd, false);
}

static int mode_reuse(char **argv)
{
	struct sockaddr_in server = address_of(argv[0], argv[1]);
	for (int how = 0; how < 2; how++) {
		const char *tag = how == 0 ? "fclose_" : "syscall_";
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (how == 0)
			fclose(fdopen(fd, "r+"));
		else
			syscall(SYS_close, fd);
		int raw = (int)syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
		printf("%ssame_number=%s\n", tag, raw == fd ? "yes" : "no");
		int domain = 0;
		socklen_t len = sizeof(domain);
		getsockopt(raw, SOL_SOCKET, SO_DOMAIN, &domain, &len);
		printf("%sdomain=%s\n", tag, domain == AF_INET ? "AF_INET" : "other");
		struct sockaddr_in any = {.sin_family = AF_INET};
		printf("%sbind=%s\n", tag, errname(bind(raw, (struct sockaddr *)&any, sizeof(any)) ? errno : 0));
		printf("%sconnect=%s\n", tag,
		       errname(connect(raw, (struct sockaddr *)&server, sizeof(server)) ? errno : 0));
		print_names(tag, raw);
		close(raw);
	}
	return 0;
}

static int mode_addrlen(char **argv, int startup_errno)
{
	printf("startup_errno=%d\n", startup_errno);
	struct sockaddr_storage big[2];
	memset(big, 0, sizeof(big));
	struct sockaddr_in server = address_of(argv[0], argv[1]);
	memcpy(big, &server, sizeof(server));
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	printf("len_129=%s\n", errname(connect(fd, (struct sockaddr *)big, 129) ? errno : 0));
	printf("len_15=%s\n", errname(connect(fd, (struct sockaddr *)big, 15) ? errno : 0));
	printf("bind_len_129=%s\n", errname(bind(fd, (struct sockaddr *)big, 129) ? errno : 0));
	errno = EDOM;
	int r = connect(fd, (struct sockaddr *)big, 128);
	printf("len_128=%s errno_after=%s\n", errname(r ? errno : 0), errno == EDOM ? "untouched" : "changed");
	struct sockaddr_in6 v6 = {.sin6_family = AF_INET6};
	printf("family_inet6=%s\n", errname(connect(socket(AF_INET, SOCK_STREAM, 0), (struct sockaddr *)&v6, sizeof(v6)) ? errno : 0));
	int v = 1;
	socklen_t len = sizeof(v);
	printf("ipv6_get=%s\n", errname(getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, &len) ? errno : 0));
	printf("ipv6_set=%s\n", errname(setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof(v)) ? errno : 0));
	return 0;
}

static int mode_beyond(char **argv)
{
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = address_of(argv[0], "0");
	socklen_t len = sizeof(a);
	bind(l, (struct sockaddr *)&a, sizeof(a));
	listen(l, 8);
	getsockname(l, (struct sockaddr *)&a, &len);
	int c = socket(AF_INET, SOCK_STREAM, 0);
	connect(c, (struct sockaddr *)&a, sizeof(a));
	while (open("/dev/null", O_RDONLY) < 200)
		;
	int fd = accept(l, NULL, NULL);
	printf("accepted_high=%s\n", fd >= 200 ? "yes" : "no");
	print_names("accepted_", fd);
	(void)argv;
	return 0;
}

static struct sockaddr_in signal_server;
static volatile sig_atomic_t handled, handler_errors;

static void on_alarm(int signo)
{
	(void)signo;
	int saved = errno;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(fd, (struct sockaddr *)&signal_server, sizeof(signal_server)) < 0)
		handler_errors++;
	close(fd);
	handled++;
	errno = saved;
}

static int mode_signal(char **argv)
{
	signal_server = address_of(argv[0], argv[1]);
	struct sigaction sa = {.sa_handler = on_alarm, .sa_flags = SA_RESTART};
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval every = {{0, 2000}, {0, 2000}};
	setitimer(ITIMER_REAL, &every, NULL);
	long ms = atol(argv[2]);
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	unsigned long rounds = 0;
	do {
		char *p = malloc(64 + rounds % 4096);
		char line[128];
		snprintf(line, sizeof(line), "%lu %s", rounds, strerror((int)(rounds % 100)));
		free(p);
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&signal_server, sizeof(signal_server)) < 0)
			handler_errors++;
		close(fd);
		rounds++;
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 < ms);
	struct itimerval off = {0};
	setitimer(ITIMER_REAL, &off, NULL);
	printf("handled=%s errors=%d\n", handled > 10 ? "many" : "few", (int)handler_errors);
	return handler_errors != 0;
}

struct stress {
	struct sockaddr_in server;
	int rounds;
	int wrong;
};

static bool peer_right(int fd, const struct sockaddr_in *server)
{
	struct sockaddr_in peer;
	socklen_t len = sizeof(peer);
	int domain = 0;
	socklen_t dlen = sizeof(domain);
	return getpeername(fd, (struct sockaddr *)&peer, &len) == 0 && len == sizeof(peer) &&
	       peer.sin_family == AF_INET && peer.sin_addr.s_addr == server->sin_addr.s_addr &&
	       peer.sin_port == server->sin_port && getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &dlen) == 0 &&
	       domain == AF_INET;
}

static void *stress_thread(void *arg)
{
	struct stress *s = arg;
	for (int i = 0; i < s->rounds; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&s->server, sizeof(s->server)) < 0 || !peer_right(fd, &s->server)) {
			s->wrong++;
			close(fd);
			continue;
		}
		int copy = i % 2 ? dup(fd) : fcntl(fd, F_DUPFD_CLOEXEC, 0);
		s->wrong += !peer_right(copy, &s->server);
		close(fd);
		s->wrong += !peer_right(copy, &s->server);
		if (i % 16 == 0) {
			pid_t pid = fork();
			if (pid == 0)
				_exit(peer_right(copy, &s->server) ? 0 : 1);
			int status;
			waitpid(pid, &status, 0);
			s->wrong += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
		}
		close(copy);
	}
	return NULL;
}

static int count_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n;
}

static int mode_stress(char **argv)
{
	int n_threads = atoi(argv[2]);
	pthread_t tids[64];
	struct stress jobs[64];
	if (n_threads > 64)
		n_threads = 64;
	int before = count_fds(), wrong = 0;
	for (int t = 0; t < n_threads; t++) {
		jobs[t] = (struct stress){.server = address_of(argv[0], argv[1]), .rounds = atoi(argv[3])};
		pthread_create(&tids[t], NULL, stress_thread, &jobs[t]);
	}
	for (int t = 0; t < n_threads; t++) {
		pthread_join(tids[t], NULL);
		wrong += jobs[t].wrong;
	}
	printf("wrong=%d leaked=%d\n", wrong, count_fds() - before);
	return wrong != 0;
}

int main(int argc, char **argv)
{
	int startup_errno = errno;
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	static const struct {
		const char *name;
		int args;
	} modes[] = {{"bind", 4},     {"resvport", 2}, {"listen", 1}, {"fastopen", 2}, {"already", 0},
		     {"closefrom", 3}, {"exec", 2},    {"inherited", 1}, {"vfork", 2}, {"reuse", 2},
		     {"addrlen", 2},  {"beyond", 1},   {"signal", 3}, {"stress", 4}, {"reconnect", 3},
		     {"soerror", 0},  {"listen-connected", 2}, {"filters", 0}, {"options", 2},
		     {"stderr-data", 3}, {"chdir-log", 3}, {"listen-exec", 0}, {"inherited-listener", 1},
		     {"shutdown", 2}, {"listener-connects", 3}, {"scm-stale", 0}};
	const char *mode = argc > 1 ? argv[1] : "";
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (strcmp(mode, modes[i].name) != 0)
			continue;
		if (argc - 2 < modes[i].args)
			break;
		char **rest = argv + 2;
		switch (i) {
		case 0: return mode_bind(rest);
		case 1: return mode_resvport(rest);
		case 2: return mode_listen(rest);
		case 3: return mode_fastopen(rest);
		case 4: return mode_already();
		case 5: return mode_closefrom(rest);
		case 6: return mode_exec(rest, argv[0]);
		case 7: return mode_inherited(rest);
		case 8: return mode_vfork(rest);
		case 9: return mode_reuse(rest);
		case 10: return mode_addrlen(rest, startup_errno);
		case 11: return mode_beyond(rest);
		case 12: return mode_signal(rest);
		case 13: return mode_stress(rest);
		case 14: return mode_reconnect(rest);
		case 15: return mode_soerror();
		case 16: return mode_listen_connected(rest);
		case 17: return mode_filters();
		case 18: return mode_options(rest);
		case 19: return mode_stderr_data(rest);
		case 20: return mode_chdir_log(rest);
		case 21: return mode_listen_exec(argv[0]);
		case 22: return mode_inherited_listener(rest);
		case 23: return mode_shutdown(rest);
		case 24: return mode_listener_connects(rest);
		case 25: return mode_scm_stale();
		}
	}
	fprintf(stderr, "usage: see the comment at the top of patterns.c\n");
	return 2;
}
