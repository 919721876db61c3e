/* Every default of libtnat64 and its launcher, spelled once. src/lib/defaults.ts mirrors the
 * ones the CLI shares (test/preload-core.test.ts holds the two equal). */
#ifndef TNAT64_DEFAULTS_H
#define TNAT64_DEFAULTS_H

#include <errno.h>

/* The configuration read when neither --config nor $TNAT64_CONF_FILE names one. */
#define TNAT64_DEFAULT_CONFIG_FILE "/etc/tnat64.conf"

/* The environment: the file, the default prefix, the debug level and log file. */
#define TNAT64_ENV_CONF_FILE "TNAT64_CONF_FILE"
#define TNAT64_ENV_PREFIX "TNAT64_PREFIX"
#define TNAT64_ENV_DEBUG "TNAT64_DEBUG"
#define TNAT64_ENV_DEBUG_FILE "TNAT64_DEBUG_FILE"

/* RFC 6052's well-known prefix 64:ff9b::/96: used when nothing else is configured. */
#define TNAT64_WELL_KNOWN_PREFIX {0x00, 0x64, 0xff, 0x9b}
#define TNAT64_WELL_KNOWN_LENGTH 96

/* The stand-in local IPv4 address of a connection made through NAT64 (RFC 7335's range, which
 * CLATs use for the same purpose). */
#define TNAT64_STANDIN_IPV4 "192.0.0.1"

/* Errors that say a way has no route: the other way is tried at once, on the same call. */
#define TNAT64_UNREACHABLE(e) ((e) == ENETUNREACH || (e) == EHOSTUNREACH || (e) == EADDRNOTAVAIL)
/* Errors that say a way is broken for now: the next connection tries the other way first. A
 * timeout is learnt but not retried at once: the program has already waited minutes for it. */
#define TNAT64_BROKEN(e) (TNAT64_UNREACHABLE(e) || (e) == ETIMEDOUT)

/* The largest configuration file read; a bigger one is an error, not a truncation. Kernel mode's
 * large rule sets (100 000 `local` networks are about 2.5 MiB) fit. */
#define TNAT64_CONFIG_MAX_BYTES (16 << 20)

/* Discovery's answers (src/lib/discovery/state.ts writes both): the host's, kept by root's
 * `tnat64 discover --watch` for every user, and each user's cached DNS64 lookup, under
 * $XDG_CACHE_HOME, else ~/.cache. */
#define TNAT64_DISCOVERY_STATE_FILE "/run/tnat64-discovery"
#define TNAT64_USER_CACHE_NAME "tnat64/discovery"

/* How long what was learnt about a destination holds, in seconds. */
#define TNAT64_CACHE_TTL 60

#endif
