// What discovery found, as a file others read: the host's state (written by root's
// `tnat64 discover --watch`, readable by every user) and each user's own cache of a DNS64 lookup.
// Lines of words, so that the C launcher (preload/tnat64-app.c) reads its one line cheaply:
//
//   written 1764219000
//   until 1764219300                                when to look again, whatever was found
//   pid 1234 5678                                   the watcher and its start time (host state only)
//   in-force 2001:db8:64::/96 pref64 1764219600     the winner and when it ends; `none -` if none
//   found pref64 2001:db8:64::/96 1764219600 received=1764217800 router=fe80::1 interface=eth0
//   found dns64 2001:db8:64::/96 1764219000 resolver=2001:db8:1::1
//   note dns64 ipv4only.arpa has no AAAA records: the resolver does not synthesize
import { chmodSync, lstatSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { userInfo } from 'node:os'
import { dirname, join } from 'node:path'
import { parseIPv6 } from '../address.js'
import { processStart } from '../command-line.js'
import { DISCOVERY_STATE_FILE, USER_CACHE_NAME } from '../defaults.js'
import { CommandFailure } from '../errors.js'

export type Source = 'pref64' | 'dns64'

export interface Found {
  readonly source: Source
  readonly prefix: string
  /** When it stops holding, in seconds since the epoch. */
  readonly expires: number
  /** PREF64: when the advertisement arrived, the router and the interface. */
  readonly received?: number
  readonly router?: string
  readonly interface?: string
  /** DNS64: the resolvers asked. */
  readonly resolver?: string
}

export interface Note {
  readonly source: Source
  readonly text: string
}

export interface Watcher {
  readonly pid: number
  /** Its start time (processStart): a pid reused by another process is not the watcher. */
  readonly start: string
}

export interface DiscoveryState {
  readonly written: number
  /** The watcher that keeps the host's state current, while it runs. */
  readonly watcher?: Watcher
  readonly found: Found[]
  readonly notes: Note[]
  /** When the state as a whole must be looked at again (a negative answer's end, say). */
  readonly until: number
}

export const nowSeconds = () => Math.floor(Date.now() / 1000)

/**
 * The prefix discovery puts in force: PREF64 before DNS64 (RFC 8781 §1, RFC 9872: the router's
 * word is first-hand). Among several of one source, the lowest prefix: a choice that the order
 * of advertisements or a resolver's rotation of its answers never changes (doctor warns when
 * they disagree). Expired ones never count.
 */
export function chooseFound(found: readonly Found[], now = nowSeconds()): Found | undefined {
  const lowest = (source: Source) =>
    found
      .filter((f) => f.source === source && f.expires > now)
      .sort(
        (a, b) => comparePrefixes(a.prefix, b.prefix) || (a.router ?? '').localeCompare(b.router ?? ''),
      )[0]
  return lowest('pref64') ?? lowest('dns64')
}

/** Orders prefixes by address, then length. */
function comparePrefixes(a: string, b: string): number {
  const key = (p: string) => {
    const [address, length] = p.split('/')
    return `${Buffer.from(parseIPv6(address)).toString('hex')}/${length.padStart(3, '0')}`
  }
  return key(a).localeCompare(key(b))
}

/** When the choice may change by itself: the next expiry, or the state's own end. */
export function nextChange(state: DiscoveryState, now = nowSeconds()): number {
  return Math.min(state.until, ...state.found.map((f) => f.expires).filter((e) => e > now))
}

export function formatState(state: DiscoveryState, heading: string): string {
  const chosen = chooseFound(state.found, state.written)
  const lines = [`# ${heading}`, `written ${state.written}`, `until ${state.until}`]
  if (state.watcher) lines.push(`pid ${state.watcher.pid} ${state.watcher.start}`)
  lines.push(
    chosen
      ? `in-force ${chosen.prefix} ${chosen.source} ${chosen.expires}`
      : `in-force none - ${state.until}`,
  )
  for (const f of state.found) {
    const extra = (['received', 'router', 'interface', 'resolver'] as const)
      .filter((k) => f[k] !== undefined)
      .map((k) => `${k}=${f[k]}`)
    lines.push(['found', f.source, f.prefix, f.expires, ...extra].join(' '))
  }
  for (const n of state.notes) lines.push(`note ${n.source} ${n.text.replace(/\s+/g, ' ')}`)
  return `${lines.join('\n')}\n`
}

/** Reads a state file; undefined when absent, unreadable or not one. */
export function parseState(text: string): DiscoveryState | undefined {
  let written: number | undefined
  let watcher: Watcher | undefined
  let until = 0
  const found: Found[] = []
  const notes: Note[] = []
  for (const line of text.split('\n')) {
    const words = line.trim().split(' ')
    const [key, ...rest] = words
    if (key === 'written') written = Number(rest[0])
    else if (key === 'pid' && rest.length === 2) watcher = { pid: Number(rest[0]), start: rest[1] }
    else if (key === 'until') until = Number(rest[0])
    else if (key === 'found' && (rest[0] === 'pref64' || rest[0] === 'dns64')) {
      const extra = Object.fromEntries(
        rest.slice(3).map((w) => [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)]),
      )
      found.push({
        source: rest[0],
        prefix: rest[1],
        expires: Number(rest[2]),
        ...(extra.received ? { received: Number(extra.received) } : {}),
        ...(extra.router ? { router: extra.router } : {}),
        ...(extra.interface ? { interface: extra.interface } : {}),
        ...(extra.resolver ? { resolver: extra.resolver } : {}),
      })
    } else if (key === 'note' && (rest[0] === 'pref64' || rest[0] === 'dns64'))
      notes.push({ source: rest[0], text: rest.slice(1).join(' ') })
  }
  if (written === undefined || !Number.isFinite(written)) return undefined
  return { written, watcher, found, notes, until }
}

