// tnat64 monitor against the real kernel: real dual-stack clients in attached cgroups, in a
// network namespace of this test's own where the NAT64 address is local (so a rewritten connect
// really connects), and the lease and ring buffer read back from the pinned maps.
import assert from 'node:assert/strict'
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, rmdirSync } from 'node:fs'
import { basename, join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { decodeConnectEvent, MAPS } from '../src/lib/bpf/layout.js'
import { RingReader } from '../src/lib/bpf/libbpf.js'
import { MONITOR_LEASE_MS } from '../src/lib/defaults.js'
import { cgroup2Mount } from '../src/lib/kernel/cgroup.js'
import { readLease } from '../src/lib/kernel/monitor.js'
import { withMap } from '../src/lib/kernel/pins.js'
import { TNAT64_CLI } from '../src/lib/paths.js'
import { assertRoot, isAlive, ok, PYTHON } from './helpers.js'

const PREFIX = '2001:db8:64::/96'
const SERVER = '198.51.100.10'
const SERVER_NAT64 = '2001:db8:64::c633:640a'
const PORT = 8000
const NETNS = `mn-mon-${process.pid}`
/** What bpf_get_current_comm gives for the client: its executable's name, at most 15 bytes. */
const COMM = basename(PYTHON).slice(0, 15)

const cgroups = { a: `mn-a-${process.pid}`, b: `mn-b-${process.pid}` }
const monitors: ChildProcess[] = []

/** A listener on [::]:PORT and a dual-stack client to ::ffff:SERVER:PORT, which connect6 sends to
 * the NAT64 address on lo: prints its pid and the peer getpeername gives. */
const CONNECT = `
import os, socket
srv = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("::", ${PORT})); srv.listen()
c = socket.socket(socket.AF_INET6, socket.SOCK_STREAM); c.settimeout(5)
c.connect(("::ffff:${SERVER}", ${PORT}))
print(os.getpid(), c.getpeername()[0])
`

/** COUNT connects of one UDP socket to a mapped always-IPv4 address: nothing is sent. */
const STORM = `
import os, socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
for _ in range(int(sys.argv[1])): s.connect(("::ffff:127.0.0.1", 9))
print(os.getpid())
`

/** A python script run in a cgroup and in this test's network namespace. */
function python(cgroup: string, script: string, ...args: string[]): string {
  const procs = join(cgroup2Mount(), cgroup, 'cgroup.procs')
  const r = spawnSync(
    'sh',
    [
      '-c',
      `echo $$ > ${procs} && exec nsenter --net=/run/netns/${NETNS} "$@"`,
      'sh',
      PYTHON,
      '-c',
      script,
      ...args,
    ],
    { encoding: 'utf8', timeout: 30_000 },
  )
  return ok(r).stdout.trim()
}

function connect(cgroup: string): number {
  const [pid, peer] = python(cgroup, CONNECT).split(' ')
  assert.equal(peer, `::ffff:${SERVER}`) // connected through the NAT64 address, shown as asked
  return Number(pid)
}

/** A running `tnat64 monitor` and every line it has written. */
class Monitor {
  readonly child: ChildProcess
  stdout = ''
  stderr = ''
  readonly exited: Promise<number | null>

  /** `wrapper`: argv that runs the monitor (as its one child, given with --fork). */
  constructor(args: string[] = [], wrapper: string[] = []) {
    const [command, ...rest] = [...wrapper, TNAT64_CLI, 'monitor', ...args]
    this.child = spawn(command, rest)
    monitors.push(this.child)
    this.child.stdout?.on('data', (b) => {
      this.stdout += b
    })
    this.child.stderr?.on('data', (b) => {
      this.stderr += b
    })
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)))
  }

  lines(): string[] {
    return this.stdout.split('\n').slice(0, -1)
  }

  async waitFor(test: (line: string) => boolean, what: string): Promise<string> {
    for (let i = 0; i < 100; i++) {
      const line = this.lines().find(test)
      if (line !== undefined) return line
      await new Promise((r) => setTimeout(r, 50))
    }
    assert.fail(`waiting for ${what}: ${this.stdout}${this.stderr}`)
  }

  async stop(): Promise<number | null> {
    this.child.kill('SIGTERM')
    return this.exited
  }
}

async function started(args: string[] = [], wrapper: string[] = []): Promise<Monitor> {
  const monitor = new Monitor(args, wrapper)
  await monitor.waitFor((l) => l.includes('monitoring connect6 decisions'), 'the first line')
  return monitor
}

