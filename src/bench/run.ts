// npm run bench [-- --quick]: tnat64's cost side by side with native IPv6 and a CLAT, measured in
// one run on one machine, each figure as a ratio to a baseline taken in the same run. Root.
// Writes benchmarks/latest.{json,md} and benchmarks/chart.svg (--quick: benchmarks/quick/).
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, release, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { ENV_CONF_FILE, ENV_PREFIX, USER_CACHE_NAME } from '../lib/defaults.js'
import { writeUserCache } from '../lib/discovery/state.js'
import { CommandFailure, reportError } from '../lib/errors.js'
import { setPins } from '../lib/kernel/cache.js'
import { attachedCgroups, BPF_STATS_SYSCTL, counters, type ProgramStats } from '../lib/kernel/stats.js'
import { APP_LAUNCHER, PACKAGE_ROOT, PRELOAD_LIBRARY, TNAT64_CLI } from '../lib/paths.js'
import { requireRoot } from '../lib/privilege.js'
import { BenchNet, CLIENT, CLIENT_STATIC, NET } from './net.js'
import { failed, type Measure, renderMarkdown, renderSvg, summarize, type Target } from './report.js'

const PLANS = {
  quick: {
    rounds: 3,
    connects: 2000,
    // A stream's rate varies by several percent from one run to the next here: more, shorter
    // streams give a steadier median than a few long ones.
    streams: 7,
    bytes: 128 << 20,
    starts: 5,
    firsts: 5,
    callgrind: [100, 200],
    udpRounds: 5,
    echoes: 20_000,
    lookups: 2000,
    scale: 10_000,
  },
  full: {
    rounds: 7,
    connects: 10_000,
    streams: 15,
    bytes: 512 << 20,
    starts: 15,
    firsts: 15,
    callgrind: [500, 1000],
    udpRounds: 9,
    echoes: 100_000,
    lookups: 10_000,
    scale: 100_000,
  },
}

type Plan = (typeof PLANS)['quick']
type Mode = 'native' | 'app' | 'supervised' | 'kernel' | 'clat'
const MODES: Mode[] = ['native', 'app', 'supervised', 'kernel', 'clat']
/** Kernel mode rewrites connects only, and a CLAT's cost is the TCP rows' story: UDP is app vs native. */
type UdpMode = 'native' | 'app'
const UDP_MODES: UdpMode[] = ['native', 'app']

const APP_ENV = { LD_PRELOAD: PRELOAD_LIBRARY, [ENV_PREFIX]: NET.prefix, [ENV_CONF_FILE]: '/dev/null' }

/** The client's address and how it is run, per mode: all of them reach the same server socket.
 * Supervised: the same client built static, which LD_PRELOAD cannot reach, under `tnat64 app`. */
function client(net: BenchNet, mode: Mode, args: string[], options: { serverCpu?: boolean } = {}): string {
  const [verb, ...rest] = args
  const address = {
    native: NET.serverIPv6,
    app: NET.serverIPv4,
    supervised: NET.serverIPv4,
    kernel: NET.mapped,
    clat: NET.serverIPv4,
  }[mode]
  const argv =
    mode === 'supervised'
      ? [APP_LAUNCHER, '--prefix', NET.prefix, '--', CLIENT_STATIC, verb, address, ...rest]
      : [CLIENT, verb, address, ...rest]
  return net.run(argv, {
    ...options,
    cgroup: mode === 'kernel',
    env: mode === 'app' ? APP_ENV : mode === 'supervised' ? { [ENV_CONF_FILE]: '/dev/null' } : {},
  })
}

/** The modes in a different order each round, so that none always runs after the same one. */
function rotated<T>(items: T[], round: number): T[] {
  const k = round % items.length
  return [...items.slice(k), ...items.slice(0, k)]
}

function log(line: string): void {
  process.stderr.write(`bench: ${line}\n`)
}

/** Each mode's traffic first proves it went the intended way, so a misrouted run cannot pass as fast. */
function checkPaths(net: BenchNet): void {
  const expected: Record<Mode, string> = {
    native: NET.serverIPv6, // the client's own address: it is in the same namespace
    app: NET.serverIPv6, // IPv6 to the NAT64 address: an IPv4 attempt would have no route at all
    supervised: NET.serverIPv6,
    kernel: NET.serverIPv6,
    clat: NET.clatIPv6, // through tayga: the server sees the CLAT's address
  }
  const probe = (mode: Mode, verb: string) => {
    const seen = client(net, mode, [verb, String(NET.port + 1)]).trim()
    if (seen !== expected[mode])
      throw new CommandFailure(`${mode} (${verb}): the server saw ${seen}, expected ${expected[mode]}`)
  }
  const before = counters().rewritten
  for (const mode of MODES) probe(mode, 'probe')
  for (const mode of UDP_MODES) probe(mode, 'probe-udp')
  if (counters().rewritten !== before + 1)
    throw new CommandFailure('kernel: connect6 did not rewrite the probe')
}

