// Kernel mode in the lab: dual-stack programs with no LD_PRELOAD, in an attached cgroup, reach the
// IPv4-only server from the IPv6-only client through tayga; others are untouched; a program is
// never told a stale peer; each cgroup keeps its own rules; pins, locks and upgrades hold against
// other users and other administrators; nothing is left behind.
import assert from 'node:assert/strict'
import { type ChildProcess, type SpawnSyncReturns, spawn, spawnSync } from 'node:child_process'
import {
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'
import { after, before, beforeEach, describe, it } from 'node:test'
import { formatIPv6, parseIPv4, parseIPv6 } from '../src/lib/address.js'
import { CGROUP_VARIABLE, LAYOUTS, MAPS, REVERSE_SLOTS } from '../src/lib/bpf/layout.js'
import { BpfError, LoadedObject } from '../src/lib/bpf/libbpf.js'
import { parseConfig, resolve } from '../src/lib/config.js'
import { WELL_KNOWN_PREFIX } from '../src/lib/defaults.js'
import { RUN_DIR } from '../src/lib/dirs.js'
import { reportError } from '../src/lib/errors.js'
import { cgroup2Mount } from '../src/lib/kernel/cgroup.js'
import { BPFFS, indexKey, LINK_DIR, PIN_DIR, withMap } from '../src/lib/kernel/pins.js'
import { cgroupsWithRules } from '../src/lib/kernel/rules.js'
import { LAB, Lab } from '../src/lib/lab.js'
import { BPF_OBJECT, DEMO_JAVA_CLIENT, TNAT64_CLI } from '../src/lib/paths.js'
import { parsePrefix, synthesize } from '../src/lib/rfc6052.js'
import {
  assertRoot,
  clientCli,
  configFixtures,
  freshLabName,
  ok,
  PYTHON,
  ROOT,
  rfc6052Vectors,
} from './helpers.js'

const JAVA_CLIENT = DEMO_JAVA_CLIENT
const MAPPED = `::ffff:${LAB.serverIPv4}`
const VIA_NAT64 = /hello 192\.0\.2\.(1[3-9]\d|2[0-5]\d) port \d+/
const VIA_IPV4 = /hello 203\.0\.113\.2 port \d+/
const OTHER_PREFIX = '2001:db8:99::/96'

let lab: Lab
const cgroups: string[] = []

/** A fresh cgroup of this test run (below `parent`, when given); removed in after(). */
function makeCgroup(tag: string, parent?: string): string {
  const name = parent ? `${parent}/${tag}` : `t64-${tag}-${process.pid}`
  mkdirSync(join(cgroup2Mount(), name))
  cgroups.unshift(name) // children first when removing
  return name
}

function removeCgroupDir(name: string): void {
  const path = join(cgroup2Mount(), name)
  if (!existsSync(path)) return
  for (const pid of readFileSync(join(path, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean))
    spawnSync('kill', ['-9', pid])
  for (let i = 0; i < 50; i++) {
    try {
      rmdirSync(path)
      return
    } catch {
      spawnSync('sleep', ['0.1'])
    }
  }
}

/** The shell words that run argv in a cgroup and in the lab client's network namespace (the
 * cgroup is joined first: `ip netns exec` would remount /sys and hide it). */
function inCgroupArgv(cgroup: string | undefined, argv: string[]): string[] {
  const enter = cgroup ? `echo $$ > ${join(cgroup2Mount(), cgroup, 'cgroup.procs')} && ` : ''
  return ['sh', '-c', `${enter}exec nsenter --net=${lab.nsPath('client')} "$@"`, 'sh', ...argv]
}

function inCgroup(cgroup: string | undefined, argv: string[]): SpawnSyncReturns<string> {
  const [cmd, ...args] = inCgroupArgv(cgroup, argv)
  return spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000 })
}

const cli = (args: string[]) => clientCli(lab, args)

/** A failure the way the CLI must fail: the exit code and exactly one line on stderr. */
function failsWith(r: SpawnSyncReturns<string>, code: number, pattern: RegExp): void {
  assert.equal(r.status, code, `${r.stdout}${r.stderr}`)
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
  assert.match(r.stderr, pattern)
}

function python(cgroup: string | undefined, script: string, ...args: string[]): SpawnSyncReturns<string> {
  return inCgroup(cgroup, [PYTHON, '-c', script, ...args])
}

const TCP_CLIENT = `
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM); s.settimeout(5)
if len(sys.argv) > 3: s.bind((sys.argv[3], 0))
s.connect((sys.argv[1], int(sys.argv[2])))
s.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
data = b""
while True:
    b = s.recv(4096)
    if not b: break
    data += b
print(s.getpeername()[0])
print(data.decode().split("\\r\\n\\r\\n", 1)[1].strip())
`

const UDP_CLIENT = `
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.settimeout(5)
s.connect((sys.argv[1], int(sys.argv[2])))
s.send(b"ping")
data, peer = s.recvfrom(100)
print(data.decode(), peer[0], s.getpeername()[0])
`

/** An echo connection held open until told, then used once: its answer and its peer. */
const ECHO_HOLDER = `
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM); s.settimeout(5)
s.connect(("${MAPPED}", ${LAB.echoPort}))
print("ready", flush=True)
sys.stdin.readline()
s.sendall(b"still here"); print(s.recv(100).decode(), s.getpeername()[0], flush=True)
`

/** Where the kernel really connected a UDP socket (the remote address in /proc/net/udp6), or the
 * error connect() gave. */
const KERNEL_PEER = `
import socket, sys, ipaddress
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
try:
    s.connect((sys.argv[1], 9))
except OSError as e:
    print("error", e.errno); sys.exit(0)
port = "%04X" % s.getsockname()[1]
for line in open("/proc/net/udp6").readlines()[1:]:
    local, remote = line.split()[1:3]
    if local.endswith(":" + port):
        raw = bytes.fromhex(remote.split(":")[0])
        words = b"".join(raw[i:i+4][::-1] for i in range(0, 16, 4))
        print(ipaddress.IPv6Address(words).compressed)
`

const canonical = (text: string) => (text.startsWith('error') ? text : formatIPv6(parseIPv6(text)))

function kernelPeer(cgroup: string | undefined, address: string): string {
  return canonical(ok(python(cgroup, KERNEL_PEER, address)).stdout.trim())
}

function nat64Of(ipv4: string, prefix: string = LAB.nat64Prefix): string {
  return formatIPv6(synthesize(parseIPv4(ipv4), parsePrefix(prefix)))
}

function tcp(cgroup: string | undefined, address: string, port: number = LAB.httpPort, bind?: string) {
  return python(cgroup, TCP_CLIENT, address, String(port), ...(bind ? [bind] : []))
}

interface BpftoolLink {
  id: number
  prog_id: number
  cgroup_id?: number
}

function ourPrograms(): Set<number> {
  const progs = JSON.parse(
    spawnSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8' }).stdout || '[]',
  ) as {
    id: number
    name: string
  }[]
  return new Set(progs.filter((p) => p.name.startsWith('tnat64_')).map((p) => p.id))
}

function ourLinks(): BpftoolLink[] {
  const links = JSON.parse(
    spawnSync('bpftool', ['-j', 'link', 'show'], { encoding: 'utf8' }).stdout || '[]',
  ) as BpftoolLink[]
  const ours = ourPrograms()
  return links.filter((l) => ours.has(l.prog_id))
}