const lease = () => withMap(MAPS.monitor, readLease)

/** The events waiting in the ring buffer now (reading them consumes them). */
function waitingEvents() {
  const events: ReturnType<typeof decodeConnectEvent>[] = []
  withMap(MAPS.events, (map) => {
    const reader = RingReader.open(map, (record) => events.push(decodeConnectEvent(record)))
    try {
      reader.consume()
    } finally {
      reader.close()
    }
  })
  return events
}

function cli(args: string[]) {
  return spawnSync(TNAT64_CLI, args, { encoding: 'utf8', timeout: 30_000 })
}

function failsWithOneLine(r: ReturnType<typeof cli>, code: number, pattern: RegExp): void {
  assert.equal(r.status, code, `${r.stdout}${r.stderr}`)
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
  assert.match(r.stderr, pattern)
}

before(() => {
  assertRoot()
  ok(spawnSync('ip', ['netns', 'add', NETNS], { encoding: 'utf8' }))
  ok(spawnSync('ip', ['-n', NETNS, 'link', 'set', 'lo', 'up'], { encoding: 'utf8' }))
  ok(
    spawnSync('ip', ['-n', NETNS, 'addr', 'add', `${SERVER_NAT64}/128`, 'dev', 'lo', 'nodad'], {
      encoding: 'utf8',
    }),
  )
  for (const name of Object.values(cgroups)) {
    mkdirSync(join(cgroup2Mount(), name))
    // Attached from the host's namespace: this test's own has no reachability entry, so the
    // prefix counts as reachable there.
    ok(cli(['attach', '--cgroup', name, '--prefix', PREFIX]))
  }
})

