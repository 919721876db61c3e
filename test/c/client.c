/* A plain IPv4 TCP client, as an old program would be written: AF_INET sockets, IPv4 literals.
 * It knows nothing of tnat64; the lab tests run it with and without the preload.
 *
 *   client http    ADDR PORT   blocking connect, GET /, print the peer and local names and the body
 *   (ADDR may be a name: libc's resolver, AF_INET, answers it)
 *   client http-nb ADDR PORT   the same with a non-blocking connect, poll and SO_ERROR
 *   client names   ADDR PORT   getpeername/getsockname with short buffers, IP_TOS, SO_DOMAIN
 *   client repeat  ADDR PORT N N blocking echo round-trips, one connection each
 *   client threads ADDR PORT T N  T threads of N echo round-trips each
 *   client fork    ADDR PORT P N  P child processes of N echo round-trips each
 *   client interrupted ADDR PORT  a blocking connect with SO_SNDTIMEO 1 s, a signal (SA_RESTART)
 *                              at 300 ms: what it returns and when; then the same connect again
 *   client twice   ADDR PORT   connect, then connect again: what each returns
 *   client timeout ADDR PORT   a blocking connect with SO_SNDTIMEO 1 s that times out, then again
 *   client reused  ADDR PORT ADDR2 PORT2  a connect a signal interrupts (EINTR), the socket closed,
 *                              a new one (same number) connected to ADDR2:PORT2
 *   client storm   ADDR PORT ADDR2 PORT2   a thread's blocking connect restarted by a signal every
 *                              5 ms, while the main thread connects to ADDR2:PORT2 ten times
 *   client unshared ADDR PORT  a socket made and closed, then a network namespace of its own
 *                              (unshare, as an unprivileged user may with a user namespace), then
 *                              connect: what the new namespace gives
 *
 * Output is `key=value` lines; exit 0 only when every connection and check succeeded. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/ip.h>
#include <poll.h>
#include <stdbool.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct sockaddr_in server;

static int fail(const char *what)
{
	printf("error=%s: %s\n", what, strerror(errno));
	return -1;
}

static const char *name_of(const struct sockaddr_in *sin, socklen_t len, char *out, size_t size)
{
	char address[INET_ADDRSTRLEN] = "?";
	inet_ntop(AF_INET, &sin->sin_addr, address, sizeof(address));
	snprintf(out, size, "%s %s:%u len=%u", sin->sin_family == AF_INET ? "AF_INET" : "other", address,
		 ntohs(sin->sin_port), (unsigned)len);
	return out;
}

static void print_names(int fd)
{
	struct sockaddr_in peer, local;
	socklen_t peer_len = sizeof(peer), local_len = sizeof(local);
	char text[96];
	if (getpeername(fd, (struct sockaddr *)&peer, &peer_len) == 0)
		printf("peer=%s\n", name_of(&peer, peer_len, text, sizeof(text)));
	else
		fail("getpeername");
	if (getsockname(fd, (struct sockaddr *)&local, &local_len) == 0)
		printf("local=%s\n", name_of(&local, local_len, text, sizeof(text)));
	else
		fail("getsockname");
}

static int http_get(int fd)
{
	static const char request[] = "GET / HTTP/1.0\r\n\r\n";
	char reply[4096];
	size_t got = 0;
	ssize_t n;
	if (write(fd, request, sizeof(request) - 1) != (ssize_t)sizeof(request) - 1)
		return fail("write");
	while ((n = read(fd, reply + got, sizeof(reply) - 1 - got)) > 0)
		got += (size_t)n;
	reply[got] = '\0';
	char *body = strstr(reply, "\r\n\r\n");
	if (n < 0 || !body)
		return fail("read");
	printf("body=%s", body + 4);
	return 0;
}

static int connect_blocking(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return fail("socket");
	if (connect(fd, (struct sockaddr *)&server, sizeof(server)) < 0) {
		fail("connect");
		close(fd);
		return -1;
	}
	return fd;
}

static int connect_nonblocking(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, IPPROTO_TCP);
	if (fd < 0)
		return fail("socket");
	int r = connect(fd, (struct sockaddr *)&server, sizeof(server));
	printf("connect=%s\n", r == 0 ? "immediate" : errno == EINPROGRESS ? "in-progress" : strerror(errno));
	if (r < 0 && errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	int error = 0;
	socklen_t len = sizeof(error);
	if (poll(&p, 1, 5000) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) < 0 || error != 0) {
		errno = error ? error : ETIMEDOUT;
		fail("non-blocking connect");
		close(fd);
		return -1;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
}

static int http(bool blocking)
{
	int fd = blocking ? connect_blocking() : connect_nonblocking();
	if (fd < 0)
		return 1;
	print_names(fd);
	int r = http_get(fd);
	close(fd);
	return r < 0;
}

/* The details an IPv4 program may rely on, each printed for the test to check. */
static int names(void)
{
	int fd = connect_blocking();
	if (fd < 0)
		return 1;
	struct sockaddr_in peer;
	socklen_t len = 4; /* short: family and port only, and the full size back */
	memset(&peer, 0xee, sizeof(peer));
	if (getpeername(fd, (struct sockaddr *)&peer, &len) < 0)
		return fail("getpeername short") < 0;
	printf("short_peer_len=%u short_peer_family=%s short_peer_untouched=%s\n", (unsigned)len,
	       peer.sin_family == AF_INET ? "AF_INET" : "other",
	       peer.sin_addr.s_addr == 0xeeeeeeee ? "yes" : "no");
	len = 0;
	const char *result = getsockname(fd, (struct sockaddr *)&peer, &len) == 0 ? "ok" : strerror(errno);
	printf("zero_len_getsockname=%s len=%u\n", result, (unsigned)len);
	int tos = IPTOS_LOWDELAY, got = 0;
	socklen_t got_len = sizeof(got);
	printf("ip_tos_set=%s\n", setsockopt(fd, IPPROTO_IP, IP_TOS, &tos, sizeof(tos)) == 0 ? "ok" : strerror(errno));
	result = getsockopt(fd, IPPROTO_IP, IP_TOS, &got, &got_len) == 0 ? "ok" : strerror(errno);
	printf("ip_tos_get=%s value=%d\n", result, got);
	int domain = 0;
	socklen_t domain_len = sizeof(domain);
	getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &domain_len);
	printf("so_domain=%s\n", domain == AF_INET ? "AF_INET" : domain == AF_INET6 ? "AF_INET6" : "other");
	int copy = dup(fd);
	struct sockaddr_in dup_peer;
	socklen_t dup_len = sizeof(dup_peer);
	char text[96];
	getpeername(copy, (struct sockaddr *)&dup_peer, &dup_len);
	printf("dup_peer=%s\n", name_of(&dup_peer, dup_len, text, sizeof(text)));
	close(copy);
	close(fd);
	return 0;
}