async function nothingOfOursInTheKernel(): Promise<void> {
  // Programs and maps are freed shortly after their last reference goes (RCU): allow a moment.
  for (let i = 0; i < 50; i++) {
    const maps = spawnSync('bpftool', ['-j', 'map', 'show'], { encoding: 'utf8' }).stdout
    if (!maps.includes('"tnat64_') && ourLinks().length === 0) break
    await new Promise((r) => setTimeout(r, 100))
  }
  assert.deepEqual(ourLinks(), [])
  assert.doesNotMatch(spawnSync('bpftool', ['-j', 'map', 'show'], { encoding: 'utf8' }).stdout, /"tnat64_/)
  assert.equal(existsSync(PIN_DIR), false)
}

function cgroupId(name: string): bigint {
  return statSync(join(cgroup2Mount(), name), { bigint: true }).ino
}

/** Default routes in the client: every prefix reachable, and IPv4 destinations routable (a UDP
 * connect only looks the route up: nothing is sent). */
function setDefaultRoutes(on: boolean): void {
  const client = lab.ns('client')
  if (on) {
    ok(
      spawnSync('ip', ['-n', client, '-6', 'route', 'replace', 'default', 'via', LAB.routerIPv6], {
        encoding: 'utf8',
      }),
    )
    ok(
      spawnSync('ip', ['-n', client, 'route', 'replace', 'default', 'via', LAB.routerDirectIPv4], {
        encoding: 'utf8',
      }),
    )
  } else {
    spawnSync('ip', ['-n', client, '-6', 'route', 'del', 'default'])
    spawnSync('ip', ['-n', client, 'route', 'del', 'default'])
  }
}

function attachCli(cgroup: string, ...args: string[]) {
  return ok(cli(['attach', '--cgroup', cgroup, ...args]))
}

function counters(): Record<string, number> {
  return JSON.parse(ok(cli(['status', '--json'])).stdout).counters
}

/** A background program in a cgroup, that prints `ready` once set up and ends when told. */
class Holder {
  private readonly child: ChildProcess
  output = ''

  constructor(cgroup: string, script: string, ...args: string[]) {
    const [cmd, ...rest] = inCgroupArgv(cgroup, [PYTHON, '-c', script, ...args])
    this.child = spawn(cmd, rest)
    this.child.stdout?.on('data', (b) => {
      this.output += b
    })
  }

  /** Waits for a whole line that starts with `text` (a pipe may hand over part of a line first). */
  async waitFor(text: string): Promise<void> {
    const line = () =>
      this.output
        .split('\n')
        .slice(0, -1)
        .some((l) => l.startsWith(text))
    for (let i = 0; i < 200 && !line(); i++) await new Promise((r) => setTimeout(r, 50))
    assert.ok(line(), `waiting for ${text}: ${this.output}`)
  }

  async finish(): Promise<string> {
    this.child.stdin?.end('go\n')
    await new Promise((r) => this.child.on('exit', r))
    return this.output
  }
}

before(async () => {
  assertRoot()
  assert.equal(
    existsSync(PIN_DIR),
    false,
    `${PIN_DIR} exists: kernel mode is in use here (tnat64 detach --all)`,
  )
  lab = new Lab(await freshLabName('kern'))
  await lab.up()
})

after(() => {
  spawnSync(TNAT64_CLI, ['detach', '--all'])
  for (const name of cgroups) removeCgroupDir(name)
  lab?.down()
})

beforeEach(() => {
  lab.setNat64Route(true)
  lab.setRouterNat64(true)
  lab.setDirectIPv4(false)
})

describe('kernel mode: attached cgroup', () => {
  let cgroup: string

  before(() => {
    cgroup = makeCgroup('kern')
    const r = attachCli(cgroup, '--prefix', LAB.nat64Prefix, '--json')
    assert.equal(JSON.parse(r.stdout).newlyAttached, true)
  })

  it('python: an AF_INET6 socket to the mapped address goes through NAT64 and reports the mapped peer', () => {
    const [peer, body] = ok(tcp(cgroup, MAPPED)).stdout.trim().split('\n')
    assert.equal(peer, MAPPED)
    assert.match(body, VIA_NAT64)
  })

  it('Java (dual-stack sockets, no preload) fetches the page', () => {
    const r = ok(inCgroup(cgroup, ['java', JAVA_CLIENT, `http://${LAB.serverIPv4}:${LAB.httpPort}/`]))
    assert.match(r.stdout, VIA_NAT64)
    assert.match(r.stdout, /^peer=\/198\.51\.100\.10:8000$/m)
  })

  it('connected UDP works and reports the mapped peer, on recvfrom and getpeername', () => {
    const r = ok(python(cgroup, UDP_CLIENT, MAPPED, String(LAB.echoPort)))
    assert.equal(r.stdout, `ping ${MAPPED} ${MAPPED}\n`)
  })

  it('leaves alone a process outside the cgroup, a local destination and a native IPv6 one', async () => {
    assert.notEqual(tcp(undefined, MAPPED).status, 0)
    await lab.startServer('client', '127.0.0.1', 8080, 7007)
    const local = ok(tcp(cgroup, '::ffff:127.0.0.1', 8080))
    assert.match(local.stdout, /^::ffff:127\.0\.0\.1\n.*hello 127\.0\.0\.1 /)
    const native = ok(tcp(cgroup, LAB.serverNat64))
    // A native connection to a NAT64 address keeps its real peer: only rewritten sockets are reversed.
    assert.equal(native.stdout.split('\n')[0], LAB.serverNat64)
    const c = counters()
    assert.ok(c.ipv4 >= 1)
    assert.ok(c.rewritten >= 1)
  })

  it('goes over IPv4 once refresh finds no route to the prefix, and back through NAT64 after', () => {
    lab.setNat64Route(false)
    lab.setDirectIPv4(true)
    const states = JSON.parse(ok(cli(['refresh', '--json'])).stdout)
    assert.deepEqual(states, [{ id: 0, prefix: LAB.nat64Prefix, reachable: false }])
    assert.match(ok(tcp(cgroup, MAPPED)).stdout, VIA_IPV4)
    lab.setNat64Route(true)
    ok(cli(['refresh']))
    assert.match(ok(tcp(cgroup, MAPPED)).stdout, VIA_NAT64)
  })

  it('lets app mode work inside the cgroup, fallback included', () => {
    const app = () =>
      inCgroup(cgroup, [
        TNAT64_CLI,
        'app',
        '--prefix',
        LAB.nat64Prefix,
        '--',
        'curl',
        '-sS',
        '--max-time',
        '5',
        `http://${LAB.serverIPv4}:${LAB.httpPort}/`,
      ])
    assert.match(ok(app()).stdout, VIA_NAT64)
    lab.setNat64Route(false)
    lab.setDirectIPv4(true)
    ok(cli(['refresh']))
    assert.match(ok(app()).stdout, VIA_IPV4)
    lab.setNat64Route(true)
    ok(cli(['refresh']))
  })

  it('keeps its pins 0600 under 0700 directories, out of an unprivileged user’s reach', () => {
    const walk = (dir: string): void => {
      assert.equal(statSync(dir).mode & 0o777, 0o700, dir)
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name)
        if (entry.isDirectory()) walk(path)
        else assert.equal(statSync(path).mode & 0o777, 0o600, path)
      }
    }
    walk(PIN_DIR)
    assert.equal(statSync(RUN_DIR).mode & 0o777, 0o700)
    const nobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']
    const read = spawnSync(
      nobody[0],
      [...nobody.slice(1), 'bpftool', 'map', 'dump', 'pinned', join(PIN_DIR, 'tnat64_rules')],
      {
        encoding: 'utf8',
      },
    )
    assert.notEqual(read.status, 0)
    for (const args of [['prefix', 'add', '2001:db8:bad::/96', '--all'], ['status'], ['upgrade']]) {
      const r = spawnSync(nobody[0], [...nobody.slice(1), TNAT64_CLI, ...args], { encoding: 'utf8' })
      failsWith(r, 1, /^tnat64: kernel mode needs root/)
    }
  })

  it('is idempotent, and detach leaves open connections working', async () => {
    assert.equal(
      JSON.parse(attachCli(cgroup, '--prefix', LAB.nat64Prefix, '--json').stdout).newlyAttached,
      false,
    )
    const holder = new Holder(cgroup, ECHO_HOLDER)
    await holder.waitFor('ready')
    ok(spawnSync(TNAT64_CLI, ['detach', '--cgroup', cgroup], { encoding: 'utf8' }))
    // Without the programs the open socket's peer is what the kernel connected it to.
    assert.equal(await holder.finish(), `ready\nstill here ${LAB.serverNat64}\n`)
    await nothingOfOursInTheKernel()
  })
})

