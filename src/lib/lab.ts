// The lab: a real NAT64 in network namespaces, for the tests and the demo (the benchmark builds its
// own one-namespace network, src/bench/net.ts, so that no translator stands between its endpoints).
//
//   client (IPv6 only)          router                           server (IPv4 only)
//   eth0 2001:db8:1::2 ------- cl0 2001:db8:1::1: DNS64 (unbound), RAs with PREF64 (tnat64-ra)
//                               tayga: 2001:db8:64::/96 <-> pool 192.0.2.128/25
//                               sv0 198.51.100.1 --------------- eth0 198.51.100.10
//   eth1 203.0.113.2 -------- dl0 203.0.113.1     (the direct IPv4 path, for fallback tests; optional)
//
// The client has routes to the NAT64 prefix and (when the direct path is on) to the server's IPv4
// network, and nothing else: each can be switched off to make that path unreachable. It learns the
// NAT64 prefix as a real IPv6-only host does, from the router's advertisements (RFC 8781) and from
// the DNS64 resolver's answers for ipv4only.arpa (RFC 7050); the prefix each gives can be changed,
// or either stopped, to build the networks that prefix discovery must cope with.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
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
import { dirname, join } from 'node:path'
import { AddressError } from './address.js'
import { procStat } from './command-line.js'
import { privateDir, RUN_DIR, removeIfEmpty, runDir } from './dirs.js'
import { CommandFailure, UsageError } from './errors.js'
import { LAB_CHECKSUM_MEND, LAB_SERVER_SCRIPT, RA_TOOL } from './paths.js'
import { requireRoot } from './privilege.js'
import { parsePrefix } from './rfc6052.js'
import { IPV4ONLY_ARPA } from './rfc7050.js'

const ROUTER_IPV6 = '2001:db8:1::1'

export const LAB = {
  nat64Prefix: '2001:db8:64::/96',
  clientIPv6: '2001:db8:1::2',
  routerIPv6: ROUTER_IPV6,
  /** The DNS64 resolver (unbound in the router), UDP and TCP port 53, for the client's network. */
  dns64Resolver: ROUTER_IPV6,
  /** The router's advertisements: one every `interval` seconds, PREF64 valid for `lifetime` seconds. */
  ra: { interface: 'cl0', interval: 3, lifetime: 1800 },
  taygaIPv4: '192.0.2.1',
  pool: '192.0.2.128/25',
  routerServerSide: '198.51.100.1',
  serverIPv4: '198.51.100.10',
  /** The server's address inside the NAT64 prefix (RFC 6052, /96). */
  serverNat64: '2001:db8:64::c633:640a',
  clientDirectIPv4: '203.0.113.2',
  routerDirectIPv4: '203.0.113.1',
  httpPort: 8000,
  echoPort: 7,
  /** The server's authoritative DNS (UDP and TCP), for the zone below and LAB_REVERSE_ZONE. */
  dns: {
    port: 53,
    zone: 'tnat64.test',
    /** A: the server's address; and the PTR of that address. */
    server: 'server.tnat64.test',
    /** A: `bigCount` addresses (`bigAddresses()`): too long for UDP, even with EDNS0's usual 1232. */
    big: 'big.tnat64.test',
    bigCount: 100,
    ttl: 60,
  },
} as const

/** The addresses of LAB.dns.big: 198.18.0.1 and up (the benchmarking range, routed nowhere here). */
export function bigAddresses(): string[] {
  return Array.from({ length: LAB.dns.bigCount }, (_, i) => `198.18.0.${i + 1}`)
}

/** The in-addr.arpa name of an IPv4 address, or of the network of its first `octets` octets. */
export function reverseName(ipv4: string, octets = 4): string {
  return [...ipv4.split('.').slice(0, octets).reverse(), 'in-addr', 'arpa'].join('.')
}

/** The reverse zone the lab's DNS serves: the server's network, a /24. */
export const LAB_REVERSE_ZONE = reverseName(LAB.serverIPv4, 3)

