// Reachability of NAT64 prefixes, a fact of each network namespace: the kernel program cannot see
// a failed route lookup, so user space tells it, per namespace (bpf_get_netns_cookie) and prefix.
import { spawn, spawnSync } from 'node:child_process'
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs'
import { formatIPv6, parseIPv6 } from '../address.js'
import {
  decodePrefixSet,
  decodePrefixValue,
  encodePrefixSet,
  encodePrefixValue,
  MAPS,
  MAX_PREFIXES,
} from '../bpf/layout.js'
import type { PinnedMap } from '../bpf/libbpf.js'
import { netnsCookie, netnsCookiesOf } from '../bpf/native.js'
import { CommandFailure } from '../errors.js'
import { type EventLog, untilStopped } from '../log.js'
import { indexKey, isLoaded, requireLoaded, withLock, withMap } from './pins.js'
import { prefixTable } from './rules.js'

export interface Route {
  /** unicast, unreachable, blackhole, prohibit, throw, local, ... */
  readonly type: string
  readonly gateway?: string
  readonly dev?: string
}

/** How this namespace routes to an address (`ip route get`, either family); undefined: no route. */
export function routeTo(address: string): Route | undefined {
  const r = spawnSync('ip', ['-j', 'route', 'get', address], { encoding: 'utf8', timeout: 5000 })
  if (r.status !== 0) return undefined
  try {
    const [route] = JSON.parse(r.stdout) as { type?: string; gateway?: string; dev?: string }[]
    return route && { type: route.type ?? 'unicast', gateway: route.gateway, dev: route.dev }
  } catch {
    return undefined
  }
}

/** A route that delivers packets: not unreachable, blackhole, prohibit or throw. */
export function delivers(route: Route | undefined): boolean {
  return route !== undefined && !['unreachable', 'blackhole', 'prohibit', 'throw'].includes(route.type)
}

/** An address inside a prefix: its first address with the last bit set. */
export function addressInside(prefix: string): string {
  const probe = parseIPv6(prefix.split('/')[0])
  probe[15] |= 1
  return formatIPv6(probe)
}

/** A route that delivers packets covers the prefix. */
export function prefixReachable(prefix: string): boolean {
  return delivers(routeTo(addressInside(prefix)))
}

export interface PrefixState {
  readonly id: number
  readonly prefix: string
  readonly reachable: boolean
}

/** Whether this namespace can reach each prefix, as the kernel believes it. */
export function prefixStates(): PrefixState[] {
  const unreachable = withMap(MAPS.unreachable, (map) => map.lookup(cookieKey(netnsCookie())))
  const ids = unreachable ? decodePrefixSet(unreachable) : new Set<number>()
  return prefixTable().map(({ id, prefix }) => ({ id, prefix, reachable: !ids.has(id) }))
}

function cookieKey(cookie: bigint): Buffer {
  const key = Buffer.alloc(8)
  key.writeBigUInt64LE(cookie)
  return key
}

/** Re-reads this namespace's routes and tells the kernel which prefixes it cannot reach. The
 * prefixes themselves are read from the kernel: nothing else changes. Call under the lock. */
export function writeReachability(): PrefixState[] {
  const states = prefixTable().map(({ id, prefix }) => ({ id, prefix, reachable: prefixReachable(prefix) }))
  const set = encodePrefixSet(states.filter((s) => !s.reachable).map((s) => s.id))
  withMap(MAPS.unreachable, (map) => {
    pruneDeadNamespaces(map)
    map.update(cookieKey(netnsCookie()), set)
  })
  syncUnreachableSomewhere()
  return states
}

/** The init pid namespace's fixed inode (PROC_PID_INIT_INO, include/linux/proc_ns.h). */
const INIT_PID_NAMESPACE = 0xeffffffc
const CAP_SYS_PTRACE = 19n
const CAP_SYS_ADMIN = 21n

/** Only a process of the host's pid namespace that may enter any namespace sees them all. */
function seesEveryNamespace(): boolean {
  try {
    if (statSync('/proc/self/ns/pid').ino !== INIT_PID_NAMESPACE) return false
    const caps = BigInt(
      `0x${/^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0'}`,
    )
    return ((caps >> CAP_SYS_PTRACE) & 1n) === 1n && ((caps >> CAP_SYS_ADMIN) & 1n) === 1n
  } catch {
    return false
  }
}

