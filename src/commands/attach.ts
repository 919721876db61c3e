import { Flags } from '@oclif/core'
import { configFlags, logFormatFlag } from '../lib/command.js'
import type { Config } from '../lib/config.js'
import {
  kernelConfig,
  type PrefixInForce,
  prefixInForce,
  watchDiscovery,
  withPrefixInForce,
} from '../lib/discovery/discover.js'
import type { DiscoveryState } from '../lib/discovery/state.js'
import { CommandFailure } from '../lib/errors.js'
import { type AttachResult, attach, configFromFlags, isAttached } from '../lib/kernel/attach.js'
import { type Cgroup, resolveCgroup } from '../lib/kernel/cgroup.js'
import { KernelCommand } from '../lib/kernel/command.js'
import { followRoutes } from '../lib/kernel/reachability.js'
import { type EventLog, eventLog, untilStopped } from '../lib/log.js'

export default class Attach extends KernelCommand {
  static override summary =
    'Serve every process of a cgroup: IPv4-mapped destinations go through NAT64 (root)'
  static override description =
    `Attaches tnat64's BPF programs to the cgroup with bpf_links pinned under /sys/fs/bpf/tnat64 (0700, pins 0600), so they stay after this command ends. Each cgroup keeps the configuration it was attached with; attaching an attached cgroup replaces its rules and swaps its programs for this build's in place (an upgrade), and changes no other cgroup.
With no --prefix and no nat64_prefix in the configuration, the default prefix is discovered (tnat64 discover: PREF64, then DNS64, else the well-known prefix); --watch then follows discovery too: a prefix that changes is put in the cgroup's rules, one whose lifetime ends is withdrawn (destinations go out untouched, as through an unreachable prefix) until one is in force again.
Reachability of each prefix is a fact of the network namespace this runs in: it is read from that namespace's routes, and --watch keeps it current.`
  static override examples = [
    '<%= config.bin %> attach --cgroup tnat64-apps --prefix 2001:db8:64::/96',
    '<%= config.bin %> attach --cgroup /sys/fs/cgroup/unified/web --config /etc/tnat64.conf --watch',
    '<%= config.bin %> attach --cgroup system.slice/legacy.service --watch',
  ]
  static override flags = {
    cgroup: Flags.string({
      char: 'g',
      required: true,
      description: 'cgroup: absolute, or relative to the cgroup2 mount',
    }),
    ...configFlags,
    watch: Flags.boolean({
      description: 'stay in the foreground and follow route changes (and discovery, when it gave the prefix)',
      exclusive: ['json'],
    }),
    'log-format': logFormatFlag,
  }

  async run(): Promise<AttachResult & { defaultPrefix: PrefixInForce }> {
    const { flags } = await this.parse(Attach)
    // Listening from the start: a SIGTERM while it attaches ends the watch as soon as it begins.
    const stopped = flags.watch ? untilStopped() : undefined
    const configured = configFromFlags(flags)
    const cgroup = resolveCgroup(flags.cgroup)
    const { config, inForce, state } = await kernelConfig(configured, flags.prefix !== undefined)
    const result = attach(cgroup, config)
    // Following, every line is an event of a service's log: stamped, and in --log-format.
    const log: EventLog = flags.watch ? eventLog(flags['log-format']) : (line) => this.log(line)
    log(
      `${result.newlyAttached ? 'attached to' : 'updated'} ${result.cgroup}: ${result.rules} rules, ${result.prefixes} prefix${result.prefixes === 1 ? '' : 'es'}; default prefix ${inForce.prefix} (${inForce.from})`,
      { event: result.newlyAttached ? 'attached' : 'updated', ...result, defaultPrefix: inForce },
    )
    if (stopped) await this.follow(log, stopped, cgroup, configured, state && { inForce, state })
    return { ...result, defaultPrefix: inForce }
  }

  /** Follows routes, and discovery when it gave the prefix, until SIGTERM. */
  private async follow(
    log: EventLog,
    stopped: Promise<NodeJS.Signals>,
    cgroup: Cgroup,
    configured: Config,
    discovered: { inForce: PrefixInForce; state: DiscoveryState } | undefined,
  ): Promise<void> {
    if (!discovered) return followRoutes(log, { stopped })
    let applied = discovered.inForce
    let withdrawn = false
    let refresh: () => void = () => {}
    let fail: (message: string) => void = () => {}
    const apply = (config: Config) => {
      // A cgroup detached meanwhile stays detached: following it ends here.
      if (!isAttached(cgroup.id))
        throw new CommandFailure(`${cgroup.path} was detached: nothing left to follow`)
      attach(cgroup, config)
      refresh()
    }
    const watch = watchDiscovery(
      (state) => {
        try {
          const next = prefixInForce(undefined, configured, state)
          if (next.found && (next.prefix !== applied.prefix || withdrawn)) {
            apply(withPrefixInForce(configured, next))
            log(`default prefix ${next.prefix} (${next.from})`, {
              event: 'default-prefix',
              defaultPrefix: next,
            })
            applied = next
            withdrawn = false
          } else if (!next.found && applied.found && !withdrawn) {
            // Only a discovered prefix is withdrawn: the well-known one, taken for want of any, stays.
            apply({ ...configured, withdrawn: true })
            log(
              `default prefix ${applied.prefix} withdrawn: no discovered prefix holds now (destinations go out untouched)`,
              { event: 'withdrawn', prefix: applied.prefix },
            )
            withdrawn = true
          }
        } catch (e) {
          fail(`following discovery failed: ${(e as Error).message}`)
        }
      },
      { solicit: true, dns64: true, initial: discovered.state },
    )
    watch.ended.catch((e) => fail((e as Error).message))
    try {
      await followRoutes(log, {
        stopped,
        onStart: (r, f) => {
          refresh = r
          fail = f
        },
      })
    } finally {
      watch.stop()
    }
  }
}
