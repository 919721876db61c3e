// What kernel mode is doing: each attached cgroup with its rules and its programs' run counts and
// times (bpf_stats), the prefixes and their reachability per namespace, the counters.
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { COUNTERS, type CounterName, MAPS } from '../bpf/layout.js'
import type { Source } from '../discovery/state.js'
import { CommandFailure } from '../errors.js'
import type { Output } from '../output.js'
import { attachedIds, describeCgroup, orphanIds, savedConfig } from './attach.js'
import { isLoaded, linkDir, perCpuSum, withLock, withMap } from './pins.js'
import { type PrefixState, prefixStates, unreachableByNamespace } from './reachability.js'
import { type KernelRule, prefixTable, readRules } from './rules.js'

/** Whether the kernel counts BPF programs' run time (a cost on every call while on). */
export const BPF_STATS_SYSCTL = '/proc/sys/kernel/bpf_stats_enabled'

export function counters(): Record<CounterName, number> {
  return withMap(
    MAPS.counters,
    (map) =>
      Object.fromEntries(COUNTERS.map((name, index) => [name, Number(perCpuSum(map, index))])) as Record<
        CounterName,
        number
      >,
  )
}

export interface ProgramStats {
  readonly program: string
  readonly id: number
  readonly runCount: number
  readonly runTimeNs: number
  /** Mean run time per call; only with kernel.bpf_stats_enabled=1. */
  readonly nsPerCall?: number
}

interface BpftoolLink {
  id: number
  prog_id: number
}
interface BpftoolProg {
  id: number
  run_time_ns?: number
  run_cnt?: number
}

/** bpftool's JSON: the programs' run counts and times, which libbpf has no call for. */
function bpftool<T>(args: string[]): T {
  const r = spawnSync('bpftool', ['-j', ...args], { encoding: 'utf8' })
  if (r.error)
    throw new CommandFailure(
      `bpftool: ${(r.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found: install it (Debian: apt install bpftool)' : r.error.message}`,
    )
  if (r.status !== 0)
    throw new CommandFailure(`bpftool ${args.join(' ')}: ${r.stderr.trim() || r.stdout.trim()}`)
  return JSON.parse(r.stdout) as T
}

export function bpfStatsEnabled(): boolean {
  return readFileSync(BPF_STATS_SYSCTL, 'utf8').trim() === '1'
}

function programStats(id: bigint, programs: Map<number, BpftoolProg>): ProgramStats[] {
  const dir = linkDir(id)
  return readdirSync(dir).map((pin) => {
    const link = bpftool<BpftoolLink>(['link', 'show', 'pinned', join(dir, pin)])
    const prog = programs.get(link.prog_id)
    const runCount = prog?.run_cnt ?? 0
    const runTimeNs = prog?.run_time_ns ?? 0
    return {
      program: pin,
      id: link.prog_id,
      runCount,
      runTimeNs,
      nsPerCall: runCount > 0 ? Math.round(runTimeNs / runCount) : undefined,
    }
  })
}

export interface AttachedCgroup {
  readonly id: string
  /** The cgroup's path; for a removed cgroup, the path it had (when known). */
  readonly path?: string
  readonly removed: boolean
  /** For a removed cgroup: the command that clears its attachment. */
  readonly clear?: string
  readonly defaultPrefix?: string
  /** The cgroup's rule table as the kernel holds it. */
  readonly rules: KernelRule[]
  readonly programs: ProgramStats[]
}

export function attachedCgroups(): AttachedCgroup[] {
  const ids = attachedIds()
  if (ids.length === 0) return []
  const programs = new Map(bpftool<BpftoolProg[]>(['prog', 'show']).map((p) => [p.id, p]))
  return ids.map((id) => {
    const { path, removed } = describeCgroup(id)
    const rules = readRules(id)
    return {
      id: id.toString(),
      path,
      removed,
      clear: removed ? `tnat64 detach --id ${id}` : undefined,
      defaultPrefix: rules.find((r) => r.net === '0.0.0.0/0')?.prefix,
      rules,
      programs: programStats(id, programs),
    }
  })
}

/** Where a prefix in the rules came from: a configuration (a file, --prefix, `prefix add`), the
 * discovery source that gave a default, or the well-known prefix for want of either. */
export type PrefixOrigin = 'config' | Source | 'well-known' | 'unknown'

/** A path's prefix is configured; a default's origin is saved with the cgroup's configuration
 * (`unknown` when that file is gone). */
