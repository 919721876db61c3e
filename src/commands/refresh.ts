import { Command, Flags } from '@oclif/core'
import { followRoutes, refreshReachability, requireKernelPrivilege } from '../lib/kernel.js'

export default class Refresh extends Command {
  static override summary = "Recompute each NAT64 prefix's reachability from the routing table (root)"
  static override description =
    'Routes are those of the network namespace this runs in: to act for a namespace, run it with nsenter --net=/run/netns/NS (ip netns exec would hide bpffs).'
  static override flags = {
    watch: Flags.boolean({ description: 'stay in the foreground and follow route changes' }),
    json: Flags.boolean({ description: 'print the result as JSON' }),
  }

  async run(): Promise<void> {
    const { flags } = await this.parse(Refresh)
    requireKernelPrivilege()
    if (flags.watch) return followRoutes((line) => this.log(line))
    const states = refreshReachability()
    if (flags.json) return this.log(JSON.stringify(states, null, 2))
    for (const s of states) this.log(`${s.prefix} ${s.reachable ? 'reachable' : 'unreachable'}`)
  }
}