describe('kernel mode: the peer is always the real one or the mapped one asked for', () => {
  let cgroup: string

  before(() => {
    cgroup = makeCgroup('peer')
    attachCli(cgroup, '--prefix', LAB.nat64Prefix)
  })

  after(() => {
    setDefaultRoutes(false)
    ok(cli(['detach', '--all']))
  })

  it('a TCP socket whose rewritten connect was refused, then connected to ::1, names ::1', () => {
    const r = ok(
      python(
        cgroup,
        `
import socket, sys
srv = socket.socket(socket.AF_INET6); srv.bind(("::1", 0)); srv.listen()
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
try:
    s.connect((sys.argv[1], 1)); print("connected")
except ConnectionRefusedError:
    print("refused")
s.connect(("::1", srv.getsockname()[1]))
print(s.getpeername()[0])
`,
        MAPPED,
      ),
    )
    assert.equal(r.stdout, 'refused\n::1\n')
  })

  it('a UDP socket disconnected with AF_UNSPEC names its new peer, and the real source of what it receives', () => {
    const r = ok(
      python(
        cgroup,
        `
import ctypes, os, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
def disconnect(s):
    unspec = (ctypes.c_ubyte * 28)()
    assert libc.connect(s.fileno(), unspec, 28) == 0
# A port of its own choosing: a socket bound to port 0 gives its port back when it disconnects.
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.settimeout(5); s.bind(("::", 40000 + os.getpid() % 20000))
s.connect((sys.argv[1], 7)); print(s.getpeername()[0])
disconnect(s)
v4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); v4.sendto(b"x", ("127.0.0.1", s.getsockname()[1]))
print(s.recvfrom(10)[1][0])
s.connect(("::1", 9)); print(s.getpeername()[0])
disconnect(s)
s.connect((sys.argv[1], 7)); print(s.getpeername()[0])
`,
        MAPPED,
      ),
    )
    assert.equal(r.stdout, `${MAPPED}\n::ffff:127.0.0.1\n::1\n${MAPPED}\n`)
  })

  it('a cgroup and its child both attached: the child’s rules apply, and the peer is the mapped address', () => {
    const child = makeCgroup('child', cgroup)
    try {
      // The parent's prefix leads nowhere: only the child's copy can have made the echo work.
      setDefaultRoutes(true)
      ok(cli(['prefix', 'add', OTHER_PREFIX, '--cgroup', cgroup]))
      attachCli(child, '--prefix', LAB.nat64Prefix)
      assert.equal(
        ok(python(child, UDP_CLIENT, MAPPED, String(LAB.echoPort))).stdout,
        `ping ${MAPPED} ${MAPPED}\n`,
      )
      assert.equal(kernelPeer(child, MAPPED), nat64Of(LAB.serverIPv4))
      assert.equal(kernelPeer(cgroup, MAPPED), nat64Of(LAB.serverIPv4, OTHER_PREFIX))
    } finally {
      setDefaultRoutes(false)
      ok(cli(['detach', '--cgroup', child]))
      ok(cli(['prefix', 'add', LAB.nat64Prefix, '--cgroup', cgroup]))
    }
  })

  it('reverses every rewritten socket, also past the reverse slots, and follows their reconnects', () => {
    // 9 000 live sockets for 8 192 slots: the later ones find their slot held and go to the
    // overflow hash; all must see the mapped peer, then their new peers, and leave nothing.
    const overflow = join(PIN_DIR, MAPS.reverseOverflow.name)
    const script = `
import socket, resource, subprocess, sys, json
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
assert hard >= 9100, f'RLIMIT_NOFILE hard limit {hard} is below the 9 100 this test needs'
socks = []
for i in range(9000):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.connect((sys.argv[1], 9)); socks.append(s)
held = len(json.loads(subprocess.run(["bpftool", "-j", "map", "dump", "pinned", sys.argv[2]], capture_output=True).stdout))
wrong = sum(1 for s in socks if s.getpeername()[:2] != (sys.argv[1], 9))
for s in socks: s.connect((sys.argv[1], 10))
moved = sum(1 for s in socks if s.getpeername()[:2] != (sys.argv[1], 10))
for s in socks: s.connect(("::1", 9))
native = sum(1 for s in socks if s.getpeername()[0] != "::1")
print(len(socks), held, wrong, moved, native)
`
    const r = ok(python(cgroup, script, MAPPED, overflow))
    const [count, held, wrong, moved, native] = r.stdout.trim().split(' ').map(Number)
    assert.deepEqual([count, wrong, moved, native], [9000, 0, 0, 0])
    assert.ok(held >= 9000 - REVERSE_SLOTS, `overflow held ${held}`)
    const left = JSON.parse(
      spawnSync('bpftool', ['-j', 'map', 'dump', 'pinned', overflow], { encoding: 'utf8' }).stdout,
    )
    assert.deepEqual(left, [])
  })

  it('frees the records of a detached cgroup’s sockets, which its sock_release no longer sees', async () => {
    const other = makeCgroup('freed')
    attachCli(other, '--prefix', LAB.nat64Prefix)
    const recordsOf = (id: bigint) =>
      withMap(MAPS.reverse, (map) => {
        let n = 0
        for (let i = 0; i < REVERSE_SLOTS; i++) {
          const slot = map.lookup(indexKey(i)) as Buffer
          const owner = slot.readBigUInt64LE(
            LAYOUTS.reverse_slot.fields.record + LAYOUTS.reverse_record.fields.cgroup,
          )
          if (slot.readBigUInt64LE(0) !== 0n && owner === id) n++
        }
        return n
      })
    const script = `
import socket, sys
socks = [socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) for i in range(20)]
for s in socks: s.connect(("${MAPPED}", 9))
print("ready", flush=True)
sys.stdin.readline()
`
    const holder = new Holder(other, script)
    const bystander = new Holder(cgroup, script) // an attached cgroup that stays
    await holder.waitFor('ready')
    await bystander.waitFor('ready')
    assert.equal(recordsOf(cgroupId(other)), 20)
    assert.equal(recordsOf(cgroupId(cgroup)), 20)
    ok(cli(['detach', '--cgroup', other]))
    assert.equal(recordsOf(cgroupId(other)), 0)
    // Only the detached cgroup's records went; the others stay, and go with their sockets.
    assert.equal(recordsOf(cgroupId(cgroup)), 20)
    await holder.finish()
    await bystander.finish()
    assert.equal(recordsOf(cgroupId(cgroup)), 0)
  })

  it('with no room left to record a rewrite, the program sees the NAT64 address, and it is counted', () => {
    // Every slot held and the overflow full, by cookies no socket has.
    const fake = (i: number) => (1n << 60n) + BigInt(i)
    withMap(MAPS.reverse, (map) => {
      for (let i = 0; i < REVERSE_SLOTS; i++) {
        const slot = Buffer.alloc(LAYOUTS.reverse_slot.size)
        slot.writeBigUInt64LE(fake(REVERSE_SLOTS) + BigInt(i))
        map.update(indexKey(i), slot)
      }
    })
    withMap(MAPS.reverseOverflow, (map) => {
      for (let i = 0; i < MAPS.reverseOverflow.maxEntries; i++) {
        const key = Buffer.alloc(8)
        key.writeBigUInt64LE(fake(i))
        map.update(key, Buffer.alloc(LAYOUTS.reverse_record.size))
      }
    })
    const lost = counters().reverse_lost
    const r = ok(python(cgroup, UDP_CLIENT, MAPPED, String(LAB.echoPort)))
    assert.equal(r.stdout, `ping ${LAB.serverNat64} ${LAB.serverNat64}\n`)
    assert.equal(counters().reverse_lost, lost + 1)
  })
})

