/* tnat64-app: what `tnat64 app` runs. It checks the configuration with the library's own parser,
 * takes the discovered NAT64 prefix when none is given (PREF64 or DNS64: a small file read, a
 * lookup through the CLI only when no fresh answer is kept), puts libtnat64.so first in LD_PRELOAD
 * and becomes the command (execvp), so the command starts about as fast as it would alone, and its
 * exit status and signals are its own.
 *
 *   tnat64-app [--config F] [--prefix P] [--debug] [--supervise] [--] CMD [ARGS...]
 *   tnat64-app --env [--config F] [--prefix P]         the environment, as shell exports
 *
 * --help is the node CLI's (src/commands/app.ts declares the same flags for it). */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "defaults.h"
#include "tnat64.h"

struct options {
	const char *config;
	const char *prefix;
	bool debug;
	bool env;
	bool supervise;
	char **command;
};

static void __attribute__((noreturn)) usage_error(const char *fmt, const char *arg)
{
	fputs("tnat64: ", stderr);
	fprintf(stderr, fmt, arg);
	fputs(" (see --help)\n", stderr);
	exit(2);
}

/* This program's directory, <root>/preload/: the library is built next to it (the sanitizer build
 * in preload/sanitize/ thus runs its own library). */
static void own_dir(char dir[PATH_MAX])
{
	ssize_t n = readlink("/proc/self/exe", dir, PATH_MAX - 1);
	if (n < 0) {
		perror("tnat64: /proc/self/exe");
		exit(1);
	}
	dir[n] = '\0';
	char *parent = dirname(dir);
	memmove(dir, parent, strlen(parent) + 1);
}

static void __attribute__((noreturn)) show_help(const char *dir)
{
	char cli[PATH_MAX + 32];
	snprintf(cli, sizeof(cli), "%s/../bin/tnat64.js", dir);
	execlp("node", "node", cli, "app", "--help", (char *)NULL);
	perror("tnat64: node");
	exit(1);
}

/* A value flag: --name VALUE, --name=VALUE or -c VALUE. */
static bool value_flag(char **argv, int *i, const char *name, char letter, const char **out)
{
	const char *arg = argv[*i];
	size_t len = strlen(name);
	if (strncmp(arg, "--", 2) == 0 && strncmp(arg + 2, name, len) == 0 && arg[2 + len] == '=') {
		*out = arg + 3 + len;
		return true;
	}
	if (!((strncmp(arg, "--", 2) == 0 && strcmp(arg + 2, name) == 0) || (arg[0] == '-' && arg[1] == letter && !arg[2])))
		return false;
	if (!argv[*i + 1])
		usage_error("Flag --%s expects a value", name);
	*out = argv[++*i];
	return true;
}

static struct options parse(int argc, char **argv, const char *dir)
{
	struct options o = {0};
	int i = 1;
	for (; i < argc; i++) {
		const char *arg = argv[i];
		if (strcmp(arg, "--") == 0) {
			i++;
			break;
		}
		if (arg[0] != '-' || arg[1] == '\0')
			break; /* the command: `tnat64 app curl -v URL` works without -- */
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
			show_help(dir);
		if (value_flag(argv, &i, "config", 'c', &o.config) || value_flag(argv, &i, "prefix", 'p', &o.prefix))
			continue;
		if (strcmp(arg, "--debug") == 0 || strcmp(arg, "-d") == 0)
			o.debug = true;
		else if (strcmp(arg, "--env") == 0)
			o.env = true;
		else if (strcmp(arg, "--supervise") == 0)
			o.supervise = true;
		else
			usage_error("Nonexistent flag: %s", arg);
	}
	o.command = argv + i;
	return o;
}

struct report {
	const char *file;
};

static void print_error(void *ctx, int line, const char *message)
{
	const struct report *r = ctx;
	if (line > 0)
		fprintf(stderr, "%s:%d: %s\n", r->file, line, message);
	else
		fprintf(stderr, "%s: %s\n", r->file, message);
}

