/* Diagnostics: one line per message, written with a single write(2) so lines from threads and
 * forked children never interleave. Level from $TNAT64_DEBUG (0 warnings only, 1 decisions,
 * 2 every step), destination $TNAT64_DEBUG_FILE or stderr.
 *
 * Logging happens inside connect() and friends, which a program may call from a signal
 * handler: the formatting here is the library's own (no stdio, no locale, no malloc). The log
 * file is never one of the program's descriptors: it lives on a high close-on-exec number, and
 * before each line it is checked to be still the file opened (a program that closes every
 * descriptor, then opens its own, must not get log lines in its data); it is reopened if not. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tnat64.h"

/* Above the numbers programs hand out themselves, below the usual soft limit of 1024. */
#define LOG_FD_FLOOR 700

enum log_level log_level = LOG_WARN;
static int log_fd = -1; /* the log file's descriptor, when log_path names one */
static dev_t log_dev;
static ino_t log_ino;
static char log_path[PATH_MAX]; /* absolute: the program may change directory */
static struct stat stderr_at_load;
static bool stderr_open; /* at load */

/* Opens the log file for appending, or -1: a regular file only (never a FIFO or a device, which
 * could block or reach another program), no symbolic link, created 0600, and an existing one
 * only when it is this user's own with no other name (not a file planted in a shared directory). */
static int open_log(void)
{
	int fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() || st.st_nlink != 1) {
		close(fd);
		return -1;
	}
	struct rlimit limit;
	int floor = LOG_FD_FLOOR;
	if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY && (rlim_t)floor >= limit.rlim_cur)
		floor = (int)(limit.rlim_cur / 2);
	int high = fcntl(fd, F_DUPFD_CLOEXEC, floor);
	if (high >= 0) {
		close(fd);
		fd = high;
	}
	log_dev = st.st_dev;
	log_ino = st.st_ino;
	return fd;
}

void log_open(const char *level, const char *file)
{
	if (level && *level) {
		long n = strtol(level, NULL, 10);
		log_level = n <= 0 ? LOG_WARN : n == 1 ? LOG_INFO : LOG_DEBUG;
	}
	stderr_open = fstat(STDERR_FILENO, &stderr_at_load) == 0;
	if (!file || !*file)
		return;
	size_t dir_len = 0;
	if (file[0] != '/') {
		if (!getcwd(log_path, sizeof(log_path) - 1))
			log_path[0] = '\0';
		dir_len = strlen(log_path);
		log_path[dir_len++] = '/';
	}
	if (dir_len == 1 || dir_len + strlen(file) >= sizeof(log_path)) {
		log_path[0] = '\0';
		log_msg(LOG_WARN, "TNAT64_DEBUG_FILE %s has no usable absolute path; logging to stderr", file);
		return;
	}
	strcpy(log_path + dir_len, file);
	log_fd = open_log();
	if (log_fd < 0) {
		log_path[0] = '\0';
		log_msg(LOG_WARN, "TNAT64_DEBUG_FILE %s is not a regular file of this user's that can be written; "
				  "logging to stderr",
			file);
	}
}

/* The descriptor to write to now: the log file if it is still ours (else reopened), or stderr
 * when no file was asked for and descriptor 2 is still what it was at start (a program that
 * closed it and opened a file of its own there must not find our lines in it); -1: nowhere. */