describe('kernel mode: each cgroup keeps its own configuration; the maps are the truth', () => {
  let first: string
  let second: string

  before(() => {
    first = makeCgroup('first')
    second = makeCgroup('second')
    setDefaultRoutes(true)
    attachCli(first, '--prefix', LAB.nat64Prefix)
    // The well-known prefix, named: with none given, attach would take the lab's PREF64.
    attachCli(second, '--prefix', WELL_KNOWN_PREFIX)
  })

  after(() => {
    setDefaultRoutes(false)
    ok(cli(['detach', '--all']))
  })

  it('attaching a second cgroup leaves the first one’s prefix alone; prefix add changes only the cgroup named', () => {
    assert.equal(kernelPeer(first, MAPPED), nat64Of(LAB.serverIPv4))
    assert.equal(kernelPeer(second, '::ffff:8.8.8.8'), nat64Of('8.8.8.8', '64:ff9b::/96'))
    ok(cli(['prefix', 'add', OTHER_PREFIX, '--subnet', '8.8.0.0/16', '--cgroup', second]))
    assert.equal(kernelPeer(second, '::ffff:8.8.8.8'), nat64Of('8.8.8.8', OTHER_PREFIX))
    assert.equal(kernelPeer(first, '::ffff:8.8.8.8'), nat64Of('8.8.8.8'))
    const status = JSON.parse(ok(cli(['status', '--json'])).stdout)
    const byPath = Object.fromEntries(
      status.attached.map((a: { path: string; defaultPrefix: string }) => [a.path, a.defaultPrefix]),
    )
    assert.equal(byPath[join(cgroup2Mount(), first)], LAB.nat64Prefix)
    assert.equal(byPath[join(cgroup2Mount(), second)], '64:ff9b::/96')
    failsWith(cli(['prefix', 'add', OTHER_PREFIX]), 2, /^tnat64: .*(cgroup|all)/)
  })

  it('refresh and status read the kernel: deleting the saved configuration changes nothing connect6 does', () => {
    for (const name of readdirSync(RUN_DIR)) if (/^cg\d+\.conf$/.test(name)) rmSync(join(RUN_DIR, name))
    const states = JSON.parse(ok(cli(['refresh', '--json'])).stdout)
    assert.ok(states.some((s: { prefix: string }) => s.prefix === LAB.nat64Prefix))
    assert.equal(kernelPeer(first, MAPPED), nat64Of(LAB.serverIPv4))
    assert.equal(kernelPeer(first, '::ffff:10.1.2.3'), nat64Of('10.1.2.3'))
    // Non-global under the well-known prefix stays IPv4 (RFC 6052 §3.1), saved file or not.
    assert.equal(kernelPeer(second, '::ffff:10.1.2.3'), '::ffff:a01:203')
    ok(cli(['status']))
    failsWith(
      cli(['prefix', 'add', OTHER_PREFIX, '--cgroup', first]),
      1,
      /cg\d+\.conf is missing: attach the cgroup again/,
    )
    attachCli(first, '--prefix', LAB.nat64Prefix)
    attachCli(second, '--prefix', WELL_KNOWN_PREFIX)
  })

  it('a refresh in another network namespace changes only that namespace’s reachability', () => {
    // A new namespace has no routes at all: every prefix is unreachable there, and only there.
    ok(spawnSync('unshare', ['-n', TNAT64_CLI, 'refresh'], { encoding: 'utf8' }))
    assert.match(ok(tcp(first, MAPPED)).stdout, VIA_NAT64)
    const status = JSON.parse(ok(cli(['status', '--json'])).stdout)
    assert.ok(status.prefixes.every((p: { reachable: boolean }) => p.reachable))
    assert.ok(
      status.namespaces.some((n: { unreachable: string[] }) => n.unreachable.includes(LAB.nat64Prefix)),
      JSON.stringify(status.namespaces),
    )
    // That namespace is gone with its command: the next refresh forgets it.
    ok(cli(['refresh']))
    const after = JSON.parse(ok(cli(['status', '--json'])).stdout)
    assert.deepEqual(
      after.namespaces.map((n: { unreachable: string[] }) => n.unreachable),
      [[]],
    )
  })

  it('forgets only namespaces that are gone: never one a thread holds, nor when it cannot see them all', async () => {
    // A namespace that one thread of a process lives in, refreshed from there.
    const holder = new Holder(
      first,
      `
import ctypes, os, sys, threading
libc = ctypes.CDLL(None, use_errno=True)
def hold():
    assert libc.unshare(0x40000000) == 0
    print("tid", threading.get_native_id(), flush=True)
    sys.stdin.readline()
t = threading.Thread(target=hold); t.start(); t.join()
`,
    )
    await holder.waitFor('tid')
    const tid = /tid (\d+)/.exec(holder.output)?.[1]
    const mine = () => JSON.parse(ok(cli(['status', '--json'])).stdout).namespaces.length
    ok(spawnSync('nsenter', [`--net=/proc/${tid}/ns/net`, TNAT64_CLI, 'refresh'], { encoding: 'utf8' }))
    const held = mine()
    ok(cli(['refresh']))
    assert.equal(mine(), held, 'a namespace held by a thread stays')
    // From a pid namespace of its own, the CLI cannot see every namespace: it forgets none.
    ok(spawnSync('unshare', ['-n', TNAT64_CLI, 'refresh'], { encoding: 'utf8' }))
    ok(
      spawnSync(
        'nsenter',
        [`--net=${lab.nsPath('client')}`, 'unshare', '-p', '-f', '--mount-proc', TNAT64_CLI, 'refresh'],
        {
          encoding: 'utf8',
        },
      ),
    )
    assert.equal(mine(), held + 1)
    ok(cli(['refresh']))
    assert.equal(mine(), held, 'the namespace of a finished command is forgotten')
    await holder.finish()
    ok(cli(['refresh']))
    assert.equal(mine(), held - 1, 'and the thread’s, once it has ended')
  })

  it('operator pins survive traffic to 70 000 other destinations, and nat64 pins what a local rule covers', () => {
    const config = join(lab.stateDir, 'pins.conf')
    writeFileSync(config, `nat64_prefix = ${LAB.nat64Prefix}\nlocal = 198.51.100.0/24\n`)
    attachCli(first, '--config', config)
    lab.setDirectIPv4(true)
    assert.match(ok(tcp(first, MAPPED)).stdout, VIA_IPV4)
    ok(cli(['cache', 'set', LAB.serverIPv4, '--method', 'nat64', '--cgroup', first]))
    ok(cli(['cache', 'set', '8.8.4.4', '--method', 'ipv4', '--cgroup', first]))
    const churn = `
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
base = int(sys.argv[1])
for i in range(35000):
    n = base + i
    s.connect(("::ffff:100.%d.%d.%d" % (64 + (n >> 16), (n >> 8) & 255, n & 255), 9))
`
    const spread = [0, 1].map((cpu) =>
      inCgroup(first, ['taskset', '-c', String(cpu % 2), PYTHON, '-c', churn, String(cpu * 35000)]),
    )
    for (const r of spread) ok(r)
    assert.match(ok(tcp(first, MAPPED)).stdout, VIA_NAT64)
    assert.equal(kernelPeer(first, '::ffff:8.8.4.4'), '::ffff:808:404')
    const list = JSON.parse(ok(cli(['cache', 'list', '--json'])).stdout)
    assert.deepEqual(
      list.map((p: { destination: string; method: string }) => `${p.destination} ${p.method}`).sort(),
      [`${LAB.serverIPv4} nat64`, '8.8.4.4 ipv4'],
    )
    failsWith(cli(['cache', 'set', '127.0.0.1', '--method', 'nat64', '--all']), 1, /never goes through NAT64/)
    failsWith(cli(['cache', 'set', '10.1.2.3', '--method', 'nat64', '--cgroup', second]), 1, /RFC 6052/)
    assert.match(ok(cli(['cache', 'flush', '--cgroup', first])).stdout, /^removed 2 pins/)
    assert.match(ok(tcp(first, MAPPED)).stdout, VIA_IPV4)
    attachCli(first, '--prefix', LAB.nat64Prefix)
  })

  it('a socket with an IPv4 source keeps its IPv4 path, and the always-IPv4 networks never go through NAT64', () => {
    lab.setDirectIPv4(true)
    assert.match(ok(tcp(first, MAPPED, LAB.httpPort, `::ffff:${LAB.clientDirectIPv4}`)).stdout, VIA_IPV4)
    try {
      const fixture = configFixtures().find((f) => f.name === 'always-ipv4')
      assert.ok(fixture)
      attachCli(first, '--config', fixture.file)
      for (const e of fixture.expect) {
        const inside = kernelPeer(first, `::ffff:${e.destination}`)
        if (e.method === 'nat64') assert.equal(inside, nat64Of(e.destination, e.prefix), e.destination)
        else assert.equal(inside, kernelPeer(undefined, `::ffff:${e.destination}`), e.destination)
      }
    } finally {
      attachCli(first, '--prefix', LAB.nat64Prefix)
    }
  })
})

