// Kernel mode: the BPF programs attached to cgroups, their shared maps, and the rules in them.
//
// Everything lives under one bpffs directory, mode 0700, every pin 0600 (a pin's file mode is its
// only protection: whoever may open a map may rewrite where traffic goes):
//
//   /sys/fs/bpf/tnat64/tnat64_{rules,prefixes,cache,marks,...}         the maps, shared
//   /sys/fs/bpf/tnat64/links/cg<ID>/{connect6,getpeername6,...}         one bpf_link per program
//
// The rules in force are kept as tnat64.conf text in /run/tnat64/kernel.conf (0600), so
// `prefix add|remove` can recompile them.
import { spawnSync } from 'node:child_process'
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'
import { formatIPv4, formatIPv6, parseIPv4 } from './address.js'
import {
  CacheSource,
  COUNTERS,
  type CounterName,
  decodeCacheValue,
  decodePrefixValue,
  encodeCacheValue,
  encodePrefixValue,
  encodeRuleKey,
  encodeRuleValue,
  LAYOUTS,
  MAPS,
  MAX_PREFIXES,
  Method,
  PROGRAMS,
} from './bpf/layout.js'
import { loadAndAttach, PinnedMap, possibleCpus } from './bpf/libbpf.js'
import { type Cgroup, findCgroupById } from './cgroup.js'
import { type Config, EMPTY_CONFIG, formatConfig, parseConfig } from './config.js'
import { privateDir, removeIfEmpty } from './dirs.js'
import { CommandFailure } from './errors.js'
import { type Ipv4Net, numberToIPv4Bytes } from './ipv4net.js'
import { PACKAGE_ROOT } from './paths.js'
import type { Nat64Prefix } from './rfc6052.js'
import { prefixReachable, watchRoutes } from './routes.js'
import { type CompiledRules, compileRules } from './rules.js'

export const BPFFS = '/sys/fs/bpf'
export const PIN_DIR = join(BPFFS, 'tnat64')
const LINK_DIR = join(PIN_DIR, 'links')
const STATE_DIR = '/run/tnat64'
const STATE_FILE = join(STATE_DIR, 'kernel.conf')
export const BPF_OBJECT = join(PACKAGE_ROOT, 'bpf', 'tnat64.bpf.o')

const PROGRAM_NAMES = Object.values(PROGRAMS)
const MAP_NAMES = Object.values(MAPS)

export function requireKernelPrivilege(): void {
  if (process.geteuid?.() !== 0)
    throw new CommandFailure('kernel mode needs root (CAP_BPF, CAP_NET_ADMIN, cgroup writes)')
}

function isBpffsMounted(): boolean {
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[1] === BPFFS && line.split(' ')[2] === 'bpf')
}

/** Mounts bpffs at /sys/fs/bpf when it is not there (no systemd does it on these machines). */
export function ensureBpffs(): void {
  if (isBpffsMounted()) return
  mkdirSync(BPFFS, { recursive: true })
  const r = spawnSync('mount', ['-t', 'bpf', 'bpf', BPFFS], { encoding: 'utf8' })
  if (r.status !== 0) throw new CommandFailure(`cannot mount bpffs at ${BPFFS}: ${r.stderr.trim()}`)
}

function linkDir(cgroupId: bigint): string {
  return join(LINK_DIR, `cg${cgroupId}`)
}

function openMap(name: string): PinnedMap {
  const sizes: Record<string, [number, number]> = {
    [MAPS.rules]: [LAYOUTS.rule_key.size, LAYOUTS.rule_value.size],
    [MAPS.prefixes]: [4, LAYOUTS.prefix_value.size],
    [MAPS.cache]: [4, LAYOUTS.cache_value.size],
    [MAPS.marks]: [4, LAYOUTS.mark_slot.size],
    [MAPS.marksOverflow]: [8, LAYOUTS.mark_value.size],
    [MAPS.counters]: [4, 8 * possibleCpus()],
  }
  const [keySize, valueSize] = sizes[name]
  return PinnedMap.open(join(PIN_DIR, name), keySize, valueSize)
}