/* One connection, one echo round-trip: 0 when the reply matched. */
static int echo_once(unsigned id)
{
	char out[32], in[32];
	int n = snprintf(out, sizeof(out), "ping %u\n", id);
	int fd = connect_blocking();
	if (fd < 0)
		return -1;
	int r = -1;
	if (write(fd, out, (size_t)n) == n && shutdown(fd, SHUT_WR) == 0) {
		ssize_t got = 0, k;
		while (got < n && (k = read(fd, in + got, sizeof(in) - (size_t)got)) > 0)
			got += k;
		r = got == n && memcmp(in, out, (size_t)n) == 0 ? 0 : -1;
	}
	close(fd);
	return r;
}

static int echo_many(unsigned base, int count)
{
	int failures = 0;
	for (int i = 0; i < count; i++)
		failures += echo_once(base + (unsigned)i) != 0;
	return failures;
}

static int count_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

struct job {
	unsigned base;
	int count;
	int failures;
};

static void *thread_main(void *arg)
{
	struct job *job = arg;
	job->failures = echo_many(job->base, job->count);
	return NULL;
}

static int threads(int n_threads, int count)
{
	pthread_t tids[256];
	struct job jobs[256];
	if (n_threads > 256)
		n_threads = 256;
	int before = count_fds(), failures = 0;
	for (int t = 0; t < n_threads; t++) {
		jobs[t] = (struct job){.base = (unsigned)(t * count), .count = count};
		pthread_create(&tids[t], NULL, thread_main, &jobs[t]);
	}
	for (int t = 0; t < n_threads; t++) {
		pthread_join(tids[t], NULL);
		failures += jobs[t].failures;
	}
	printf("connections=%d failures=%d fds_before=%d fds_after=%d\n", n_threads * count, failures, before,
	       count_fds());
	return failures != 0 || before != count_fds();
}

