import { Flags } from '@oclif/core'
import { BaseCommand, configFlags, logFormatFlag } from '../lib/command.js'
import { loadConfig } from '../lib/config.js'
import { DISCOVERY_STATE_FILE, ENV_PREFIX } from '../lib/defaults.js'
import {
  currentDiscovery,
  DEFAULT_WAIT_MS,
  describeFound,
  discoverOnce,
  givenPrefix,
  type PrefixInForce,
  prefixInForce,
  watchDiscovery,
} from '../lib/discovery/discover.js'
import { type DiscoveryState, formatState, nowSeconds, writeUserCache } from '../lib/discovery/state.js'
import { UsageError } from '../lib/errors.js'
import { eventLog, untilStopped } from '../lib/log.js'
import { isRoot } from '../lib/privilege.js'

export interface DiscoverReport {
  readonly inForce: PrefixInForce
  readonly found: (DiscoveryState['found'][number] & { secondsLeft: number })[]
  readonly notes: DiscoveryState['notes']
  /** Read from the host's state that `discover --watch` keeps, rather than looked up now. */
  readonly watched: boolean
}

export default class Discover extends BaseCommand {
  static override summary =
    'Find the NAT64 prefix: router advertisements (PREF64, RFC 8781) and DNS64 (RFC 7050)'
  static override description =
    `Shows each prefix found, where from (router and interface, or resolver) and how long it holds, and the prefix in force: --prefix (or $${ENV_PREFIX}), else the configuration's nat64_prefix, else PREF64, else DNS64, else the well-known prefix (a guess).
PREF64 is heard by soliciting a router advertisement, which needs root; DNS64 asks the resolvers of /etc/resolv.conf for ipv4only.arpa AAAA. While root's \`discover --watch\` runs, it keeps what it finds in ${DISCOVERY_STATE_FILE}, which every user's \`tnat64 app\` and \`discover\` read; otherwise \`tnat64 app\` looks DNS64 up itself and caches the answer per user (--cache) for its TTL.`
  static override examples = [
    '<%= config.bin %> discover',
    '<%= config.bin %> discover --json',
    'sudo <%= config.bin %> discover --watch',
  ]
  static override flags = {
    watch: Flags.boolean({
      description: `stay in the foreground and follow changes; as root, keep ${DISCOVERY_STATE_FILE} for every user`,
      exclusive: ['json', 'cache'],
    }),
    'log-format': logFormatFlag,
    wait: Flags.string({
      description: `seconds to listen for a router advertisement (default ${DEFAULT_WAIT_MS / 1000} as root, 0 otherwise)`,
    }),
    cache: Flags.boolean({
      description:
        'look DNS64 up and keep the answer in your cache for its TTL (what tnat64 app does on its own)',
      exclusive: ['json'],
    }),
    ...configFlags,
  }

  async run(): Promise<DiscoverReport | undefined> {
    const { flags } = await this.parse(Discover)
    const waitMs = flags.wait === undefined ? undefined : seconds(flags.wait, '--wait') * 1000
    if (flags.cache) {
      const state = await discoverOnce({ waitMs: 0, solicit: false, dns64: true })
      try {
        writeUserCache(state)
      } catch {
        // a home that cannot be written (nobody's /nonexistent): the answer still goes out below
      }
      process.stdout.write(formatState(state, 'tnat64 discover --cache'))
      return undefined
    }
    const given = givenPrefix(flags.prefix)
    const { config } = loadConfig(flags.config)
    if (flags.watch) {
      const root = isRoot()
      const stopped = untilStopped()
      const log = eventLog(flags['log-format'])
      const watch = watchDiscovery(
        (state, why) => {
          const inForce = prefixInForce(given, config, state)
          log(`${why}: ${summary(inForce, state)}`, { event: 'discovery', why, inForce, found: state.found })
        },
        { solicit: root, dns64: true, stateFile: root ? DISCOVERY_STATE_FILE : undefined },
      )
      const signal = await Promise.race([stopped, watch.ended.then(() => undefined)])
      if (signal) {
        log(`stopping on ${signal}`, { event: 'stopping', signal })
        watch.stop()
        await watch.ended
      }
      return undefined
    }
    const { state, watched } = await currentDiscovery({ waitMs })
    const report = toReport(prefixInForce(given, config, state), state, watched)
    this.log(`prefix in force: ${report.inForce.prefix} (${report.inForce.from})`)
    if (watched)
      this.log(`from ${DISCOVERY_STATE_FILE}, kept by tnat64 discover --watch (pid ${state.watcher?.pid})`)
    for (const f of report.found) this.log(`found: ${f.prefix}  ${describeFound(f)}, ${f.secondsLeft} s left`)
    for (const n of report.notes) this.log(`note:  ${n.source === 'pref64' ? 'PREF64' : 'DNS64'}: ${n.text}`)
    return report
  }
}

function toReport(inForce: PrefixInForce, state: DiscoveryState, watched: boolean): DiscoverReport {
  const now = nowSeconds()
  return {
    inForce,
    found: state.found.filter((f) => f.expires > now).map((f) => ({ ...f, secondsLeft: f.expires - now })),
    notes: state.notes,
    watched,
  }
}

function summary(inForce: PrefixInForce, state: DiscoveryState): string {
  const others = state.found.length > 1 ? ` (${state.found.length} found)` : ''
  return `prefix in force ${inForce.prefix} from ${inForce.from}${others}`
}

function seconds(text: string, flag: string): number {
  const value = Number(text)
  if (!/^\d+(\.\d{1,3})?$/.test(text) || value > 600)
    throw new UsageError(`${flag} '${text}': give seconds from 0 to 600 (up to 3 decimals)`)
  return value
}