function withMap<T>(name: string, use: (map: PinnedMap) => T): T {
  const map = openMap(name)
  try {
    return use(map)
  } finally {
    map.close()
  }
}

export function isLoaded(): boolean {
  return MAP_NAMES.every((name) => existsSync(join(PIN_DIR, name)))
}

function requireLoaded(): void {
  requireKernelPrivilege()
  if (!isLoaded())
    throw new CommandFailure('kernel mode is not attached anywhere (tnat64 attach --cgroup PATH)')
}

/** The rules in force (empty before the first attach). */
export function kernelConfig(): Config {
  if (!existsSync(STATE_FILE)) return EMPTY_CONFIG
  const { config, errors } = parseConfig(readFileSync(STATE_FILE, 'utf8'), STATE_FILE)
  if (errors.length > 0)
    throw new CommandFailure(`${STATE_FILE} is damaged: ${errors[0].message} (attach again)`)
  return config
}

/** Array maps (prefixes, counters) are keyed by a u32 index. */
function indexKey(id: number): Buffer {
  const key = Buffer.alloc(4)
  key.writeUInt32LE(id)
  return key
}

/** Each prefix with whether this network namespace has a route to it. */
function writePrefixes(prefixes: Nat64Prefix[]): void {
  withMap(MAPS.prefixes, (map) => {
    prefixes.forEach((prefix, id) => {
      map.update(indexKey(id), encodePrefixValue(prefix.bytes, prefix.length, prefixReachable(prefix)))
    })
  })
}

/** Compiles the configuration into the maps: new entries first, then stale ones removed. */
export function writeRules(config: Config): { rules: number; prefixes: number } {
  const compiled = compileRules(config)
  writePrefixes(compiled.prefixes)
  withMap(MAPS.rules, (rules) => {
    const wanted = new Set<string>()
    for (const entry of compiled.entries) {
      const key = encodeRuleKey(numberToIPv4Bytes(entry.net.address), entry.net.length)
      wanted.add(key.toString('hex'))
      rules.update(key, encodeRuleValue(entry.action, entry.prefixId))
    }
    for (const key of rules.keys()) if (!wanted.has(key.toString('hex'))) rules.delete(key)
  })
  privateDir(STATE_DIR)
  writeFileSync(
    STATE_FILE,
    formatConfig(config, 'rules in force for tnat64 kernel mode; edit with tnat64 prefix'),
    {
      mode: 0o600,
    },
  )
  return { rules: compiled.entries.length, prefixes: compiled.prefixes.length }
}

export interface PrefixState {
  readonly id: number
  readonly prefix: string
  readonly reachable: boolean
}

/** The rules in force, compiled as the maps hold them. */
export function kernelRules(): CompiledRules {
  return compileRules(kernelConfig())
}

/** The prefixes the maps hold, with what the kernel believes of their reachability. */
export function prefixStates(rules: CompiledRules = kernelRules()): PrefixState[] {
  return withMap(MAPS.prefixes, (map) =>
    Array.from({ length: Math.min(rules.prefixes.length, MAX_PREFIXES) }, (_, id) => {
      const value = decodePrefixValue(map.lookup(indexKey(id)) ?? Buffer.alloc(LAYOUTS.prefix_value.size))
      return { id, prefix: `${formatIPv6(value.address)}/${value.length}`, reachable: value.reachable }
    }),
  )
}

/** Re-reads the routing table and tells the kernel which prefixes are reachable. */
export function refreshReachability(): PrefixState[] {
  requireLoaded()
  const rules = kernelRules()
  writePrefixes(rules.prefixes)
  return prefixStates(rules)
}

/** Keeps reachability current: refreshes after every route change until SIGINT or SIGTERM. */
export async function followRoutes(log: (line: string) => void): Promise<void> {
  const report = () => {
    const states = refreshReachability()
    log(states.map((s) => `${s.prefix} ${s.reachable ? 'reachable' : 'unreachable'}`).join(', '))
  }
  report()
  const stop = watchRoutes(report)
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve)
    process.once('SIGTERM', resolve)
  })
  stop()
}