function connectCost(net: BenchNet, plan: Plan): Measure[] {
  const values: Record<Mode, number[]> = { native: [], app: [], supervised: [], kernel: [], clat: [] }
  for (let round = 0; round < plan.rounds; round++) {
    for (const mode of rotated(MODES, round)) {
      values[mode].push(
        Number(client(net, mode, ['connect', String(NET.port), String(plan.connects)])) / 1000,
      )
    }
  }
  log(`connect: ${plan.rounds} rounds x ${plan.connects} connects per mode`)
  return MODES.map((mode) =>
    summarize(`connect+close, ${mode}`, 'µs', values[mode], values.native, {
      group: 'connect',
      paired: true,
      mode,
      target:
        mode === 'app'
          ? { ratio: 1.05, what: 'within 5% of native' }
          : mode === 'supervised'
            ? { ratio: 2.5, what: 'at most 2.5 x native' }
            : undefined,
    }),
  )
}

/** Each round also streams natively a second time: that A/A ratio shows how far two identical
 * runs differ here, the floor under which no difference between modes means anything. */
function throughput(net: BenchNet, plan: Plan): Measure[] {
  const values: Record<Mode | 'again', number[]> = {
    native: [],
    again: [],
    app: [],
    supervised: [],
    kernel: [],
    clat: [],
  }
  const stream = (mode: Mode) =>
    (plan.bytes * 8) / Number(client(net, mode, ['stream', String(NET.port + 2), String(plan.bytes)]))
  for (let round = 0; round < plan.streams; round++) {
    for (const mode of rotated(MODES, round)) values[mode].push(stream(mode))
    values.again.push(stream('native'))
  }
  log(`throughput: ${plan.streams} rounds x ${plan.bytes >> 20} MiB per mode`)
  const rows: [Mode | 'again', string][] = [
    ['native', 'native'],
    ['again', 'native again (A/A)'],
    ['app', 'app'],
    ['supervised', 'supervised'],
    ['kernel', 'kernel'],
    ['clat', 'clat'],
  ]
  return rows.map(([key, mode]) =>
    summarize(`one TCP stream, ${mode}`, 'Gbit/s', values[key], values.native, {
      group: 'throughput',
      paired: true,
      mode,
      higherIsBetter: true,
      target:
        key === 'app' || key === 'kernel' || key === 'supervised'
          ? { ratio: 0.98, what: 'within 2% of native' }
          : undefined,
    }),
  )
}

/** One UDP socket, one small datagram in flight: each round trip is a sendto and a recvfrom with
 * an address, the calls the library translates for an AF_INET UDP socket. Client and server share
 * a CPU here: a wake-up across CPUs costs a virtual machine tens of µs, more than and as noisy as
 * the round trip itself. */
function udpRate(net: BenchNet, plan: Plan): Measure[] {
  const values: Record<UdpMode, number[]> = { native: [], app: [] }
  for (let round = 0; round < plan.udpRounds; round++) {
    for (const mode of rotated(UDP_MODES, round)) {
      const ns = Number(
        client(net, mode, ['echo', String(NET.port), String(plan.echoes)], { serverCpu: true }),
      )
      values[mode].push(1e9 / ns)
    }
  }
  log(`udp: ${plan.udpRounds} rounds x ${plan.echoes} round trips per mode`)
  return UDP_MODES.map((mode) =>
    summarize(`sendto+recvfrom round trips, ${mode}`, 'round trips/s', values[mode], values.native, {
      group: 'udp',
      paired: true,
      mode,
      higherIsBetter: true,
      target: mode === 'app' ? { ratio: 0.95, what: 'at least 0.95 x native' } : undefined,
    }),
  )
}

/** getaddrinfo through the server's DNS responder, its nameserver given in a resolv.conf of the
 * client's own (a private mount namespace; the host's stays as it is): app mode names it by its
 * IPv4 address, the library's business to reach it at its NAT64 address; native mode names the
 * NAT64 address. Each mode first proves its query went there straight: the responder answers with
 * the low 32 bits of the querier's address, the server's IPv4 address for a query from this
 * namespace's own NAT64 address (a query over IPv4 reaches it through the CLAT). */
