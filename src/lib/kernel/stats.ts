// What kernel mode is doing: each attached cgroup with its rules and its programs' run counts and
// times (bpf_stats), the prefixes and their reachability per namespace, the counters.
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { COUNTERS, type CounterName, MAPS } from '../bpf/layout.js'
import { CommandFailure } from '../errors.js'
import { attachedIds, describeCgroup, orphanIds } from './attach.js'
import { isLoaded, linkDir, perCpuSum, requireLoaded, withLock, withMap } from './pins.js'
import { type PrefixState, prefixStates, unreachableByNamespace } from './reachability.js'
import { type KernelRule, prefixTable, readRules } from './rules.js'

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

function bpftool<T>(args: string[]): T {
  const r = spawnSync('bpftool', ['-j', ...args], { encoding: 'utf8' })
  if (r.status !== 0)
    throw new CommandFailure(`bpftool ${args.join(' ')}: ${r.stderr.trim() || r.stdout.trim()}`)
  return JSON.parse(r.stdout) as T
}

export function bpfStatsEnabled(): boolean {
  return readFileSync('/proc/sys/kernel/bpf_stats_enabled', 'utf8').trim() === '1'
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

export interface Status {
  readonly loaded: boolean
  readonly attached: AttachedCgroup[]
  /** Prefixes in use and whether this network namespace reaches them. */
  readonly prefixes: PrefixState[]
  /** Namespaces that were refreshed, with the prefixes each cannot reach. */
  readonly namespaces: { netns: string; unreachable: string[] }[]
  /** Rules left without links by an attach that was killed, and the command that clears each. */
  readonly orphans: { id: string; clear: string }[]
  readonly counters?: Record<CounterName, number>
  readonly bpfStatsEnabled: boolean
}

export function status(): Status {
  return withLock(false, () => {
    if (!isLoaded())
      return {
        loaded: false,
        attached: [],
        prefixes: [],
        namespaces: [],
        orphans: [],
        bpfStatsEnabled: bpfStatsEnabled(),
      }
    requireLoaded()
    const names = new Map(prefixTable().map((p) => [p.id, p.prefix]))
    return {
      loaded: true,
      attached: attachedCgroups(),
      prefixes: prefixStates(),
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
