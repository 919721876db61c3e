import { Flags } from '@oclif/core'
import { logFormatFlag } from '../lib/command.js'
import { KernelCommand } from '../lib/kernel/command.js'
import { followRoutes, type PrefixState, refreshReachability } from '../lib/kernel/reachability.js'
import { eventLog } from '../lib/log.js'

export default class Refresh extends KernelCommand {
  static override summary = "Recompute each NAT64 prefix's reachability from this namespace's routes (root)"
  static override description =
    'Reachability is kept per network namespace: this changes only the one it runs in (to act for another, run it with nsenter --net=/run/netns/NS; ip netns exec would hide bpffs). A namespace never refreshed counts every prefix as reachable. Prefixes and rules are read from the kernel and never changed.'
  static override flags = {
    watch: Flags.boolean({
      description: 'stay in the foreground and follow route changes',
      exclusive: ['json'],
    }),
    'log-format': logFormatFlag,
  }

  async run(): Promise<PrefixState[]> {
    const { flags } = await this.parse(Refresh)
    if (flags.watch) {
      await followRoutes(eventLog(flags['log-format']))
      return []
    }
    const states = refreshReachability()
    for (const s of states) this.log(`${s.prefix} ${s.reachable ? 'reachable' : 'unreachable'}`)
    return states
  }
}
