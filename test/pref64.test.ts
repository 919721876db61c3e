// tnat64-ra, the RFC 8781 (PREF64) side of NAT64 prefix discovery: the option's bytes against
// RFC 8781 §4 worked out by hand, its command lines, and the real kernel handing PREF64 options of
// router advertisements to `listen` between two fresh namespaces joined by a veth pair.
//
// Seen on this kernel (6.18), and held by the tests below: the kernel hands the options over when
// the router lifetime is 0 (every advertisement here has 0), and while the receiver's own link-local
// address is still tentative, though not in the first moments after the link comes up; a router
// solicitation cannot be sent while that address is tentative (no source address); an option of
// length 0 makes the kernel drop the whole advertisement.
import assert from 'node:assert/strict'
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { assertRoot, isAlive, PYTHON, ROOT } from './helpers.js'

const RA = join(ROOT, 'ra', 'tnat64-ra')

function ra(args: string[]) {
  return spawnSync(RA, args, { encoding: 'utf8', timeout: 30_000 })
}

/** A bad command line: one line on stderr, nothing on stdout, status 2. */
function assertUsageError(args: string[]): void {
  const r = ra(args)
  assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`)
  assert.equal(r.stdout, '')
  assert.match(r.stderr, /^tnat64-ra: [^\n]+\n$/, `${args.join(' ')}: ${r.stderr}`)
}

describe('tnat64-ra encode: the PREF64 option of RFC 8781 §4', () => {
  // Type 38, length 2, then Scaled Lifetime (1800 / 8 = 225) << 3 | PLC = 0x0708 | PLC, then the
  // 12 highest bytes of the prefix. PLC: /96 0, /64 1, /56 2, /48 3, /40 4, /32 5.
  const byLength: [string, string][] = [
    ['2001:db8::/32', '26020' + '70d' + '20010db8' + '0000000000000000'],
    ['2001:db8:100::/40', '26020' + '70c' + '20010db8' + '0100000000000000'],
    ['2001:db8:122::/48', '26020' + '70b' + '20010db8' + '0122000000000000'],
    ['2001:db8:122:300::/56', '26020' + '70a' + '20010db8' + '0122030000000000'],
    ['2001:db8:122:344::/64', '26020' + '709' + '20010db8' + '0122034400000000'],
    ['2001:db8:64::/96', '26020' + '708' + '20010db8' + '0064000000000000'],
  ]
  for (const [prefix, hex] of byLength) {
    it(`${prefix}, lifetime 1800 (the default): ${hex}`, () => {
      for (const args of [
        ['--prefix', prefix],
        ['--prefix', prefix, '--lifetime', '1800'],
        [`--prefix=${prefix}`],
      ]) {
        const r = ra(['encode', ...args])
        assert.equal(r.status, 0, r.stderr)
        assert.equal(r.stdout, `${hex}\n`)
      }
    })
  }

  // §4.1: rounded up to a multiple of 8 (1-7 s must not become 0, a withdrawal), at most 65528.
  const byLifetime: [string, string, string][] = [
    ['64:ff9b::/96', '0', '0000'],
    ['64:ff9b::/96', '1', '0008'],
    ['64:ff9b::/96', '7', '0008'],
    ['64:ff9b::/96', '8', '0008'],
    ['64:ff9b::/96', '9', '0010'],
    ['64:ff9b::/96', '65520', 'fff0'],
    ['64:ff9b::/96', '65521', 'fff8'],
    ['64:ff9b::/96', '65528', 'fff8'],
    ['64:ff9b::/96', '65529', 'fff8'],
    ['64:ff9b::/96', '65535', 'fff8'],
    ['2001:db8::/32', '65535', 'fffd'],
  ]
  for (const [prefix, lifetime, field] of byLifetime) {
    it(`${prefix}, lifetime ${lifetime}: the 16-bit field is ${field}`, () => {
      const r = ra(['encode', '--prefix', prefix, '--lifetime', lifetime])
      assert.equal(r.status, 0, r.stderr)
      const bytes = prefix === '2001:db8::/32' ? '20010db80000000000000000' : '0064ff9b0000000000000000'
      assert.equal(r.stdout, `2602${field}${bytes}\n`)
    })
  }

  const bad = [
    ['--prefix', '2001:db8::/33'],
    ['--prefix', '2001:db8::/128'],
    ['--prefix', '2001:db8::1/96'],
    ['--prefix', '2001:db8:0:0:ff00::/96'],
    ['--prefix', 'fe80::/64'],
    ['--prefix', '192.0.2.0/24'],
    ['--prefix', 'nonsense'],
    ['--prefix', '64:ff9b::/96\nsecond line'],
    ['--prefix', '64:ff9b::/96', '--lifetime', '-1'],
    ['--prefix', '64:ff9b::/96', '--lifetime', '70000'],
    ['--prefix', '64:ff9b::/96', '--lifetime', '65536'],
    ['--prefix', '64:ff9b::/96', '--lifetime', '1.5'],
    ['--prefix', '64:ff9b::/96', '--lifetime', ''],
    ['--prefix', '64:ff9b::/96', '--lifetime'],
    ['--prefix', '64:ff9b::/96', '--prefix', '2001:db8::/32'],
    ['--prefix'],
    ['--lifetime', '1800'],
    [],
    ['--prefix', '64:ff9b::/96', '--frobnicate'],
    ['--prefix', '64:ff9b::/96', 'extra'],
  ]
  for (const args of bad) {
    it(`refuses encode ${args.join(' ') || '(nothing)'}: one line, status 2`, () =>
      assertUsageError(['encode', ...args]))
  }
})

describe('tnat64-ra command lines', () => {
  const bad = [
    [],
    ['frobnicate'],
    ['listen', '--frobnicate'],
    ['listen', 'extra'],
    ['listen', '--for'],
    ['listen', '--for', 'abc'],
    ['listen', '--for', '-1'],
    ['listen', '--for', 'nan'],
    ['listen', '--for', 'inf'],
    ['listen', '--for', '1\n2'],
    ['listen', '--solicit'],
    ['listen', '--solicit', ''],
    ['listen', '--solicit', 'a-name-too-long-0'],
    ['advertise'],
    ['advertise', '--prefix', '64:ff9b::/96'],
    ['advertise', '--interface', 'eth0', '--interface', 'eth1'],
    ['advertise', '--interface', 'eth0', '--lifetime', '60'],
    ['advertise', '--interface', 'eth0', '--prefix', '64:ff9b::/96', '--lifetime', '60', '--lifetime', '70'],
    ['advertise', '--interface', 'eth0', '--prefix', '64:ff9b::/97'],
    ['advertise', '--interface', 'eth0', '--option', 'abc'],
    ['advertise', '--interface', 'eth0', '--option', 'zz'],
    ['advertise', '--interface', 'eth0', '--option', ''],
    ['advertise', '--interface', 'eth0', '--option', '00'.repeat(1240)],
    ['advertise', '--interface', 'eth0', '--every', '0'],
    ['advertise', '--interface', 'eth0', '--every', '-5'],
    ['advertise', '--interface', 'eth0', '--frobnicate'],
  ]
  for (const args of bad) {
    it(`refuses ${args.join(' ').slice(0, 80) || '(nothing)'}: one line, status 2`, () =>
      assertUsageError(args))
  }

  it('describes each command with --help', () => {
    for (const args of [['--help'], ['listen', '--help'], ['advertise', '--help'], ['encode', '--help']]) {
      const r = ra(args)
      assert.equal(r.status, 0, r.stderr)
      assert.match(r.stdout, /^Usage: tnat64-ra /)
    }
  })

  it('listen --for ends by itself, and SIGTERM ends listen with status 0', async () => {
    const r = ra(['listen', '--for', '0.2'])
    assert.equal(r.status, 0, r.stderr)
    assert.equal(r.stdout, '{"event":"ready"}\n')
    const child = spawn(RA, ['listen'], { stdio: ['ignore', 'pipe', 'pipe'] })
    await new Promise((resolve) => child.stdout.once('data', resolve))
    child.kill('SIGTERM')
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      child.on('exit', (c, s) => resolve([c, s])),
    )
    assert.deepEqual([code, signal], [0, null])
  })
})

// ---- against the kernel --------------------------------------------------------------------------

const TAG = 't64ra'
const ROUTER_NS = `${TAG}-${process.pid}-rtr`
const HOST_NS = `${TAG}-${process.pid}-host`
const nsPath = (ns: string) => join('/run/netns', ns)
const children = new Set<ChildProcess>()

/** Ends what runs in a namespace of this file's (none but ours), then deletes it. */
function removeNamespace(ns: string): void {
  const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout ?? ''
  for (const pid of pids.split('\n').filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL')
    } catch {
      // gone already
    }
  }
  spawnSync('ip', ['netns', 'del', ns])
}

function run(command: string, args: string[]) {
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: 30_000 })
  assert.equal(r.status, 0, `${command} ${args.join(' ')}: ${r.stderr}`)
  return r.stdout
}

const inNs = (ns: string, argv: string[]) => ['nsenter', `--net=${nsPath(ns)}`, ...argv]

function inNsSync(ns: string, argv: string[]) {
  const [command, ...args] = inNs(ns, argv)
  return spawnSync(command, args, { encoding: 'utf8', timeout: 30_000 })
}

interface Address {
  local: string
  scope: string
  tentative?: boolean
}

function linkLocal(ns: string, dev: string): Address | undefined {
  const [link] = JSON.parse(run('ip', ['-n', ns, '-j', '-6', 'addr', 'show', 'dev', dev]))
  return (link?.addr_info as Address[] | undefined)?.find((a) => a.scope === 'link')
}

/** Waits for a condition, checked every 20 ms, for up to `ms`. */
async function waitFor(what: string, ms: number, condition: () => boolean, detail = () => ''): Promise<void> {
  const deadline = Date.now() + ms
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`waiting for ${what}: ${detail()}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Both ends' link-local addresses done with duplicate address detection (about 1-2 s after up). */
async function settled(): Promise<void> {
  const done = (ns: string, dev: string) => {
    const a = linkLocal(ns, dev)
    return a !== undefined && !a.tentative
  }
  await waitFor(
    'the link-local addresses to leave DAD',
    10_000,
    () => done(ROUTER_NS, 'rtr0') && done(HOST_NS, 'host0'),
  )
}

type RaEvent = Record<string, unknown>

/** `tnat64-ra listen` in the host namespace, its JSON lines parsed as they come. */
class Listener {
  readonly child: ChildProcess
  readonly events: RaEvent[] = []
  stderr = ''
  status: number | null | undefined
  private partial = ''
  readonly exited: Promise<number | null>

  constructor(...args: string[]) {
    const [command, ...rest] = inNs(HOST_NS, [RA, 'listen', ...args])
    this.child = spawn(command, rest, { stdio: ['ignore', 'pipe', 'pipe'] })
    children.add(this.child)
    this.child.stdout?.setEncoding('utf8').on('data', (text: string) => {
      const lines = (this.partial + text).split('\n')
      this.partial = lines.pop() ?? ''
      for (const line of lines) {
        try {
          this.events.push(JSON.parse(line))
        } catch {
          this.events.push({ event: 'not JSON', line })
        }
      }
    })
    this.child.stderr?.setEncoding('utf8').on('data', (text: string) => {
      this.stderr += text
    })
    this.exited = new Promise((resolve) =>
      this.child.on('exit', (code) => {
        children.delete(this.child)
        this.status = code
        resolve(code)
      }),
    )
  }

  of(kind: string): RaEvent[] {
    return this.events.filter((e) => e.event === kind)
  }

  async until(what: string, condition: () => boolean, ms = 10_000): Promise<void> {
    await waitFor(
      what,
      ms,
      () => condition() || this.status !== undefined,
      () => this.show(),
    )
    assert.ok(condition(), `waiting for ${what}, listen ended: ${this.show()}`)
  }

  ready(): Promise<void> {
    return this.until('ready', () => this.events.length > 0).then(() =>
      assert.deepEqual(this.events[0], { event: 'ready' }),
    )
  }

  async stop(): Promise<void> {
    this.child.kill('SIGTERM')
    assert.equal(await this.exited, 0, this.stderr)
  }

  show(): string {
    return `${JSON.stringify(this.events)} ${this.stderr}`
  }
}

function advertise(...args: string[]): void {
  const r = inNsSync(ROUTER_NS, [RA, 'advertise', '--interface', 'rtr0', ...args])
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stderr, '')
}

