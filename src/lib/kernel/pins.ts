// Where kernel mode keeps its state, and the checks before any of it is trusted.
//
// Everything lives under one bpffs directory, mode 0700, every pin 0600 (a pin's file mode is its
// only protection: whoever may open a map may rewrite where traffic goes):
//
//   /sys/fs/bpf/tnat64/tnat64_{rules,prefixes,...}               the maps, shared by every cgroup
//   /sys/fs/bpf/tnat64/links/cg<ID>/{connect6,getpeername6,...}   one bpf_link per program
//   /run/tnat64/cg<ID>.conf                                       the configuration it was given
//   /run/tnat64/lock                                              held by every command that changes state
//   /run/tnat64/monitor.lock                                      held by the one `tnat64 monitor`
//
// The maps are the truth: the saved configuration only serves `prefix add|remove` to recompile.
import { spawnSync } from 'node:child_process'
import { closeSync, existsSync, constants as fs, fstatSync, openSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { MAPS, type MapSpec, MapType } from '../bpf/layout.js'
import { PinnedMap, possibleCpus } from '../bpf/libbpf.js'
import { flock } from '../bpf/native.js'
import { checkPrivateDir, privateDir, RUN_DIR, runDir } from '../dirs.js'
import { CommandFailure } from '../errors.js'
import { requireRoot } from '../privilege.js'

export const BPFFS = '/sys/fs/bpf'
export const PIN_DIR = join(BPFFS, 'tnat64')
export const LINK_DIR = join(PIN_DIR, 'links')
const LOCK_FILE = join(RUN_DIR, 'lock')

export const MAP_NAMES = Object.values(MAPS).map((m) => m.name)

export function isBpffsMounted(): boolean {
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[1] === BPFFS && line.split(' ')[2] === 'bpf')
}

/** Mounts bpffs at /sys/fs/bpf, 0700, when it is not there (no systemd does it on these machines). */
function ensureBpffs(): void {
  if (isBpffsMounted()) return
  const r = spawnSync('mount', ['-t', 'bpf', '-o', 'mode=0700', 'bpf', BPFFS], { encoding: 'utf8' })
  if (r.status !== 0) throw new CommandFailure(`cannot mount bpffs at ${BPFFS}: ${r.stderr.trim()}`)
}

/** The pin directory for writing: made if absent, refused if anyone else could have shaped it. */
export function pinDir(...parts: string[]): string {
  ensureBpffs()
  return privateDir(BPFFS, 'tnat64', ...parts)
}

export function linkDir(cgroupId: bigint): string {
  return join(LINK_DIR, `cg${cgroupId}`)
}

/** Maps exist: something is attached (or was, and a crash left them). */
export function isLoaded(): boolean {
  return MAP_NAMES.some((name) => existsSync(join(PIN_DIR, name)))
}

export function requireLoaded(): void {
  requireRoot('kernel')
  if (!isLoaded())
    throw new CommandFailure('kernel mode is not attached anywhere (tnat64 attach --cgroup PATH)')
  checkPrivateDir(PIN_DIR)
}

/** Opens a pinned map after checking it is the one this version made (type, sizes, entries). */
export function openMap(spec: MapSpec): PinnedMap {
  const valueSize = spec.type === MapType.percpuArray ? spec.valueSize * possibleCpus() : spec.valueSize
  return PinnedMap.open(join(PIN_DIR, spec.name), spec, valueSize)
}

export function withMap<T>(spec: MapSpec, use: (map: PinnedMap) => T): T {
  const map = openMap(spec)
  try {
    return use(map)
  } finally {
    map.close()
  }
}

/** Array maps (prefixes, counters, reverse slots) are keyed by a u32 index. */
export function indexKey(id: number): Buffer {
  const key = Buffer.alloc(4)
  key.writeUInt32LE(id)
  return key
}

/** A per-CPU array's entry, summed over the CPUs (counters). */
export function perCpuSum(map: PinnedMap, index: number): bigint {
  const perCpu = map.lookup(indexKey(index)) ?? Buffer.alloc(0)
  let sum = 0n
  for (let offset = 0; offset + 8 <= perCpu.length; offset += 8) sum += perCpu.readBigUInt64LE(offset)
  return sum
}

/** The lock this process holds, so that a locked operation may call another. */
let held: 'shared' | 'exclusive' | undefined

/**
 * Runs `change` holding the lock of kernel mode's state (shared: only reads), so that two
 * administrators never interleave. The lock file stays: removing it would let a waiter lock an
 * orphan while a newcomer locks its successor.
 */
export function withLock<T>(exclusive: boolean, change: () => T): T {
  if (held === 'exclusive' || (held === 'shared' && !exclusive)) return change() // already ours
  if (held === 'shared') throw new Error('withLock: an exclusive lock inside a shared one')
  requireRoot('kernel')
  runDir()
  for (;;) {
    const fd = openSync(LOCK_FILE, fs.O_RDWR | fs.O_CREAT | fs.O_NOFOLLOW, 0o600)
    try {
      if (!fstatSync(fd).isFile()) throw new CommandFailure(`${LOCK_FILE} is not a regular file`)
      flock(fd, exclusive, () =>
        process.stderr.write(`tnat64: waiting for another tnat64 command to finish (${LOCK_FILE})\n`),
      )
      // Someone may have replaced the file while we waited: lock the one that is there now.
      if (statSync(LOCK_FILE).ino !== fstatSync(fd).ino) continue
      held = exclusive ? 'exclusive' : 'shared'
      try {
        return change()
      } finally {
        held = undefined
      }
    } finally {
      closeSync(fd)
    }
  }
}