static int forks(int n_children, int count)
{
	int before = count_fds(), failures = 0;
	/* A connection before the fork, so the children inherit a process that already used tnat64. */
	failures += echo_once(0) != 0;
	for (int c = 0; c < n_children; c++) {
		pid_t pid = fork();
		if (pid == 0) {
			int child_failures = echo_many((unsigned)(c * count), count);
			_exit(child_failures > 255 ? 255 : child_failures);
		}
		if (pid < 0)
			return fail("fork") < 0;
	}
	int status;
	while (wait(&status) > 0)
		failures += WIFEXITED(status) ? WEXITSTATUS(status) : count;
	printf("connections=%d failures=%d fds_before=%d fds_after=%d\n", n_children * count + 1, failures, before,
	       count_fds());
	return failures != 0 || before != count_fds();
}

static void tick(int sig)
{
	(void)sig;
}

static double seconds_since(const struct timespec *start)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* A connect's outcome, locale-free: OK or the errno's name for the ones these modes meet. */
static const char *outcome(int r)
{
	if (r == 0)
		return "OK";
	switch (errno) {
	case EINTR: return "EINTR";
	case EALREADY: return "EALREADY";
	case EINPROGRESS: return "EINPROGRESS";
	case EISCONN: return "EISCONN";
	case ETIMEDOUT: return "ETIMEDOUT";
	default: return strerror(errno);
	}
}

static int interrupted(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct timeval limit = {.tv_sec = 1};
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit));
	struct sigaction restart = {.sa_handler = tick, .sa_flags = SA_RESTART};
	sigaction(SIGALRM, &restart, NULL);
	setitimer(ITIMER_REAL, &(struct itimerval){.it_value = {.tv_usec = 300 * 1000}}, NULL);
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	const char *first = outcome(connect(fd, (struct sockaddr *)&server, sizeof(server)));
	printf("first=%s within_0.8s=%s\n", first, seconds_since(&start) < 0.8 ? "yes" : "no");
	clock_gettime(CLOCK_MONOTONIC, &start);
	const char *again = outcome(connect(fd, (struct sockaddr *)&server, sizeof(server)));
	double waited = seconds_since(&start);
	printf("again=%s waited_0.8-2s=%s\n", again, waited > 0.8 && waited < 2 ? "yes" : "no");
	return 0;
}

static int timeout(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct timeval limit = {.tv_sec = 1};
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit));
	printf("first=%s\n", outcome(connect(fd, (struct sockaddr *)&server, sizeof(server))));
	printf("again=%s\n", outcome(connect(fd, (struct sockaddr *)&server, sizeof(server))));
	return 0;
}

/* The reachable server of the modes that also need one (ADDR2 PORT2). */
static struct sockaddr_in lab_http;

static int reused(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct timeval limit = {.tv_sec = 5};
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit));
	struct sigaction plain = {.sa_handler = tick};
	sigaction(SIGALRM, &plain, NULL);
	setitimer(ITIMER_REAL, &(struct itimerval){.it_value = {.tv_usec = 100 * 1000}}, NULL);
	printf("first=%s\n", outcome(connect(fd, (struct sockaddr *)&server, sizeof(server))));
	close(fd);
	int next = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(next, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit));
	printf("same_number=%s next=%s\n", next == fd ? "yes" : "no",
	       outcome(connect(next, (const struct sockaddr *)&lab_http, sizeof(lab_http))));
	return 0;
}

static void *connect_forever(void *unused)
{
	(void)unused;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	connect(fd, (struct sockaddr *)&server, sizeof(server));
	return NULL;
}