/* The configuration in force must exist and parse: it is refused here, with every error, before
 * CMD runs. Returns its absolute path, so that a program that changes directory still reads it, or
 * NULL when no file is in force; says whether it sets the default prefix. */
static const char *check_config(const char *given, char absolute[PATH_MAX], bool *has_default)
{
	const char *file = config_file_in_force(given);
	*has_default = false;
	if (!file)
		return NULL;
	struct config cfg;
	struct report r = {.file = file};
	int errors = config_load(file, &cfg, print_error, &r);
	*has_default = cfg.has_default;
	config_free(&cfg);
	if (errors > 0)
		exit(2);
	if (file[0] == '/')
		return file;
	if (!getcwd(absolute, PATH_MAX) || strlen(absolute) + strlen(file) + 2 > PATH_MAX) {
		fprintf(stderr, "tnat64: %s: cannot make the path absolute\n", file);
		exit(2);
	}
	strcat(absolute, "/");
	strcat(absolute, file);
	return absolute;
}

/* ---- the discovered prefix (src/lib/discovery/state.ts writes these files) ---------------- */

struct discovered {
	char prefix[64];
	char source[16];
	char why[256]; /* the DNS64 note: why no prefix was found */
	bool fresh; /* a live answer: a prefix, or none (then the well-known prefix stays) */
};

/* Whether process `pid` runs and started at `start` (field 22 of /proc/PID/stat, as processStart
 * in src/lib/command-line.ts reads it): a pid alone may have been reused. */
static bool watcher_runs(long long pid, const char *start)
{
	char path[64], stat[1024];
	if (pid <= 0 || pid > INT_MAX)
		return false;
	snprintf(path, sizeof(path), "/proc/%lld/stat", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, stat, sizeof(stat) - 1);
	close(fd);
	if (n <= 0)
		return false;
	stat[n] = '\0';
	/* The command name may hold spaces and parentheses: fields are counted from the last ')'. */
	char *field = strrchr(stat, ')');
	for (int i = 2; field && i < 22; i++)
		field = strchr(field + 1, ' ');
	if (!field)
		return false;
	size_t len = strcspn(++field, " ");
	return len == strlen(start) && strncmp(field, start, len) == 0;
}

/* Reads the `pid` and `in-force PREFIX SOURCE EXPIRES` lines of a state file's text. A watcher's
 * state counts only while the watcher runs; an answer only until it expires. */
static struct discovered parse_state(char *text, bool need_watcher)
{
	struct discovered d = {0};
	long long pid = 0, expires = 0;
	char start[32] = "";
	bool in_force = false;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		if (sscanf(line, "pid %lld %31s", &pid, start) == 2)
			continue;
		int end = 0;
		if (sscanf(line, "in-force %63s %15s %lld%n", d.prefix, d.source, &expires, &end) == 3 && !line[end])
			in_force = true;
		else if (strncmp(line, "note dns64 ", 11) == 0)
			snprintf(d.why, sizeof(d.why), "%s", line + 11);
	}
	if (!in_force || expires <= (long long)time(NULL))
		return (struct discovered){0};
	if (need_watcher && !watcher_runs(pid, start))
		return (struct discovered){0};
	struct nat64_prefix check;
	if (strcmp(d.prefix, "none") != 0 && nat64_prefix_parse(d.prefix, &check) != PREFIX_OK)
		return (struct discovered){0};
	d.fresh = true;
	return d;
}

/* A state file owned by `owner` that no one else may write; anything else is not read. */
static struct discovered read_state(const char *path, uid_t owner, bool need_watcher)
{
	char text[16384];
	/* O_NONBLOCK: a FIFO put in its place must not hang the program's start (it is refused below). */
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return (struct discovered){0};
	struct stat st;
	ssize_t n = -1;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == owner && !(st.st_mode & 022))
		n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return (struct discovered){0};
	text[n] = '\0';
	return parse_state(text, need_watcher);
}

