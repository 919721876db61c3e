// `tnat64 doctor`: whether tnat64 can serve this host, and what to fix. Each check is one line with a
// status; a warning or failure names the command or setting that fixes it. Only failures make the
// verdict "cannot serve": kernel-mode gaps are warnings, as app mode still serves.
import { execFile } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { isIPv4, Socket } from 'node:net'
import { promisify } from 'node:util'
import { AddressError, formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from './address.js'
import { type Config, prefixesInUse, resolve, withDefaultPrefix } from './config.js'
import { DEFAULT_CONFIG_FILE, ENV_DEBUG } from './defaults.js'
import {
  currentDiscovery,
  describeFound,
  type GivenPrefix,
  type PrefixInForce,
  prefixInForce,
  resolvConfServers,
} from './discovery/discover.js'
import { chooseFound, type DiscoveryState, type Found, nowSeconds } from './discovery/state.js'
import { UsageError } from './errors.js'
import { attachedIds, describeCgroup } from './kernel/attach.js'
import { cgroup2Mount } from './kernel/cgroup.js'
import { BPFFS, isBpffsMounted } from './kernel/pins.js'
import { addressInside, delivers, routeTo } from './kernel/reachability.js'
import { PRELOAD_LIBRARY } from './paths.js'
import { requireRoot } from './privilege.js'
import { isWithinPrefix, parsePrefix, synthesize } from './rfc6052.js'

export type Status = 'ok' | 'warn' | 'fail' | 'info'

export interface Check {
  readonly name: string
  readonly status: Status
  readonly detail: string
  /** For warn and fail: the command or setting that fixes it. */
  readonly fix?: string
}

export interface DoctorReport {
  /** No check failed: tnat64 can serve this host. */
  readonly ok: boolean
  readonly prefix: PrefixInForce
  readonly checks: Check[]
}

export interface Probe {
  readonly address: string
  readonly port: number
}

export interface DoctorOptions {
  readonly given?: GivenPrefix
  readonly config: Config
  readonly probe?: Probe
}

const RESOLV_CONF = '/etc/resolv.conf'
const PROBE_TIMEOUT_MS = 3000
const BTF = '/sys/kernel/btf/vmlinux'
const NO_PREFIX_FIX = `set nat64_prefix in ${DEFAULT_CONFIG_FILE}, or run "tnat64 discover --watch" as root where routers advertise PREF64`

/** `--probe ADDR:PORT`: an IPv4 address and a TCP port. */
export function parseProbe(text: string): Probe {
  const match = /^([^:]*):(\d+)$/.exec(text)
  if (!match) throw new UsageError(`--probe '${text}': give an IPv4 address and a TCP port, as ADDR:PORT`)
  try {
    parseIPv4(match[1])
  } catch (e) {
    if (e instanceof AddressError) throw new UsageError(`--probe '${text}': ${e.message}`)
    throw e
  }
  const port = Number(match[2])
  if (port < 1 || port > 65535) throw new UsageError(`--probe '${text}': the port must be 1 to 65535`)
  return { address: match[1], port }
}

const run = promisify(execFile)

interface IpRoute {
  dst: string
  gateway?: string
  dev?: string
  type?: string
}

/** `ip -j ARGS`, parsed; [] when ip fails (no such family, say). */
async function ipJson<T>(args: string[]): Promise<T[]> {
  try {
    return JSON.parse((await run('ip', ['-j', ...args], { timeout: 5000 })).stdout || '[]') as T[]
  } catch {
    return []
  }
}

const via = (r: { gateway?: string; dev?: string }) =>
  [r.gateway && `via ${r.gateway}`, r.dev && `dev ${r.dev}`].filter(Boolean).join(' ')

/** This namespace's routes (main table), and the router to name in a fix. */
async function readNetwork() {
  const [routes6, routes4, neighbours] = await Promise.all([
    ipJson<IpRoute>(['-6', 'route', 'show']),
    ipJson<IpRoute>(['-4', 'route', 'show']),
    ipJson<{ dst: string; dev: string; router?: null }>(['-6', 'neigh', 'show']),
  ])
  const isDefault = (r: IpRoute) => r.dst === 'default' && delivers({ type: r.type ?? 'unicast' })
  const default6 = routes6.find(isDefault)
  // Without a default route, a neighbour that says it is a router (NA's R flag) is the best guess.
  const router = neighbours.find((n) => 'router' in n)
  const gateway = default6?.gateway
    ? via(default6)
    : router
      ? via({ gateway: router.dst, dev: router.dev })
      : 'via <router>'
  return { routes6, default4: routes4.find(isDefault), default6, gateway }
}

type Network = Awaited<ReturnType<typeof readNetwork>>

function routeChecks(net: Network): Check[] {
  const beyondLinkLocal = net.routes6.filter(
    (r) =>
      r.dst !== 'fe80::/64' &&
      !r.dst.startsWith('ff') &&
      r.dev !== 'lo' &&
      delivers({ type: r.type ?? 'unicast' }),
  )
  const ipv6: Check = net.default6
    ? { name: 'ipv6', status: 'ok', detail: `default route ${via(net.default6)}` }
    : beyondLinkLocal.length > 0
      ? {
          name: 'ipv6',
          status: 'warn',
          detail: `no default route; routes only to ${beyondLinkLocal.map((r) => r.dst).join(', ')}`,
          fix: `ip -6 route add default ${net.gateway}`,
        }
      : {
          name: 'ipv6',
          status: 'fail',
          detail: 'no IPv6 route beyond link-local: this host has no IPv6 network',
          fix: 'give an interface a global IPv6 address and route (ip -6 addr add ADDR/64 dev IF; ip -6 route add default via ROUTER)',
        }
  const ipv4: Check = net.default4
    ? { name: 'ipv4', status: 'info', detail: `default route ${via(net.default4)}: IPv4 goes direct too` }
    : { name: 'ipv4', status: 'info', detail: 'no default route: an IPv6-only host' }
  return [ipv6, ipv4]
}

function unique(found: Found[]): string[] {
  return [...new Set(found.map((f) => f.prefix))]
}

function sourceCheck(name: 'pref64' | 'dns64', state: DiscoveryState): Check {
  const now = nowSeconds()
  const found = state.found.filter((f) => f.source === name && f.expires > now)
  if (found.length > 0)
    return {
      name,
      status: 'ok',
      detail: found.map((f) => `${f.prefix} from ${describeFound(f)}, ${f.expires - now} s left`).join('; '),
    }
  // Info, not a warning: tnat64 translates the A answers of any resolver, and DNS64 is one source.
  const why = state.notes.filter((n) => n.source === name).map((n) => n.text)
  return { name, status: 'info', detail: `no prefix${why.length > 0 ? `: ${why.join('; ')}` : ''}` }
}

/** The prefix in force, each discovered source, and where they disagree. */
export function prefixChecks(inForce: PrefixInForce, state: DiscoveryState): Check[] {
  const checks: Check[] = [
    inForce.source === 'well-known'
      ? {
          name: 'prefix',
          status: 'fail',
          detail: `no NAT64 prefix from configuration, PREF64 or DNS64 (${inForce.prefix} would be only a guess)`,
          fix: NO_PREFIX_FIX,
        }
      : { name: 'prefix', status: 'ok', detail: `${inForce.prefix} from ${inForce.from}` },
    sourceCheck('pref64', state),
    sourceCheck('dns64', state),
  ]
  const now = nowSeconds()
  const live = state.found.filter((f) => f.expires > now)
  const pref64 = unique(live.filter((f) => f.source === 'pref64'))
  const dns64 = unique(live.filter((f) => f.source === 'dns64'))
  if (pref64.length > 1)
    checks.push({
      name: 'agree',
      status: 'warn',
      detail: `routers advertise different prefixes (${pref64.join(', ')}): the lowest, ${chooseFound(live, now)?.prefix}, is used`,
      fix: 'make every router advertise the same PREF64',
    })
  if (dns64.length > 1)
    checks.push({
      name: 'agree',
      status: pref64.length > 0 ? 'info' : 'warn',
      detail: `DNS64 gives several prefixes (${dns64.join(', ')}): ${
        pref64.length > 0
          ? 'PREF64 is used instead'
          : `the lowest, ${
              chooseFound(
                live.filter((f) => f.source === 'dns64'),
                now,
              )?.prefix
            }, is used`
      }`,
      fix: 'give the DNS64 resolver one dns64-prefix',
    })
  if (pref64.length > 0 && dns64.length > 0 && !dns64.some((p) => pref64.includes(p)))
    checks.push({
      name: 'agree',
      status: 'warn',
      detail: `PREF64 ${pref64.join(', ')} and DNS64 ${dns64.join(', ')} differ: PREF64 wins (RFC 8781, RFC 9872: the router's own word)`,
      fix: `give the DNS64 resolver the prefix ${pref64[0]} (unbound: dns64-prefix: ${pref64[0]}), or correct the routers' PREF64`,
    })
  const discovered = chooseFound(live, now)
  if (
    (inForce.source === 'flag' || inForce.source === 'config') &&
    discovered &&
    discovered.prefix !== inForce.prefix
  )
    checks.push({
      name: 'agree',
      status: 'warn',
      detail: `${inForce.from} sets ${inForce.prefix} over the network's ${discovered.prefix} (${describeFound(discovered)})`,
      fix:
        inForce.source === 'flag'
          ? 'drop --prefix to follow the network'
          : `remove nat64_prefix from ${inForce.from.replace(/:\d+$/, '')} to follow the network`,
    })
  else if (pref64.length + dns64.length > 0 && new Set([...pref64, ...dns64, inForce.prefix]).size === 1)
    checks.push({ name: 'agree', status: 'ok', detail: `every source gives ${inForce.prefix}` })
  return checks
}

/**
 * What app mode will use: without root, `tnat64 app` hears PREF64 only through the host state that
 * root's `discover --watch` keeps, so a prefix this look found by soliciting as root may be one
 * that programs never get.
 */
function appModeCheck(inForce: PrefixInForce, state: DiscoveryState, watched: boolean): Check[] {
  if (inForce.source !== 'pref64' || watched) return []
  const dns64 = chooseFound(state.found.filter((f) => f.source === 'dns64'))
  if (dns64?.prefix === inForce.prefix) return [] // DNS64 gives programs the same prefix
  return [
    {
      name: 'app',
      status: 'warn',
      detail: `tnat64 app hears PREF64 only through root's discover --watch, which does not run: programs would use ${dns64 ? `${dns64.prefix} from DNS64` : 'the well-known prefix 64:ff9b::/96'}`,
      fix: 'run "tnat64 discover --watch" as root, at boot (it keeps /run/tnat64-discovery for every user)',
    },
  ]
}

/** The configuration in force with the prefix in force as its default: what tnat64 would apply. */
function effective(config: Config, inForce: PrefixInForce): Config {
  return withDefaultPrefix(config, parsePrefix(inForce.prefix))
}

function prefixRouteChecks(config: Config, inForce: PrefixInForce, net: Network): Check[] {
  const prefixes = [...new Set(prefixesInUse(effective(config, inForce)).map((p) => p.prefix.text))]
  return prefixes.map((prefix): Check => {
    const route = routeTo(addressInside(prefix))
    if (route && delivers(route)) return { name: 'route', status: 'ok', detail: `${prefix} ${via(route)}` }
    // A route for the well-known guess is not the problem to report: the missing prefix is.
    return {
      name: 'route',
      status: inForce.source === 'well-known' ? 'warn' : 'fail',
      detail: `no route to ${prefix}${route ? ` (${route.type})` : ''}`,
      fix: `ip -6 route add ${prefix} ${net.gateway}`,
    }
  })
}

/** Where tnat64 sends an IPv4 destination: its NAT64 address, direct, or nowhere (and why). */
function destination(
  config: Config,
  inForce: PrefixInForce,
  address: string,
): { nat64: string; prefix: string } | { direct: string } | { none: string } {
  const ipv4 = parseIPv4(address)
  const rule = resolve(effective(config, inForce), ipv4)
  if (rule.kind === 'nat64')
    return { nat64: formatIPv6(synthesize(ipv4, rule.prefix)), prefix: rule.prefix.text }
  if (rule.kind === 'local')
    return {
      direct:
        rule.why === 'always'
          ? `${rule.net.text} is never translated`
          : `local by ${config.file}:${rule.line}`,
    }
  return {
    none: `${formatIPv4(ipv4)} is not global: ${rule.prefix.text} must not carry it (RFC 6052 §3.1)`,
  }
}

function resolvCheck(config: Config, inForce: PrefixInForce): Check {
  const servers = resolvConfServers(RESOLV_CONF)
  if (servers.length === 0)
    return {
      name: 'resolv',
      status: 'info',
      detail: `no nameserver in ${RESOLV_CONF}: the resolver asks this host`,
    }
  const unrouted = servers.filter((s) => isIPv4(s) && !delivers(routeTo(s)))
  // A nameserver's NAT64 address goes with its prefix, whose route line already speaks for it.
  const prefixes = prefixesInUse(effective(config, inForce)).map((p) => p.prefix)
  const inPrefix = (s: string) => prefixes.some((p) => isWithinPrefix(parseIPv6(s), p))
  const lost = servers.filter(
    (s) => !isIPv4(s) && !delivers(routeTo(s.replace(/%.*/, ''))) && !inPrefix(s.replace(/%.*/, '')),
  )
  if (lost.length > 0 && lost.length + unrouted.length === servers.length)
    return {
      name: 'resolv',
      status: 'fail',
      detail: `no route to any nameserver (${servers.join(', ')}): names do not resolve`,
      fix: `in ${RESOLV_CONF}, name a resolver this host has a route to, or add the route (ip -6 route add ${lost[0]} ...)`,
    }
  if (unrouted.length === 0 && lost.length === 0)
    return { name: 'resolv', status: 'ok', detail: `nameservers ${servers.join(', ')}` }
  if (unrouted.length === 0)
    return {
      name: 'resolv',
      status: 'warn',
      detail: `no route to nameservers ${lost.join(', ')}: lookups that try them first lose time`,
      fix: `in ${RESOLV_CONF}, remove them`,
    }
  const forms = unrouted.map((s) => {
    const d = destination(config, inForce, s)
    return 'nat64' in d ? `nameserver ${d.nat64}` : undefined
  })
  const replacement = forms.every((f) => f !== undefined)
    ? forms.join('; ')
    : 'nameserver IPV6-ADDRESS (an IPv6 resolver)'
  const alone = unrouted.length === servers.length
  return {
    name: 'resolv',
    status: alone ? 'fail' : 'warn',
    detail: alone
      ? `only IPv4 nameservers (${unrouted.join(', ')}) and no IPv4 route to them: names do not resolve`
      : `IPv4 nameservers ${unrouted.join(', ')} have no route: lookups that try them first lose time`,
    fix: `in ${RESOLV_CONF}, ${alone ? 'replace them with' : 'remove them or write instead'}: ${replacement}`,
  }
}

/** A TCP connect with a deadline; the milliseconds it took, or the error code. */
function connect(host: string, port: number): Promise<{ ms: number; error?: string }> {
  const start = performance.now()
  return new Promise((done) => {
    const socket = new Socket()
    const end = (error?: string) => {
      socket.destroy()
      done({ ms: Math.round(performance.now() - start), error })
    }
    socket.setTimeout(PROBE_TIMEOUT_MS, () => end('ETIMEDOUT'))
    socket.once('connect', () => end())
    socket.once('error', (e: NodeJS.ErrnoException) => end(e.code ?? e.message))
    socket.connect({ host, port })
  })
}

async function probeCheck(
  probe: Probe,
  config: Config,
  inForce: PrefixInForce,
  net: Network,
): Promise<Check> {
  const target = `${probe.address}:${probe.port}`
  const d = destination(config, inForce, probe.address)
  if ('none' in d)
    return { name: 'probe', status: 'fail', detail: `${target}: ${d.none}`, fix: NO_PREFIX_FIX }
  const [host, through] =
    'nat64' in d ? [d.nat64, `through [${d.nat64}]:${probe.port}`] : [probe.address, `direct (${d.direct})`]
  const { ms, error } = await connect(host, probe.port)
  if (!error) return { name: 'probe', status: 'ok', detail: `${target} ${through}: connected in ${ms} ms` }
  const prefix = 'nat64' in d ? d.prefix : undefined
  const fixes: Record<string, string> = {
    ENETUNREACH: prefix
      ? `ip -6 route add ${prefix} ${net.gateway}`
      : `ip route add ${probe.address} via ROUTER`,
    ECONNREFUSED: `nothing listens on ${target} (or the gateway refused it): probe a port known open`,
    ETIMEDOUT: `no answer in ${PROBE_TIMEOUT_MS / 1000} s: check the NAT64 gateway${prefix ? ` for ${prefix}` : ''} and firewalls`,
    EADDRNOTAVAIL: 'this host has no address to send from: give an interface a global IPv6 address',
    EHOSTUNREACH: `a router answered "host unreachable": check the NAT64 gateway${prefix ? ` for ${prefix}` : ''}`,
  }
  return {
    name: 'probe',
    status: 'fail',
    detail: `${target} ${through}: ${error} after ${ms} ms`,
    fix: fixes[error] ?? `check the NAT64 gateway${prefix ? ` for ${prefix}` : ''}`,
  }
}

function kernelChecks(): Check[] {
  const checks: Check[] = []
  try {
    checks.push({ name: 'cgroup2', status: 'ok', detail: `mounted at ${cgroup2Mount()}` })
  } catch {
    checks.push({
      name: 'cgroup2',
      status: 'warn',
      detail: 'no cgroup2 file system: kernel mode has nothing to attach to',
      fix: 'mount -t cgroup2 none /sys/fs/cgroup (or /sys/fs/cgroup/unified beside a v1 hierarchy)',
    })
  }
  const bpfKnown = /\tbpf$/m.test(readFileSync('/proc/filesystems', 'utf8'))
  checks.push(
    isBpffsMounted()
      ? { name: 'bpffs', status: 'ok', detail: `mounted at ${BPFFS}` }
      : bpfKnown && existsSync(BPFFS)
        ? {
            name: 'bpffs',
            status: 'info',
            detail: `not mounted at ${BPFFS}: tnat64 attach mounts it (as root)`,
          }
        : {
            name: 'bpffs',
            status: 'warn',
            detail: `bpffs cannot be mounted at ${BPFFS}: kernel mode cannot pin its programs`,
            fix: 'use a kernel with CONFIG_BPF_SYSCALL=y, or app mode (tnat64 app -- CMD)',
          },
  )
  checks.push(
    existsSync(BTF)
      ? { name: 'btf', status: 'ok', detail: `${BTF} present` }
      : {
          name: 'btf',
          status: 'warn',
          detail: `no ${BTF}: this kernel does not describe its types`,
          fix: 'use a kernel with CONFIG_DEBUG_INFO_BTF=y, or app mode (tnat64 app -- CMD)',
        },
  )
  let root = true
  try {
    requireRoot('kernel')
  } catch (e) {
    root = false
    checks.push({ name: 'root', status: 'info', detail: `${(e as Error).message}: app mode does not` })
  }
  if (root) {
    checks.push({ name: 'root', status: 'ok', detail: 'root: kernel mode may be attached' })
    const cgroups = attachedIds().map((id) => describeCgroup(id).path ?? `cgroup ${id} (removed)`)
    checks.push(
      cgroups.length > 0
        ? { name: 'kernel', status: 'ok', detail: `attached to ${cgroups.join(', ')}` }
        : { name: 'kernel', status: 'info', detail: 'not attached (tnat64 attach --cgroup PATH)' },
    )
  } else checks.push({ name: 'kernel', status: 'info', detail: 'what is attached: unknown without root' })
  return checks
}

/** Whether ld.so loads the library without a word: it only warns, and runs the program anyway. */
async function preloadCheck(): Promise<Check> {
  const env: NodeJS.ProcessEnv = { ...process.env, LD_PRELOAD: PRELOAD_LIBRARY }
  delete env[ENV_DEBUG] // its messages are not errors
  let stderr: string
  let failed = ''
  try {
    ;({ stderr } = await run('/bin/true', [], { env, timeout: 5000 }))
  } catch (e) {
    const error = e as { code?: number | string; stderr?: string }
    stderr = error.stderr ?? ''
    failed = `exit ${error.code}`
  }
  const said = stderr.trim().split('\n')[0]
  if (!failed && !said) return { name: 'preload', status: 'ok', detail: `${PRELOAD_LIBRARY} loads` }
  return {
    name: 'preload',
    status: 'fail',
    detail: `${PRELOAD_LIBRARY} does not load: ${said || failed}`,
    fix: existsSync(PRELOAD_LIBRARY)
      ? 'reinstall tnat64 (or npm run build)'
      : 'build it (npm run build) or reinstall tnat64',
  }
}

export async function doctor(options: DoctorOptions): Promise<DoctorReport> {
  const { config, given, probe } = options
  // The slow parts at once: discovery (up to DEFAULT_WAIT_MS listening), the probe, ld.so.
  const discovery = currentDiscovery()
  const preload = preloadCheck()
  const net = await readNetwork()
  const settled = given || config.defaultPrefix ? prefixInForce(given, config, undefined) : undefined
  const early = probe && settled ? probeCheck(probe, config, settled, net) : undefined
  const { state, watched } = await discovery
  const inForce = prefixInForce(given, config, state)
  const checks = [
    ...routeChecks(net),
    ...prefixChecks(inForce, state),
    ...appModeCheck(inForce, state, watched),
    ...prefixRouteChecks(config, inForce, net),
    resolvCheck(config, inForce),
    ...(probe ? [await (early ?? probeCheck(probe, config, inForce, net))] : []),
    ...kernelChecks(),
    await preload,
  ]
  return { ok: !checks.some((c) => c.status === 'fail'), prefix: inForce, checks }
}

const LABEL: Record<Status, string> = { ok: 'ok', warn: 'warn', fail: 'FAIL', info: 'info' }

export function formatCheck(c: Check): string {
  return `${LABEL[c.status].padEnd(6)}${c.name.padEnd(8)}${c.detail}${c.fix ? ` -> fix: ${c.fix}` : ''}`
}

export function verdict(report: DoctorReport): string {
  const count = (s: Status) => report.checks.filter((c) => c.status === s).length
  const warnings = count('warn') > 0 ? ` (${count('warn')} warning${count('warn') > 1 ? 's' : ''})` : ''
  return report.ok
    ? `tnat64 can serve this host${warnings}`
    : `tnat64 cannot serve this host: fix the ${count('fail')} FAIL line${count('fail') > 1 ? 's' : ''} above`
}
