import { Flags } from '@oclif/core'
import { type AttachResult, attach, configFromFlags } from '../lib/kernel/attach.js'
import { resolveCgroup } from '../lib/kernel/cgroup.js'
import { configFlags, KernelCommand } from '../lib/kernel/command.js'
import { followRoutes } from '../lib/kernel/reachability.js'

export default class Attach extends KernelCommand {
  static override summary =
    'Serve every process of a cgroup: IPv4-mapped destinations go through NAT64 (root)'
  static override description =
    `Attaches tnat64's BPF programs to the cgroup with bpf_links pinned under /sys/fs/bpf/tnat64 (0700, pins 0600), so they stay after this command ends. Each cgroup keeps the configuration it was attached with; attaching an attached cgroup replaces its rules and swaps its programs for this build's in place (an upgrade), and changes no other cgroup.
Reachability of each prefix is a fact of the network namespace this runs in: it is read from that namespace's routes, and --watch keeps it current.`
  static override examples = [
    '<%= config.bin %> attach --cgroup tnat64-apps --prefix 2001:db8:64::/96',
    '<%= config.bin %> attach --cgroup /sys/fs/cgroup/unified/web --config /etc/tnat64.conf --watch',
  ]
  static override flags = {
    cgroup: Flags.string({
      char: 'g',
      required: true,
      description: 'cgroup: absolute, or relative to the cgroup2 mount',
    }),
    ...configFlags,
    watch: Flags.boolean({
      description: 'stay in the foreground and follow route changes',
      exclusive: ['json'],
    }),
  }

  async run(): Promise<AttachResult> {
    const { flags } = await this.parse(Attach)
    const config = configFromFlags(flags)
    const result = attach(resolveCgroup(flags.cgroup), config)
    this.log(
      `${result.newlyAttached ? 'attached to' : 'updated'} ${result.cgroup}: ${result.rules} rules, ${result.prefixes} prefix${result.prefixes === 1 ? '' : 'es'}`,
    )
    if (flags.watch) await followRoutes((line) => this.log(line))
    return result
  }
}