/* The user's cache, as userCacheFile (src/lib/discovery/state.ts) finds it: under $XDG_CACHE_HOME,
 * else $HOME/.cache, each only when absolute, else under the password database's home. */
static bool user_cache_path(char path[PATH_MAX])
{
	const char *xdg = secure_getenv("XDG_CACHE_HOME"), *home = secure_getenv("HOME");
	int n;
	if (xdg && xdg[0] == '/')
		n = snprintf(path, PATH_MAX, "%s/%s", xdg, TNAT64_USER_CACHE_NAME);
	else {
		if (!home || home[0] != '/') {
			struct passwd *pw = getpwuid(geteuid());
			home = pw ? pw->pw_dir : NULL;
		}
		if (!home || home[0] != '/')
			return false;
		n = snprintf(path, PATH_MAX, "%s/.cache/%s", home, TNAT64_USER_CACHE_NAME);
	}
	return n > 0 && n < PATH_MAX;
}

/* Asks the CLI for an RFC 7050 lookup (`tnat64 discover --cache`, which also fills the cache) and
 * reads its answer from its output: only when nothing fresher is known, about once per TTL. */
static struct discovered look_up(const char *dir)
{
	char cli[PATH_MAX + 32], text[16384];
	snprintf(cli, sizeof(cli), "%s/../bin/tnat64.js", dir);
	int out[2];
	if (pipe2(out, O_CLOEXEC) != 0)
		return (struct discovered){0};
	pid_t child = fork();
	if (child == 0) {
		/* Its stderr too: what went wrong is said below in one line, not in node's words. */
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
		dup2(out[1], STDOUT_FILENO);
		if (null >= 0)
			dup2(null, STDERR_FILENO);
		execlp("node", "node", cli, "discover", "--cache", (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	/* Read to the end, keeping the first 16 KiB (the in-force line comes first): a child that
	 * could not write the rest would die of SIGPIPE. */
	size_t len = 0;
	ssize_t n;
	char rest[4096];
	while (child > 0) {
		bool room = len < sizeof(text) - 1;
		n = room ? read(out[0], text + len, sizeof(text) - 1 - len) : read(out[0], rest, sizeof(rest));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (room)
			len += (size_t)n;
	}
	close(out[0]);
	int status = 0;
	while (child > 0 && waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	text[len] = '\0';
	if (child <= 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr,
			"tnat64: NAT64 prefix discovery could not run (node %s discover --cache: %s); the well-known "
			"prefix 64:ff9b::/96 is used\n",
			cli, child <= 0 ? strerror(errno) : WIFEXITED(status) && WEXITSTATUS(status) == 127 ? "node not found" : "failed");
		return (struct discovered){0};
	}
	struct discovered d = parse_state(text, false);
	if (d.fresh && strcmp(d.prefix, "none") == 0) {
		/* Said once per lookup, not per run: the answer is cached. */
		fprintf(stderr, "tnat64: no NAT64 prefix discovered (%s); the well-known prefix 64:ff9b::/96 is used\n",
			d.why[0] ? d.why : "no answer");
	}
	return d;
}

/* The default prefix discovery gives when neither --prefix, $TNAT64_PREFIX nor the configuration
 * sets one: the host's state while root's watcher keeps it, else this user's cached DNS64 answer,
 * else a lookup now. NULL keeps the well-known prefix. */
static const char *discovered_prefix(const char *dir, struct discovered *d, bool debug)
{
	char cache[PATH_MAX];
	*d = read_state(TNAT64_DISCOVERY_STATE_FILE, 0, true);
	if (!d->fresh && user_cache_path(cache))
		*d = read_state(cache, geteuid(), false);
	if (!d->fresh)
		*d = look_up(dir);
	if (!d->fresh || strcmp(d->prefix, "none") == 0)
		return NULL;
	if (debug)
		fprintf(stderr, "tnat64: NAT64 prefix %s, discovered by %s\n", d->prefix,
			strcmp(d->source, "pref64") == 0 ? "PREF64 (RFC 8781)" : "DNS64 (RFC 7050)");
	return d->prefix;
}

/* ---- which programs the preload cannot reach ------------------------------------------------ */

/* The file execvp would run for `name`: itself when it holds a '/', else the first executable of
 * that name in $PATH. */
static bool find_command(const char *name, char out[PATH_MAX])
{
	if (strchr(name, '/'))
		return snprintf(out, PATH_MAX, "%s", name) < PATH_MAX;
	const char *path = getenv("PATH");
	for (const char *p = path ? path : "/usr/local/bin:/usr/bin:/bin"; *p;) {
		size_t len = strcspn(p, ":");
		if (snprintf(out, PATH_MAX, "%.*s/%s", (int)(len ? len : 1), len ? p : ".", name) < PATH_MAX &&
		    access(out, X_OK) == 0)
			return true;
		p += len;
		if (*p)
			p++;
	}
	return false;
}

/* Whether `file` is an ELF program the preload cannot serve: static (no PT_INTERP, so no ld.so to
 * load it) or Go (a .go.buildinfo section: its dialer makes raw system calls). Scripts, and
 * anything unreadable, are left to the preload. */
static bool raw_syscalls(const char *file)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	Elf64_Ehdr eh;
	bool raw = false;
	if (pread(fd, &eh, sizeof(eh), 0) != sizeof(eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(Elf64_Phdr) ||
	    eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_phnum > 256 || eh.e_shnum > 4096)
		goto out;
	raw = true;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + i * sizeof(ph))) != sizeof(ph))
			goto out;
		if (ph.p_type == PT_INTERP)
			raw = false;
	}
	if (raw || eh.e_shstrndx >= eh.e_shnum)
		goto out;
	Elf64_Shdr names;
	if (pread(fd, &names, sizeof(names), (off_t)(eh.e_shoff + eh.e_shstrndx * sizeof(names))) != sizeof(names))
		goto out;
	for (unsigned i = 0; i < eh.e_shnum && !raw; i++) {
		Elf64_Shdr sh;
		char name[16] = "";
		if (pread(fd, &sh, sizeof(sh), (off_t)(eh.e_shoff + i * sizeof(sh))) != sizeof(sh))
			break;
		if (pread(fd, name, sizeof(name) - 1, (off_t)(names.sh_offset + sh.sh_name)) > 0)
			raw = strcmp(name, ".go.buildinfo") == 0;
	}
