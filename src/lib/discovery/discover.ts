// Discovery as a whole: PREF64 and DNS64 asked together, their answers kept as a DiscoveryState,
// and the prefix in force chosen across every source (flag, configuration, PREF64, DNS64, the
// well-known prefix), in that order.
import { readFileSync } from 'node:fs'
import { type Config, withDefaultPrefix } from '../config.js'
import { DISCOVERY_STATE_FILE, ENV_PREFIX, WELL_KNOWN_PREFIX } from '../defaults.js'
import { CommandFailure } from '../errors.js'
import { isRoot } from '../privilege.js'
import { parsePrefix } from '../rfc6052.js'
import { prefixArgument } from '../translate.js'
import { type Dns64Lookup, FAILURE_TTL, lookupDns64 } from './dns64.js'
import {
  interfaceNames,
  listenPref64,
  type Pref64Advert,
  type Pref64Event,
  solicitableInterfaces,
} from './pref64.js'
import {
  chooseFound,
  type DiscoveryState,
  type Found,
  type Note,
  nowSeconds,
  readHostState,
  removeState,
  thisWatcher,
  writeState,
} from './state.js'

/** How long a one-shot discovery listens for an advertisement after soliciting one (RFC 4861
 * §6.2.6 lets a router delay its answer up to 0.5 s). */
export const DEFAULT_WAIT_MS = 2000

/** The nameservers of /etc/resolv.conf, as the DNS64 lookup names its resolver. */
export function resolvConfServers(file = '/etc/resolv.conf'): string[] {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1])
      .filter((s): s is string => s !== undefined)
  } catch {
    return []
  }
}

interface Dns64Answer {
  readonly found: Found[]
  readonly notes: Note[]
  readonly until: number
  /** The lookup failed (no answer at all), as opposed to an answer without a prefix. */
  readonly failed: boolean
}

function dns64Found(lookup: Dns64Lookup, now: number): Dns64Answer {
  const resolver = resolvConfServers().join(',') || 'none'
  if (lookup.kind === 'found') {
    return {
      found: lookup.prefixes.map((p) => ({
        source: 'dns64',
        prefix: p.prefix.text,
        expires: now + p.ttl,
        resolver,
      })),
      notes: lookup.refused.map((text) => ({ source: 'dns64', text })),
      until: now + Math.min(...lookup.prefixes.map((p) => p.ttl)),
      failed: false,
    }
  }
  const failed = lookup.kind === 'failed'
  return { found: [], notes: [{ source: 'dns64', text: lookup.why }], until: now + lookup.ttl, failed }
}

function advertFound(a: Pref64Advert): Found {
  const received = Math.floor(a.received / 1000)
  return {
    source: 'pref64',
    prefix: a.prefix.text,
    expires: received + a.lifetime,
    received,
    router: a.router,
    interface: a.interface,
  }
}

/** The PREF64 entries after an advertisement: one per router, interface and prefix; lifetime 0 withdraws. */
function withAdvert(found: readonly Found[], a: Pref64Advert): Found[] {
  const same = (f: Found) =>
    f.source === 'pref64' &&
    f.router === a.router &&
    f.interface === a.interface &&
    f.prefix === a.prefix.text
  const rest = found.filter((f) => !same(f))
  return a.lifetime > 0 ? [...rest, advertFound(a)] : rest
}

const RA_DELAY_MS = 500

/** Why a look without privilege reports no PREF64. */
export const PREF64_NEEDS_ROOT =
  'not listened for: soliciting an advertisement needs root (run `tnat64 discover --watch` as root to keep it for every user)'

export interface DiscoverOptions {
  /** Listen for PREF64 this long (0: not at all). */
  readonly waitMs: number
  /** Send router solicitations first (needs CAP_NET_RAW). */
  readonly solicit: boolean
  readonly dns64: boolean
}

/** One look now: PREF64 (solicited where allowed) and DNS64 at once. */
export async function discoverOnce(options: DiscoverOptions): Promise<DiscoveryState> {
  const now = nowSeconds()
  let found: Found[] = []
  const notes: Note[] = []
  const pref64 = async () => {
    if (options.waitMs <= 0) return
    const solicit = options.solicit ? solicitableInterfaces() : []
    const heard: Pref64Event[] = []
    let closing: NodeJS.Timeout | undefined
    try {
      const listener = listenPref64(
        (e) => {
          heard.push(e)
          // Other routers answer the same solicitation within MAX_RA_DELAY_TIME (RFC 4861 §10: 0.5 s).
          if (e.kind === 'advert') closing ??= setTimeout(() => listener.stop(), RA_DELAY_MS)
        },
        { forMs: options.waitMs, solicit },
      )
      await listener.ended
    } catch (e) {
      notes.push({ source: 'pref64', text: `not listened for: ${(e as Error).message}` })
      return
    } finally {
      clearTimeout(closing)
    }
    for (const e of heard) {
      if (e.kind === 'advert') found = withAdvert(found, e.advert)
      else notes.push({ source: 'pref64', text: e.line })
    }
    if (!heard.some((e) => e.kind === 'advert'))
      notes.push({
        source: 'pref64',
        text: `no router advertisement with PREF64 within ${options.waitMs / 1000} s`,
      })
  }
  const dns64 = async () => {
    if (!options.dns64) return { found: [], notes: [], until: Number.POSITIVE_INFINITY, failed: false }
    return dns64Found(await lookupDns64(), now)
  }
  const [, dns] = await Promise.all([pref64(), dns64()])
  const all = [...found, ...dns.found]
  const until = Math.min(dns.until, ...all.map((f) => f.expires), now + 3600)
  return { written: now, found: all, notes: [...notes, ...dns.notes], until }
}

