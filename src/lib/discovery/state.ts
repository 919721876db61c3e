// What discovery found, as a file others read: the host's state (written by root's
// `tnat64 discover --watch`, readable by every user) and each user's own cache of a DNS64 lookup.
// Lines of words, so that the C launcher (preload/tnat64-app.c) reads its one line cheaply:
//
//   written 1764219000
//   until 1764219300                                when to look again, whatever was found
//   pid 1234                                        the watcher, while it runs (host state only)
//   in-force 2001:db8:64::/96 pref64 1764219600     the winner and when it ends; `none -` if none
//   found pref64 2001:db8:64::/96 1764219600 received=1764217800 router=fe80::1 interface=eth0
//   found dns64 2001:db8:64::/96 1764219000 resolver=2001:db8:1::1
//   note dns64 ipv4only.arpa has no AAAA records: the resolver does not synthesize
import { lstatSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { isAlive } from '../command-line.js'
import { DISCOVERY_STATE_FILE, USER_CACHE_NAME } from '../defaults.js'

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

export interface DiscoveryState {
  readonly written: number
  /** The watcher that keeps the host's state current, while it runs. */
  readonly pid?: number
  readonly found: Found[]
  readonly notes: Note[]
  /** When the state as a whole must be looked at again (a negative answer's end, say). */
  readonly until: number
}

export const nowSeconds = () => Math.floor(Date.now() / 1000)

/**
 * The prefix discovery puts in force: PREF64 before DNS64 (RFC 8781 §1, RFC 9872: the router's
 * word is first-hand), and among several of one source the newest advertisement, else the first
 * answer. Expired ones never count.
 */
export function chooseFound(found: readonly Found[], now = nowSeconds()): Found | undefined {
  const live = found.filter((f) => f.expires > now)
  const pref64 = live
    .filter((f) => f.source === 'pref64')
    .sort((a, b) => (b.received ?? 0) - (a.received ?? 0))
  return pref64[0] ?? live.find((f) => f.source === 'dns64')
}

/** When the choice may change by itself: the next expiry, or the state's own end. */
export function nextChange(state: DiscoveryState, now = nowSeconds()): number {
  return Math.min(state.until, ...state.found.map((f) => f.expires).filter((e) => e > now))
}

export function formatState(state: DiscoveryState, heading: string): string {
  const chosen = chooseFound(state.found, state.written)
  const lines = [`# ${heading}`, `written ${state.written}`, `until ${state.until}`]
  if (state.pid !== undefined) lines.push(`pid ${state.pid}`)
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
  let pid: number | undefined
  let until = 0
  const found: Found[] = []
  const notes: Note[] = []
  for (const line of text.split('\n')) {
    const words = line.trim().split(' ')
    const [key, ...rest] = words
    if (key === 'written') written = Number(rest[0])
    else if (key === 'pid') pid = Number(rest[0])
    else if (key === 'until') until = Number(rest[0])
    else if (key === 'found' && (rest[0] === 'pref64' || rest[0] === 'dns64')) {
      const extra = Object.fromEntries(rest.slice(3).map((w) => w.split('=', 2)))
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
  return { written, pid, found, notes, until }
}

/** Writes whole or not at all: readers never see half a file. */
export function writeState(file: string, state: DiscoveryState, heading: string, mode: number): void {
  const temporary = `${file}.${process.pid}.new`
  writeFileSync(temporary, formatState(state, heading), { mode })
  renameSync(temporary, file)
}

/**
 * The host's state, if a watcher keeps it: root's file, written by nobody else, whose watcher
 * still runs. A state left by a watcher that died is not trusted.
 */
export function readHostState(file = DISCOVERY_STATE_FILE): DiscoveryState | undefined {
  const state = readTrusted(file, 0)
  return state && state.pid !== undefined && isAlive(state.pid) ? state : undefined
}

/** This user's cache of an RFC 7050 lookup, under $XDG_CACHE_HOME (absolute), else ~/.cache. */
export function userCacheFile(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME?.startsWith('/')
    ? env.XDG_CACHE_HOME
    : join(env.HOME || homedir(), '.cache')
  return join(base, USER_CACHE_NAME)
}

export function readUserCache(file = userCacheFile()): DiscoveryState | undefined {
  return readTrusted(file, process.geteuid?.() ?? 0)
}

export function writeUserCache(state: DiscoveryState, file = userCacheFile()): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
  writeState(file, state, 'tnat64 discover: your cached RFC 7050 lookup (tnat64 app reads it)', 0o600)
}

export function removeState(file = DISCOVERY_STATE_FILE): void {
  rmSync(file, { force: true })
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
