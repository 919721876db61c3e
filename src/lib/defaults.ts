// The defaults the CLI shares with libtnat64 and its launcher: the TypeScript mirror of
// preload/defaults.h (test/preload-core.test.ts holds the two equal).

/** The configuration read when neither --config nor $TNAT64_CONF_FILE names one; the only one that may be absent. */
export const DEFAULT_CONFIG_FILE = '/etc/tnat64.conf'

/** The environment the library and the launcher read. */
export const ENV_CONF_FILE = 'TNAT64_CONF_FILE'
export const ENV_PREFIX = 'TNAT64_PREFIX'
export const ENV_DEBUG = 'TNAT64_DEBUG'
export const ENV_DEBUG_FILE = 'TNAT64_DEBUG_FILE'

/** RFC 6052's well-known prefix: used when nothing else is configured; must not carry non-global addresses (§3.1). */
export const WELL_KNOWN_PREFIX = '64:ff9b::/96'

/** The stand-in local IPv4 address of a connection made through NAT64 (RFC 7335). */
export const STANDIN_IPV4 = '192.0.0.1'

/** The largest configuration file read; a bigger one is an error, not a truncation (TNAT64_CONFIG_MAX_BYTES). */
export const CONFIG_MAX_BYTES = 16 << 20

/** How every command's --config names the rule of configFileInForce (src/lib/config.ts). */
export const CONFIG_FLAG_HELP = `configuration file (default: $${ENV_CONF_FILE}, else ${DEFAULT_CONFIG_FILE} if it exists)`

/** The host's discovered NAT64 prefixes, kept by root's `tnat64 discover --watch`; readable by all. */
export const DISCOVERY_STATE_FILE = '/run/tnat64-discovery'

/** Each user's cached DNS64 lookup, under $XDG_CACHE_HOME, else ~/.cache (written by `discover --cache`). */
export const USER_CACHE_NAME = 'tnat64/discovery'

/**
 * `tnat64 monitor`: connect6 reports only while the monitor's lease (tnat64_monitor) runs. It is
 * renewed every second for three, so a monitor killed without a word stops the events within
 * three seconds, and a live one's lease never runs out unless its event loop stalls for two.
 */
export const MONITOR_LEASE_MS = 3000
export const MONITOR_RENEW_MS = 1000
/** How often the monitor reads its ring buffer: the most an event waits before it is printed. */
export const MONITOR_POLL_MS = 100