/** A resolv.conf that names only the server's IPv4 address: the IPv4-only resolver. */
export const LAB_RESOLV_CONF = `nameserver ${LAB.serverIPv4}\n`

/** A resolv.conf that names the DNS64 resolver, as an IPv6-only network configures its hosts. */
export const LAB_DNS64_RESOLV_CONF = `nameserver ${LAB.dns64Resolver}\n`

export type Role = 'client' | 'router' | 'server'
const ROLES: Role[] = ['client', 'router', 'server']
const SUFFIX: Record<Role, string> = { client: 'cli', router: 'nat', server: 'srv' }

const NETNS_DIR = '/run/netns'
const STATE_DIR = join(RUN_DIR, 'lab')
const NAME = /^[a-z][a-z0-9-]{0,19}$/

export interface LabStatus {
  readonly name: string
  readonly namespaces: Record<Role, boolean>
  readonly tayga: boolean
  readonly server: boolean
  readonly directIPv4: boolean
  readonly nat64Route: boolean
  /** Whether the DNS64 resolver runs. */
  readonly dns64: boolean
  /** Whether the router advertises a PREF64. */
  readonly pref64: boolean
}

export interface LabOptions {
  /** Give the client the direct IPv4 path too; a lab already up keeps its own when absent. */
  readonly directIPv4?: boolean
  /** The prefix the router's advertisements carry (default LAB.nat64Prefix); false: none sent. */
  readonly pref64?: string | false
  /** The prefix the DNS64 resolver synthesizes with (default LAB.nat64Prefix); false: no resolver. */
  readonly dns64?: string | false
}

/** One router advertisement from the router's client side (`tnat64-ra advertise` without --every). */
export interface Advertisement {
  /** A PREF64 option each; the tool's default lifetime when none is given. */
  readonly prefixes?: readonly { readonly prefix: string; readonly lifetime?: number }[]
  /** Options as raw bytes in hex, type and length included, as the tool's --option takes them. */
  readonly options?: readonly string[]
}

export interface ExecOptions {
  check?: boolean
  timeoutMs?: number
  /** The text of /etc/resolv.conf for the command (see `Lab.inNs`). */
  resolvConf?: string
}

interface RunResult {
  status: number | null
  stdout: string
  stderr: string
}

function run(
  command: string,
  args: string[],
  options: { check?: boolean; timeoutMs?: number } = {},
): RunResult {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: options.timeoutMs ?? 10_000 })
  if (result.error) throw new CommandFailure(`${command}: ${result.error.message}`)
  if ((options.check ?? true) && result.status !== 0) {
    const detail = (result.stderr || result.stdout).trim().split('\n')[0]
    throw new CommandFailure(`${command} ${args.join(' ')}: ${detail || `exit ${result.status}`}`)
  }
  return { status: result.status, stdout: result.stdout, stderr: result.stderr }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

export class Lab {
  readonly name: string
  readonly stateDir: string

  constructor(name = 'tnat64lab') {
    if (!NAME.test(name)) {
      throw new CommandFailure(
        `lab name '${name}': use 1-20 lowercase letters, digits or '-', starting with a letter`,
        2,
      )
    }
    this.name = name
    this.stateDir = join(STATE_DIR, name)
  }

  /** The network namespace of a role, e.g. `tnat64lab-cli`. */
  ns(role: Role): string {
    return `${this.name}-${SUFFIX[role]}`
  }

  /** The path `nsenter --net=` takes for a role (keeps /sys, unlike `ip netns exec`). */
  nsPath(role: Role): string {
    return join(NETNS_DIR, this.ns(role))
  }

  /**
   * argv that runs `command` inside a role's network namespace. nsenter, not `ip netns exec`: the
   * latter remounts /sys, which hides the cgroup2 mount and bpffs that kernel mode needs. With
   * `resolvConf`, also in a private mount namespace where /etc/resolv.conf is a file with that text,
   * so the command's resolver asks the servers it names while the host's file stays as it is.
   */
  inNs(role: Role, command: string[], options: { resolvConf?: string } = {}): string[] {
    const net = ['nsenter', `--net=${this.nsPath(role)}`]
    if (options.resolvConf === undefined) return [...net, ...command]
    const file = this.resolvConfFile(options.resolvConf)
    const bind = ['sh', '-c', 'mount --bind "$1" /etc/resolv.conf && shift && exec "$@"', 'sh', file]
    return [...net, 'unshare', '--mount', '--propagation', 'private', ...bind, ...command]
  }

