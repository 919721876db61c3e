// Attaching kernel mode to cgroups: one copy of the programs per cgroup (its id fixed in the
// copy's read-only data), pinned links, the cgroup's own rules in the shared maps. Every change
// runs under the lock of pins.ts, so concurrent administrators never interleave.
import {
  chmodSync,
  closeSync,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { join, resolve } from 'node:path'
import { CGROUP_VARIABLE, LAYOUTS, MAPS, PROGRAMS, REVERSE_SLOTS } from '../bpf/layout.js'
import { LoadedObject } from '../bpf/libbpf.js'
import { type Config, formatConfig, loadConfig, parseConfig, withDefaultPrefix } from '../config.js'
import { RUN_DIR, runDir } from '../dirs.js'
import type { Source } from '../discovery/state.js'
import { CommandFailure, UsageError } from '../errors.js'
import { BPF_OBJECT } from '../paths.js'
import { requireRoot } from '../privilege.js'
import { prefixArgument } from '../translate.js'
import { type Cgroup, cgroup2Mount, findCgroupById, resolveCgroup } from './cgroup.js'
import {
  indexKey,
  isBpffsMounted,
  isLoaded,
  LINK_DIR,
  linkDir,
  MAP_NAMES,
  openMap,
  PIN_DIR,
  pinDir,
  withLock,
  withMap,
} from './pins.js'
import { writeReachability } from './reachability.js'
import { cgroupsWithRules, compileRules, readPins, removeRules, writeRules } from './rules.js'

const PROGRAM_NAMES = Object.values(PROGRAMS)

/** The configuration a kernel-mode command applies: --config (or the usual file) and --prefix. */
export function configFromFlags(flags: { config?: string; prefix?: string }): Config {
  const prefix = flags.prefix === undefined ? undefined : prefixArgument(flags.prefix)
  const { config } = loadConfig(flags.config)
  return prefix ? withDefaultPrefix(config, prefix) : config
}

/** A link's pin is named after its program, without the common prefix: links/cg<ID>/connect6. */
function linkPin(cgroupId: bigint, program: string): string {
  return join(linkDir(cgroupId), program.replace(/^tnat64_/, ''))
}

/** The ids of the cgroups with a link directory. */
export function attachedIds(): bigint[] {
  if (!existsSync(LINK_DIR)) return []
  return readdirSync(LINK_DIR)
    .filter((d) => /^cg\d+$/.test(d))
    .map((d) => BigInt(d.slice(2)))
}

export function isAttached(cgroupId: bigint): boolean {
  return PROGRAM_NAMES.every((name) => existsSync(linkPin(cgroupId, name)))
}

/** The configuration a cgroup was attached with: kept to recompile it (`prefix add`), nothing else. */
function stateFile(cgroupId: bigint): string {
  return join(RUN_DIR, `cg${cgroupId}.conf`)
}

const STATE_PATH_LINE = /^# cgroup (.*)$/m
/** Config.withdrawn, which the grammar has no word for. */
const WITHDRAWN_LINE =
  '# withdrawn: no default prefix (discovery withdrew it); destinations outside the paths go untouched'

/** Config.discovered: which source gave the default prefix, for `tnat64 metrics`. */
const DISCOVERED_LINE = /^# default prefix discovered by (pref64|dns64)$/m

export function saveConfig(cgroup: { id: bigint; path: string }, config: Config): void {
  runDir()
  const file = stateFile(cgroup.id)
  const temporary = `${file}.${process.pid}.new`
  const notes = [
    ...(config.withdrawn ? [WITHDRAWN_LINE] : []),
    ...(config.discovered && config.defaultPrefix
      ? [`# default prefix discovered by ${config.discovered}`]
      : []),
  ]
  const text = formatConfig(
    config,
    `tnat64 kernel mode: the rules of one cgroup (tnat64 prefix edits them)\n# cgroup ${cgroup.path}${notes.map((n) => `\n${n}`).join('')}`,
  )
  // O_EXCL never follows a symlink; rename(2) replaces the name itself, never a link's target.
  rmSync(temporary, { force: true }) // left by a crash
  writeFileSync(temporary, text, { mode: 0o600, flag: 'wx' })
  renameSync(temporary, file)
}

/** A cgroup's saved configuration and the path it had when attached. */
export function savedConfig(cgroupId: bigint): { config: Config; path?: string } {
  const file = stateFile(cgroupId)
  if (!existsSync(file))
    throw new CommandFailure(
      `${file} is missing: attach the cgroup again with its configuration (tnat64 attach --cgroup PATH ...)`,
    )
  const text = readFileSync(file, 'utf8')
  const { config, errors } = parseConfig(text, file)
  if (errors.length > 0)
    throw new CommandFailure(`${file} is damaged: ${errors[0].message} (attach the cgroup again)`)
  const withdrawn = text.split('\n').includes(WITHDRAWN_LINE)
  const discovered = DISCOVERED_LINE.exec(text)?.[1] as Source | undefined
  return {
    config: { ...config, ...(withdrawn ? { withdrawn } : {}), ...(discovered ? { discovered } : {}) },
    path: STATE_PATH_LINE.exec(text)?.[1],
  }
}

/** The path a cgroup had when it was attached (for one that has since been removed). */
export function savedPath(cgroupId: bigint): string | undefined {
  try {
    return STATE_PATH_LINE.exec(readFileSync(stateFile(cgroupId), 'utf8'))?.[1]
  } catch {
    return undefined
  }
}

/** Refuses pins this version did not make: a map of another layout, or one it does not know. */
function checkPins(): void {
  if (!existsSync(PIN_DIR)) return
  for (const name of readdirSync(PIN_DIR)) {
    if (name === 'links') continue
    const spec = Object.values(MAPS).find((m) => m.name === name)
    if (!spec)
      throw new CommandFailure(
        `${join(PIN_DIR, name)} is not a pin of this version of tnat64: run tnat64 detach --all, then attach again`,
      )
    openMap(spec).close()
  }
}

export interface AttachResult {
  readonly cgroup: string
  readonly id: string
  /** False when the cgroup already had the programs: they were replaced in place (an upgrade). */
  readonly newlyAttached: boolean
  readonly rules: number
  readonly prefixes: number
}

/**
 * Attaches the programs to a cgroup and loads its configuration. A cgroup already attached keeps
 * its links: its programs are swapped for this build's in place (so attach also upgrades) and its
 * rules replaced; every other cgroup keeps its own.
 */
export function attach(cgroup: Cgroup, config: Config): AttachResult {
  requireRoot('kernel')
  if (!existsSync(BPF_OBJECT)) throw new CommandFailure(`${BPF_OBJECT} is not built (run: npm run build)`)
  return withLock(true, () => {
    pinDir('links')
    checkPins()
    let object: LoadedObject | undefined
    try {
      object = LoadedObject.load(BPF_OBJECT, {
        variable: { name: CGROUP_VARIABLE, value: cgroup.id },
        mapDir: PIN_DIR,
        maps: MAP_NAMES,
      })
      for (const name of MAP_NAMES) chmodSync(join(PIN_DIR, name), 0o600)
      const compiled = compileRules(config, readPins(cgroup.id)) // an operator's pins stay
      // Rules before programs: a copy attached to the cgroup never runs without them.
      writeRules(cgroup.id, compiled)
      writeReachability()
      const newlyAttached = !isAttached(cgroup.id)
      if (newlyAttached) attachPrograms(object, cgroup)
      else for (const name of PROGRAM_NAMES) object.replace(name, linkPin(cgroup.id, name))
      saveConfig(cgroup, config)
      return {
        cgroup: cgroup.path,
        id: cgroup.id.toString(),
        newlyAttached,
        rules: compiled.entries.length,
        prefixes: compiled.prefixes.length,
      }
    } catch (e) {
      // Nothing of a failed attach stays, not even the directories it made before a refused load.
      try {
        if (attachedIds().length === 0) removeAll()
        else if (!existsSync(linkDir(cgroup.id))) forget(cgroup.id)
      } catch {
        // the first failure is the one to report
      }
      throw e
    } finally {
      object?.close()
    }
  })
}

function attachPrograms(object: LoadedObject, cgroup: Cgroup): void {
  const dir = linkDir(cgroup.id)
  rmSync(dir, { recursive: true, force: true }) // a half-made attachment from a crash
  pinDir('links', `cg${cgroup.id}`)
  const fd = openSync(cgroup.path, 'r')
  try {
    for (const name of PROGRAM_NAMES) {
      object.attach(name, fd, linkPin(cgroup.id, name))
      chmodSync(linkPin(cgroup.id, name), 0o600)
    }
  } catch (e) {
    rmSync(dir, { recursive: true, force: true })
    throw e
  } finally {
    closeSync(fd)
  }
}

/** Replaces the programs of every attached cgroup with this build's, in place. */
export function upgrade(): string[] {
  requireRoot('kernel')
  return withLock(true, () => {
    checkPins()
    const ids = attachedIds()
    for (const id of ids) {
      const object = LoadedObject.load(BPF_OBJECT, {
        variable: { name: CGROUP_VARIABLE, value: id },
        mapDir: PIN_DIR,
        maps: MAP_NAMES,
      })
      try {
        for (const name of PROGRAM_NAMES) object.replace(name, linkPin(id, name))
      } finally {
        object.close()
      }
    }
    return ids.map((id) => findCgroupById(id) ?? savedPath(id) ?? `cgroup ${id}`)
  })
}

/** Everything of one cgroup but its links: rules, reverse records, saved configuration. */
function forget(cgroupId: bigint): void {
  removeRules(cgroupId)
  freeReverseRecords(cgroupId)
  rmSync(stateFile(cgroupId), { force: true })
}

/**
 * Frees the reverse records a cgroup's programs wrote: its sock_release no longer runs. Only that
 * cgroup's records are touched, and no cookie is ever written back. A slot is rewritten whole
 * (user space has no compare-and-swap): a race lost to the BPF side can at worst hide one record,
 * whose socket then shows its NAT64 peer, never a wrong one.
 */
function freeReverseRecords(cgroupId: bigint): void {
  const { reverse_slot, reverse_record } = LAYOUTS
  const ownerAt = reverse_slot.fields.record + reverse_record.fields.cgroup
  withMap(MAPS.reverseOverflow, (overflow) => {
    for (const key of overflow.keys())
      if (overflow.lookup(key)?.readBigUInt64LE(reverse_record.fields.cgroup) === cgroupId)
        overflow.delete(key)
  })
  withMap(MAPS.reverse, (slots) => {
    for (let index = 0; index < REVERSE_SLOTS; index++) {
      const slot = slots.lookup(indexKey(index))
      if (!slot || slot.readBigUInt64LE(0) === 0n || slot.readBigUInt64LE(ownerAt) !== cgroupId) continue
      slot.fill(0, 0, reverse_slot.fields.overflow)
      slots.update(indexKey(index), slot)
    }
  })
}

/** Detaches the cgroup that --cgroup PATH or --id ID names; returns the path it had. */
export function detachNamed(target: { cgroup?: string; id?: string }): string {
  requireRoot('kernel')
  return withLock(true, () => {
    const known = knownIds()
    let id: bigint
    if (target.id !== undefined) {
      id = BigInt(target.id)
      if (!known.includes(id)) throw new CommandFailure(`cgroup ${target.id} is not attached`)
    } else id = attachedCgroupId(target.cgroup as string, known)
    const { path } = describeCgroup(id)
    detach(id)
    return path ?? `cgroup ${id}`
  })
}

/** Detaches one cgroup (or clears what a killed attach left of it); with none left attached,
 * removes the maps and the pin directory as well. */
export function detach(cgroupId: bigint): boolean {
  requireRoot('kernel')
  return withLock(true, () => {
    const dir = linkDir(cgroupId)
    const was = existsSync(dir) || knownIds().includes(cgroupId)
    // Unpinning a link drops its last reference: the kernel detaches the program there and then.
    // The rules go after the programs, which never run without them.
    rmSync(dir, { recursive: true, force: true })
    if (attachedIds().length === 0) removeAll()
    else if (was) forget(cgroupId)
    return was
  })
}

/** Rules of cgroups without links: what an attach killed half-way left (detach --id clears it). */
export function orphanIds(): bigint[] {
  const attached = attachedIds()
  return knownIds().filter((id) => !attached.includes(id))
}

/** Detaches every cgroup and removes every pin, the directory and the saved rules. */
export function detachAll(): number {
  requireRoot('kernel')
  return withLock(true, () => {
    const ids = attachedIds()
    removeAll()
    return ids.length
  })
}

function removeAll(): void {
  if (isBpffsMounted()) rmSync(PIN_DIR, { recursive: true, force: true })
  if (existsSync(RUN_DIR))
    for (const name of readdirSync(RUN_DIR))
      if (/^cg\d+\.conf/.test(name)) rmSync(join(RUN_DIR, name), { force: true })
}

/** Cgroups kernel mode holds something of: links, or rules left by an attach that was killed. */
function knownIds(): bigint[] {
  const ids = attachedIds()
  if (!isLoaded()) return ids
  return [...new Set([...ids, ...cgroupsWithRules()])]
}

/**
 * The cgroup a --cgroup argument names, among those kernel mode holds something of: by its
 * directory, or, for one removed while attached, by the path it had (when no live cgroup there is
 * attached; `--id` names it in any case).
 */
export function attachedCgroupId(argument: string, known = attachedIds()): bigint {
  const path = resolve(cgroup2Mount(), argument)
  let live: Cgroup | undefined
  try {
    live = resolveCgroup(argument)
  } catch (e) {
    if (!(e instanceof UsageError)) throw e
  }
  if (live && known.includes(live.id)) return live.id
  const removed = known.find((id) => id !== live?.id && savedPath(id) === path && !findCgroupById(id))
  if (removed !== undefined) return removed
  if (!live) resolveCgroup(argument) // its error: no such cgroup
  throw new CommandFailure(`${path} is not attached`)
}

/** A `--cgroup PATH | --all` pair. */
export interface Target {
  readonly cgroup?: string
  readonly all?: boolean
}

/** The cgroups a target names: at least one, all attached. Call under the lock. */
export function targetCgroups(flags: Target): bigint[] {
  if (flags.cgroup !== undefined) return [attachedCgroupId(flags.cgroup)]
  const ids = attachedIds()
  if (ids.length === 0)
    throw new CommandFailure('kernel mode is not attached anywhere (tnat64 attach --cgroup PATH)')
  return ids
}

/** How people see an attached cgroup: its path, or the path it had, marked removed. */
export function describeCgroup(id: bigint): { path?: string; removed: boolean } {
  const path = findCgroupById(id)
  return path ? { path, removed: false } : { path: savedPath(id), removed: true }
}
