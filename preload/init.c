/* Process-wide state: the real libc calls and the configuration, set up by a constructor, so
 * that a program that chdir()s or chroot()s before its first socket still has its
 * configuration. Calls that come before it (other libraries' constructors can make sockets
 * first) set it up on the spot. */
#include <dlfcn.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tnat64.h"

struct libc_calls libc;

int tnat64_ready;    /* set up: the inline check every call makes */
static pid_t loader; /* the thread that set up or is setting up; 0 before */
static bool active;
struct config tnat64_configuration;

#define RESOLVE(name) (libc.name = (__typeof__(libc.name))dlsym(RTLD_NEXT, #name))
/* The resolver's res_* calls: in libc under these names since glibc 2.34, in libresolv (when the
 * program links it) as __res_* before. */
#define RESOLVE_RES(name) (RESOLVE(name) ?: (libc.name = (__typeof__(libc.name))dlsym(RTLD_NEXT, "__" #name)))

static void resolve_libc(void)
{
	RESOLVE(socket);
	RESOLVE(connect);
	RESOLVE(bind);
	RESOLVE(listen);
	RESOLVE(accept4);
	RESOLVE(getpeername);
	RESOLVE(getsockname);
	RESOLVE(getsockopt);
	RESOLVE(setsockopt);
	RESOLVE(sendto);
	RESOLVE(sendmsg);
	RESOLVE(sendmmsg);
	RESOLVE(recvfrom);
	RESOLVE(recvmsg);
	RESOLVE(recvmmsg);
	RESOLVE(close);
	RESOLVE(close_range); /* glibc 2.34+; NULL before */
	RESOLVE(closefrom);   /* likewise */
	RESOLVE(dup);
	RESOLVE(dup2);
	RESOLVE(dup3);
	RESOLVE(fcntl);
	RESOLVE(fcntl64);
	RESOLVE(bindresvport); /* not in every C library */
	RESOLVE(getaddrinfo);
	RESOLVE(gethostbyname);
	RESOLVE(gethostbyname2);
	RESOLVE(gethostbyname_r);
	RESOLVE(gethostbyname2_r);
	RESOLVE(gethostbyaddr);
	RESOLVE(gethostbyaddr_r);
	RESOLVE(getnameinfo);
	RESOLVE_RES(res_mkquery);
	RESOLVE_RES(res_query);
	RESOLVE_RES(res_search);
	RESOLVE_RES(res_querydomain);
	RESOLVE_RES(res_send);
	RESOLVE_RES(res_nquery);
	RESOLVE_RES(res_nsearch);
	RESOLVE_RES(res_nquerydomain);
	RESOLVE_RES(res_nsend);
}

struct first_error {
	const char *file;
	int line;
	int count;
	char message[256];
};

static void remember_first(void *ctx, int line, const char *message)
{
	struct first_error *e = ctx;
	if (e->count++ == 0) {
		e->line = line;
		snprintf(e->message, sizeof(e->message), "%s", message);
	}
}

/* A broken configuration disables tnat64 for this process, said once in one line. */
static void disable(const struct first_error *e)
{
	char where[300];
	if (e->line > 0)
		snprintf(where, sizeof(where), "%s:%d: ", e->file, e->line);
	else
		snprintf(where, sizeof(where), "%s: ", e->file);
	char more[48] = "";
	if (e->count > 1)
		snprintf(more, sizeof(more), " (and %d more error%s)", e->count - 1, e->count > 2 ? "s" : "");
	log_msg(LOG_WARN, "%s%s%s; tnat64 is off in this process, calls pass through unchanged", where, e->message,
		more);
	config_free(&tnat64_configuration);
	active = false;
}

static void load_config(void)
{
	active = true;
	struct first_error e = {.file = config_file_in_force(NULL)};
	if (e.file)
		config_load(e.file, &tnat64_configuration, remember_first, &e);
	if (e.count > 0)
		return disable(&e);

	const char *prefix = secure_getenv(TNAT64_ENV_PREFIX);
	if (prefix && *prefix) {
		enum prefix_error pe = nat64_prefix_parse(prefix, &tnat64_configuration.default_prefix);
		if (pe != PREFIX_OK) {
			e = (struct first_error){.file = TNAT64_ENV_PREFIX, .count = 1};
			config_prefix_message(prefix, pe, e.message, sizeof(e.message));
			return disable(&e);
		}
		tnat64_configuration.has_default = true;
	}
	screen_build(&tnat64_configuration);
	log_msg(LOG_INFO, "loaded %s", e.file ? e.file : "no configuration file");
}

static void load(void)
{
	int saved = errno; /* a program starts with errno 0, and may look */
	resolve_libc();
	/* secure_getenv: a set-id or capability-raised program never takes these from its caller. */
	log_open(secure_getenv(TNAT64_ENV_DEBUG), secure_getenv(TNAT64_ENV_DEBUG_FILE));
	registry_init();
	load_config();
	errno = saved;
}

/* Once per process, whichever comes first. No lock: a thread that finds another loading waits
 * for it, and a call made while this very thread loads (from inside the loading, or from a
 * signal handler that interrupted it) passes through. */
void tnat64_init_slow(void)
{
	pid_t self = gettid(), none = 0;
	if (__atomic_compare_exchange_n(&loader, &none, self, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		load();
		__atomic_store_n(&tnat64_ready, 1, __ATOMIC_RELEASE);
		return;
	}
	while (!tnat64_is_ready() && __atomic_load_n(&loader, __ATOMIC_ACQUIRE) != self)
		sched_yield();
}

__attribute__((constructor)) static void tnat64_constructor(void)
{
	tnat64_init();
}

bool tnat64_active(void)
{
	return active && tnat64_is_ready();
}