function attachedIds(): bigint[] {
  if (!existsSync(LINK_DIR)) return []
  return readdirSync(LINK_DIR)
    .filter((d) => /^cg\d+$/.test(d))
    .map((d) => BigInt(d.slice(2)))
}

/** A link's pin is named after its program, without the common prefix: links/cg<ID>/connect6. */
function linkPin(cgroupId: bigint, program: string): string {
  return join(linkDir(cgroupId), program.replace(/^tnat64_/, ''))
}

function isAttached(cgroup: Cgroup): boolean {
  return PROGRAM_NAMES.every((name) => existsSync(linkPin(cgroup.id, name)))
}

export interface AttachResult {
  readonly cgroup: string
  /** False when the cgroup already had the programs (attach is idempotent). */
  readonly newlyAttached: boolean
  readonly rules: number
  readonly prefixes: number
}

/** Attaches the programs to a cgroup (once) and loads the configuration into the shared maps. */
export function attach(cgroup: Cgroup, config: Config): AttachResult {
  requireKernelPrivilege()
  if (!existsSync(BPF_OBJECT)) throw new CommandFailure(`${BPF_OBJECT} is not built (run: npm run build)`)
  ensureBpffs()
  privateDir(PIN_DIR)
  privateDir(LINK_DIR)
  const newlyAttached = !isAttached(cgroup)
  if (newlyAttached) {
    const dir = linkDir(cgroup.id)
    rmSync(dir, { recursive: true, force: true }) // a half-made attachment from a crash
    privateDir(dir)
    const fd = openSync(cgroup.path, 'r')
    try {
      loadAndAttach(BPF_OBJECT, MAP_NAMES, PIN_DIR, PROGRAM_NAMES, fd, (program) =>
        linkPin(cgroup.id, program),
      )
    } catch (e) {
      rmSync(dir, { recursive: true, force: true })
      throw e
    } finally {
      closeSync(fd)
    }
    for (const name of MAP_NAMES) chmodSync(join(PIN_DIR, name), 0o600)
    for (const name of readdirSync(dir)) chmodSync(join(dir, name), 0o600)
  }
  return { cgroup: cgroup.path, newlyAttached, ...writeRules(config) }
}

/** Detaches one cgroup; with none left, removes the maps and the pin directory as well. */
export function detach(cgroupId: bigint): boolean {
  requireKernelPrivilege()
  const dir = linkDir(cgroupId)
  const was = existsSync(dir)
  // Unpinning a link drops its last reference: the kernel detaches the program there and then.
  rmSync(dir, { recursive: true, force: true })
  if (attachedIds().length === 0) removeAll()
  return was
}

/** Detaches every cgroup and removes every pin, the directory and the saved rules. */
export function detachAll(): number {
  requireKernelPrivilege()
  const ids = attachedIds()
  removeAll()
  return ids.length
}

function removeAll(): void {
  if (isBpffsMounted()) rmSync(PIN_DIR, { recursive: true, force: true })
  rmSync(STATE_FILE, { force: true })
  removeIfEmpty(STATE_DIR)
}

export interface CacheEntry {
  readonly destination: string
  readonly method: 'nat64' | 'ipv4'
  readonly source: 'user' | 'connect'
  /** Kernel monotonic clock (ns) of the last change. */
  readonly updatedNs: string
}

export function cacheEntries(): CacheEntry[] {
  requireLoaded()
  return withMap(MAPS.cache, (map) =>
    map.keys().flatMap((key) => {
      const value = map.lookup(key)
      if (!value) return [] // evicted while we listed
      const v = decodeCacheValue(value)
      return [
        {
          destination: formatIPv4(Uint8Array.from(key)),
          method: v.method === Method.IPv4 ? ('ipv4' as const) : ('nat64' as const),
          source: v.source === CacheSource.User ? ('user' as const) : ('connect' as const),
          updatedNs: v.updatedNs.toString(),
        },
      ]
    }),
  )
}

