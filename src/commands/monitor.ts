import { Flags } from '@oclif/core'
import { logFormatFlag } from '../lib/command.js'
import { KernelCommand } from '../lib/kernel/command.js'
import { monitor } from '../lib/kernel/monitor.js'
import { eventLog, untilStopped } from '../lib/log.js'

export default class Monitor extends KernelCommand {
  static override summary = "Print kernel mode's connect6 decisions as they happen, one line each (root)"
  static override description =
    `Each line: the time, the process (pid and command), the attached cgroup whose rules decided, the IPv4 destination asked for, the outcome (the counter names of tnat64 status: rewritten, ipv4, non_global, unreachable, pinned_ipv4, bound_ipv4, no_rules) and the NAT64 address connected to, or "unchanged". Native IPv6 destinations are not decisions and are not shown.

The programs report only while a monitor runs (a lease it renews every second; one killed without a word stops them within 3 s), and one monitor runs at a time. Events that find the ring buffer full are counted and shown; the last line says how many were shown and dropped. Runs until SIGTERM or SIGINT, then exits 0.

--json is --log-format json: one JSON object a line, {"time", "message", "pid", "command", "cgroup", "cgroupId", "destination", "outcome", "connectedTo"} for a decision.`
  static override flags = {
    cgroup: Flags.string({
      char: 'g',
      description:
        'show only the decisions of this attached cgroup: absolute, or relative to the cgroup2 mount',
    }),
    'log-format': logFormatFlag,
  }

  async run(): Promise<void> {
    const { flags } = await this.parse(Monitor)
    const format = this.jsonEnabled() ? 'json' : flags['log-format']
    // Every line, the summary too, is written as it comes: nothing is left for --json to print.
    await monitor({ cgroup: flags.cgroup }, eventLog(format), untilStopped())
  }
}