describe('kernel mode: administrators, other users, upgrades', () => {
  beforeEach(() => {
    spawnSync(TNAT64_CLI, ['detach', '--all'])
  })
  after(() => {
    spawnSync(TNAT64_CLI, ['detach', '--all'])
  })

  it('serialises concurrent administrators: kernel, pins and status agree afterwards', async () => {
    const names = [makeCgroup('c1'), makeCgroup('c2'), makeCgroup('c3')]
    const commands: string[][] = []
    for (let i = 0; i < 12; i++) {
      commands.push(['attach', '--cgroup', names[i % 3], '--prefix', LAB.nat64Prefix])
      commands.push(['detach', '--cgroup', names[(i + 1) % 3]])
      commands.push(
        i % 2 === 0
          ? ['prefix', 'add', OTHER_PREFIX, '--subnet', `10.${i}.0.0/16`, '--all']
          : ['cache', 'set', `8.8.8.${i}`, '--method', 'ipv4', '--all'],
      )
    }
    commands.push(['attach', '--cgroup', names[0]], ['attach', '--cgroup', names[0]], ['status', '--json'])
    const results = await Promise.all(
      commands.map(
        (args) =>
          new Promise<{ args: string[]; code: number | null; stderr: string }>((done) => {
            const child = spawn('nsenter', [`--net=${lab.nsPath('client')}`, TNAT64_CLI, ...args])
            let stderr = ''
            child.stderr.on('data', (b) => {
              stderr += b
            })
            child.on('exit', (code) => done({ args, code, stderr }))
          }),
      ),
    )
    for (const r of results) {
      if (r.code === 0) continue
      assert.equal(r.code, 1, `${r.args.join(' ')}: ${r.stderr}`)
      r.stderr = r.stderr.replace(/^tnat64: waiting for another tnat64 command to finish .*\n/, '')
      assert.match(
        r.stderr.trim(),
        /^tnat64: (.* is not attached|kernel mode is not attached anywhere.*)$/,
        r.args.join(' '),
      )
    }
    // The two attaches of names[0] at once both succeeded.
    assert.deepEqual(
      results.slice(-3, -1).map((r) => r.code),
      [0, 0],
    )
    const linkDirs = existsSync(LINK_DIR) ? readdirSync(LINK_DIR).sort() : []
    const kernel = [...new Set(ourLinks().map((l) => `cg${l.cgroup_id}`))].sort()
    const status = JSON.parse(ok(cli(['status', '--json'])).stdout)
    assert.deepEqual(kernel, linkDirs)
    assert.deepEqual(status.attached.map((a: { id: string }) => `cg${a.id}`).sort(), linkDirs)
    if (linkDirs.length === 0) assert.equal(existsSync(PIN_DIR), false)
    else
      assert.deepEqual(
        cgroupsWithRules()
          .map((id) => `cg${id}`)
          .sort(),
        linkDirs,
      )
    for (const dir of linkDirs) assert.equal(readdirSync(join(LINK_DIR, dir)).length, 4, dir)
    // Attach racing the detach of the last cgroup: whichever wins, the state is whole.
    ok(cli(['detach', '--all']))
    attachCli(names[1])
    const race = await Promise.all(
      [
        ['detach', '--cgroup', names[1]],
        ['attach', '--cgroup', names[2]],
      ].map((args) => new Promise<number | null>((done) => spawn(TNAT64_CLI, args).on('exit', done))),
    )
    assert.deepEqual(race, [0, 0])
    assert.deepEqual(readdirSync(LINK_DIR), [`cg${cgroupId(names[2])}`])
    assert.deepEqual(cgroupsWithRules(), [cgroupId(names[2])])
    ok(cli(['detach', '--all']))
    await nothingOfOursInTheKernel()
  })

  it('refuses a pin directory someone else made, or a symlink there, without touching it', () => {
    const cgroup = makeCgroup('pins')
    mkdirSync(PIN_DIR, { mode: 0o700 })
    chownSync(PIN_DIR, 65534, 65534)
    try {
      failsWith(cli(['attach', '--cgroup', cgroup]), 1, /tnat64 is owned by uid 65534, not by us: refusing/)
      assert.equal(statSync(PIN_DIR).uid, 65534)
      assert.deepEqual(readdirSync(PIN_DIR), [])
    } finally {
      rmdirSync(PIN_DIR)
    }
    const target = join(lab.stateDir, 'elsewhere')
    mkdirSync(target, { mode: 0o755 })
    symlinkSync(target, PIN_DIR)
    try {
      failsWith(cli(['attach', '--cgroup', cgroup]), 1, /tnat64 is a symbolic link: refusing/)
      assert.equal(statSync(target).mode & 0o777, 0o755)
      assert.deepEqual(readdirSync(target), [])
    } finally {
      rmSync(PIN_DIR)
    }
  })

  it('mounts bpffs 0700 when it has to', () => {
    const cgroup = makeCgroup('mount')
    // A private mount namespace without bpffs: the CLI mounts its own there, which goes with it.
    const script = `umount -l /sys/fs/bpf 2>/dev/null; ${TNAT64_CLI} attach --cgroup ${cgroup} >/dev/null && stat -c %a /sys/fs/bpf && ${TNAT64_CLI} detach --all >/dev/null`
    const r = ok(
      spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script], { encoding: 'utf8' }),
    )
    assert.match(r.stdout.trim(), /^1?700$/)
  })

  it('refuses maps of another version with the command that migrates, and upgrades in place', async () => {
    const cgroup = makeCgroup('upgrade')
    mkdirSync(PIN_DIR, { mode: 0o700 })
    ok(
      spawnSync(
        'bpftool',
        [
          'map',
          'create',
          join(PIN_DIR, MAPS.prefixes.name),
          'type',
          'array',
          'key',
          '4',
          'value',
          '16',
          'entries',
          '256',
          'name',
          'tnat64_prefixes',
        ],
        { encoding: 'utf8' },
      ),
    )
    failsWith(
      cli(['attach', '--cgroup', cgroup]),
      1,
      /not the map this version of tnat64 uses \(valueSize 16, expected 20\): run tnat64 detach --all, then attach again/,
    )
    failsWith(cli(['status']), 1, /detach --all, then attach again/)
    ok(cli(['detach', '--all']))

    attachCli(cgroup, '--prefix', LAB.nat64Prefix)
    const before = ourLinks()
    const holder = new Holder(cgroup, ECHO_HOLDER)
    await holder.waitFor('ready')
    assert.match(ok(cli(['upgrade'])).stdout, /^upgraded /)
    const upgraded = ourLinks()
    assert.deepEqual(upgraded.map((l) => l.id).sort(), before.map((l) => l.id).sort())
    for (const link of upgraded)
      assert.ok(!before.some((b) => b.prog_id === link.prog_id), 'a new program in each link')
    assert.equal(await holder.finish(), `ready\nstill here ${MAPPED}\n`)
    assert.match(ok(tcp(cgroup, MAPPED)).stdout, VIA_NAT64)
    ok(cli(['detach', '--all']))
  })

  it('a command that waits for the lock says so, and finds out under it that kernel mode went', async () => {
    const cgroup = makeCgroup('race')
    attachCli(cgroup, '--prefix', LAB.nat64Prefix)
    const locker = spawn(PYTHON, [
      '-c',
      `import fcntl, sys\nf = open("${join(RUN_DIR, 'lock')}", "a")\nfcntl.flock(f, fcntl.LOCK_EX)\nprint("locked", flush=True)\nsys.stdin.readline()`,
    ])
    await new Promise<void>((r) => locker.stdout.once('data', () => r()))
    const run = (args: string[]) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => {
        const child = spawn('nsenter', [`--net=${lab.nsPath('client')}`, TNAT64_CLI, ...args])
        let stdout = ''
        let stderr = ''
        child.stdout.on('data', (b) => {
          stdout += b
        })
        child.stderr.on('data', (b) => {
          stderr += b
        })
        child.on('exit', (code) => done({ code, stdout, stderr }))
      })
    const waiting = [run(['refresh']), run(['status', '--json']), run(['prefix', 'list'])]
    await new Promise((r) => setTimeout(r, 1500))
    rmSync(PIN_DIR, { recursive: true }) // what a detach --all between their check and their turn does
    locker.stdin.end('\n')
    const [refresh, status, list] = await Promise.all(waiting)
    const notice = /^tnat64: waiting for another tnat64 command to finish \(\/run\/tnat64\/lock\)\n/
    assert.match(refresh.stderr, notice)
    assert.equal(refresh.code, 1)
    assert.match(refresh.stderr.replace(notice, ''), /^tnat64: kernel mode is not attached anywhere.*\n$/)
    assert.equal(list.code, 1, list.stderr)
    assert.equal(status.code, 0, status.stderr)
    assert.equal(JSON.parse(status.stdout).loaded, false)
  })

  it('attach --watch stopped while it is still attaching ends once attached, exit 0', async () => {
    const cgroup = makeCgroup('early-stop')
    const locker = spawn(PYTHON, [
      '-c',
      `import fcntl, sys\nf = open("${join(RUN_DIR, 'lock')}", "a")\nfcntl.flock(f, fcntl.LOCK_EX)\nprint("locked", flush=True)\nsys.stdin.readline()`,
    ])
    await new Promise<void>((r) => locker.stdout.once('data', () => r()))
    const watch = spawn('nsenter', [
      `--net=${lab.nsPath('client')}`,
      TNAT64_CLI,
      'attach',
      '--cgroup',
      cgroup,
      '--prefix',
      LAB.nat64Prefix,
      '--watch',
    ])
    let stdout = ''
    let stderr = ''
    watch.stdout.on('data', (b) => {
      stdout += b
    })
    const waiting = new Promise<void>((r) =>
      watch.stderr.on('data', (b) => {
        stderr += b
        if (stderr.includes('waiting for another tnat64 command')) r()
      }),
    )
    const ended = new Promise<number | null>((r) => watch.on('exit', (code) => r(code)))
    await waiting
    watch.kill('SIGTERM')
    locker.stdin.end('\n')
    assert.equal(await ended, 0, stderr)
    // The signal's turn may come before or after the watch's first report: the stop is said last.
    assert.match(stdout, /^\S+Z attached to [^\n]*\n([^\n]*Z \S+ reachable\n)?\S+Z stopping on SIGTERM\n$/)
    const attached = JSON.parse(ok(cli(['status', '--json'])).stdout).attached.map(
      (a: { path: string }) => a.path,
    )
    assert.ok(attached.includes(join(cgroup2Mount(), cgroup)), 'left attached, as a stopped watch leaves it')
  })

  it('tnat64 run in two pid namespaces at once: each gets its own cgroup', () => {
    const both = spawnSync(
      'sh',
      [
        '-c',
        `unshare --pid --fork ${TNAT64_CLI} run -- sleep 1 & unshare --pid --fork ${TNAT64_CLI} run -- sleep 1; s=$?; wait $!; echo $s $?`,
      ],
      { encoding: 'utf8' },
    )
    assert.equal(both.stdout.trim(), '0 0', both.stderr)
  })

  it('--json failures are one small object, with the usual exit code', () => {
    const r = cli(['prefix', 'list', '--cgroup', 'x', '--json'])
    assert.equal(r.status, 2)
    assert.deepEqual(JSON.parse(r.stdout), {
      error: { message: 'Nonexistent flag: --cgroup (see --help)', exitCode: 2 },
    })
  })

  it('shows what an attach killed half-way left, and detach --id clears it', () => {
    const kept = makeCgroup('kept')
    const half = makeCgroup('half')
    attachCli(kept, '--prefix', LAB.nat64Prefix)
    attachCli(half, '--prefix', LAB.nat64Prefix)
    const id = cgroupId(half)
    rmSync(join(LINK_DIR, `cg${id}`), { recursive: true }) // as if killed between rules and links
    const status = JSON.parse(ok(cli(['status', '--json'])).stdout)
    assert.deepEqual(status.orphans, [{ id: id.toString(), clear: `tnat64 detach --id ${id}` }])
    ok(cli(['detach', '--id', id.toString()]))
    assert.deepEqual(cgroupsWithRules(), [cgroupId(kept)])
    assert.deepEqual(JSON.parse(ok(cli(['status', '--json'])).stdout).orphans, [])
  })

  it('says why: a removed cgroup, a hook held exclusively, libbpf with --debug, a cgroup run could not remove', () => {
    const gone = makeCgroup('gone')
    attachCli(gone, '--prefix', LAB.nat64Prefix)
    const goneId = cgroupId(gone)
    rmdirSync(join(cgroup2Mount(), gone))
    // A new cgroup at the same path, attached too: each is named apart.
    mkdirSync(join(cgroup2Mount(), gone))
    attachCli(gone, '--prefix', LAB.nat64Prefix)
    const status = JSON.parse(ok(cli(['status', '--json'])).stdout)
    const removed = status.attached.filter((a: { removed: boolean }) => a.removed)
    assert.deepEqual(
      removed.map((a: { id: string; clear: string }) => [a.id, a.clear]),
      [[goneId.toString(), `tnat64 detach --id ${goneId}`]],
    )
    assert.match(ok(cli(['status'])).stdout, /\(removed while attached: tnat64 detach --id \d+\)/)
    ok(cli(['detach', '--id', goneId.toString()]))
    assert.deepEqual(
      JSON.parse(ok(cli(['status', '--json'])).stdout).attached.map((a: { id: string }) => a.id),
      [cgroupId(gone).toString()],
    )
    ok(cli(['detach', '--cgroup', gone]))
    failsWith(cli(['detach', '--id', 'x1']), 2, /^tnat64: --id x1: not a cgroup id/)

    const held = makeCgroup('held')
    const progs = join('/sys/fs/bpf', `t64-exclusive-${process.pid}`) // bpftool pins only on bpffs
    ok(
      spawnSync('bpftool', ['prog', 'loadall', BPF_OBJECT, progs], {
        encoding: 'utf8',
      }),
    )
    const cgPath = join(cgroup2Mount(), held)
    ok(
      spawnSync(
        'bpftool',
        ['cgroup', 'attach', cgPath, 'connect6', 'pinned', join(progs, 'tnat64_connect6')],
        { encoding: 'utf8' },
      ),
    )
    try {
      failsWith(
        cli(['attach', '--cgroup', held]),
        1,
        /attach tnat64_connect6: EPERM: another program holds this hook of the cgroup exclusively/,
      )
    } finally {
      spawnSync('bpftool', ['cgroup', 'detach', cgPath, 'connect6', 'pinned', join(progs, 'tnat64_connect6')])
      rmSync(progs, { recursive: true, force: true })
    }
    const debug = ok(cli(['attach', '--cgroup', held, '--debug']))
    assert.match(debug.stderr, /^libbpf: /m)
    ok(cli(['detach', '--all']))

    const r = spawnSync(
      TNAT64_CLI,
      ['run', '--prefix', LAB.nat64Prefix, '--', 'sh', '-c', 'sleep 3 >/dev/null 2>&1 </dev/null & exit 0'],
      {
        encoding: 'utf8',
      },
    )
    assert.equal(r.status, 0, r.stderr)
    assert.match(
      r.stderr,
      /^tnat64: could not remove \S+tnat64-run-\d+-[0-9a-f]+: processes the command left behind/,
    )
    const left = readdirSync(cgroup2Mount()).filter((d) => d.startsWith('tnat64-run-'))
    for (const name of left) removeCgroupDir(name)
  })
})

