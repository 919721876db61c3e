// The benchmark's network: one namespace holding the server on the NAT64 address of 198.51.100.10,
// so no translator stands between client and server, and a CLAT (tayga on the client side) that
// turns an IPv4 client's packets into IPv6 ones towards the same server.
import { type SpawnSyncReturns, spawn, spawnSync } from 'node:child_process'
import { mkdirSync, openSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { dirname, join } from 'node:path'
import { RUN_DIR, removeIfEmpty, runDir } from '../lib/dirs.js'
import { CommandFailure } from '../lib/errors.js'
import { cgroup2Mount } from '../lib/kernel/cgroup.js'
import { PACKAGE_ROOT } from '../lib/paths.js'

export const NET = {
  prefix: '2001:db8:64::/96',
  /** The server's IPv6 address: 198.51.100.10 under the prefix. */
  serverIPv6: '2001:db8:64::c633:640a',
  serverIPv4: '198.51.100.10',
  mapped: '::ffff:198.51.100.10',
  /** The CLAT's IPv6 address for the IPv4 client (tayga's static map). */
  clatIPv6: '2001:db8:ca7::2',
  clatIPv4: '192.0.0.2',
  /** Reached over IPv4 only: the fallback measurement's destination. */
  ipv4Only: '203.0.113.10',
  /** A prefix without a route: NAT64 unreachable. */
  deadPrefix: '2001:db8:65::/96',
  port: 9000,
} as const

export const CLIENT = join(PACKAGE_ROOT, 'scripts', 'bench', 'bin', 'client')
/** The same client linked statically: out of LD_PRELOAD's reach, served by the supervisor. */
export const CLIENT_STATIC = join(PACKAGE_ROOT, 'scripts', 'bench', 'bin', 'client-static')
const SERVER = join(PACKAGE_ROOT, 'scripts', 'bench', 'bin', 'server')
const CLIENT_CPU = '0'
const SERVER_CPU = String(Math.min(1, cpus().length - 1))

function must(argv: string[]): string {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: 30_000 })
  if (r.status !== 0) throw new CommandFailure(`${argv.join(' ')}: ${(r.stderr || r.stdout).trim()}`)
  return r.stdout
}

interface RunOptions {
  cgroup?: boolean
  env?: Record<string, string>
  /** On the server's CPU: a request/response loop then runs without wake-ups across CPUs. */
  serverCpu?: boolean
}

export class BenchNet {
  readonly ns = `t64bench-${process.pid}`
  readonly cgroup = `t64-bench-${process.pid}`
  readonly stateDir = join(RUN_DIR, `bench-${process.pid}`)

  get nsPath(): string {
    return `/run/netns/${this.ns}`
  }

  get cgroupPath(): string {
    return join(cgroup2Mount(), this.cgroup)
  }

  up(): Promise<void> {
    runDir(`bench-${process.pid}`)
    must(['ip', 'netns', 'add', this.ns])
    const ip = (...args: string[]) => must(['ip', '-n', this.ns, ...args])
    ip('link', 'set', 'lo', 'up')
    ip('-6', 'addr', 'add', `${NET.serverIPv6}/128`, 'dev', 'lo', 'nodad')
    ip('addr', 'add', `${NET.ipv4Only}/32`, 'dev', 'lo')
    this.startClat(ip)
    mkdirSync(this.cgroupPath)
    return this.startServer()
  }