export function flushCache(): number {
  requireLoaded()
  return withMap(MAPS.cache, (map) => map.keys().filter((key) => map.delete(key)).length)
}

/** Pins destinations to a method (`ipv4` keeps them off NAT64 whatever their rule says). */
export function setCache(destinations: string[], method: 'nat64' | 'ipv4'): void {
  requireLoaded()
  const clock = process.hrtime.bigint() // not the kernel's clock, but ordered: only shown to people
  const value = encodeCacheValue(method === 'ipv4' ? Method.IPv4 : Method.Nat64, CacheSource.User, clock)
  withMap(MAPS.cache, (map) => {
    for (const destination of destinations) map.update(Buffer.from(parseIPv4(destination)), value)
  })
}

export function counters(): Record<CounterName, number> {
  requireLoaded()
  return withMap(
    MAPS.counters,
    (map) =>
      Object.fromEntries(
        COUNTERS.map((name, index) => {
          const perCpu = map.lookup(indexKey(index)) ?? Buffer.alloc(0)
          let sum = 0n
          for (let offset = 0; offset + 8 <= perCpu.length; offset += 8) sum += perCpu.readBigUInt64LE(offset)
          return [name, Number(sum)]
        }),
      ) as Record<CounterName, number>,
  )
}

export interface ProgramStats {
  readonly cgroup: string
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
  cgroup_id?: number
}
interface BpftoolProg {
  id: number
  name: string
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

export interface AttachedCgroup {
  readonly id: string
  /** The cgroup's path, or undefined when the cgroup was removed while attached. */
  readonly path?: string
  readonly programs: ProgramStats[]
}

/** The attached cgroups and their programs' run counts and times (bpf_stats). */
export function attachedCgroups(): AttachedCgroup[] {
  const ids = attachedIds()
  if (ids.length === 0) return []
  const programs = new Map(bpftool<BpftoolProg[]>(['prog', 'show']).map((p) => [p.id, p]))
  return ids.map((id) => {
    const dir = linkDir(id)
    const path = findCgroupById(id)
    const stats = readdirSync(dir).map((pin) => {
      const link = bpftool<BpftoolLink>(['link', 'show', 'pinned', join(dir, pin)])
      const prog = programs.get(link.prog_id)
      const runCount = prog?.run_cnt ?? 0
      const runTimeNs = prog?.run_time_ns ?? 0
      return {
        cgroup: path ?? `(removed cgroup ${id})`,
        program: pin,
        id: link.prog_id,
        runCount,
        runTimeNs,
        nsPerCall: runCount > 0 ? Math.round(runTimeNs / runCount) : undefined,
      }
    })
    return { id: id.toString(), path, programs: stats }
  })
}

/**
 * Adds a rule to the rules in force: with subnets, a path to the prefix; without, the prefix
 * becomes the default. The maps are recompiled at once.
 */
export function addPrefix(prefix: Nat64Prefix, subnets: Ipv4Net[]): Config {
  requireLoaded()
  const config = kernelConfig()
  const updated: Config =
    subnets.length === 0
      ? { ...config, defaultPrefix: { value: prefix, line: 0 } }
      : {
          ...config,
          paths: [
            ...config.paths
              .map((p) => ({
                ...p,
                subnets: p.subnets.filter((s) => !subnets.some((n) => n.text === s.value.text)),
              }))
              .filter((p) => p.subnets.length > 0),
            {
              line: 0,
              prefix: { value: prefix, line: 0 },
              subnets: subnets.map((value) => ({ value, line: 0 })),
            },
          ],
        }
  writeRules(updated)
  return updated
}

/** Removes every rule that uses the prefix (the default, paths); false when none did. */
export function removePrefix(prefix: Nat64Prefix): boolean {
  requireLoaded()
  const config = kernelConfig()
  const paths = config.paths.filter((p) => p.prefix.value.text !== prefix.text)
  const isDefault = config.defaultPrefix?.value.text === prefix.text
  if (!isDefault && paths.length === config.paths.length) return false
  writeRules({ ...config, paths, defaultPrefix: isDefault ? undefined : config.defaultPrefix })
  return true
}