export interface DiscoveryWatch {
  readonly ended: Promise<void>
  stop(): void
}

/**
 * Follows discovery until stopped: every advertisement as it comes, DNS64 asked again when its
 * answer runs out, expiries as they fall. `onChange` gets each new state; with `stateFile`, the
 * host's state is written there for every user (0644) and removed at the end.
 */
export function watchDiscovery(
  onChange: (state: DiscoveryState, why: string) => void,
  options: { solicit: boolean; dns64: boolean; stateFile?: string; initial?: DiscoveryState },
): DiscoveryWatch {
  const other = options.stateFile ? readHostState(options.stateFile) : undefined
  if (other?.watcher)
    throw new CommandFailure(
      `tnat64 discover --watch already runs (pid ${other.watcher.pid}) and keeps ${options.stateFile}: one is enough`,
    )
  const watcher = thisWatcher()
  // What a look just before found holds until the watch hears otherwise: a watch that starts
  // empty would withdraw a prefix before the first advertisement came.
  const initial = options.initial?.found ?? []
  let pref64: Found[] = initial.filter((f) => f.source === 'pref64')
  let pref64Notes: Note[] = []
  const dnsFound = initial.filter((f) => f.source === 'dns64')
  let dns: Dns64Answer = {
    found: dnsFound,
    notes: [],
    until: dnsFound.length > 0 ? Math.min(...dnsFound.map((f) => f.expires)) : 0,
    failed: false,
  }
  let said = ''
  let expiryTimer: NodeJS.Timeout | undefined
  let dnsTimer: NodeJS.Timeout | undefined
  let stopped = false
  let fail: (e: Error) => void = () => {}
  const failed = new Promise<void>((_, reject) => {
    fail = reject
  })

  const publish = (why: string) => {
    if (stopped) return
    const now = nowSeconds()
    // An interface that went away takes what its routers said with it.
    const here = interfaceNames()
    pref64 = pref64.filter((f) => f.expires > now && here.has(f.interface ?? ''))
    const found = [...pref64, ...dns.found.filter((f) => f.expires > now)]
    const notes = [...pref64Notes, ...dns.notes]
    const state: DiscoveryState = { written: now, watcher, found, notes, until: Math.max(dns.until, now + 1) }
    try {
      if (options.stateFile)
        writeState(options.stateFile, state, "tnat64 discover --watch: this host's NAT64 prefixes", 0o644)
    } catch (e) {
      fail(e as Error)
      return
    }
    // Said when something a reader sees changes: a prefix found or gone, the choice, a note;
    // an advertisement that only renews a lifetime is not news.
    const chosen = chooseFound(found, now)
    const saying = JSON.stringify([
      chosen?.prefix,
      chosen?.source,
      found.map((f) => [f.source, f.prefix, f.router, f.interface]),
      notes,
    ])
    if (saying !== said) onChange(state, why)
    said = saying
    clearTimeout(expiryTimer)
    const next = Math.min(...found.map((f) => f.expires))
    if (Number.isFinite(next)) expiryTimer = after(next - now, () => publish('expiry'))
  }

  const askDns = async () => {
    if (stopped || !options.dns64) return
    const now = nowSeconds()
    const answer = dns64Found(await lookupDns64(), now)
    if (stopped) return // stopped while the resolver was asked: no timer may keep the process up
    // A failed lookup keeps what the last answer said while it holds: the resolver may be back soon.
    const keep = answer.failed && dns.found.some((f) => f.expires > now)
    dns = keep ? { ...dns, notes: answer.notes, until: Math.min(...dns.found.map((f) => f.expires)) } : answer
    publish('dns64')
    clearTimeout(dnsTimer)
    // Asked again a little before the answer ends, so a prefix still announced never lapses.
    const ttl = Math.max(1, (keep ? now + FAILURE_TTL : dns.until) - now)
    dnsTimer = after(Math.max(1, ttl - Math.min(10, Math.floor(ttl / 10))), askDns)
  }

  const listener = listenPref64(
    (e) => {
      if (e.kind === 'advert') {
        pref64 = withAdvert(pref64, e.advert)
        publish(e.advert.lifetime > 0 ? 'pref64' : 'pref64-withdrawn')
      } else {
        pref64Notes = [...pref64Notes.slice(-4), { source: 'pref64', text: e.line }]
        publish('pref64-invalid')
      }
    },
    { solicit: options.solicit ? solicitableInterfaces() : [] },
  )
  listener.ready.then(() => askDns())
  const stop = () => {
    stopped = true
    clearTimeout(expiryTimer)
    clearTimeout(dnsTimer)
    listener.stop()
    if (options.stateFile) removeState(options.stateFile)
  }
  const ended = Promise.race([listener.ended, failed]).finally(() => {
    if (!stopped) stop()
  })
  return { ended, stop }
}

