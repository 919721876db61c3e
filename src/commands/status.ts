import { Command, Flags } from '@oclif/core'
import {
  attachedCgroups,
  bpfStatsEnabled,
  cacheEntries,
  counters,
  isLoaded,
  kernelRules,
  prefixStates,
  requireKernelPrivilege,
} from '../lib/kernel.js'

export default class Status extends Command {
  static override summary =
    'Show kernel mode: attached cgroups, prefixes, rules, cache, counters, program run times (root)'
  static override description =
    'Per-call run times need kernel.bpf_stats_enabled=1 (sysctl -w kernel.bpf_stats_enabled=1; it costs a little on every call while on).'
  static override flags = {
    json: Flags.boolean({ description: 'print the status as JSON' }),
  }

  async run(): Promise<void> {
    const { flags } = await this.parse(Status)
    requireKernelPrivilege()
    const loaded = isLoaded()
    const rules = loaded ? kernelRules() : undefined
    const status = {
      attached: loaded ? attachedCgroups() : [],
      prefixes: rules ? prefixStates(rules) : [],
      rules: rules?.entries.length ?? 0,
      cacheEntries: loaded ? cacheEntries().length : 0,
      counters: loaded ? counters() : undefined,
      bpfStatsEnabled: bpfStatsEnabled(),
    }
    if (flags.json) return this.log(JSON.stringify(status, null, 2))
    if (!loaded) return this.log('kernel mode: not attached anywhere')
    this.log(`attached cgroups: ${status.attached.length}`)
    for (const cgroup of status.attached) {
      this.log(`  ${cgroup.path ?? `(removed cgroup ${cgroup.id})`}`)
      for (const p of cgroup.programs) {
        const time = p.nsPerCall === undefined ? '' : `, ${p.nsPerCall} ns/call`
        this.log(`    ${p.program}: ${p.runCount} runs${time}`)
      }
    }
    if (!status.bpfStatsEnabled) this.log('  (run times: sysctl -w kernel.bpf_stats_enabled=1)')
    this.log(
      `prefixes: ${status.prefixes.map((p) => `${p.prefix} (${p.reachable ? 'reachable' : 'unreachable'})`).join(', ')}`,
    )
    this.log(`rules: ${status.rules}, cache entries: ${status.cacheEntries}`)
    this.log(
      `counters: ${Object.entries(status.counters ?? {})
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
    )
  }
}