/** Sends an RA with a marker prefix and waits for it: whatever an RA sent before left is there. */
async function drain(listener: Listener): Promise<RaEvent[]> {
  const marker = '2001:db8:ffff::/48'
  advertise('--prefix', marker)
  await listener.until(marker, () => listener.events.some((e) => e.prefix === marker))
  return listener.events.slice(
    1,
    listener.events.findIndex((e) => e.prefix === marker),
  )
}

describe('tnat64-ra against the kernel: two namespaces, a veth pair', () => {
  let router: string // the sender's link-local address
  let ifindex: number // the receiver's interface
  const pref64 = (prefix: string, length: number, lifetime: number) => ({
    event: 'pref64',
    prefix,
    length,
    lifetime,
    router,
    interface: 'host0',
    ifindex,
  })
  const invalid = (reason: string) => ({ event: 'invalid', router, interface: 'host0', ifindex, reason })

  before(async () => {
    assertRoot()
    // Namespaces left by test runs that died.
    for (const ns of existsSync('/run/netns') ? readdirSync('/run/netns') : []) {
      const owner = new RegExp(`^${TAG}-(\\d+)-(rtr|host)$`).exec(ns)
      if (owner && !isAlive(Number(owner[1]))) removeNamespace(ns)
    }
    run('ip', ['netns', 'add', ROUTER_NS])
    run('ip', ['netns', 'add', HOST_NS])
    run('ip', [
      '-n',
      ROUTER_NS,
      'link',
      'add',
      'rtr0',
      'type',
      'veth',
      'peer',
      'name',
      'host0',
      'netns',
      HOST_NS,
    ])
    // A new namespace starts with accept_ra 1 and forwarding 0 (not the host's values): set anyway,
    // for these are what make the kernel take advertisements at all.
    for (const setting of ['accept_ra=1', 'forwarding=0']) {
      assert.equal(inNsSync(HOST_NS, ['sysctl', '-qw', `net.ipv6.conf.host0.${setting}`]).status, 0)
    }
    run('ip', ['-n', ROUTER_NS, 'link', 'set', 'rtr0', 'up'])
    run('ip', ['-n', HOST_NS, 'link', 'set', 'host0', 'up'])
    await settled()
    router = linkLocal(ROUTER_NS, 'rtr0')?.local ?? ''
    ifindex = JSON.parse(run('ip', ['-n', HOST_NS, '-j', 'link', 'show', 'dev', 'host0']))[0].ifindex
  })

  after(() => {
    for (const child of children) child.kill('SIGKILL')
    for (const ns of [ROUTER_NS, HOST_NS]) {
      if (existsSync(nsPath(ns))) removeNamespace(ns)
    }
  })

  it('hands over a PREF64 option of every prefix length, from the router link-local address', async () => {
    await settled()
    const listener = new Listener()
    await listener.ready()
    advertise(
      ...['--prefix', '2001:db8::/32', '--lifetime', '65535'],
      ...['--prefix', '2001:db8:100::/40', '--lifetime', '1'],
      ...['--prefix', '2001:db8:122::/48'],
      ...['--prefix', '2001:db8:122:300::/56', '--lifetime', '600'],
      ...['--prefix', '2001:db8:122:344::/64', '--lifetime', '3601'],
      ...['--prefix', '64:ff9b::/96', '--lifetime', '65528'],
    )
    await listener.until('six pref64 lines', () => listener.events.length >= 7)
    await listener.stop()
    assert.deepEqual(listener.events.slice(1), [
      pref64('2001:db8::/32', 32, 65528),
      pref64('2001:db8:100::/40', 40, 8),
      pref64('2001:db8:122::/48', 48, 1800),
      pref64('2001:db8:122:300::/56', 56, 600),
      pref64('2001:db8:122:344::/64', 64, 3608),
      pref64('64:ff9b::/96', 96, 65528),
    ])
    // Router lifetime 0: the host took the options but no default route.
    assert.equal(run('ip', ['-n', HOST_NS, '-6', 'route', 'show', 'default']), '')
  })

  it('hands over lifetime 0 (the prefix withdrawn) as 0', async () => {
    await settled()
    const listener = new Listener()
    await listener.ready()
    advertise('--prefix', '2001:db8:64::/96', '--lifetime', '0')
    await listener.until('pref64', () => listener.of('pref64').length > 0)
    await listener.stop()
    assert.deepEqual(listener.events.slice(1), [pref64('2001:db8:64::/96', 96, 0)])
  })

  it('reports malformed PREF64 options as invalid, in order, while good ones in the same RA arrive', async () => {
    await settled()
    const listener = new Listener()
    await listener.ready()
    advertise(
      ...['--option', '2602070e20010db80000000000000000'], // PLC 6
      ...['--prefix', '2001:db8:64::/96'],
      ...['--option', '2602070d20010db80000000100000000'], // /32 with bit 95 set
      ...['--option', '2603070820010db8'.padEnd(48, '0')], // length 3
      ...['--option', '190300000000e10020014860000000000000000000008888'], // RDNSS: not ours
      ...['--option', '2602070f0064ff9b0000000000000000'], // PLC 7
    )
    const events = await drain(listener)
    await listener.stop()
    assert.deepEqual(events, [
      invalid('invalid prefix length code 6'),
      pref64('2001:db8:64::/96', 96, 1800),
      invalid('bits set beyond the /32 prefix'),
      invalid('length field is not 2 (16 bytes)'),
      invalid('invalid prefix length code 7'),
    ])
  })

  it('gets nothing of an RA with an option of length 0: the kernel drops it whole', async () => {
    await settled()
    const listener = new Listener()
    await listener.ready()
    advertise('--prefix', '2001:db8:64::/96', '--option', '2600000000000000')
    assert.deepEqual(await drain(listener), [])
    await listener.stop()
  })

  it('reads no further than a netlink message says, nor its options further than their length', async () => {
    // Root may send to the kernel's multicast group: these messages lie about their lengths, then
    // one good message follows in the same datagram as one that claims more than was sent.
    const script = `
import socket, struct
def message(opts, opts_len=None, nl_len=None, icmp_type=134, source=None):
    body = struct.pack("=BBHiBBHI", socket.AF_INET6, 0, len(opts) if opts_len is None else opts_len,
                       999, icmp_type, 0, 0, 0) + opts
    body += bytes(-len(body) % 4)
    if source:
        body += struct.pack("=HH", 20, 1) + socket.inet_pton(socket.AF_INET6, source)
    return struct.pack("=IHHII", 16 + len(body) if nl_len is None else nl_len, 68, 0, 0, 0) + body
good = bytes.fromhex("2602070820010db80064000000000000")
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
for m in [message(good, opts_len=4000), message(good, opts_len=17), message(good, nl_len=20),
          message(good, nl_len=40), message(good[:8], opts_len=8), message(bytes([38, 3]) + good[2:]),
          message(good, icmp_type=133), message(bytes([38, 0]) + good[2:]),
          message(good, source="fe80::1") + message(good, nl_len=400)]:
    s.sendto(m, (0, 1 << (20 - 1)))  # RTNLGRP_ND_USEROPT
`
    const listener = new Listener()
    await listener.ready()
    const r = inNsSync(HOST_NS, [PYTHON, '-c', script])
    assert.equal(r.status, 0, r.stderr)
    await listener.until('pref64', () => listener.of('pref64').length > 0)
    const events = await drain(listener)
    await listener.stop()
    assert.deepEqual(events, [
      {
        event: 'pref64',
        prefix: '2001:db8:64::/96',
        length: 96,
        lifetime: 1800,
        router: 'fe80::1',
        interface: null,
        ifindex: 999,
      },
    ])
  })

  it('--solicit: advertise --every 30 answers the solicitation at once', async () => {
    await settled()
    // The first RA of advertise --every, seen, so that the next one can only be an answer.
    const first = new Listener()
    await first.ready()
    const [command, ...args] = inNs(ROUTER_NS, [
      RA,
      'advertise',
      '--interface',
      'rtr0',
      '--prefix',
      '64:ff9b::/96',
      '--every',
      '30',
    ])
    const advertiser = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] })
    children.add(advertiser)
    let advertiserErr = ''
    advertiser.stderr?.setEncoding('utf8').on('data', (t: string) => {
      advertiserErr += t
    })
    const advertiserExit = new Promise<number | null>((resolve) => advertiser.on('exit', resolve))
    await first.until('the first RA', () => first.of('pref64').length > 0)
    await first.stop()

    // Ended by --for 3, long before the next RA of --every 30.
    const soliciting = new Listener('--solicit', 'host0', '--for', '3')
    assert.equal(await soliciting.exited, 0, soliciting.stderr)
    assert.deepEqual(soliciting.events, [
      { event: 'ready' },
      { event: 'solicit', interface: 'host0', error: null },
      pref64('64:ff9b::/96', 96, 1800),
    ])
    advertiser.kill('SIGTERM')
    assert.equal(await advertiserExit, 0, advertiserErr)
    children.delete(advertiser)
    assert.equal(advertiserErr, '')
  })

  it('--solicit reports what keeps a solicitation from going out, and listens on', async () => {
    const listener = new Listener('--solicit', 'nosuch0', '--for', '0.5')
    assert.equal(await listener.exited, 0, listener.stderr)
    assert.deepEqual(listener.events, [
      { event: 'ready' },
      { event: 'solicit', interface: 'nosuch0', error: 'No such device' },
    ])
    const r = inNsSync(HOST_NS, [
      ...['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'],
      ...[RA, 'listen', '--solicit', 'host0', '--for', '0.5'],
    ])
    assert.equal(r.status, 0, r.stderr)
    assert.equal(
      r.stdout,
      '{"event":"ready"}\n{"event":"solicit","interface":"host0","error":"Operation not permitted"}\n',
    )
  })

  it('advertise waits for its link-local address to finish DAD', async () => {
    await settled()
    const listener = new Listener()
    await listener.ready()
    run('ip', ['-n', ROUTER_NS, 'link', 'set', 'rtr0', 'down'])
    run('ip', ['-n', ROUTER_NS, 'link', 'set', 'rtr0', 'up'])
    assert.equal(linkLocal(ROUTER_NS, 'rtr0')?.tentative, true)
    advertise('--prefix', '2001:db8:64::/96')
    assert.equal(linkLocal(ROUTER_NS, 'rtr0')?.tentative, undefined)
    await listener.until('pref64', () => listener.of('pref64').length > 0)
    await listener.stop()
    assert.deepEqual(listener.events.slice(1), [pref64('2001:db8:64::/96', 96, 1800)])
  })

  it('the kernel takes an RA while the receiver link-local address is still tentative', async () => {
    await settled()
    const sysctl = (value: number) =>
      assert.equal(
        inNsSync(HOST_NS, ['sysctl', '-qw', `net.ipv6.conf.host0.dad_transmits=${value}`]).status,
        0,
      )
    try {
      sysctl(30) // 30 s of DAD
      run('ip', ['-n', HOST_NS, 'link', 'set', 'host0', 'down'])
      run('ip', ['-n', HOST_NS, 'link', 'set', 'host0', 'up'])
      // Until the kernel has IPv6 up on the link (up to a second, after its link watcher), it drops
      // RAs as having no route (Ip6InNoRoutes); the sign that it has: the solicited-node group of
      // the link-local address joined.
      await waitFor('the solicited-node group', 5000, () =>
        /ff02::1:ff/.test(run('ip', ['-n', HOST_NS, '-6', 'maddr', 'show', 'dev', 'host0'])),
      )
      const listener = new Listener('--solicit', 'host0')
      await listener.ready()
      advertise('--prefix', '2001:db8:64::/96') // waits for rtr0's DAD, which the flap restarted
      await listener.until('pref64', () => listener.of('pref64').length > 0)
      assert.equal(linkLocal(HOST_NS, 'host0')?.tentative, true)
      await listener.stop()
      assert.deepEqual(listener.events, [
        { event: 'ready' },
        {
          event: 'solicit',
          interface: 'host0',
          error:
            'no source address: the link-local address of the interface is missing or still tentative (DAD)',
        },
        pref64('2001:db8:64::/96', 96, 1800),
      ])
    } finally {
      sysctl(1)
      run('ip', ['-n', HOST_NS, 'link', 'set', 'host0', 'down'])
      run('ip', ['-n', HOST_NS, 'link', 'set', 'host0', 'up'])
    }
    await settled()
  })

  it('advertise says in one line when the interface never runs, or does not exist', () => {
    run('ip', ['-n', ROUTER_NS, 'link', 'add', 'lone0', 'type', 'veth', 'peer', 'name', 'lone1'])
    run('ip', ['-n', ROUTER_NS, 'link', 'set', 'lone0', 'up']) // its peer down: no carrier
    const r = inNsSync(ROUTER_NS, [RA, 'advertise', '--interface', 'lone0', '--prefix', '64:ff9b::/96'])
    assert.equal(r.status, 1)
    assert.equal(
      r.stderr,
      'tnat64-ra: advertise: lone0 is not running after 5 s (is it up, with a carrier?)\n',
    )
    const missing = inNsSync(ROUTER_NS, [RA, 'advertise', '--interface', 'nosuch0'])
    assert.equal(missing.status, 1)
    assert.match(missing.stderr, /^tnat64-ra: advertise: no interface nosuch0 here: [^\n]+\n$/)
  })

  it('advertise says in one line that it needs root', () => {
    const r = inNsSync(ROUTER_NS, [
      ...['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'],
      ...[RA, 'advertise', '--interface', 'rtr0', '--prefix', '64:ff9b::/96'],
    ])
    assert.equal(r.status, 1)
    assert.match(
      r.stderr,
      /^tnat64-ra: advertise: needs root \(a raw ICMPv6 socket, CAP_NET_RAW\): [^\n]+\n$/,
    )
  })
})