after(async () => {
  for (const child of monitors)
    if (
      child.pid !== undefined &&
      child.exitCode === null &&
      child.signalCode === null &&
      isAlive(child.pid)
    ) {
      child.kill('SIGKILL')
      await new Promise((r) => child.once('exit', r))
    }
  for (const name of Object.values(cgroups)) {
    cli(['detach', '--cgroup', name])
    const path = join(cgroup2Mount(), name)
    if (!existsSync(path)) continue
    for (const pid of readFileSync(join(path, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean))
      process.kill(Number(pid), 'SIGKILL')
    for (let i = 0; i < 50 && existsSync(path); i++) {
      try {
        rmdirSync(path)
      } catch {
        await new Promise((r) => setTimeout(r, 100))
      }
    }
  }
  spawnSync('ip', ['netns', 'del', NETNS])
})

describe('tnat64 monitor', () => {
  it('shows a connect with its pid, command, cgroup, destination, outcome and NAT64 address (JSON)', async () => {
    const monitor = await started(['--json'])
    assert.ok(lease() > 0n, 'the lease is taken')
    const pid = connect(cgroups.a)
    const line = await monitor.waitFor((l) => l.includes(`"pid":${pid}`), `the event of pid ${pid}`)
    const event = JSON.parse(line)
    assert.match(event.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
    assert.equal(event.command, COMM)
    assert.equal(event.cgroup, join(cgroup2Mount(), cgroups.a))
    assert.equal(event.destination, `${SERVER}:${PORT}`)
    assert.equal(event.outcome, 'rewritten')
    assert.equal(event.connectedTo, `[${SERVER_NAT64}]:${PORT}`)
    assert.equal(
      event.message,
      `pid ${pid} ${COMM} in ${event.cgroup}: ${SERVER}:${PORT} rewritten -> [${SERVER_NAT64}]:${PORT}`,
    )

    // A destination that stays IPv4 is shown unchanged, with the reason.
    const storm = Number(python(cgroups.b, STORM, '1'))
    const other = JSON.parse(await monitor.waitFor((l) => l.includes(`"pid":${storm}`), 'the IPv4 event'))
    assert.equal(other.outcome, 'ipv4')
    assert.equal(other.cgroup, join(cgroup2Mount(), cgroups.b))
    assert.equal(other.connectedTo, '[::ffff:127.0.0.1]:9')
    assert.match(other.message, /127\.0\.0\.1:9 ipv4, unchanged$/)

    // One monitor at a time: a second is refused with one line.
    failsWithOneLine(cli(['monitor']), 1, /another tnat64 monitor is running \(pid \d+\)/)

    assert.equal(await monitor.stop(), 0, monitor.stderr)
    const lines = monitor.lines().map((l) => JSON.parse(l))
    assert.deepEqual(lines.at(-1), {
      time: lines.at(-1).time,
      message: 'stopped: 2 decisions shown, 0 dropped',
      shown: 2,
      dropped: 0,
    })
    assert.equal(lease(), 0n, 'a monitor that stops clears its lease')
    connect(cgroups.a)
    assert.deepEqual(waitingEvents(), [], 'no events without a monitor')
  })

  it('--cgroup shows that cgroup only; text lines', async () => {
    const monitor = await started(['--cgroup', cgroups.a])
    const hidden = connect(cgroups.b)
    const shown = connect(cgroups.a)
    const line = await monitor.waitFor((l) => l.includes(`pid ${shown} `), 'the event of cgroup a')
    assert.match(
      line,
      new RegExp(
        `^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ pid ${shown} ${COMM} in ${join(cgroup2Mount(), cgroups.a)}: ${SERVER.replace(/\./g, '\\.')}:${PORT} rewritten -> \\[${SERVER_NAT64}\\]:${PORT}$`,
      ),
    )
    assert.equal(await monitor.stop(), 0, monitor.stderr)
    assert.ok(!monitor.stdout.includes(`pid ${hidden} `), monitor.stdout)
    assert.match(monitor.lines().at(-1) ?? '', /stopped: 1 decisions shown, 0 dropped$/)
  })

  it('refuses a cgroup that is not attached, with one line', () => {
    failsWithOneLine(cli(['monitor', '--cgroup', cgroup2Mount()]), 1, /is not attached/)
    failsWithOneLine(cli(['monitor', '--cgroup', `mn-none-${process.pid}`]), 2, /no such cgroup/)
  })

  it('after SIGKILL, the lease runs out and connect6 stops writing events', async () => {
    const monitor = await started()
    monitor.child.kill('SIGKILL')
    await monitor.exited
    assert.ok(lease() > 0n, 'a killed monitor cannot clear its lease')
    await new Promise((r) => setTimeout(r, MONITOR_LEASE_MS + 500))
    const pid = connect(cgroups.a)
    assert.equal(lease(), 0n, 'connect6 cleared the expired lease')
    assert.deepEqual(
      waitingEvents().filter((e) => e.pid === pid),
      [],
    )
    // The next monitor is not refused, and shows nothing the dead one left unread.
    const next = await started()
    assert.equal(await next.stop(), 0, next.stderr)
    assert.match(next.lines().at(-1) ?? '', /stopped: 0 decisions shown, 0 dropped$/)
  })

  it("takes its lease on the kernel's clock, also from a time namespace", async () => {
    // A monitor whose CLOCK_MONOTONIC runs a day ahead must not hold a lease for a day.
    const monitor = await started([], ['unshare', '--time', '--monotonic', '86400', '--fork', '--kill-child'])
    const left = lease() - process.hrtime.bigint()
    assert.ok(left > 0n && left <= BigInt(MONITOR_LEASE_MS) * 1_000_000n, `${left} ns left`)
    const [pid] = readFileSync(`/proc/${monitor.child.pid}/task/${monitor.child.pid}/children`, 'utf8')
      .trim()
      .split(' ')
    process.kill(Number(pid), 'SIGTERM')
    assert.equal(await monitor.exited, 0, monitor.stderr) // unshare exits with its child's status
    assert.equal(lease(), 0n)
  })

  it('counts and shows the events a full ring buffer drops', async () => {
    const monitor = await started(['--json'])
    const count = 5000 // the ring holds about 3600
    monitor.child.kill('SIGSTOP')
    let pid: number
    try {
      pid = Number(python(cgroups.a, STORM, String(count)))
    } finally {
      monitor.child.kill('SIGCONT')
    }
    const drop = JSON.parse(
      await monitor.waitFor((l) => l.includes('"dropped":') && !l.includes('stopped'), 'a drop'),
    )
    assert.ok(drop.dropped > 0, drop.message)
    assert.match(drop.message, /events dropped \(the ring buffer was full\)/)
    assert.equal(await monitor.stop(), 0, monitor.stderr)
    const lines = monitor.lines().map((l) => JSON.parse(l))
    const shown = lines.filter((l) => l.pid === pid).length
    const summary = lines.at(-1)
    assert.ok(!lines.some((l) => 'lapsedMs' in l), 'the lease held while the monitor was stopped')
    assert.equal(shown + summary.dropped, count, summary.message)
    assert.ok(summary.dropped > 0)
  })
})