static int storm(void)
{
	struct sigaction restart = {.sa_handler = tick, .sa_flags = SA_RESTART};
	sigaction(SIGALRM, &restart, NULL);
	sigset_t alarm_only;
	sigemptyset(&alarm_only);
	sigaddset(&alarm_only, SIGALRM);
	pthread_t thread;
	pthread_create(&thread, NULL, connect_forever, NULL);
	/* The signals go to the connecting thread alone. */
	pthread_sigmask(SIG_BLOCK, &alarm_only, NULL);
	setitimer(ITIMER_REAL, &(struct itimerval){{0, 5000}, {0, 5000}}, NULL);
	double worst = 0;
	for (int i = 0; i < 10; i++) {
		struct timespec start;
		clock_gettime(CLOCK_MONOTONIC, &start);
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		int r = connect(fd, (const struct sockaddr *)&lab_http, sizeof(lab_http));
		close(fd);
		double took = seconds_since(&start);
		worst = r == 0 && took < worst ? worst : r == 0 ? took : 99;
		usleep(100 * 1000);
	}
	printf("others_served_within_0.5s=%s\n", worst < 0.5 ? "yes" : "no");
	return 0;
}

static int unshared(void)
{
	close(socket(AF_INET, SOCK_STREAM, 0));
	if (unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0)
		return fail("unshare");
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int r = connect(fd, (struct sockaddr *)&server, sizeof(server));
	printf("connect=%s\n", r == 0 ? "OK" : strerror(errno));
	return 0;
}

static int twice(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	printf("first=%s\n", outcome(connect(fd, (struct sockaddr *)&server, sizeof(server))));
	printf("again=%s\n", outcome(connect(fd, (struct sockaddr *)&server, sizeof(server))));
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 4) {
		fprintf(stderr, "usage: %s http|http-nb|names|repeat|threads|fork|interrupted|twice|timeout|reused|storm|unshared ADDR PORT [N [M]]\n", argv[0]);
		return 2;
	}
	server.sin_family = AF_INET;
	server.sin_port = htons((uint16_t)atoi(argv[3]));
	/* A name goes through libc's own resolver: a static one is out of LD_PRELOAD's reach too. */
	struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *found;
	if (inet_pton(AF_INET, argv[2], &server.sin_addr) != 1) {
		int error = getaddrinfo(argv[2], NULL, &hints, &found);
		if (error != 0) {
			printf("error=getaddrinfo %s: %s\n", argv[2], gai_strerror(error));
			return 1;
		}
		server.sin_addr = ((struct sockaddr_in *)found->ai_addr)->sin_addr;
		freeaddrinfo(found);
		char text[INET_ADDRSTRLEN];
		printf("resolved=%s\n", inet_ntop(AF_INET, &server.sin_addr, text, sizeof(text)));
	}
	const char *mode = argv[1];
	int n = argc > 4 ? atoi(argv[4]) : 1, m = argc > 5 ? atoi(argv[5]) : 1;
	if (strcmp(mode, "http") == 0)
		return http(true);
	if (strcmp(mode, "http-nb") == 0)
		return http(false);
	if (strcmp(mode, "names") == 0)
		return names();
	if (strcmp(mode, "repeat") == 0) {
		int failures = echo_many(0, n);
		printf("connections=%d failures=%d\n", n, failures);
		return failures != 0;
	}
	if (strcmp(mode, "threads") == 0)
		return threads(n, m);
	if (strcmp(mode, "fork") == 0)
		return forks(n, m);
	if (strcmp(mode, "interrupted") == 0)
		return interrupted();
	if (strcmp(mode, "twice") == 0)
		return twice();
	if (strcmp(mode, "timeout") == 0)
		return timeout();
	if ((strcmp(mode, "reused") == 0 || strcmp(mode, "storm") == 0) &&
	    (argc < 6 || inet_pton(AF_INET, argv[4], &lab_http.sin_addr) != 1)) {
		fprintf(stderr, "%s: ADDR PORT ADDR2 PORT2\n", mode);
		return 2;
	}
	lab_http.sin_family = AF_INET;
	lab_http.sin_port = argc > 5 ? htons((uint16_t)atoi(argv[5])) : 0;
	if (strcmp(mode, "reused") == 0)
		return reused();
	if (strcmp(mode, "storm") == 0)
		return storm();
	if (strcmp(mode, "unshared") == 0)
		return unshared();
	fprintf(stderr, "%s: unknown mode\n", mode);
	return 2;
}
