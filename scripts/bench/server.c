/* The benchmark's server, `server PORT ADDR`. TCP, dual-stack on [::] (IPv4 clients arrive as
 * ::ffff:a.b.c.d):
 *   PORT     accept and close            (connect cost)
 *   PORT+1   accept, write the peer address it saw, close   (which way did the traffic go?)
 *   PORT+2   accept, read to end of stream, close          (throughput)
 * UDP on the IPv6 address ADDR, so that every answer leaves from the address the client sent to:
 *   PORT     echo each datagram          (request/response rate)
 *   PORT+1   answer with the address the datagram came from
 *   53       DNS: an A record for any name (lookup rate)
 * Prints "ready" once all listen; runs until killed. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct in6_addr address; /* ADDR */

static int listen_on(int port)
{
	int fd = socket(AF_INET6, SOCK_STREAM, 0), off = 0, on = 1;
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 4096) < 0) {
		perror("server: listen");
		exit(1);
	}
	return fd;
}

static int udp_on(int port)
{
	int fd = socket(AF_INET6, SOCK_DGRAM, 0);
	struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port), .sin6_addr = address};
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		perror("server: bind");
		exit(1);
	}
	return fd;
}

static void *accept_close(void *arg)
{
	int fd = (int)(long)arg;
	for (;;) {
		int c = accept(fd, NULL, NULL);
		if (c >= 0)
			close(c);
	}
	return NULL;
}

/* The address a client was seen at, as a line; its length. */
static size_t peer_line(const struct sockaddr_in6 *peer, char line[INET6_ADDRSTRLEN + 1])
{
	inet_ntop(AF_INET6, &peer->sin6_addr, line, INET6_ADDRSTRLEN);
	strcat(line, "\n");
	return strlen(line);
}

static void *tell_peer(void *arg)
{
	int fd = (int)(long)arg;
	for (;;) {
		struct sockaddr_in6 peer;
		socklen_t len = sizeof(peer);
		int c = accept(fd, (struct sockaddr *)&peer, &len);
		if (c < 0)
			continue;
		char line[INET6_ADDRSTRLEN + 1];
		ssize_t ignored = write(c, line, peer_line(&peer, line));
		(void)ignored;
		close(c);
	}
	return NULL;
}

static void *drain_one(void *arg)
{
	int c = (int)(long)arg;
	static char buffer[1 << 18];
	while (read(c, buffer, sizeof(buffer)) > 0)
		;
	close(c);
	return NULL;
}

static void *drain(void *arg)
{
	int fd = (int)(long)arg;
	for (;;) {
		int c = accept(fd, NULL, NULL);
		pthread_t t;
		if (c >= 0 && pthread_create(&t, NULL, drain_one, (void *)(long)c) == 0)
			pthread_detach(t);
	}
	return NULL;
}

static void *echo(void *arg)
{
	int fd = (int)(long)arg;
	for (;;) {
		char buffer[2048];
		struct sockaddr_in6 peer;
		socklen_t len = sizeof(peer);
		ssize_t got = recvfrom(fd, buffer, sizeof(buffer), 0, (struct sockaddr *)&peer, &len);
		if (got >= 0)
			sendto(fd, buffer, (size_t)got, 0, (struct sockaddr *)&peer, len);
	}
	return NULL;
}

static void *tell_peer_udp(void *arg)
{
	int fd = (int)(long)arg;
	for (;;) {
		char line[INET6_ADDRSTRLEN + 1];
		struct sockaddr_in6 peer;
		socklen_t len = sizeof(peer);
		if (recvfrom(fd, line, sizeof(line), 0, (struct sockaddr *)&peer, &len) >= 0)
			sendto(fd, line, peer_line(&peer, line), 0, (struct sockaddr *)&peer, len);
	}
	return NULL;
}

/* The A record is the last 32 bits of the querier's address: 198.51.100.10 for a query straight
 * from ADDR (the client shares the namespace), another address for one that came another way
 * (the CLAT's 0.0.0.2 for a query sent over IPv4). Any other type gets an empty answer. */
static void *resolve(void *arg)
{
	int fd = (int)(long)arg;
	for (;;) {
		unsigned char m[512 + 16];
		struct sockaddr_in6 peer;
		socklen_t len = sizeof(peer);
		ssize_t got = recvfrom(fd, m, 512, 0, (struct sockaddr *)&peer, &len);
		if (got < 12 || m[4] != 0 || m[5] != 1) /* one question, as resolvers ask */
			continue;
		size_t end = 12; /* past the question: its name's labels, type and class */
		while (end < (size_t)got && m[end] != 0)
			end += m[end] + 1u;
		end += 5;
		if (end > (size_t)got)
			continue;
		int a = m[end - 4] == 0 && m[end - 3] == 1;
		m[2] = 0x80 | (m[2] & 0x01); /* a response; recursion desired as asked */
		m[3] = 0x80;                  /* recursion available, no error */
		memset(&m[6], 0, 6);          /* answers as below; no authority or additional records */
		m[7] = a;
		if (a) {
			/* the question's name, type A, class IN, TTL 60, 4 bytes of address */
			const unsigned char record[12] = {0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4};
			memcpy(&m[end], record, sizeof(record));
			memcpy(&m[end + sizeof(record)], &peer.sin6_addr.s6_addr[12], 4);
			end += sizeof(record) + 4;
		}
		sendto(fd, m, end, 0, (struct sockaddr *)&peer, len);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 3 || inet_pton(AF_INET6, argv[2], &address) != 1) {
		fprintf(stderr, "usage: %s PORT IPV6-ADDRESS\n", argv[0]);
		return 2;
	}
	int port = atoi(argv[1]);
	struct {
		void *(*serve)(void *);
		int fd;
	} servers[] = {
		{accept_close, listen_on(port)}, {tell_peer, listen_on(port + 1)}, {drain, listen_on(port + 2)},
		{echo, udp_on(port)},            {tell_peer_udp, udp_on(port + 1)}, {resolve, udp_on(53)},
	};
	pthread_t threads[sizeof(servers) / sizeof(servers[0])];
	for (size_t i = 0; i < sizeof(servers) / sizeof(servers[0]); i++)
		pthread_create(&threads[i], NULL, servers[i].serve, (void *)(long)servers[i].fd);
	printf("ready\n");
	fflush(stdout);
	pthread_join(threads[0], NULL);
	return 0;
}