/**
 * The files that hold each network namespace, grouped by namespace (inode): nsfs mounts first
 * (`ip netns` names and other bind mounts stay put), then every thread's namespace and every
 * descriptor open on one.
 */
function namespaceHolders(): string[][] {
  const files: string[] = []
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [mount, source] = line.split(' - ')
    const fields = mount.split(' ')
    if (source?.startsWith('nsfs ') && fields[3]?.startsWith('net:['))
      files.push(fields[4].replace(/\\040/g, ' '))
  }
  const list = (dir: string) => {
    try {
      return readdirSync(dir)
    } catch {
      return [] // gone meanwhile
    }
  }
  for (const pid of list('/proc').filter((d) => /^\d+$/.test(d))) {
    for (const tid of list(`/proc/${pid}/task`)) files.push(`/proc/${pid}/task/${tid}/ns/net`)
    for (const fd of list(`/proc/${pid}/fd`)) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('net:[')) files.push(`/proc/${pid}/fd/${fd}`)
      } catch {
        // closed meanwhile
      }
    }
  }
  const byInode = new Map<number, string[]>()
  for (const file of files) {
    try {
      const inode = statSync(file).ino
      byInode.set(inode, [...(byInode.get(inode) ?? []), file])
    } catch {
      // gone meanwhile
    }
  }
  return [...byInode.values()]
}

/**
 * Forgets namespaces that no longer exist, so their entries neither fill the map nor keep
 * connect6 looking up. Only when it is sure: it must see every namespace (the host's pid
 * namespace, CAP_SYS_ADMIN and CAP_SYS_PTRACE), and every namespace it found must have given its
 * cookie; otherwise nothing is forgotten this time.
 */
function pruneDeadNamespaces(map: PinnedMap): void {
  const keys = map.keys()
  if (keys.length === 0 || !seesEveryNamespace()) return
  const cookies = netnsCookiesOf(namespaceHolders())
  if (cookies.some((c) => c === undefined)) return
  const live = new Set(cookies.map((c) => String(c)))
  for (const key of keys) if (!live.has(key.readBigUInt64LE().toString())) map.delete(key)
}

/** Each prefix's unreachable_somewhere, from the namespaces' sets: set after a set names it,
 * cleared after no set does, so connect6 skips the per-namespace lookup only when none is due. */
function syncUnreachableSomewhere(): void {
  const anywhere = new Set(unreachableByNamespace().flatMap((n) => n.unreachable))
  withMap(MAPS.prefixes, (prefixes) => {
    for (let id = 0; id < MAX_PREFIXES; id++) {
      const value = prefixes.lookup(indexKey(id))
      if (!value) continue
      const prefix = decodePrefixValue(value)
      const wanted = prefix.length > 0 && anywhere.has(id)
      if (prefix.unreachableSomewhere !== wanted)
        prefixes.update(indexKey(id), encodePrefixValue({ ...prefix, unreachableSomewhere: wanted }))
    }
  })
}

/** A prefix id taken by a new prefix starts reachable in every namespace. */
export function clearUnreachable(id: number): void {
  withMap(MAPS.unreachable, (map) => {
    for (const key of map.keys()) {
      const value = map.lookup(key)
      if (!value) continue
      const ids = decodePrefixSet(value)
      if (ids.delete(id)) map.update(key, encodePrefixSet(ids))
    }
  })
}

/** The namespaces that have been refreshed, and the prefix ids each cannot reach. */
export function unreachableByNamespace(): { netns: string; unreachable: number[] }[] {
  return withMap(MAPS.unreachable, (map) =>
    map.keys().flatMap((key) => {
      const value = map.lookup(key)
      return value
        ? [{ netns: key.readBigUInt64LE().toString(), unreachable: [...decodePrefixSet(value)] }]
        : []
    }),
  )
}

export function refreshReachability(): PrefixState[] {
  return withLock(true, () => {
    requireLoaded()
    return writeReachability()
  })
}