function lookups(net: BenchNet, plan: Plan): Measure[] {
  const name = 'bench.tnat64.test'
  const nameserver: Record<UdpMode, string> = { native: NET.serverIPv6, app: NET.serverIPv4 }
  const resolvConf = (mode: UdpMode) => join(net.stateDir, `resolv-${mode}.conf`)
  for (const mode of UDP_MODES)
    writeFileSync(resolvConf(mode), `nameserver ${nameserver[mode]}\noptions timeout:1 attempts:1\n`)
  // Only DNS answers for hosts: /etc/hosts and a host's systemd-resolved stay out of it.
  const nsswitch = join(net.stateDir, 'nsswitch.conf')
  writeFileSync(nsswitch, 'hosts: dns\n')
  const lookup = (mode: UdpMode, n: number): { ns: number; answer: string } | { error: string } => {
    const r = net.spawn(
      [
        'unshare',
        '--mount',
        '--propagation',
        'private',
        'sh',
        '-c',
        'mount --bind "$0" /etc/resolv.conf && mount --bind "$1" /etc/nsswitch.conf && shift && exec "$@"',
        resolvConf(mode),
        nsswitch,
        CLIENT,
        'lookup',
        name,
        String(n),
      ],
      { env: mode === 'app' ? APP_ENV : {}, serverCpu: true, mayFail: true },
    )
    if (r.status !== 0) return { error: r.stderr.trim().split('\n').pop() || `exit ${r.status}` }
    const [ns, answer] = r.stdout.trim().split(' ')
    return { ns: Number(ns), answer }
  }
  const errors: Partial<Record<UdpMode, string>> = {}
  for (const mode of UDP_MODES) {
    const probe = lookup(mode, 1)
    if ('error' in probe) errors[mode] = probe.error
    else if (probe.answer !== NET.serverIPv4)
      errors[mode] =
        `the query came from an address other than ${NET.serverIPv6} (last 32 bits ${probe.answer}; ` +
        `over IPv4 it goes through the CLAT, ${NET.clatIPv6})`
  }
  const values: Record<UdpMode, number[]> = { native: [], app: [] }
  for (let round = 0; round < plan.udpRounds; round++) {
    for (const mode of rotated(UDP_MODES, round)) {
      if (errors[mode]) continue
      const r = lookup(mode, plan.lookups)
      if ('error' in r) errors[mode] = r.error
      else values[mode].push(1e9 / r.ns)
    }
  }
  log(`lookups: ${plan.udpRounds} rounds x ${plan.lookups} per mode`)
  return UDP_MODES.map((mode) => {
    const row = `getaddrinfo, ${mode} (nameserver ${nameserver[mode]})`
    const error = errors[mode]
    if (error) {
      log(`lookups, ${mode}: failed: ${error}`)
      return failed(row, error, { group: 'lookup', mode })
    }
    return summarize(row, 'lookups/s', values[mode], errors.native ? undefined : values.native, {
      group: 'lookup',
      paired: true,
      mode,
      higherIsBetter: true,
    })
  })
}

/** valgrind counts instructions, not time: the same count every run. Two loop lengths, so the
 * difference is the cost of one iteration alone, start-up excluded. */
function instructions(net: BenchNet, plan: Plan): Measure[] {
  const count = (mode: 'native' | 'app', verb: string, n: number) => {
    const address = mode === 'native' ? NET.serverIPv6 : NET.serverIPv4
    const stderr = net.spawn(
      [
        'valgrind',
        '--tool=callgrind',
        '--callgrind-out-file=/dev/null',
        CLIENT,
        verb,
        address,
        String(NET.port),
        String(n),
      ],
      { env: mode === 'app' ? APP_ENV : {} },
    ).stderr
    const collected = /Collected : (\d+)/.exec(stderr)
    if (!collected) throw new CommandFailure(`callgrind gave no count: ${stderr.slice(-200)}`)
    return Number(collected[1])
  }
  const [short, long] = plan.callgrind
  const each = (verb: string) => {
    const per = (mode: 'native' | 'app') =>
      (count(mode, verb, long) - count(mode, verb, short)) / (long - short)
    return { native: per('native'), app: per('app') }
  }
  const connect = each('connect')
  const echo = each('echo')
  log('callgrind: done')
  const row = (name: string, value: number, baseline?: number, target?: Target) =>
    summarize(name, 'instructions', [value], baseline === undefined ? undefined : [baseline], {
      group: 'instructions',
      target,
    })
  const perConnect = 'user-space instructions per socket+connect+close'
  const perPair = 'user-space instructions per sendto+recvfrom'
  return [
    row(`${perConnect}, native`, connect.native, connect.native),
    row(`${perConnect}, app`, connect.app, connect.native),
    row(`${perPair}, native`, echo.native, echo.native),
    row(`${perPair}, app`, echo.app, echo.native),
    row(`${perPair}, added by tnat64 (app − native)`, echo.app - echo.native, undefined, {
      absolute: 150,
      what: 'at most 150',
    }),
  ]
}