out:
	close(fd);
	return raw;
}

/* The configuration the supervisor serves by: the file in force and the default prefix given. */
static void load_for_supervisor(const char *file, const char *prefix, struct config *cfg)
{
	struct report r = {.file = file};
	if (file && config_load(file, cfg, print_error, &r) > 0)
		exit(2);
	if (!file)
		*cfg = (struct config){0};
	if (prefix && *prefix && nat64_prefix_parse(prefix, &cfg->default_prefix) == PREFIX_OK)
		cfg->has_default = true;
}

/* What separates LD_PRELOAD's entries for ld.so: a space or a colon, nothing else (glibc's rtld
 * splits the list on " :"; a tab is part of a name). */
#define PRELOAD_SEPARATORS " :"

/* LD_PRELOAD with the library first and the entries already there after it, in their order, as
 * ld.so reads them: split on PRELOAD_SEPARATORS, empty ones dropped, no second copy of ours. */
static char *preload_list(const char *library)
{
	const char *old = getenv("LD_PRELOAD");
	size_t size = strlen(library) + (old ? strlen(old) : 0) + 2;
	char *list = malloc(size);
	if (!list) {
		perror("tnat64");
		exit(1);
	}
	strcpy(list, library);
	for (const char *p = old ? old : ""; *p;) {
		size_t len = strcspn(p, PRELOAD_SEPARATORS);
		if (len > 0 && !(len == strlen(library) && strncmp(p, library, len) == 0)) {
			strcat(list, " ");
			strncat(list, p, len);
		}
		p += len;
		if (*p)
			p++;
	}
	return list;
}

