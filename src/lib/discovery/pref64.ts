// RFC 8781: the NAT64 prefix in router advertisements (PREF64). The kernel hands the option of
// every advertisement an interface accepts to user space over rtnetlink; ra/tnat64-ra reads them
// there (no raw socket needed to listen) and, with privilege, solicits an advertisement at once.
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { CommandFailure } from '../errors.js'
import { RA_TOOL } from '../paths.js'
import { type Nat64Prefix, parsePrefix } from '../rfc6052.js'

export interface Pref64Advert {
  readonly prefix: Nat64Prefix
  /** Seconds, as the router gave them (a multiple of 8; 0 withdraws the prefix). */
  readonly lifetime: number
  readonly router: string
  readonly interface: string
  /** When it arrived, in ms since the epoch. */
  readonly received: number
}

export type Pref64Event =
  | { readonly kind: 'advert'; readonly advert: Pref64Advert }
  | { readonly kind: 'invalid'; readonly line: string }
  | { readonly kind: 'solicit-failed'; readonly line: string }

interface RaLine {
  event?: string
  prefix?: string
  lifetime?: number
  router?: string
  interface?: string | null
  ifindex?: number
  reason?: string
  error?: string | null
}

/** The interfaces a router could answer a solicitation on: up, with an IPv6 link-local address. */
export function solicitableInterfaces(): string[] {
  let text = ''
  try {
    text = readFileSync('/proc/net/if_inet6', 'utf8')
  } catch {
    return [] // no IPv6 at all
  }
  // address ifindex prefixlen scope flags name; scope 0x20 is link-local.
  const names = text
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length === 6 && f[3] === '20' && f[5] !== 'lo')
    .map((f) => f[5])
  return [...new Set(names)]
}

/** The interfaces of this network namespace (/proc/net is the reader's own namespace's). */
export function interfaceNames(): Set<string> {
  try {
    const lines = readFileSync('/proc/net/dev', 'utf8').split('\n').slice(2)
    return new Set(lines.map((l) => l.split(':')[0].trim()).filter(Boolean))
  } catch {
    return new Set()
  }
}

/** One line of tnat64-ra listen, as an event (or undefined for `ready` and anything unknown). */
function toEvent(line: RaLine, now: number): Pref64Event | undefined {
  const where = `router ${line.router ?? '?'} on ${line.interface ?? `interface #${line.ifindex ?? '?'}`}`
  if (line.event === 'pref64' && line.prefix && typeof line.lifetime === 'number') {
    try {
      const prefix = parsePrefix(line.prefix)
      const advert = {
        prefix,
        lifetime: line.lifetime,
        router: line.router ?? '?',
        interface: line.interface ?? `#${line.ifindex ?? '?'}`,
        received: now,
      }
      return { kind: 'advert', advert }
    } catch (e) {
      return { kind: 'invalid', line: `${where}: ${(e as Error).message}` }
    }
  }
  if (line.event === 'invalid') return { kind: 'invalid', line: `${where}: ${line.reason}` }
  if (line.event === 'lost')
    return {
      kind: 'invalid',
      line: 'advertisements were lost (the receive buffer was full): some may be missed',
    }
  if (line.event === 'solicit' && line.error)
    return { kind: 'solicit-failed', line: `router solicitation on ${line.interface}: ${line.error}` }
  return undefined
}

export interface Pref64Listener {
  /** Resolves once the listener is subscribed (and has solicited, where asked). */
  readonly ready: Promise<void>
  /** Resolves when the listener ends: by stop(), by its --for, or by failing (then rejects). */
  readonly ended: Promise<void>
  stop(): void
}

/**
 * Runs tnat64-ra listen: `onEvent` gets every PREF64 option the kernel passes up, valid or not.
 * `forMs` ends it on its own; `solicit` names the interfaces to send a router solicitation on.
 */
export function listenPref64(
  onEvent: (event: Pref64Event) => void,
  options: { forMs?: number; solicit?: string[] } = {},
): Pref64Listener {
  const args = ['listen', ...(options.solicit ?? []).flatMap((i) => ['--solicit', i])]
  if (options.forMs !== undefined) args.push('--for', String(options.forMs / 1000))
  if (!existsSync(RA_TOOL)) throw new CommandFailure(`${RA_TOOL} is not built (run: npm run build)`)
  const child: ChildProcess = spawn(RA_TOOL, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (d) => {
    stderr = `${stderr}${d}`.slice(-2000) // the last words are the ones that explain an ending
  })
  let markReady: () => void = () => {}
  const ready = new Promise<void>((resolve) => {
    markReady = resolve
  })
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (text) => {
    let line: RaLine
    try {
      line = JSON.parse(text) as RaLine
    } catch {
      return
    }
    if (line.event === 'ready') markReady()
    const event = toEvent(line, Date.now())
    if (event) onEvent(event)
  })
  const ended = new Promise<void>((resolve, reject) => {
    child.on('error', (e) => reject(new CommandFailure(`${RA_TOOL}: ${e.message}`)))
    child.on('exit', (code, signal) => {
      markReady()
      if (code === 0 || signal === 'SIGTERM') resolve()
      else {
        const why = stderr.trim().split('\n').pop()
        reject(
          new CommandFailure(`PREF64 listener ended (${signal ?? `exit ${code}`})${why ? `: ${why}` : ''}`),
        )
      }
    })
  })
  ended.catch(() => {}) // callers that only await `ready` must not leave an unhandled rejection
  return { ready, ended, stop: () => child.kill('SIGTERM') }
}