describe('kernel mode: a load the kernel refuses', () => {
  it('reports the verifier’s reason after the one error line', () => {
    const object = join(ROOT, 'test', 'c', 'bin', 'refused.bpf.o')
    let caught: unknown
    try {
      LoadedObject.load(object, {
        variable: { name: CGROUP_VARIABLE, value: 1n },
        mapDir: BPFFS,
        maps: [],
      }).close()
    } catch (e) {
      caught = e
    }
    assert.ok(caught instanceof BpfError, String(caught))
    const { lines, exitCode } = reportError(caught)
    assert.equal(exitCode, 1)
    assert.match(lines[0], /^tnat64: load .*refused\.bpf\.o: \w+: the kernel refused the programs$/)
    assert.ok(lines.length > 1 && lines.slice(1).every((l) => l.startsWith('  ')), lines.join('\n'))
    assert.match(lines.slice(1).join('\n'), /invalid bpf_context access/)
  })
})

describe('kernel mode: --watch and faults', () => {
  let cgroup: string

  before(() => {
    cgroup = makeCgroup('watch')
    attachCli(cgroup, '--prefix', LAB.nat64Prefix)
  })

  after(() => ok(cli(['detach', '--all'])))

  class Watch {
    readonly child: ChildProcess
    stdout = ''
    stderr = ''
    readonly ended: Promise<number | null>

    constructor(...more: string[]) {
      this.child = spawn('nsenter', [
        `--net=${lab.nsPath('client')}`,
        TNAT64_CLI,
        'refresh',
        '--watch',
        ...more,
      ])
      this.child.stdout?.on('data', (b) => {
        this.stdout += b
      })
      this.child.stderr?.on('data', (b) => {
        this.stderr += b
      })
      this.ended = new Promise((r) => this.child.on('exit', r))
    }

    /** Waits until the last line of output matches. */
    async settles(pattern: RegExp, ms = 5000): Promise<void> {
      const last = () => this.stdout.trim().split('\n').pop() ?? ''
      for (let t = 0; t < ms && !pattern.test(last()); t += 50) await new Promise((r) => setTimeout(r, 50))
      assert.match(last(), pattern, this.stdout + this.stderr)
    }
  }

  it('follows route changes, flapping or under steady churn, and traffic follows', async () => {
    const watch = new Watch()
    try {
      await watch.settles(/ reachable$/)
      // Subscribed before its first report: a change right after it is seen.
      lab.setNat64Route(false)
      await watch.settles(/unreachable$/)
      for (let i = 0; i < 10; i++) {
        lab.setNat64Route(true)
        lab.setNat64Route(false)
      }
      lab.setNat64Route(true)
      await watch.settles(/ reachable$/)
      assert.match(ok(tcp(cgroup, MAPPED)).stdout, VIA_NAT64)
      // Steady churn of other routes must not starve it.
      const churn = spawn('sh', [
        '-c',
        `for i in $(seq 300); do ip -n ${lab.ns('client')} -6 route replace 2001:db8:77::/64 via ${LAB.routerIPv6}; ip -n ${lab.ns('client')} -6 route del 2001:db8:77::/64; done`,
      ])
      lab.setNat64Route(false)
      await watch.settles(/unreachable$/)
      lab.setDirectIPv4(true)
      assert.match(ok(tcp(cgroup, MAPPED)).stdout, VIA_IPV4)
      lab.setNat64Route(true)
      await watch.settles(/ reachable$/)
      await new Promise((r) => churn.on('exit', r))
    } finally {
      watch.child.kill('SIGTERM')
    }
    assert.equal(await watch.ended, 0)
    // A service's log: each line stamped, the stop said.
    const lines = watch.stdout.trimEnd().split('\n')
    for (const line of lines) assert.match(line, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \S/)
    assert.match(lines[lines.length - 1], / stopping on SIGTERM$/)
  })

  it('--log-format json: one object a line, with its time, the prefixes, and the stop', async () => {
    const watch = new Watch('--log-format', 'json')
    for (let t = 0; t < 5000 && !watch.stdout.includes('\n'); t += 50)
      await new Promise((r) => setTimeout(r, 50))
    watch.child.kill('SIGTERM')
    assert.equal(await watch.ended, 0, watch.stderr)
    const events = watch.stdout
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line))
    assert.equal(events[0].event, 'reachability', watch.stdout)
    assert.deepEqual(
      events[0].prefixes.map((p: { prefix: string }) => p.prefix),
      [LAB.nat64Prefix],
    )
    assert.match(events[0].time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
    assert.deepEqual(
      { event: events.at(-1).event, signal: events.at(-1).signal },
      { event: 'stopping', signal: 'SIGTERM' },
    )
  })

  it('stops with one line and a non-zero exit when its route monitor dies, or kernel mode goes', async () => {
    const watch = new Watch()
    await watch.settles(/reachable$/)
    // Its own monitor only: other tests' watchers run beside it.
    const monitor = spawnSync('pgrep', ['-P', String(watch.child.pid), '-x', 'ip'], { encoding: 'utf8' })
      .stdout.trim()
      .split('\n')
    for (const pid of monitor.filter(Boolean)) process.kill(Number(pid), 'SIGKILL')
    assert.equal(await watch.ended, 1)
    assert.match(
      watch.stderr,
      /^tnat64: ip monitor ended \(SIGKILL\): route changes are no longer followed\n$/,
    )

    const second = new Watch()
    await second.settles(/reachable$/)
    ok(cli(['detach', '--all']))
    lab.setNat64Route(false) // an event, so it notices at once rather than at its next resync
    assert.equal(await second.ended, 1)
    assert.match(second.stderr, /^tnat64: kernel mode was detached: nothing left to watch\n$/)
    lab.setNat64Route(true)
    attachCli(cgroup, '--prefix', LAB.nat64Prefix)
  })

  it('when tayga dies mid-run nothing hangs, and traffic comes back with it', () => {
    lab.setTayga(false)
    try {
      const r = tcp(cgroup, MAPPED)
      assert.notEqual(r.status, 0)
      ok(cli(['refresh']))
      ok(cli(['status']))
    } finally {
      lab.setTayga(true)
    }
    for (let i = 0; i < 20 && tcp(cgroup, MAPPED).status !== 0; i++) spawnSync('sleep', ['0.2'])
    assert.match(ok(tcp(cgroup, MAPPED)).stdout, VIA_NAT64)
  })
})