static int current_fd(void)
{
	struct stat st;
	if (!log_path[0]) {
		bool same = stderr_open && fstat(STDERR_FILENO, &st) == 0 && st.st_dev == stderr_at_load.st_dev &&
			    st.st_ino == stderr_at_load.st_ino;
		return same ? STDERR_FILENO : -1;
	}
	int fd = __atomic_load_n(&log_fd, __ATOMIC_ACQUIRE);
	if (fd >= 0 && fstat(fd, &st) == 0 && st.st_dev == log_dev && st.st_ino == log_ino)
		return fd;
	int fresh = open_log();
	if (__atomic_compare_exchange_n(&log_fd, &fd, fresh, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return fresh;
	if (fresh >= 0) /* another thread reopened it first */
		close(fresh);
	return fd;
}

struct line {
	char text[512];
	size_t len;
};

static void put(struct line *l, const char *s)
{
	while (*s && l->len < sizeof(l->text) - 1)
		l->text[l->len++] = *s++;
}

static void put_unsigned(struct line *l, unsigned long long n)
{
	char digits[24];
	int i = sizeof(digits) - 1;
	digits[i] = '\0';
	do
		digits[--i] = (char)('0' + n % 10);
	while ((n /= 10) && i > 0);
	put(l, &digits[i]);
}

static void put_signed(struct line *l, long long n)
{
	if (n < 0) {
		put(l, "-");
		put_unsigned(l, 0ULL - (unsigned long long)n);
	} else {
		put_unsigned(l, (unsigned long long)n);
	}
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	if (!log_enabled(level))
		return;
	int saved = errno;
	struct line l = {.len = 0};
	put(&l, "tnat64[");
	put_signed(&l, getpid());
	put(&l, "]: ");
	va_list ap;
	va_start(ap, fmt);
	for (const char *p = fmt; *p && l.len < sizeof(l.text) - 1; p++) {
		if (*p != '%' || !p[1]) {
			l.text[l.len++] = *p;
			continue;
		}
		switch (*++p) {
		case 's': {
			const char *s = va_arg(ap, const char *);
			put(&l, s ? s : "(null)");
			break;
		}
		case 'd':
			put_signed(&l, va_arg(ap, int));
			break;
		case 'u':
			put_unsigned(&l, va_arg(ap, unsigned int));
			break;
		default:
			l.text[l.len++] = *p;
		}
	}
	va_end(ap);
	l.text[l.len++] = '\n';
	int fd = current_fd();
	if (fd >= 0) {
		ssize_t ignored = write(fd, l.text, l.len);
		(void)ignored;
	}
	errno = saved;
}

const char *log_ipv4(struct in_addr ipv4, char out[16])
{
	const uint8_t *b = (const uint8_t *)&ipv4.s_addr;
	struct line l = {.len = 0};
	for (int i = 0; i < 4; i++) {
		if (i)
			put(&l, ".");
		put_unsigned(&l, b[i]);
	}
	memcpy(out, l.text, l.len);
	out[l.len] = '\0';
	return out;
}

/* RFC 5952's text: lower-case hex, the longest run of two or more zero groups as "::",
 * IPv4-mapped addresses with their IPv4 part in dotted decimal. */
const char *log_ipv6(const struct in6_addr *ipv6, char out[46])
{
	static const char hex[] = "0123456789abcdef";
	uint16_t g[8];
	for (int i = 0; i < 8; i++)
		g[i] = (uint16_t)(ipv6->s6_addr[2 * i] << 8 | ipv6->s6_addr[2 * i + 1]);
	bool mapped = IN6_IS_ADDR_V4MAPPED(ipv6);
	int groups = mapped ? 6 : 8;
	int best = -1, best_len = 1;
	for (int i = 0; i < groups;) {
		int j = i;
		while (j < groups && g[j] == 0)
			j++;
		if (j - i > best_len) {
			best = i;
			best_len = j - i;
		}
		i = j > i ? j : i + 1;
	}
	size_t n = 0;
	for (int i = 0; i < groups; i++) {
		if (i == best) {
			out[n++] = ':';
			out[n++] = ':';
			i += best_len - 1;
			continue;
		}
		if (i > 0 && out[n - 1] != ':')
			out[n++] = ':';
		bool lead = true;
		for (int shift = 12; shift >= 0; shift -= 4) {
			int d = (g[i] >> shift) & 0xf;
			if (d || !lead || shift == 0) {
				out[n++] = hex[d];
				lead = false;
			}
		}
	}
	if (mapped) {
		char v4[16];
		struct in_addr a;
		memcpy(&a.s_addr, &ipv6->s6_addr[12], 4);
		log_ipv4(a, v4);
		out[n++] = ':';
		memcpy(out + n, v4, strlen(v4));
		n += strlen(v4);
	}
	out[n] = '\0';
	return out;
}

/* The errno's name (stable, locale-free, unlike strerror), or its number. */
const char *log_errno(int error, char out[24])
{
	static const struct {
		int error;
		const char *name;
	} names[] = {
		{ENETUNREACH, "ENETUNREACH"}, {EHOSTUNREACH, "EHOSTUNREACH"}, {EADDRNOTAVAIL, "EADDRNOTAVAIL"},
		{ETIMEDOUT, "ETIMEDOUT"},     {ECONNREFUSED, "ECONNREFUSED"}, {ECONNRESET, "ECONNRESET"},
		{EINPROGRESS, "EINPROGRESS"}, {EALREADY, "EALREADY"},         {EISCONN, "EISCONN"},
		{EINTR, "EINTR"},             {EADDRINUSE, "EADDRINUSE"},     {EACCES, "EACCES"},
		{EPERM, "EPERM"},             {EAFNOSUPPORT, "EAFNOSUPPORT"}, {EINVAL, "EINVAL"},
		{EBADF, "EBADF"},
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].error == error)
			return names[i].name;
	struct line l = {.len = 0};
	put(&l, "errno ");
	put_signed(&l, error);
	memcpy(out, l.text, l.len);
	out[l.len] = '\0';
	return out;
}
