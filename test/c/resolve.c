/* A plain program using glibc's resolver, knowing nothing of tnat64, for test/app-dns.test.ts.
 * Prints key=value lines.
 *
 *   resolve lookups NAME COUNT [stayopen]  COUNT getaddrinfo(AF_INET) of NAME; the thread's
 *                                          nameserver afterwards, and what the process grew by
 *   resolve calls NAME ADDRESS             each resolver entry point once, and in a new thread
 *   resolve around NAME COMMAND [stayopen] a lookup, COMMAND (a shell's), a lookup: the answer
 *                                          and the nameserver of each
 *   resolve switch NAME ADDRESS            RES_STAYOPEN, a lookup, then the program's own change
 *                                          of its first nameserver to ADDRESS, and a lookup */
#include <arpa/inet.h>
#include <dirent.h>
#include <netdb.h>
#include <pthread.h>
#include <resolv.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *first_ipv4(const char *name, char out[INET_ADDRSTRLEN])
{
	struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *list;
	int r = getaddrinfo(name, NULL, &hints, &list);
	if (r != 0)
		return gai_strerror(r);
	inet_ntop(AF_INET, &((struct sockaddr_in *)list->ai_addr)->sin_addr, out, INET_ADDRSTRLEN);
	freeaddrinfo(list);
	return out;
}

/* The thread's first nameserver as the program sees it in _res. */
static void print_nameserver(const char *key)
{
	const struct sockaddr_in *ns = &_res.nsaddr_list[0];
	char text[INET6_ADDRSTRLEN];
	if (ns->sin_family == AF_INET)
		printf("%s=AF_INET %s:%u\n", key, inet_ntop(AF_INET, &ns->sin_addr, text, sizeof(text)), ntohs(ns->sin_port));
	else if (_res._u._ext.nsaddrs[0])
		printf("%s=AF_INET6 %s\n", key, inet_ntop(AF_INET6, &_res._u._ext.nsaddrs[0]->sin6_addr, text, sizeof(text)));
	else
		printf("%s=none\n", key);
}

static long rss_kb(void)
{
	long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
			resident = 0;
		fclose(f);
	}
	return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static int open_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	for (struct dirent *e; d && (e = readdir(d));)
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

/* The resolver keeps its sockets open from one call to the next. */
static void stay_open(void)
{
	res_init();
	_res.options |= RES_STAYOPEN;
}

static int lookups(const char *name, int count, bool stayopen)
{
	if (stayopen)
		stay_open();
	char text[INET_ADDRSTRLEN];
	const char *first = first_ipv4(name, text);
	printf("first=%s\n", first);
	long rss = 0;
	int fds = open_fds(), ok = 0;
	const char *failed = NULL;
	for (int i = 0; i < count; i++) {
		const char *answer = first_ipv4(name, text);
		if (answer == text)
			ok++;
		else if (!failed)
			failed = answer;
		if (i == count / 10)
			rss = rss_kb();
	}
	printf("lookups=%d/%d\n", ok, count);
	if (failed)
		printf("first_failure=%s\n", failed);
	printf("rss_growth_kb=%ld\n", rss_kb() - rss);
	printf("fds_growth=%d\n", open_fds() - fds);
	print_nameserver("nameserver");
	return 0;
}

static void *lookup_thread(void *name)
{
	char text[INET_ADDRSTRLEN];
	printf("thread=%s\n", first_ipv4(name, text));
	print_nameserver("thread_nameserver");
	return NULL;
}

/* How many answers a res_* reply carries, or why there is none. */
static void print_answers(const char *key, int len, const unsigned char *reply)
{
	if (len < 0)
		printf("%s=failed h_errno=%d\n", key, h_errno);
	else
		printf("%s=%d answers\n", key, len >= 12 ? reply[6] << 8 | reply[7] : -1);
}

static void print_hostent(const char *key, const struct hostent *h)
{
	char text[INET_ADDRSTRLEN];
	if (h && h->h_addrtype == AF_INET && h->h_addr_list[0])
		printf("%s=%s %s\n", key, h->h_name, inet_ntop(AF_INET, h->h_addr_list[0], text, sizeof(text)));
	else
		printf("%s=%s\n", key, h ? h->h_name : hstrerror(h_errno));
}