/** bpf_stats run counts and times of the programs over the kernel-mode connects of this run;
 * then connect6's again with `tnat64 monitor` running (its lines go to /dev/null). */
async function kernelCost(net: BenchNet, plan: Plan): Promise<Measure[]> {
  const sysctl = BPF_STATS_SYSCTL
  const was = readFileSync(sysctl, 'utf8').trim()
  writeFileSync(sysctl, '1')
  const connects = () => {
    for (let round = 0; round < plan.rounds; round++) {
      client(net, 'kernel', ['connect', String(NET.port), String(plan.connects)])
      client(net, 'native', ['connect', String(NET.port), String(plan.connects)]) // runs in no cgroup: 0 calls
    }
  }
  const programs = () => new Map(attachedCgroups()[0].programs.map((p) => [p.program, p]))
  const perCall = (before: Map<string, ProgramStats>, after: Map<string, ProgramStats>, program: string) => {
    const a = after.get(program) as ProgramStats
    const runs = a.runCount - (before.get(program)?.runCount ?? 0)
    return { runs, ns: runs === 0 ? 0 : (a.runTimeNs - (before.get(program)?.runTimeNs ?? 0)) / runs }
  }
  let before: Map<string, ProgramStats>
  let after: Map<string, ProgramStats>
  let monitored: { runs: number; ns: number }
  try {
    before = programs()
    connects()
    after = programs()
    const monitor = await startMonitor()
    try {
      connects()
    } finally {
      await stopMonitor(monitor)
    }
    monitored = perCall(after, programs(), 'connect6')
  } finally {
    writeFileSync(sysctl, was)
  }
  log('bpf_stats: done')
  return [
    ...[...after.keys()].flatMap((program) => {
      const { runs, ns } = perCall(before, after, program)
      if (runs === 0) return []
      return [
        summarize(`${program} per call (${runs} calls)`, 'ns', [ns], undefined, {
          group: 'bpf',
          target: program === 'connect6' ? { absolute: 200, what: 'at most 200 ns' } : undefined,
        }),
      ]
    }),
    summarize(
      `connect6 per call, tnat64 monitor running (${monitored.runs} calls)`,
      'ns',
      [monitored.ns],
      [perCall(before, after, 'connect6').ns],
      { group: 'bpf' },
    ),
  ]
}

