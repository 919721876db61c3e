import { Command, Flags } from '@oclif/core'
import { resolveCgroup } from '../lib/cgroup.js'
import { attach, followRoutes } from '../lib/kernel.js'
import { configFromFlags } from '../lib/kernel-config.js'

export default class Attach extends Command {
  static override summary =
    'Serve every process of a cgroup: IPv4-mapped destinations go through NAT64 (root)'
  static override description =
    `Attaches tnat64's BPF programs to the cgroup with bpf_links pinned under /sys/fs/bpf/tnat64 (0700, pins 0600), so they stay after this command ends. Idempotent; several cgroups may be attached and share the rules, which this command (re)loads from the configuration.
Reachability of each prefix is read from the routing table of the network namespace this runs in; --watch keeps it current.`
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
    config: Flags.string({ char: 'c', description: 'configuration file' }),
    prefix: Flags.string({ char: 'p', description: "default NAT64 prefix, replacing the configuration's" }),
    watch: Flags.boolean({ description: 'stay in the foreground and follow route changes' }),
    json: Flags.boolean({ description: 'print the result as JSON' }),
  }

  async run(): Promise<void> {
    const { flags } = await this.parse(Attach)
    const config = configFromFlags(flags)
    const cgroup = resolveCgroup(flags.cgroup)
    const result = attach(cgroup, config)
    if (flags.json) this.log(JSON.stringify(result, null, 2))
    else
      this.log(
        `${result.newlyAttached ? 'attached to' : 'already attached to'} ${result.cgroup}: ${result.rules} rules, ${result.prefixes} prefix${result.prefixes === 1 ? '' : 'es'}`,
      )
    if (flags.watch) await followRoutes((line) => this.log(line))
  }
}