/** Netlink groups of `ip monitor`'s socket, once it has joined them (from /proc/net/netlink). */
function monitorSubscribed(pid: number): boolean {
  try {
    const sockets = new Set(
      readdirSync(`/proc/${pid}/fd`)
        .map((fd) => /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1])
        .filter((inode): inode is string => inode !== undefined),
    )
    // sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode
    return readFileSync(`/proc/${pid}/net/netlink`, 'utf8')
      .split('\n')
      .slice(1)
      .map((line) => line.trim().split(/\s+/))
      .some((f) => f.length >= 10 && sockets.has(f[9]) && /[1-9a-f]/i.test(f[3]))
  } catch {
    return false
  }
}

export interface WatchOptions {
  /** After the first change of a burst, how long to wait for the rest (never longer). */
  readonly settleMs?: number
  /** A full refresh this often even without events: covers lost events and new prefixes. */
  readonly resyncMs?: number
  /** Hands the caller a way to ask for a refresh (after it changed the prefixes, say) and to
   * stop the watch with an error. */
  readonly onStart?: (refresh: () => void, fail: (message: string) => void) => void
  /** Resolves with the signal that stops the watch: the caller's, when it listened from its start
   * (a SIGTERM during its set-up then ends the watch at once, exit 0); else SIGTERM or SIGINT from
   * now on. */
  readonly stopped?: Promise<NodeJS.Signals>
}

/**
 * Keeps this namespace's reachability current until SIGINT or SIGTERM: a refresh after each burst
 * of route changes, and a full one every resyncMs. It subscribes before its first report. If the
 * route monitor dies, or the kernel is detached under it, it stops with an error (exit non-zero);
 * lost netlink messages (ENOBUFS) trigger a full refresh.
 */
export async function followRoutes(log: EventLog, options: WatchOptions = {}): Promise<void> {
  const settleMs = options.settleMs ?? 100
  const resyncMs = options.resyncMs ?? 30_000
  const monitor = spawn('ip', ['-6', 'monitor', 'route'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let failure: Error | undefined
  let finished = false
  let finish: () => void = () => {}
  const done = new Promise<void>((resolve) => {
    finish = () => {
      finished = true
      resolve()
    }
  })
  const fail = (message: string) => {
    failure ??= new CommandFailure(message)
    finish()
  }
  let last = ''
  const report = () => {
    try {
      if (!isLoaded()) return fail('kernel mode was detached: nothing left to watch')
      const prefixes = refreshReachability()
      const line = prefixes.map((s) => `${s.prefix} ${s.reachable ? 'reachable' : 'unreachable'}`).join(', ')
      if (line !== last) log(line || '(no prefixes)', { event: 'reachability', prefixes })
      last = line
    } catch (e) {
      fail(
        isLoaded()
          ? `refresh failed: ${(e as Error).message}`
          : 'kernel mode was detached: nothing left to watch',
      )
    }
  }
  let pending: NodeJS.Timeout | undefined
  const schedule = () => {
    // The first event of a burst sets the time; later ones do not push it back, so steady churn
    // still gets a refresh every settleMs.
    pending ??= setTimeout(() => {
      pending = undefined
      report()
    }, settleMs)
  }
  monitor.stdout.on('data', schedule)
  monitor.stderr.on('data', schedule) // "netlink receive error ... No buffer space": events were lost
  monitor.on('error', (e) => fail(`ip monitor: ${e.message}`))
  monitor.on('exit', (code, signal) =>
    fail(`ip monitor ended (${signal ?? `exit ${code}`}): route changes are no longer followed`),
  )
  ;(options.stopped ?? untilStopped()).then((signal) => {
    if (failure) return
    log(`stopping on ${signal}`, { event: 'stopping', signal })
    finish()
  })
  const resync = setInterval(report, resyncMs)
  options.onStart?.(schedule, fail)
  try {
    for (let i = 0; i < 200 && !finished && !monitorSubscribed(monitor.pid ?? 0); i++)
      await new Promise((r) => setTimeout(r, 10))
    if (!finished && !monitorSubscribed(monitor.pid ?? 0))
      fail('ip monitor did not subscribe to route changes')
    if (!finished) report()
    await done
  } finally {
    clearInterval(resync)
    clearTimeout(pending)
    monitor.removeAllListeners('exit')
    monitor.kill()
  }
  if (failure) throw failure
}
