// cgroup v2: where it is mounted (never assumed: hybrid layouts put it at /sys/fs/cgroup/unified),
// which directory a --cgroup argument means, and fresh cgroups for `tnat64 run`.
import { type Dirent, mkdirSync, readdirSync, readFileSync, rmdirSync, statSync } from 'node:fs'
import { isAbsolute, join, relative, resolve } from 'node:path'
import { CommandFailure, UsageError } from '../errors.js'

/** The cgroup2 mount point, from /proc/mounts. */
export function cgroup2Mount(): string {
  for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
    const [, mountPoint, type] = line.split(' ')
    if (type === 'cgroup2') return mountPoint.replace(/\\040/g, ' ')
  }
  throw new CommandFailure('no cgroup2 file system is mounted (mount -t cgroup2 none /sys/fs/cgroup)')
}

export interface Cgroup {
  /** Absolute path of the cgroup's directory. */
  readonly path: string
  /** Path relative to the cgroup2 mount ('' for the root). */
  readonly name: string
  /** The cgroup's id: the inode of its directory, as the kernel reports it in link info. */
  readonly id: bigint
}

/** A --cgroup argument: absolute, or relative to the cgroup2 mount; it must exist inside it. */
export function resolveCgroup(argument: string): Cgroup {
  const mount = cgroup2Mount()
  const path = isAbsolute(argument) ? resolve(argument) : resolve(mount, argument)
  const name = relative(mount, path)
  if (name.startsWith('..') || isAbsolute(name)) {
    throw new UsageError(`--cgroup ${argument}: not inside the cgroup2 hierarchy at ${mount}`)
  }
  let id: bigint
  try {
    const stat = statSync(path, { bigint: true })
    if (!stat.isDirectory()) throw new UsageError(`--cgroup ${argument}: ${path} is not a cgroup directory`)
    id = stat.ino
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT')
      throw new UsageError(`--cgroup ${argument}: no such cgroup (${path})`)
    throw e
  }
  return { path, name, id }
}

/** Creates a cgroup below the mount; `tnat64 run` puts its command in it. */
export function createCgroup(name: string): Cgroup {
  mkdirSync(join(cgroup2Mount(), name), { mode: 0o755 })
  return resolveCgroup(name)
}

/** Removes an empty cgroup; false while processes remain in it. */
export function removeCgroup(cgroup: Cgroup): boolean {
  try {
    rmdirSync(cgroup.path)
    return true
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return true
    if ((e as NodeJS.ErrnoException).code === 'EBUSY') return false
    throw e
  }
}

/** The cgroup of the given id, found by walking the hierarchy; undefined once it is gone. */
export function findCgroupById(id: bigint, root = cgroup2Mount()): string | undefined {
  const stack = [root]
  while (stack.length > 0) {
    const dir = stack.pop() as string
    let entries: Dirent[]
    try {
      if (statSync(dir, { bigint: true }).ino === id) return dir
      entries = readdirSync(dir, { withFileTypes: true })
    } catch {
      continue // removed while we walked
    }
    for (const entry of entries) if (entry.isDirectory()) stack.push(join(dir, entry.name))
  }
  return undefined
}