static int calls(const char *name, const char *address)
{
	char buf[4096], host[NI_MAXHOST];
	struct hostent ret, *result;
	int error;
	unsigned char reply[4096];
	struct in_addr ipv4;
	inet_pton(AF_INET, address, &ipv4);

	print_hostent("gethostbyname", gethostbyname(name));
	print_hostent("gethostbyname2", gethostbyname2(name, AF_INET));
	gethostbyname_r(name, &ret, buf, sizeof(buf), &result, &error);
	print_hostent("gethostbyname_r", result);
	gethostbyname2_r(name, AF_INET, &ret, buf, sizeof(buf), &result, &error);
	print_hostent("gethostbyname2_r", result);
	print_hostent("gethostbyaddr", gethostbyaddr(&ipv4, sizeof(ipv4), AF_INET));
	gethostbyaddr_r(&ipv4, sizeof(ipv4), AF_INET, &ret, buf, sizeof(buf), &result, &error);
	print_hostent("gethostbyaddr_r", result);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr = ipv4};
	int r = getnameinfo((struct sockaddr *)&sin, sizeof(sin), host, sizeof(host), NULL, 0, NI_NAMEREQD);
	printf("getnameinfo=%s\n", r == 0 ? host : gai_strerror(r));

	print_answers("res_query", res_query(name, ns_c_in, ns_t_a, reply, sizeof(reply)), reply);
	print_answers("res_search", res_search(name, ns_c_in, ns_t_a, reply, sizeof(reply)), reply);
	const char *domain = strchr(name, '.');
	char label[64];
	snprintf(label, sizeof(label), "%.*s", domain ? (int)(domain - name) : 0, name);
	print_answers("res_querydomain",
		      res_querydomain(label, domain ? domain + 1 : "", ns_c_in, ns_t_a, reply, sizeof(reply)), reply);
	unsigned char query[512];
	int len = res_mkquery(ns_o_query, name, ns_c_in, ns_t_a, NULL, 0, NULL, query, sizeof(query));
	print_answers("res_send", res_send(query, len, reply, sizeof(reply)), reply);
	struct __res_state state = {0};
	res_ninit(&state);
	print_answers("res_nquery", res_nquery(&state, name, ns_c_in, ns_t_a, reply, sizeof(reply)), reply);
	print_answers("res_nsearch", res_nsearch(&state, name, ns_c_in, ns_t_a, reply, sizeof(reply)), reply);
	print_answers("res_nsend", res_nsend(&state, query, len, reply, sizeof(reply)), reply);
	res_nclose(&state);

	pthread_t thread;
	pthread_create(&thread, NULL, lookup_thread, (void *)name);
	pthread_join(thread, NULL);

	struct gaicb request = {.ar_name = name}, *list[] = {&request};
	r = getaddrinfo_a(GAI_WAIT, list, 1, NULL) ?: gai_error(&request);
	printf("getaddrinfo_a=%s\n", r == 0 ? "ok" : gai_strerror(r));
	if (r == 0)
		freeaddrinfo(request.ar_result);
	print_nameserver("nameserver");
	return 0;
}

static int around(const char *name, const char *command, bool stayopen)
{
	if (stayopen)
		stay_open();
	char address[INET_ADDRSTRLEN];
	printf("before=%s\n", first_ipv4(name, address));
	print_nameserver("nameserver_before");
	if (system(command) != 0)
		return 1;
	printf("after=%s\n", first_ipv4(name, address));
	print_nameserver("nameserver_after");
	return 0;
}

static int switch_nameserver(const char *name, const char *address)
{
	stay_open();
	char text[INET_ADDRSTRLEN];
	printf("before=%s\n", first_ipv4(name, text));
	if (inet_pton(AF_INET, address, &_res.nsaddr_list[0].sin_addr) != 1)
		return 2;
	printf("after=%s\n", first_ipv4(name, text));
	print_nameserver("nameserver");
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 4 && strcmp(argv[1], "lookups") == 0)
		return lookups(argv[2], atoi(argv[3]), argc > 4 && strcmp(argv[4], "stayopen") == 0);
	if (argc == 4 && strcmp(argv[1], "calls") == 0)
		return calls(argv[2], argv[3]);
	if (argc == 4 && strcmp(argv[1], "switch") == 0)
		return switch_nameserver(argv[2], argv[3]);
	if (argc >= 4 && strcmp(argv[1], "around") == 0)
		return around(argv[2], argv[3], argc > 4 && strcmp(argv[4], "stayopen") == 0);
	fprintf(stderr, "usage: resolve lookups NAME COUNT [stayopen] | calls NAME ADDRESS | around NAME COMMAND [stayopen]\n");
	return 2;
}