  exec(role: Role, command: string[], options: ExecOptions = {}): RunResult {
    const [cmd, ...args] = this.inNs(role, command, options)
    return run(cmd, args, options)
  }

  /**
   * The file in the lab's state directory that holds `text`, named by its hash, readable by all (the
   * command may drop root); replaced by a rename, so a command mounting it never sees half of it.
   */
  private resolvConfFile(text: string): string {
    const hash = createHash('sha256').update(text).digest('hex').slice(0, 16)
    const file = join(runDir('lab', this.name), `resolv-${hash}.conf`)
    const temporary = `${file}.${process.pid}`
    writeFileSync(temporary, text)
    chmodSync(temporary, 0o644)
    renameSync(temporary, file)
    return file
  }

  private ip(role: Role, args: string[]): void {
    run('ip', ['-n', this.ns(role), ...args])
  }

  private exists(role: Role): boolean {
    return existsSync(this.nsPath(role))
  }

  /**
   * Brings the lab up; a lab already up and healthy is kept (a broken one is rebuilt), and set to
   * `options` and its normal state: NAT64 routes on, advertiser and resolver as asked.
   */
  async up(options: LabOptions = {}): Promise<LabStatus> {
    requireRoot('lab')
    const pref64 = options.pref64 === false ? false : checkedPrefix('PREF64', options.pref64)
    const dns64 = options.dns64 === false ? false : checkedPrefix('DNS64', options.dns64)
    const before = this.status()
    if (before.tayga && before.server && ROLES.every((r) => before.namespaces[r])) {
      this.setNat64Route(true)
      this.setRouterNat64(true)
      if (options.directIPv4 !== undefined) this.setDirectIPv4(options.directIPv4)
      this.setPref64(pref64)
      await this.setDns64(dns64)
      return this.status()
    }
    this.down()
    try {
      this.build()
      this.setPref64(pref64)
      this.startTayga()
      await this.startServer('server', LAB.serverIPv4, LAB.httpPort, LAB.echoPort, LAB.dns.port)
      if (options.directIPv4) this.setDirectIPv4(true)
      await this.waitForPath()
      await this.setDns64(dns64)
    } catch (e) {
      this.down()
      throw e
    }
    return this.status()
  }

