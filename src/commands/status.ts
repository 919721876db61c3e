import { KernelCommand } from '../lib/kernel/command.js'
import { type Status as KernelStatus, status } from '../lib/kernel/stats.js'

export default class Status extends KernelCommand {
  static override summary =
    'Show kernel mode: attached cgroups and their rules, prefixes, reachability, counters, run times (root)'
  static override description =
    'Everything shown is read from the kernel. Per-call run times need kernel.bpf_stats_enabled=1 (sysctl -w kernel.bpf_stats_enabled=1; it costs a little on every call while on).'

  async run(): Promise<KernelStatus> {
    await this.parse(Status)
    const s = status()
    if (!s.loaded) {
      this.log('kernel mode: not attached anywhere')
      return s
    }
    this.log(`attached cgroups: ${s.attached.length}`)
    for (const cgroup of s.attached) {
      const name = cgroup.removed
        ? `${cgroup.path ?? `cgroup ${cgroup.id}`} (removed while attached: ${cgroup.clear})`
        : cgroup.path
      this.log(`  ${name}`)
      const named = cgroup.rules.filter((r) => r.net !== '0.0.0.0/0' && !r.pinned)
      this.log(`    default ${cgroup.defaultPrefix ?? '(none)'}; ${cgroup.rules.length} rules`)
      for (const r of named.filter((r) => r.action === 'nat64' && r.prefix !== cgroup.defaultPrefix))
        this.log(`    ${r.net} -> ${r.prefix}`)
      const pins = cgroup.rules.filter((r) => r.pinned)
      if (pins.length > 0)
        this.log(`    pins: ${pins.map((p) => `${p.net.replace(/\/32$/, '')} ${p.action}`).join(', ')}`)
      for (const p of cgroup.programs) {
        const time = p.nsPerCall === undefined ? '' : `, ${p.nsPerCall} ns/call`
        this.log(`    ${p.program}: ${p.runCount} runs${time}`)
      }
    }
    if (!s.bpfStatsEnabled) this.log('  (run times: sysctl -w kernel.bpf_stats_enabled=1)')
    for (const o of s.orphans)
      this.log(`rules of cgroup ${o.id} without programs (an attach was killed): ${o.clear}`)
    this.log(
      `prefixes (this namespace): ${s.prefixes.map((p) => `${p.prefix} ${p.reachable ? 'reachable' : 'unreachable'} (${p.origins.join(', ')})`).join(', ') || '(none)'}`,
    )
    for (const n of s.namespaces)
      this.log(
        `namespace ${n.netns}: ${n.unreachable.length > 0 ? `cannot reach ${n.unreachable.join(', ')}` : 'reaches every prefix'}`,
      )
    this.log(
      `counters: ${Object.entries(s.counters ?? {})
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
    )
    return s
  }
}