/** `tnat64 monitor`, once it has taken its lease: its first line says so. */
async function startMonitor(): Promise<ChildProcess> {
  const child = spawn(TNAT64_CLI, ['monitor'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (b) => {
    stderr += b
  })
  await new Promise<void>((resolve, reject) => {
    child.stdout?.once('data', () => resolve())
    child.once('exit', (code) =>
      reject(new CommandFailure(`tnat64 monitor exited ${code}: ${stderr.trim()}`)),
    )
  })
  child.stdout?.resume() // its lines are not needed: read and dropped
  return child
}

async function stopMonitor(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  const code = await exited
  if (code !== 0) throw new CommandFailure(`tnat64 monitor exited ${code} on SIGTERM`)
}

/** The first connect to a destination whose NAT64 path is unreachable pays the failed attempt;
 * the next goes straight to IPv4 from the cache. Baseline: the same program over IPv4, no tnat64. */
function fallback(net: BenchNet, plan: Plan): Measure[] {
  const firsts: number[] = []
  const seconds: number[] = []
  const baseFirst: number[] = []
  const baseSecond: number[] = []
  const env = { ...APP_ENV, [ENV_PREFIX]: NET.deadPrefix }
  for (let i = 0; i < plan.firsts; i++) {
    const [a, b] = net
      .run([CLIENT, 'first', NET.ipv4Only, String(NET.port)], { env })
      .trim()
      .split(' ')
      .map(Number)
    const [c, d] = net
      .run([CLIENT, 'first', NET.ipv4Only, String(NET.port)])
      .trim()
      .split(' ')
      .map(Number)
    firsts.push(a / 1000)
    seconds.push(b / 1000)
    baseFirst.push(c / 1000)
    baseSecond.push(d / 1000)
  }
  log('fallback: done')
  return [
    summarize('first connect, NAT64 unreachable (falls back)', 'µs', firsts, baseFirst, {
      group: 'fallback',
    }),
    summarize('next connect, same destination (cached: IPv4 first)', 'µs', seconds, baseSecond, {
      group: 'fallback',
    }),
  ]
}

function wallMs(argv: string[], env: Record<string, string> = {}): number {
  const start = process.hrtime.bigint()
  const r = spawnSync(argv[0], argv.slice(1), { env: { ...process.env, ...env }, stdio: 'ignore' })
  if (r.status !== 0) throw new CommandFailure(`${argv.join(' ')} exited ${r.status}`)
  return Number(process.hrtime.bigint() - start) / 1e6
}

/** A cache home holding a fresh DNS64 answer: `tnat64 app` with no prefix reads it (and asks no resolver). */
function cachedDiscovery(prefix: string): string {
  const home = mkdtempSync(join(tmpdir(), 'tnat64-bench-cache-'))
  const now = Math.floor(Date.now() / 1000)
  writeUserCache(
    { written: now, until: now + 3600, found: [{ source: 'dns64', prefix, expires: now + 3600 }], notes: [] },
    join(home, USER_CACHE_NAME),
  )
  return home
}

function startUp(net: BenchNet, plan: Plan): Measure[] {
  const times = (argv: string[]) => Array.from({ length: plan.starts }, () => wallMs(argv))
  // The read commands, each round beside node's own start: the ratios are paired.
  const reads: Record<string, string[]> = {
    'tnat64 translate 192.0.2.33': ['translate', '192.0.2.33'],
    'tnat64 config show': ['config', 'show'],
    'tnat64 status (kernel mode attached: read from the kernel)': ['status'],
  }
  const node: number[] = []
  const read = Object.fromEntries(Object.keys(reads).map((name) => [name, [] as number[]]))
  for (let i = 0; i < plan.starts; i++) {
    node.push(wallMs(['node', '-e', '0']))
    for (const [name, args] of Object.entries(reads)) read[name].push(wallMs([TNAT64_CLI, ...args]))
  }
  // `tnat64 app` as today (--prefix) and with the prefix discovered (a cached answer), in turn.
  const cache = cachedDiscovery(NET.prefix)
  const given: number[] = []
  const discovered: number[] = []
  try {
    for (let i = 0; i < plan.starts; i++) {
      given.push(wallMs([TNAT64_CLI, 'app', '--prefix', NET.prefix, '--', 'true']))
      discovered.push(wallMs([TNAT64_CLI, 'app', '--', 'true'], { XDG_CACHE_HOME: cache }))
    }
  } finally {
    rmSync(cache, { recursive: true, force: true })
  }
  const bare = times(['true'])
  const inNs = ['nsenter', `--net=${net.nsPath}`, TNAT64_CLI]
  const extra = `${net.cgroup}-extra`
  spawnSync('mkdir', [join(net.cgroupPath, '..', extra)])
  const attach: number[] = []
  const detach: number[] = []
  try {
    for (let i = 0; i < plan.starts; i++) {
      attach.push(wallMs([...inNs, 'attach', '--cgroup', extra, '--prefix', NET.prefix]))
      detach.push(wallMs([TNAT64_CLI, 'detach', '--cgroup', extra]))
    }
  } finally {
    spawnSync('rmdir', [join(net.cgroupPath, '..', extra)])
  }
  log('start-up: done')
  return [
    summarize('true', 'ms', bare, node, { group: 'start' }),
    summarize('node -e 0', 'ms', node, node, { group: 'start' }),
    summarize('tnat64 app --prefix P -- true', 'ms', given, node, {
      group: 'start',
      target: { ratio: 1.5, what: 'at most 1.5 x node -e 0' },
    }),
    summarize('tnat64 app -- true (prefix discovered, cached)', 'ms', discovered, node, { group: 'start' }),
    summarize(
      "discovery's cost: the two above, per round",
      'ms',
      discovered.map((d, i) => d - given[i]),
      undefined,
      { group: 'start', target: { absolute: 10, what: 'at most 10 ms' } },
    ),
    ...Object.entries(read).map(([name, values]) =>
      summarize(name, 'ms', values, node, {
        group: 'start',
        paired: true,
        ...(name.startsWith('tnat64 status')
          ? {}
          : { target: { ratio: 1.5, what: 'at most 1.5 x node -e 0' } }),
      }),
    ),
    summarize('tnat64 attach (another cgroup)', 'ms', attach, node, { group: 'start' }),
    summarize('tnat64 detach (that cgroup)', 'ms', detach, node, { group: 'start' }),
  ]
}

function mapScale(net: BenchNet, plan: Plan): Measure[] {
  const n = plan.scale
  const locals = Array.from(
    { length: n },
    (_, i) => `local = 10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
  )
  const file = join(net.stateDir, 'scale.conf')
  writeFileSync(file, `nat64_prefix = ${NET.prefix}\n${locals.join('\n')}\n`)
  const inNs = ['nsenter', `--net=${net.nsPath}`, TNAT64_CLI]
  const load = wallMs([...inNs, 'attach', '--cgroup', net.cgroup, '--config', file])
  const list = wallMs([TNAT64_CLI, 'status', '--json'])
  const destinations = Array.from(
    { length: n },
    (_, i) => `100.${64 + ((i >> 16) & 63)}.${(i >> 8) & 255}.${i & 255}`,
  )
  const start = process.hrtime.bigint()
  setPins({ cgroup: net.cgroup }, destinations, 'ipv4')
  const cacheLoad = Number(process.hrtime.bigint() - start) / 1e6
  const cacheList = wallMs([TNAT64_CLI, 'cache', 'list', '--json'])
  spawnSync(TNAT64_CLI, ['cache', 'flush', '--all'])
  spawnSync(inNs[0], [...inNs.slice(1), 'attach', '--cgroup', net.cgroup, '--prefix', NET.prefix])
  log('map scale: done')
  const one = (name: string, value: number) => summarize(name, 'ms', [value], undefined, { group: 'scale' })
  return [
    one(`tnat64 attach --config with ${n} local networks (parse, compile, load)`, load),
    one(`tnat64 status --json over those rules`, list),
    one(`pin ${n} destinations (tnat64 cache set, in-process)`, cacheLoad),
    one(`tnat64 cache list --json (${n} pins)`, cacheList),
  ]
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { quick: { type: 'boolean' }, out: { type: 'string' } } })
  const quick = values.quick ?? false
  const plan = quick ? PLANS.quick : PLANS.full
  const out = values.out ?? join(PACKAGE_ROOT, 'benchmarks', quick ? 'quick' : '')
  requireRoot('kernel')
  const net = new BenchNet()
  const started = Date.now()
  const measures: Measure[] = []
  try {
    await net.up()
    const attach = spawnSync(
      'nsenter',
      [`--net=${net.nsPath}`, TNAT64_CLI, 'attach', '--cgroup', net.cgroup, '--prefix', NET.prefix],
      {
        encoding: 'utf8',
      },
    )
    if (attach.status !== 0) throw new CommandFailure(`attach: ${attach.stderr.trim()}`)
    checkPaths(net)
    measures.push(...connectCost(net, plan))
    measures.push(...instructions(net, plan))
    measures.push(...(await kernelCost(net, plan)))
    measures.push(...throughput(net, plan))
    measures.push(...udpRate(net, plan))
    measures.push(...lookups(net, plan))
    measures.push(...fallback(net, plan))
    measures.push(...startUp(net, plan))
    measures.push(...mapScale(net, plan))
  } finally {
    spawnSync(TNAT64_CLI, ['detach', '--cgroup', net.cgroup])
    net.down()
  }
  const machine = {
    date: new Date().toISOString(),
    kernel: release(),
    cpu: cpus()[0]?.model ?? 'unknown',
    cpus: cpus().length,
    node: process.version,
    mode: quick ? 'quick' : 'full',
    seconds: Math.round((Date.now() - started) / 1000),
    command: quick ? 'npm run bench -- --quick' : 'npm run bench',
  }
  mkdirSync(out, { recursive: true })
  const markdown = renderMarkdown(measures, machine)
  writeFileSync(join(out, 'latest.json'), `${JSON.stringify({ machine, measures }, null, 2)}\n`)
  writeFileSync(join(out, 'latest.md'), markdown)
  writeFileSync(join(out, 'chart.svg'), renderSvg(measures))
  process.stdout.write(markdown)
  log(`wrote ${out}/latest.json, latest.md, chart.svg`)
}

main().catch((error) => {
  for (const line of reportError(error).lines) process.stderr.write(`${line}\n`)
  process.exitCode = 1
})