static void print_export(const char *name, const char *value)
{
	printf("export %s='", name);
	for (const char *c = value; *c; c++) {
		if (*c == '\'')
			fputs("'\\''", stdout);
		else
			putchar(*c);
	}
	puts("'");
}

int main(int argc, char **argv)
{
	char dir[PATH_MAX], library[PATH_MAX + 32], config_path[PATH_MAX];
	own_dir(dir);
	struct options o = parse(argc, argv, dir);
	if (o.env && *o.command)
		usage_error("--env prints the environment; it takes no command%s", "");
	if (!o.env && !*o.command) {
		fputs("tnat64: app: no command given (tnat64 app -- CMD [ARGS...])\n", stderr);
		return 2;
	}

	if (o.prefix) {
		struct nat64_prefix prefix;
		enum prefix_error e = nat64_prefix_parse(o.prefix, &prefix);
		if (e != PREFIX_OK) {
			char why[512];
			config_prefix_message(o.prefix, e, why, sizeof(why));
			fprintf(stderr, "tnat64: --prefix: %s\n", why);
			return 2;
		}
	}
	bool config_prefix;
	const char *config = check_config(o.config, config_path, &config_prefix);
	snprintf(library, sizeof(library), "%s/libtnat64.so", dir);
	if (strpbrk(library, PRELOAD_SEPARATORS)) {
		fprintf(stderr,
			"tnat64: %s: LD_PRELOAD cannot carry a path with a space or a colon; install tnat64 where its "
			"path has neither\n",
			library);
		return 2;
	}
	if (access(library, R_OK) != 0) {
		fprintf(stderr, "tnat64: %s is not built (run: npm run build)\n", library);
		return 1;
	}

	const char *debug = getenv(TNAT64_ENV_DEBUG);
	bool set_debug = o.debug && !(debug && atoi(debug) > 0);
	struct discovered found;
	const char *prefix_env = secure_getenv(TNAT64_ENV_PREFIX);
	if (!o.prefix && !(prefix_env && *prefix_env) && !config_prefix)
		o.prefix = discovered_prefix(dir, &found, o.debug || (debug && atoi(debug) > 0));

	char *preload = preload_list(library);
	if (o.env) {
		print_export("LD_PRELOAD", preload);
		if (config)
			print_export(TNAT64_ENV_CONF_FILE, config);
		if (o.prefix)
			print_export(TNAT64_ENV_PREFIX, o.prefix);
		if (set_debug)
			print_export(TNAT64_ENV_DEBUG, "1");
		free(preload);
		return 0;
	}
	if (setenv("LD_PRELOAD", preload, 1) != 0 || (config && setenv(TNAT64_ENV_CONF_FILE, config, 1) != 0) ||
	    (o.prefix && setenv(TNAT64_ENV_PREFIX, o.prefix, 1) != 0) ||
	    (set_debug && setenv(TNAT64_ENV_DEBUG, "1", 1) != 0)) {
		perror("tnat64: setenv");
		return 1;
	}
	free(preload); /* setenv copied it */
	char file[PATH_MAX];
	if (o.supervise || (find_command(o.command[0], file) && raw_syscalls(file))) {
		struct config cfg;
		load_for_supervisor(config, getenv(TNAT64_ENV_PREFIX), &cfg);
		return supervise(o.command, &cfg);
	}
	execvp(o.command[0], o.command);
	int error = errno;
	if (error == ENOENT) {
		fprintf(stderr, "tnat64: %s: command not found\n", o.command[0]);
		return 127;
	}
	fprintf(stderr, "tnat64: %s: %s\n", o.command[0], strerror(error));
	return 126;
}