  private startClat(ip: (...args: string[]) => string): void {
    const conf = join(this.stateDir, 'clat.conf')
    mkdirSync(join(this.stateDir, 'tayga'), { mode: 0o700 })
    writeFileSync(
      conf,
      [
        'tun-device clat',
        'ipv4-addr 192.0.0.1',
        `prefix ${NET.prefix}`,
        `map ${NET.clatIPv4} ${NET.clatIPv6}`,
        `data-dir ${join(this.stateDir, 'tayga')}`,
        '',
      ].join('\n'),
    )
    const inNs = ['nsenter', `--net=${this.nsPath}`]
    must([...inNs, 'tayga', '-c', conf, '--mktun'])
    must([
      ...inNs,
      'sysctl',
      '-q',
      '-w',
      'net.ipv4.conf.all.rp_filter=0',
      'net.ipv4.conf.default.rp_filter=0',
    ])
    ip('link', 'set', 'clat', 'up')
    ip('addr', 'add', `${NET.clatIPv4}/32`, 'dev', 'clat')
    ip('route', 'add', `${NET.serverIPv4}/32`, 'dev', 'clat', 'src', NET.clatIPv4)
    ip('-6', 'route', 'add', `${NET.clatIPv6}/128`, 'dev', 'clat')
    // The prefix needs a route for kernel mode to count it reachable; the server's own /128 on lo
    // is local and wins for the one address in use.
    ip('-6', 'route', 'add', NET.prefix, 'dev', 'clat')
    must([...inNs, 'tayga', '-c', conf, '--pidfile', join(this.stateDir, 'tayga.pid')])
  }

  private async startServer(): Promise<void> {
    const log = join(this.stateDir, 'server.log')
    const fd = openSync(log, 'w')
    // Server and client each on a CPU of their own: less noise from the scheduler moving them.
    spawn(
      'nsenter',
      [`--net=${this.nsPath}`, 'taskset', '-c', SERVER_CPU, SERVER, String(NET.port), NET.serverIPv6],
      { detached: true, stdio: ['ignore', fd, fd] },
    ).unref()
    for (let i = 0; i < 200; i++) {
      if (readFileSync(log, 'utf8').includes('ready')) return
      await new Promise((r) => setTimeout(r, 25))
    }
    throw new CommandFailure(`bench server did not start: ${readFileSync(log, 'utf8')}`)
  }

  /**
   * Runs argv in the namespace on the client's CPU (or the server's), optionally in the bench
   * cgroup and with extra environment. Returns stdout; fails on a non-zero exit.
   */
  run(argv: string[], options: RunOptions = {}): string {
    return this.spawn(argv, options).stdout
  }

  /** Runs argv as `run` does and returns both its outputs (valgrind reports on stderr);
   * `mayFail` leaves a non-zero exit to the caller. */
  spawn(argv: string[], options: RunOptions & { mayFail?: boolean } = {}): SpawnSyncReturns<string> {
    const enter = options.cgroup ? `echo $$ > ${join(this.cgroupPath, 'cgroup.procs')} && ` : ''
    const vars = Object.entries(options.env ?? {}).map(([k, v]) => `${k}=${v}`)
    const cpu = options.serverCpu ? SERVER_CPU : CLIENT_CPU
    const script = `${enter}exec nsenter --net=${this.nsPath} taskset -c ${cpu} env ${vars.join(' ')} "$@"`
    const r = spawnSync('sh', ['-c', script, 'sh', ...argv], {
      encoding: 'utf8',
      timeout: 600_000,
      maxBuffer: 64 << 20,
    })
    if (r.status !== 0 && !options.mayFail)
      throw new CommandFailure(`${argv.join(' ')}: ${(r.stderr || r.stdout).trim().split('\n').pop()}`)
    return r
  }

  down(): void {
    const pids = spawnSync('ip', ['netns', 'pids', this.ns], { encoding: 'utf8' })
      .stdout.split(/\s+/)
      .filter(Boolean)
    for (const pid of pids) {
      try {
        process.kill(Number(pid), 'SIGKILL')
      } catch {
        // gone
      }
    }
    spawnSync('ip', ['netns', 'del', this.ns])
    try {
      rmdirSync(this.cgroupPath)
    } catch {
      // never made, or already gone
    }
    rmSync(this.stateDir, { recursive: true, force: true })
    removeIfEmpty(dirname(this.stateDir))
  }
}