function prefixOrigins(cgroups: readonly AttachedCgroup[]): Map<string, Set<PrefixOrigin>> {
  const origins = new Map<string, Set<PrefixOrigin>>()
  for (const cgroup of cgroups) {
    let defaultOrigin: PrefixOrigin = 'unknown'
    try {
      const { config } = savedConfig(BigInt(cgroup.id))
      defaultOrigin = config.discovered ?? (config.defaultPrefix ? 'config' : 'well-known')
    } catch {
      // missing or damaged: the rules still work, their default's origin is unknown
    }
    for (const rule of cgroup.rules) {
      if (rule.action !== 'nat64' || rule.prefix === undefined) continue
      const set = origins.get(rule.prefix) ?? new Set()
      origins.set(rule.prefix, set)
      set.add(rule.prefix === cgroup.defaultPrefix ? defaultOrigin : 'config')
    }
  }
  return origins
}

export interface Status {
  readonly loaded: boolean
  readonly attached: AttachedCgroup[]
  /** Prefixes in use, whether this network namespace reaches them, and where they came from. */
  readonly prefixes: (PrefixState & { origins: PrefixOrigin[] })[]
  /** Namespaces that were refreshed, with the prefixes each cannot reach. */
  readonly namespaces: { netns: string; unreachable: string[] }[]
  /** Rules left without links by an attach that was killed, and the command that clears each. */
  readonly orphans: { id: string; clear: string }[]
  readonly counters?: Record<CounterName, number>
  readonly bpfStatsEnabled: boolean
}

export function status(): Status {
  const notLoaded = (): Status => ({
    loaded: false,
    attached: [],
    prefixes: [],
    namespaces: [],
    orphans: [],
    bpfStatsEnabled: bpfStatsEnabled(),
  })
  // Not loaded needs no lock: the answer is as true as one read just before an attach took it. A
  // detach may still come while this waits for the lock.
  if (!isLoaded()) return notLoaded()
  return withLock(false, () => {
    if (!isLoaded()) return notLoaded()
    const names = new Map(prefixTable().map((p) => [p.id, p.prefix]))
    const attached = attachedCgroups()
    const origins = prefixOrigins(attached)
    return {
      loaded: true,
      attached,
      prefixes: prefixStates().map((p) => ({
        ...p,
        origins: [...(origins.get(p.prefix) ?? ['unknown'])].sort(),
      })),
      namespaces: unreachableByNamespace().map((n) => ({
        netns: n.netns,
        unreachable: n.unreachable.map((id) => names.get(id) ?? `#${id}`),
      })),
      orphans: orphanIds().map((id) => ({ id: id.toString(), clear: `tnat64 detach --id ${id}` })),
      counters: counters(),
      bpfStatsEnabled: bpfStatsEnabled(),
    }
  })
}

/** `tnat64 status`: kernel mode's state, printed. */
export function showStatus(out: Output): Status {
  const s = status()
  if (!s.loaded) {
    out.log('kernel mode: not attached anywhere')
    return s
  }
  out.log(`attached cgroups: ${s.attached.length}`)
  for (const cgroup of s.attached) {
    const name = cgroup.removed
      ? `${cgroup.path ?? `cgroup ${cgroup.id}`} (removed while attached: ${cgroup.clear})`
      : cgroup.path
    out.log(`  ${name}`)
    const named = cgroup.rules.filter((r) => r.net !== '0.0.0.0/0' && !r.pinned)
    out.log(`    default ${cgroup.defaultPrefix ?? '(none)'}; ${cgroup.rules.length} rules`)
    for (const r of named.filter((r) => r.action === 'nat64' && r.prefix !== cgroup.defaultPrefix))
      out.log(`    ${r.net} -> ${r.prefix}`)
    const pins = cgroup.rules.filter((r) => r.pinned)
    if (pins.length > 0)
      out.log(`    pins: ${pins.map((p) => `${p.net.replace(/\/32$/, '')} ${p.action}`).join(', ')}`)
    for (const p of cgroup.programs) {
      const time = p.nsPerCall === undefined ? '' : `, ${p.nsPerCall} ns/call`
      out.log(`    ${p.program}: ${p.runCount} runs${time}`)
    }
  }
  if (!s.bpfStatsEnabled) out.log('  (run times: sysctl -w kernel.bpf_stats_enabled=1)')
  for (const o of s.orphans)
    out.log(`rules of cgroup ${o.id} without programs (an attach was killed): ${o.clear}`)
  out.log(
    `prefixes (this namespace): ${s.prefixes.map((p) => `${p.prefix} ${p.reachable ? 'reachable' : 'unreachable'} (${p.origins.join(', ')})`).join(', ') || '(none)'}`,
  )
  for (const n of s.namespaces)
    out.log(
      `namespace ${n.netns}: ${n.unreachable.length > 0 ? `cannot reach ${n.unreachable.join(', ')}` : 'reaches every prefix'}`,
    )
  out.log(
    `counters: ${Object.entries(s.counters ?? {})
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  )
  return s
}
