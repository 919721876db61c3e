/* Diagnostics: one line per message, written with a single write(2) so lines from threads and
 * forked children never interleave. Level from $TNAT64_DEBUG (0 warnings only, 1 decisions,
 * 2 every step), destination $TNAT64_DEBUG_FILE or stderr. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tnat64.h"

static int log_fd = STDERR_FILENO;
static enum log_level log_level = LOG_WARN;

void log_open(const char *level, const char *file)
{
	if (level && *level) {
		long n = strtol(level, NULL, 10);
		log_level = n <= 0 ? LOG_WARN : n == 1 ? LOG_INFO : LOG_DEBUG;
	}
	if (file && *file) {
		int fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd >= 0)
			log_fd = fd;
		else
			log_msg(LOG_WARN, "cannot open TNAT64_DEBUG_FILE %s; logging to stderr", file);
	}
}

bool log_enabled(enum log_level level)
{
	return level <= log_level;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	if (!log_enabled(level))
		return;
	int saved = errno;
	char line[512];
	int n = snprintf(line, sizeof(line), "tnat64[%d]: ", (int)getpid());
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	ssize_t ignored = write(log_fd, line, len);
	(void)ignored;
	errno = saved;
}