/** setTimeout in seconds, at most node's longest timer (about 24.8 days) at a time. */
function after(seconds: number, run: () => void): NodeJS.Timeout {
  return setTimeout(run, Math.min(Math.max(0, seconds) * 1000 + 50, 2 ** 31 - 1))
}

export type PrefixSource = 'flag' | 'config' | 'pref64' | 'dns64' | 'well-known'

export interface PrefixInForce {
  readonly prefix: string
  readonly source: PrefixSource
  /** Where it came from, in words: "--prefix", "/etc/tnat64.conf:3", "PREF64 from fe80::1 on eth0". */
  readonly from: string
  readonly found?: Found
}

/** Describes a discovered prefix's origin in words. */
export function describeFound(f: Found): string {
  return f.source === 'pref64'
    ? `PREF64 from ${f.router} on ${f.interface}`
    : `DNS64 (ipv4only.arpa through ${f.resolver})`
}

export interface GivenPrefix {
  readonly prefix: string
  /** `--prefix` or `$TNAT64_PREFIX`. */
  readonly from: string
}

/** --prefix, else a non-empty $TNAT64_PREFIX: what app mode's launcher and library take first. */
export function givenPrefix(
  flag: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): GivenPrefix | undefined {
  if (flag !== undefined) return { prefix: prefixArgument(flag).text, from: '--prefix' }
  const value = env[ENV_PREFIX]
  return value ? { prefix: prefixArgument(value, `$${ENV_PREFIX}`).text, from: `$${ENV_PREFIX}` } : undefined
}

/** The default prefix in force, by the order --prefix, configuration, PREF64, DNS64, well-known. */
export function prefixInForce(
  given: GivenPrefix | undefined,
  config: Config,
  state: DiscoveryState | undefined,
): PrefixInForce {
  if (given) return { prefix: given.prefix, source: 'flag', from: given.from }
  if (config.defaultPrefix)
    return {
      prefix: config.defaultPrefix.value.text,
      source: 'config',
      from: `${config.file}:${config.defaultPrefix.line}`,
    }
  const found = state ? chooseFound(state.found) : undefined
  if (found) return { prefix: found.prefix, source: found.source, from: describeFound(found), found }
  return {
    prefix: WELL_KNOWN_PREFIX,
    source: 'well-known',
    from: 'nothing discovered: the well-known prefix, a guess',
  }
}

/**
 * What discovery knows now, the cheapest way: the host's state while a watcher keeps it, else a
 * look of our own (PREF64 only where we may solicit: listening alone would wait for the next
 * unsolicited advertisement, minutes away).
 */
export async function currentDiscovery(options: { waitMs?: number; dns64?: boolean } = {}): Promise<{
  state: DiscoveryState
  watched: boolean
}> {
  const host = readHostState(DISCOVERY_STATE_FILE)
  if (host) return { state: host, watched: true }
  const root = isRoot()
  const waitMs = options.waitMs ?? (root ? DEFAULT_WAIT_MS : 0)
  const state = await discoverOnce({ waitMs, solicit: root, dns64: options.dns64 ?? true })
  const why = root ? 'not listened for (--wait 0)' : PREF64_NEEDS_ROOT
  const unheard = waitMs > 0 ? [] : [{ source: 'pref64' as const, text: why }]
  return { state: { ...state, notes: [...unheard, ...state.notes] }, watched: false }
}

/** The configuration with a discovered prefix as its default; one given or configured stays. */
export function withPrefixInForce(config: Config, inForce: PrefixInForce): Config {
  return inForce.found
    ? { ...withDefaultPrefix(config, parsePrefix(inForce.prefix)), discovered: inForce.found.source }
    : config
}

/**
 * Kernel mode's configuration (--prefix already in it as the default): a default prefix given or
 * configured is kept; else discovery's goes in (with the `state` it came from), else the
 * well-known one stays.
 */
export async function kernelConfig(
  configured: Config,
  prefixFlag: boolean,
): Promise<{ config: Config; inForce: PrefixInForce; state?: DiscoveryState }> {
  const given =
    prefixFlag && configured.defaultPrefix
      ? { prefix: configured.defaultPrefix.value.text, from: '--prefix' }
      : undefined
  if (configured.defaultPrefix)
    return { config: configured, inForce: prefixInForce(given, configured, undefined) }
  const { state } = await currentDiscovery()
  const inForce = prefixInForce(undefined, configured, state)
  return { config: withPrefixInForce(configured, inForce), inForce, state }
}
