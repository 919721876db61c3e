/* Process-wide state: the real libc calls and the configuration, set up once on first use (a
 * constructor may run too late: other libraries' constructors can make sockets before ours). */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tnat64.h"

struct libc_calls libc;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static bool ready; /* set once load() has finished: the common path skips pthread_once */
static bool active;
static struct config config;

#define RESOLVE(name) (libc.name = (__typeof__(libc.name))dlsym(RTLD_NEXT, #name))

static void resolve_libc(void)
{
	RESOLVE(socket);
	RESOLVE(connect);
	RESOLVE(bind);
	RESOLVE(accept);
	RESOLVE(accept4);
	RESOLVE(getpeername);
	RESOLVE(getsockname);
	RESOLVE(getsockopt);
	RESOLVE(setsockopt);
	RESOLVE(close);
	RESOLVE(close_range); /* glibc 2.34+; NULL before */
	RESOLVE(closefrom);   /* likewise */
	RESOLVE(dup);
	RESOLVE(dup2);
	RESOLVE(dup3);
	RESOLVE(fcntl);
	RESOLVE(fcntl64);
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
	config_free(&config);
	active = false;
}

static void load(void)
{
	resolve_libc();
	/* secure_getenv: a set-id or capability-raised program never takes these from its caller. */
	log_open(secure_getenv("TNAT64_DEBUG"), secure_getenv("TNAT64_DEBUG_FILE"));
	registry_init();
	active = true;

	const char *file = secure_getenv("TNAT64_CONF_FILE");
	struct first_error e = {0};
	if (file && *file) {
		e.file = file;
		config_load(file, &config, remember_first, &e);
	} else if (access("/etc/tnat64.conf", F_OK) == 0) {
		e.file = "/etc/tnat64.conf";
		config_load(e.file, &config, remember_first, &e);
	}
	if (e.count > 0)
		return disable(&e);

	const char *prefix = secure_getenv("TNAT64_PREFIX");
	if (prefix && *prefix) {
		enum prefix_error pe = nat64_prefix_parse(prefix, &config.default_prefix);
		if (pe != PREFIX_OK) {
			e = (struct first_error){.file = "TNAT64_PREFIX", .count = 1};
			snprintf(e.message, sizeof(e.message), "'%s': %s", prefix, prefix_error_text(pe));
			return disable(&e);
		}
		config.has_default = true;
	}
	log_msg(LOG_INFO, "loaded %s", e.file ? e.file : "no configuration file");
}

void tnat64_init(void)
{
	if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
		pthread_once(&once, load);
		__atomic_store_n(&ready, true, __ATOMIC_RELEASE);
	}
}

bool tnat64_active(void)
{
	return active;
}

const struct config *tnat64_config(void)
{
	return &config;
}