  private build(): void {
    runDir('lab', this.name)
    for (const role of ROLES) {
      run('ip', ['netns', 'add', this.ns(role)])
      this.ip(role, ['link', 'set', 'lo', 'up'])
    }
    const [client, router, server] = ROLES.map((r) => this.ns(r))
    const cl0 = LAB.ra.interface
    // Each pair is made inside its namespaces, so no name is ever taken in the caller's namespace.
    run('ip', ['-n', client, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', cl0, 'netns', router])
    run('ip', ['-n', client, 'link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'dl0', 'netns', router])
    run('ip', ['-n', server, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'sv0', 'netns', router])
    for (const role of ROLES) {
      this.exec(role, [
        'sysctl',
        '-q',
        '-w',
        'net.ipv4.conf.all.rp_filter=0',
        'net.ipv4.conf.default.rp_filter=0',
      ])
    }
    // Link-local addresses without DAD, set before the links come up: the router advertises from
    // cl0's at once, and the client solicits from eth0's (a tentative one would be unusable for ~1 s).
    this.exec('router', [
      'sysctl',
      '-q',
      '-w',
      'net.ipv4.ip_forward=1',
      'net.ipv6.conf.all.forwarding=1',
      `net.ipv6.conf.${cl0}.accept_dad=0`,
    ])
    // The client is IPv6-only on eth0, and takes router advertisements there as a host does (a new
    // namespace's defaults, said here rather than trusted); eth1 carries only the optional direct
    // IPv4 path.
    this.exec('client', [
      'sysctl',
      '-q',
      '-w',
      'net.ipv6.conf.eth1.disable_ipv6=1',
      'net.ipv6.conf.eth0.forwarding=0',
      'net.ipv6.conf.eth0.accept_ra=1',
      'net.ipv6.conf.eth0.accept_dad=0',
    ])

    this.ip('client', ['addr', 'add', `${LAB.clientIPv6}/64`, 'dev', 'eth0', 'nodad'])
    this.ip('client', ['addr', 'add', `${LAB.clientDirectIPv4}/24`, 'dev', 'eth1'])
    this.ip('router', ['addr', 'add', `${LAB.routerIPv6}/64`, 'dev', cl0, 'nodad'])
    this.ip('router', ['addr', 'add', `${LAB.routerDirectIPv4}/24`, 'dev', 'dl0'])
    this.ip('router', ['addr', 'add', `${LAB.routerServerSide}/24`, 'dev', 'sv0'])
    this.ip('server', ['addr', 'add', `${LAB.serverIPv4}/24`, 'dev', 'eth0'])
    this.exec('server', ['sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1'])
    for (const [role, dev] of [
      ['client', 'eth0'],
      ['client', 'eth1'],
      ['router', cl0],
      ['router', 'dl0'],
      ['router', 'sv0'],
      ['server', 'eth0'],
    ] as [Role, string][]) {
      this.ip(role, ['link', 'set', dev, 'up'])
    }
    this.ip('server', ['route', 'add', 'default', 'via', LAB.routerServerSide])
    this.setNat64Route(true)
  }

  private startTayga(): void {
    const dataDir = privateDir(this.stateDir, 'tayga')
    const conf = join(this.stateDir, 'tayga.conf')
    writeFileSync(
      conf,
      [
        'tun-device nat64',
        `ipv4-addr ${LAB.taygaIPv4}`,
        `prefix ${LAB.nat64Prefix}`,
        `dynamic-pool ${LAB.pool}`,
        `data-dir ${dataDir}`,
        '',
      ].join('\n'),
    )
    this.exec('router', ['tayga', '-c', conf, '--mktun'])
    this.ip('router', ['link', 'set', 'nat64', 'up'])
    // What tayga writes passes the lab's mend of its zero UDP checksums (bpf/lab-udp6-checksum.bpf.c).
    this.exec('router', ['tc', 'qdisc', 'add', 'dev', 'nat64', 'clsact'])
    this.exec('router', [
      'tc',
      'filter',
      'add',
      'dev',
      'nat64',
      'ingress',
      'bpf',
      'direct-action',
      'object-file',
      LAB_CHECKSUM_MEND,
      'section',
      'tc',
    ])
    this.ip('router', ['route', 'add', LAB.pool, 'dev', 'nat64'])
    this.ip('router', ['route', 'add', LAB.nat64Prefix, 'dev', 'nat64'])
    this.setTayga(true)
  }

  /** Starts or kills the translator (its tun device and routes stay): a NAT64 that died. */
  setTayga(on: boolean): void {
    const pidfile = join(this.stateDir, 'tayga.pid')
    if (on) this.exec('router', ['tayga', '-c', join(this.stateDir, 'tayga.conf'), '--pidfile', pidfile])
    else if (existsSync(pidfile)) {
      const pid = Number(readFileSync(pidfile, 'utf8').trim())
      killQuietly(pid, 'SIGKILL')
      // The tun device is free for a new tayga only once this one is gone.
      for (let i = 0; i < 100 && existsSync(`/proc/${pid}`); i++) spawnSync('sleep', ['0.05'])
      rmSync(pidfile, { force: true })
    }
  }

  /**
   * Starts the lab server (HTTP, echo and, given its port, the DNS of LAB.dns) on `address` in a
   * role's namespace and waits until it listens; `lab down` stops it with everything else there.
   */
  async startServer(
    role: Role,
    address: string,
    httpPort: number,
    echoPort: number,
    dnsPort?: number,
  ): Promise<void> {
    const log = join(this.stateDir, `server-${role}-${address}.log`)
    const fd = openSync(log, 'w')
    const args = ['--address', address, '--http', String(httpPort), '--echo', String(echoPort)]
    if (dnsPort !== undefined) args.push('--dns', String(dnsPort))
    const [cmd, ...rest] = this.inNs(role, [process.execPath, LAB_SERVER_SCRIPT, ...args])
    spawn(cmd, rest, { detached: true, stdio: ['ignore', fd, fd] }).unref()
    for (let waited = 0; waited < 10_000; waited += 50) {
      if (readFileSync(log, 'utf8').includes('listening')) return
      await sleep(50)
    }
    throw new CommandFailure(
      `the lab server on ${address} did not start: ${readFileSync(log, 'utf8').trim() || 'no output'}`,
    )
  }

  /** The first packets after links come up can be lost: wait until a request crosses the NAT64. */
  private async waitForPath(): Promise<void> {
    const url = `http://[${LAB.serverNat64}]:${LAB.httpPort}/`
    let last = ''
    for (let attempt = 0; attempt < 40; attempt++) {
      const result = this.exec('client', ['curl', '-sS', '-g', '--max-time', '1', url], { check: false })
      if (result.status === 0) return
      last = result.stderr.trim()
      await sleep(100)
    }
    throw new CommandFailure(`the lab's NAT64 path does not carry traffic (${url}: ${last})`)
  }

  /** Switches the client's route to the NAT64 prefix: off makes NAT64 unreachable (ENETUNREACH). */
  setNat64Route(on: boolean): void {
    const route = [LAB.nat64Prefix, 'via', LAB.routerIPv6]
    run('ip', ['-n', this.ns('client'), 'route', on ? 'replace' : 'del', ...route], { check: on })
  }

  /**
   * Switches the NAT64 at the router: off answers the client's packets to the prefix with ICMPv6
   * "no route", so connects fail after the SYN (asynchronously) rather than at the route lookup;
   * 'drop' discards them without a word, so connects time out.
   */
  setRouterNat64(on: boolean | 'drop'): void {
    const route =
      on === true
        ? [LAB.nat64Prefix, 'dev', 'nat64']
        : [on === 'drop' ? 'blackhole' : 'unreachable', LAB.nat64Prefix]
    run('ip', ['-n', this.ns('router'), '-6', 'route', 'replace', ...route])
  }

  /** Switches the client's direct IPv4 route to the server's network. */
  setDirectIPv4(on: boolean): void {
    const route = ['198.51.100.0/24', 'via', LAB.routerDirectIPv4]
    run('ip', ['-n', this.ns('client'), 'route', on ? 'replace' : 'del', ...route], { check: on })
  }

  /**
   * Makes the router advertise `prefix` (PREF64, `lifetime` seconds) every LAB.ra.interval seconds
   * and at once to each solicitation; false stops it (nothing withdraws the prefix: the client keeps
   * it until its lifetime runs out, as after a real router's crash). Left running when already so.
   */
  setPref64(prefix: string | false, lifetime: number = LAB.ra.lifetime): void {
    const state = join(this.stateDir, 'pref64.json')
    const ad: Advertisement | undefined =
      prefix === false ? undefined : { prefixes: [{ prefix: checkedPrefix('PREF64', prefix), lifetime }] }
    const args = ad && [...advertiseArgs(ad), '--every', String(LAB.ra.interval)]
    if (args && this.running('router', RA_COMM) && readIfExists(state) === JSON.stringify(args)) return
    this.stop('router', RA_COMM)
    rmSync(state, { force: true })
    if (!ad || !args) return
    // Sent once in the foreground first, so that whatever the tool refuses fails here, with its message.
    this.advertiseOnce(ad)
    this.spawnDetached('router', [RA_TOOL, ...args], join(this.stateDir, 'pref64.log'))
    writeFileSync(state, JSON.stringify(args))
  }

  /** Sends one router advertisement from the router's client side (a lifetime 0, a malformed option). */
  advertiseOnce(ad: Advertisement): void {
    if (!existsSync(RA_TOOL)) throw new CommandFailure(`${RA_TOOL} is not built: run npm run build`)
    this.exec('router', [RA_TOOL, ...advertiseArgs(ad)])
  }

  /**
   * Runs the DNS64 resolver with `prefix` and waits until it answers the client; false stops it.
   * Left running when already so (another prefix restarts it, and so empties its cache).
   */
  async setDns64(prefix: string | false): Promise<void> {
    const conf = join(this.stateDir, 'unbound.conf')
    const text = prefix === false ? undefined : unboundConf(this.stateDir, checkedPrefix('DNS64', prefix))
    if (text && this.running('router', 'unbound') && readIfExists(conf) === text) return
    this.stop('router', 'unbound')
    rmSync(conf, { force: true })
    if (!text) return
    writeFileSync(conf, text)
    const log = join(this.stateDir, 'unbound.log')
    // -d twice: in the foreground, and its log stays on stderr (the log file) from the first line.
    const resolver = this.spawnDetached('router', ['unbound', '-d', '-d', '-c', conf], log)
    const query = ['dig', `@${LAB.dns64Resolver}`, '+time=1', '+tries=1', '+short', 'AAAA', IPV4ONLY_ARPA]
    for (let waited = 0; waited < 10_000; waited += 50) {
      if (resolver.exitCode !== null || resolver.signalCode !== null) break
      if (this.exec('client', query, { check: false }).stdout.trim() !== '') return
      await sleep(50)
    }
    this.stop('router', 'unbound')
    throw new CommandFailure(
      `the lab's DNS64 resolver does not answer: ${readFileSync(log, 'utf8').trim() || 'no output'}`,
    )
  }

  /** Starts `command` in a role's namespace, detached, its output in `log`; `lab down` stops it. */
  private spawnDetached(role: Role, command: string[], log: string): ChildProcess {
    const fd = openSync(log, 'w')
    try {
      const [cmd, ...args] = this.inNs(role, command)
      const child = spawn(cmd, args, { detached: true, stdio: ['ignore', fd, fd] })
      child.unref()
      return child
    } finally {
      closeSync(fd)
    }
  }

  /** Stops a role's processes of that name: SIGTERM, then SIGKILL to one still there after 2 s. */
  private stop(role: Role, comm: string): void {
    const pids = this.pids(role).filter((pid) => procState(pid)?.comm === comm)
    for (const pid of pids) killQuietly(pid, 'SIGTERM')
    const running = () => pids.filter((pid) => procState(pid)?.running)
    for (let i = 0; i < 100 && running().length > 0; i++) spawnSync('sleep', ['0.02'])
    for (const pid of running()) killQuietly(pid, 'SIGKILL')
  }

  status(): LabStatus {
    const namespaces = Object.fromEntries(ROLES.map((r) => [r, this.exists(r)])) as Record<Role, boolean>
    const routes = namespaces.client
      ? run('ip', ['-n', this.ns('client'), 'route', 'show', 'table', 'all']).stdout
      : ''
    return {
      name: this.name,
      namespaces,
      tayga: namespaces.router && this.running('router', 'tayga'),
      server: namespaces.server && this.running('server', 'node'),
      directIPv4: routes.includes('198.51.100.0/24'),
      nat64Route: routes.includes(LAB.nat64Prefix.replace('/96', '')),
      dns64: namespaces.router && this.running('router', 'unbound'),
      pref64: namespaces.router && this.running('router', RA_COMM),
    }
  }

  private pids(role: Role): number[] {
    if (!this.exists(role)) return []
    const out = run('ip', ['netns', 'pids', this.ns(role)], { check: false }).stdout
    return out.split(/\s+/).filter(Boolean).map(Number)
  }

  /** Whether a process of that name runs in a role's namespace. */
  private running(role: Role, comm: string): boolean {
    return this.pids(role).some((pid) => {
      const state = procState(pid)
      return state?.comm === comm && state.running
    })
  }

  /** Stops every process in the lab's namespaces and deletes them and the state; safe to call at any time. */
  down(): void {
    for (const role of ROLES) {
      for (const pid of this.pids(role)) killQuietly(pid, 'SIGKILL')
    }
    for (const role of ROLES) {
      if (this.exists(role)) run('ip', ['netns', 'del', this.ns(role)], { check: false })
    }
    rmSync(this.stateDir, { recursive: true, force: true })
    removeIfEmpty(STATE_DIR)
    removeIfEmpty(dirname(STATE_DIR))
  }

  /** Names of the labs whose namespaces exist on this host. */
  static list(): string[] {
    if (!existsSync(NETNS_DIR)) return []
    const names = new Set<string>()
    for (const entry of readdirSync(NETNS_DIR)) {
      const match = /^(.+)-(cli|nat|srv)$/.exec(entry)
      if (match && NAME.test(match[1])) names.add(match[1])
    }
    return [...names].sort()
  }
}

/** The name of the advertiser's process (its file's name). */
const RA_COMM = 'tnat64-ra'

/**
 * A process's name and whether it runs; undefined once it is gone. A zombie does not run: one
 * this process started stays one until its event loop reaps it.
 */
function procState(pid: number): { comm: string; running: boolean } | undefined {
  const stat = procStat(pid)
  return stat && { comm: stat.comm, running: stat.state !== 'Z' }
}

function readIfExists(file: string): string | undefined {
  return existsSync(file) ? readFileSync(file, 'utf8') : undefined
}

/** A prefix the lab serves, canonical; the lab's NAT64 prefix when none is given. */
function checkedPrefix(what: 'PREF64' | 'DNS64', prefix: string = LAB.nat64Prefix): string {
  try {
    return parsePrefix(prefix).text
  } catch (e) {
    if (e instanceof AddressError) throw new UsageError(`${what} prefix ${e.message}`)
    throw e
  }
}

/** `tnat64-ra advertise`'s arguments for one advertisement from the router's client side. */
function advertiseArgs(ad: Advertisement): string[] {
  const args = ['advertise', '--interface', LAB.ra.interface]
  for (const { prefix, lifetime } of ad.prefixes ?? []) {
    args.push('--prefix', prefix)
    if (lifetime !== undefined) args.push('--lifetime', String(lifetime))
  }
  for (const option of ad.options ?? []) args.push('--option', option)
  return args
}

/**
 * The DNS64 resolver's configuration: on the router's client side for the client's network, all
 * its state in `dir`, no chroot and no change of user, no validator (nothing to fetch a trust anchor
 * for), and every question forwarded to the lab's DNS, so that it contacts nothing else.
 */
function unboundConf(dir: string, prefix: string): string {
  // unbound answers these itself by default (RFC 6761's test., which holds LAB.dns.zone, and RFC
  // 6303's documentation networks): they must go to the lab's DNS, the last (2001:db8::/32's) so that
  // dns64 answers PTR for a synthesized address.
  const ownZones = ['test.', `${LAB_REVERSE_ZONE}.`, '8.b.d.0.1.0.0.2.ip6.arpa.']
  return [
    'server:',
    `  interface: ${LAB.dns64Resolver}`,
    `  port: ${LAB.dns.port}`,
    `  access-control: ${LAB.clientIPv6}/64 allow`,
    '  username: ""',
    '  chroot: ""',
    `  directory: "${dir}"`,
    `  pidfile: "${join(dir, 'unbound.pid')}"`,
    '  use-syslog: no',
    '  verbosity: 1',
    '  module-config: "dns64 iterator"',
    `  dns64-prefix: ${prefix}`,
    ...ownZones.map((zone) => `  local-zone: "${zone}" nodefault`),
    'remote-control:',
    '  control-enable: no',
    'forward-zone:',
    '  name: "."',
    `  forward-addr: ${LAB.serverIPv4}@${LAB.dns.port}`,
    '',
  ].join('\n')
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal)
  } catch {
    // already gone
  }
}
