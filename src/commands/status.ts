import { KernelCommand } from '../lib/kernel/command.js'
import { type Status as KernelStatus, showStatus } from '../lib/kernel/stats.js'

export default class Status extends KernelCommand {
  static override summary =
    'Show kernel mode: attached cgroups and their rules, prefixes, reachability, counters, run times (root)'
  static override description =
    'Everything shown is read from the kernel. Per-call run times need kernel.bpf_stats_enabled=1 (sysctl -w kernel.bpf_stats_enabled=1; it costs a little on every call while on).'

  async run(): Promise<KernelStatus> {
    await this.parse(Status)
    return showStatus(this)
  }
}