describe('kernel mode: tnat64 run', () => {
  it('runs Java in a fresh cgroup and removes the cgroup and its programs afterwards', async () => {
    const before = readdirSync(cgroup2Mount()).filter((d) => d.startsWith('tnat64-run-'))
    const r = ok(
      cli([
        'run',
        '--prefix',
        LAB.nat64Prefix,
        '--',
        'java',
        JAVA_CLIENT,
        `http://${LAB.serverIPv4}:${LAB.httpPort}/`,
      ]),
    )
    assert.match(r.stdout, VIA_NAT64)
    assert.deepEqual(
      readdirSync(cgroup2Mount()).filter((d) => d.startsWith('tnat64-run-')),
      before,
    )
    await nothingOfOursInTheKernel()
    assert.equal(cli(['run', '--prefix', LAB.nat64Prefix, '--', 'sh', '-c', 'exit 5']).status, 5)
  })
})

describe('kernel mode: the RFC 6052 vectors through the real program', () => {
  it('rewrites each vector’s mapped address to its NAT64 address, for every prefix length', async () => {
    const cgroup = makeCgroup('vec')
    const vectors = rfc6052Vectors().embed
    // One round per use of an IPv4 address: within a round each address has one prefix.
    const rounds: (typeof vectors)[] = []
    for (const v of vectors) {
      const round =
        rounds.find((r) => !r.some((o) => o.ipv4 === v.ipv4)) ??
        (rounds[rounds.push([]) - 1] as typeof vectors)
      round.push(v)
    }
    setDefaultRoutes(true)
    try {
      for (const round of rounds) {
        const config = round
          .map((v) => `path {\n subnet = ${v.ipv4}/32\n nat64_prefix = ${v.prefix}\n}`)
          .join('\n')
        const file = join(lab.stateDir, 'vectors.conf')
        writeFileSync(file, `${config}\n`)
        attachCli(cgroup, '--config', file)
        const { config: parsed } = parseConfig(`${config}\n`, file)
        for (const v of round) {
          // What never goes through NAT64, and a non-global address under the well-known prefix,
          // stays IPv4: the kernel connects it as it would without tnat64.
          const mapped = `::ffff:${v.ipv4}`
          const stays = resolve(parsed, parseIPv4(v.ipv4)).kind !== 'nat64'
          const want = stays ? kernelPeer(undefined, mapped) : canonical(v.ipv6)
          assert.equal(kernelPeer(cgroup, mapped), want, `${v.ipv4} in ${v.prefix}`)
        }
      }
    } finally {
      setDefaultRoutes(false)
      ok(cli(['detach', '--cgroup', cgroup]))
    }
    await nothingOfOursInTheKernel()
  })
})

describe('kernel mode: bad input', () => {
  it('a missing cgroup, a bad prefix: one line, exit 2; a non-root caller: one line, exit 1', () => {
    failsWith(
      spawnSync(TNAT64_CLI, ['attach', '--cgroup', 'no-such-cgroup-t64'], { encoding: 'utf8' }),
      2,
      /^tnat64: --cgroup no-such-cgroup-t64: no such cgroup/,
    )
    failsWith(
      spawnSync(TNAT64_CLI, ['attach', '--cgroup', 'x', '--prefix', '2001:db8::/33'], { encoding: 'utf8' }),
      2,
      /prefix/,
    )
    failsWith(
      spawnSync(TNAT64_CLI, ['cache', 'set', '1.2.3', '--method', 'ipv4', '--all'], { encoding: 'utf8' }),
      2,
      /^tnat64: /,
    )
    const nobody = spawnSync(
      'setpriv',
      ['--reuid=65534', '--regid=65534', '--clear-groups', TNAT64_CLI, 'attach', '--cgroup', '.'],
      {
        encoding: 'utf8',
      },
    )
    failsWith(nobody, 1, /^tnat64: kernel mode needs root/)
  })
})