/** Writes whole or not at all (readers never see half a file), with `mode` whatever the umask. */
export function writeState(file: string, state: DiscoveryState, heading: string, mode: number): void {
  const temporary = `${file}.${process.pid}.new`
  try {
    writeFileSync(temporary, formatState(state, heading), { mode })
    chmodSync(temporary, mode)
    renameSync(temporary, file)
  } catch (e) {
    rmSync(temporary, { force: true })
    throw new CommandFailure(`${file}: ${(e as Error).message}`)
  }
}

/** This process, as a state file names its watcher. */
export function thisWatcher(): Watcher {
  return { pid: process.pid, start: processStart(process.pid) ?? '?' }
}

/** Whether the watcher a state names still runs: the same pid, started at the same time. */
export function watcherRuns(watcher: Watcher | undefined): boolean {
  return watcher !== undefined && processStart(watcher.pid) === watcher.start
}

/**
 * The host's state, if a watcher keeps it: root's file, written by nobody else, whose watcher
 * still runs. A state left by a watcher that died is not trusted, even once its pid is reused.
 */
export function readHostState(file = DISCOVERY_STATE_FILE): DiscoveryState | undefined {
  const state = readTrusted(file, 0)
  return state && watcherRuns(state.watcher) ? state : undefined
}

/**
 * This user's cache of an RFC 7050 lookup, as user_cache_path (preload/tnat64-app.c) finds it:
 * under $XDG_CACHE_HOME, else $HOME/.cache, each only when absolute, else the home the password
 * database gives; never a path relative to the current directory.
 */
export function userCacheFile(env: NodeJS.ProcessEnv = process.env): string {
  const absolute = (dir: string | undefined) => (dir?.startsWith('/') ? dir : undefined)
  const base = absolute(env.XDG_CACHE_HOME) ?? join(absolute(env.HOME) ?? userInfo().homedir, '.cache')
  return join(base, USER_CACHE_NAME)
}

export function readUserCache(file = userCacheFile()): DiscoveryState | undefined {
  return readTrusted(file, process.geteuid?.() ?? 0)
}

export function writeUserCache(state: DiscoveryState, file = userCacheFile()): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
  writeState(file, state, 'tnat64 discover: your cached RFC 7050 lookup (tnat64 app reads it)', 0o600)
}

/** Removes the host's state if it is still this watcher's (another may have taken over). */
export function removeState(file = DISCOVERY_STATE_FILE): void {
  if (readTrusted(file, process.geteuid?.() ?? 0)?.watcher?.pid === process.pid) rmSync(file, { force: true })
}

/** A state file owned by `uid` that no one else may write, parsed; else undefined. */
function readTrusted(file: string, uid: number): DiscoveryState | undefined {
  try {
    const stat = lstatSync(file)
    if (!stat.isFile() || stat.uid !== uid || stat.mode & 0o022) return undefined
    return parseState(readFileSync(file, 'utf8'))
  } catch {
    return undefined
  }
}
