/* The benchmark's client. ADDR is IPv4 (an AF_INET socket, as an old program has) or IPv6 (an
 * AF_INET6 socket, mapped addresses included):
 *   client connect ADDR PORT N      N x (socket, connect, close); prints ns per iteration
 *   client first   ADDR PORT        two connects; prints the ns of each (the first pays any fallback)
 *   client probe   ADDR PORT        one connect; prints the line the server sends
 *   client stream  ADDR PORT BYTES  one connection, BYTES sent in 64 KiB writes; prints ns until
 *                                   the server has read them all and closed
 *   client echo    ADDR PORT N      one UDP socket, N x (sendto, recvfrom of the echo); prints ns per
 *                                   round trip
 *   client probe-udp ADDR PORT      one datagram; prints the line the server sends back
 *   client lookup  NAME N           N x getaddrinfo(NAME, AF_INET); prints ns per lookup and the
 *                                   first address of the answer */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct sockaddr_storage server;
static socklen_t server_len;

static long long now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int connected(void)
{
	int fd = socket(server.ss_family, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&server, server_len) < 0) {
		perror("client: connect");
		exit(1);
	}
	return fd;
}

/* A UDP socket that gives up after a second: a lost datagram fails the run instead of hanging it. */
static int datagram_socket(void)
{
	int fd = socket(server.ss_family, SOCK_DGRAM, 0);
	struct timeval t = {.tv_sec = 1};
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &t, sizeof(t)) < 0) {
		perror("client: socket");
		exit(1);
	}
	return fd;
}

/* One request and its answer, which must come from the server's address as the program gave it:
 * recvfrom with an address is the call a UDP client makes, and the one the library translates. */
static ssize_t round_trip(int fd, const void *out, size_t out_len, void *in, size_t in_len)
{
	struct sockaddr_storage from;
	socklen_t from_len = sizeof(from);
	ssize_t got;
	if (sendto(fd, out, out_len, 0, (struct sockaddr *)&server, server_len) != (ssize_t)out_len ||
	    (got = recvfrom(fd, in, in_len, 0, (struct sockaddr *)&from, &from_len)) < 0) {
		perror("client: sendto/recvfrom");
		exit(1);
	}
	if (from_len != server_len || memcmp(&from, &server, server_len) != 0) {
		fprintf(stderr, "client: an answer from another address\n");
		exit(1);
	}
	return got;
}

static void lookup(const char *name, long long n)
{
	struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_DGRAM}, *answer;
	char first[INET_ADDRSTRLEN] = "";
	long long start = now_ns();
	for (long long i = 0; i < n; i++) {
		int error = getaddrinfo(name, NULL, &hints, &answer);
		if (error != 0) {
			fprintf(stderr, "client: getaddrinfo %s: %s\n", name, gai_strerror(error));
			exit(1);
		}
		if (i == 0)
			inet_ntop(AF_INET, &((struct sockaddr_in *)answer->ai_addr)->sin_addr, first, sizeof(first));
		freeaddrinfo(answer);
	}
	printf("%.1f %s\n", (double)(now_ns() - start) / (double)n, first);
}

/* Closed with a reset: no TIME_WAIT, so a long loop does not run out of ports. */
static void close_now(int fd)
{
	struct linger l = {1, 0};
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "lookup") == 0) {
		lookup(argv[2], atoll(argv[3]));
		return 0;
	}
	if (argc < 4) {
		fprintf(stderr, "usage: %s connect|first|probe|stream|echo|probe-udp ADDR PORT [N|BYTES]\n", argv[0]);
		fprintf(stderr, "       %s lookup NAME N\n", argv[0]);
		return 2;
	}
	uint16_t port = htons((uint16_t)atoi(argv[3]));
	struct sockaddr_in *v4 = (struct sockaddr_in *)&server;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&server;
	if (inet_pton(AF_INET, argv[2], &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET, v4->sin_port = port, server_len = sizeof(*v4);
	} else if (inet_pton(AF_INET6, argv[2], &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6, v6->sin6_port = port, server_len = sizeof(*v6);
	} else {
		fprintf(stderr, "%s: not an address\n", argv[2]);
		return 2;
	}
	const char *mode = argv[1];
	long long n = argc > 4 ? atoll(argv[4]) : 1;
	if (strcmp(mode, "connect") == 0) {
		long long start = now_ns();
		for (long long i = 0; i < n; i++)
			close_now(connected());
		printf("%.1f\n", (double)(now_ns() - start) / (double)n);
	} else if (strcmp(mode, "first") == 0) {
		long long t0 = now_ns();
		close_now(connected());
		long long t1 = now_ns();
		close_now(connected());
		printf("%lld %lld\n", t1 - t0, now_ns() - t1);
	} else if (strcmp(mode, "probe") == 0) {
		char line[128] = "";
		int fd = connected();
		ssize_t got = read(fd, line, sizeof(line) - 1);
		printf("%s", got > 0 ? line : "(nothing)\n");
		close(fd);
	} else if (strcmp(mode, "stream") == 0) {
		static char buffer[1 << 16];
		memset(buffer, 'x', sizeof(buffer));
		int fd = connected();
		long long start = now_ns();
		for (long long sent = 0; sent < n;) {
			ssize_t w = write(fd, buffer, n - sent < (long long)sizeof(buffer) ? (size_t)(n - sent) : sizeof(buffer));
			if (w <= 0) {
				perror("client: write");
				return 1;
			}
			sent += w;
		}
		shutdown(fd, SHUT_WR);
		while (read(fd, buffer, sizeof(buffer)) > 0)
			; /* the server closes once it has read everything */
		printf("%lld\n", now_ns() - start);
		close(fd);
	} else if (strcmp(mode, "echo") == 0) {
		char out[32] = "tnat64 bench", in[64];
		int fd = datagram_socket();
		long long start = now_ns();
		for (long long i = 0; i < n; i++)
			if (round_trip(fd, out, sizeof(out), in, sizeof(in)) != sizeof(out)) {
				fprintf(stderr, "client: a short echo\n");
				return 1;
			}
		printf("%.1f\n", (double)(now_ns() - start) / (double)n);
		close(fd);
	} else if (strcmp(mode, "probe-udp") == 0) {
		char line[128];
		int fd = datagram_socket();
		ssize_t got = round_trip(fd, "?", 1, line, sizeof(line) - 1);
		line[got] = 0;
		printf("%s", line);
		close(fd);
	} else {
		fprintf(stderr, "%s: unknown mode\n", mode);
		return 2;
	}
	return 0;
}
