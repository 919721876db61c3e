/* The benchmark's server, dual-stack on [::] (IPv4 clients arrive as ::ffff:a.b.c.d):
 *   PORT     accept and close            (connect cost)
 *   PORT+1   accept, write the peer address it saw, close   (which way did the traffic go?)
 *   PORT+2   accept, read to end of stream, close          (throughput)
 * Prints "ready" once all three listen; runs until killed. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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

static void *tell_peer(void *arg)
{
	int fd = (int)(long)arg;
	for (;;) {
		struct sockaddr_in6 peer;
		socklen_t len = sizeof(peer);
		int c = accept(fd, (struct sockaddr *)&peer, &len);
		if (c < 0)
			continue;
		char text[INET6_ADDRSTRLEN + 1];
		inet_ntop(AF_INET6, &peer.sin6_addr, text, sizeof(text) - 1);
		strcat(text, "\n");
		ssize_t ignored = write(c, text, strlen(text));
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

int main(int argc, char **argv)
{
	int port = argc > 1 ? atoi(argv[1]) : 9000;
	void *(*serve[3])(void *) = {accept_close, tell_peer, drain};
	pthread_t threads[3];
	for (int i = 0; i < 3; i++)
		pthread_create(&threads[i], NULL, serve[i], (void *)(long)listen_on(port + i));
	printf("ready\n");
	fflush(stdout);
	pthread_join(threads[0], NULL);
	return 0;
}
