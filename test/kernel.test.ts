// Kernel mode in the lab: dual-stack programs with no LD_PRELOAD, in an attached cgroup, reach the
// IPv4-only server from the IPv6-only client through tayga; others are untouched; nothing is left.
import assert from 'node:assert/strict'
import { type ChildProcess, type SpawnSyncReturns, spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, rmdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, beforeEach, describe, it } from 'node:test'
import { formatIPv6, parseIPv4, parseIPv6 } from '../src/lib/address.js'
import { cgroup2Mount } from '../src/lib/cgroup.js'
import { parseConfig, resolve } from '../src/lib/config.js'
import { PIN_DIR } from '../src/lib/kernel.js'
import { LAB, Lab } from '../src/lib/lab.js'
import { assertRoot, freshLabName, PYTHON, ROOT, rfc6052Vectors } from './helpers.js'

const TNAT64 = join(ROOT, 'bin', 'tnat64')
const JAVA_CLIENT = join(ROOT, 'test', 'java', 'Client.java')
const MAPPED = `::ffff:${LAB.serverIPv4}`
const VIA_NAT64 = /hello 192\.0\.2\.(1[3-9]\d|2[0-5]\d) port \d+/
const VIA_IPV4 = /hello 203\.0\.113\.2 port \d+/

let lab: Lab
const cgroups: string[] = []

/** A fresh cgroup of this test run; removed in after(). */
function makeCgroup(tag: string): string {
  const name = `t64-${tag}-${process.pid}`
  mkdirSync(join(cgroup2Mount(), name))
  cgroups.push(name)
  return name
}

/** argv run in a cgroup and in the lab client's network namespace (the cgroup is joined first:
 * `ip netns exec` would remount /sys and hide it). */
function inCgroup(cgroup: string | undefined, argv: string[]) {
  const join_ = cgroup ? `echo $$ > ${join(cgroup2Mount(), cgroup, 'cgroup.procs')} && ` : ''
  return spawnSync('sh', ['-c', `${join_}exec nsenter --net=${lab.nsPath('client')} "$@"`, 'sh', ...argv], {
    encoding: 'utf8',
    timeout: 60_000,
  })
}

/** The CLI in the client's namespace (its routes decide reachability), with bpffs still visible. */
function cli(args: string[]) {
  return spawnSync('nsenter', [`--net=${lab.nsPath('client')}`, TNAT64, ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  })
}

function ok(r: SpawnSyncReturns<string>): SpawnSyncReturns<string> {
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`)
  return r
}

const TCP_CLIENT = `
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM); s.settimeout(5)
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

/** Where the kernel really connected a UDP socket: the remote address in /proc/net/udp6. */
const KERNEL_PEER = `
import socket, sys, ipaddress
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.connect((sys.argv[1], 9))
port = "%04X" % s.getsockname()[1]
for line in open("/proc/net/udp6").readlines()[1:]:
    local, remote = line.split()[1:3]
    if local.endswith(":" + port):
        raw = bytes.fromhex(remote.split(":")[0])
        words = b"".join(raw[i:i+4][::-1] for i in range(0, 16, 4))
        print(ipaddress.IPv6Address(words).compressed)
`

function tcp(cgroup: string | undefined, address: string, port: number = LAB.httpPort) {
  return inCgroup(cgroup, [PYTHON, '-c', TCP_CLIENT, address, String(port)])
}

function attachedLinks(): string[] {
  const r = spawnSync('bpftool', ['-j', 'link', 'show'], { encoding: 'utf8' })
  const links = JSON.parse(r.stdout || '[]') as { prog_id: number }[]
  const progs = JSON.parse(
    spawnSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8' }).stdout || '[]',
  ) as {
    id: number
    name: string
  }[]
  const ours = new Set(progs.filter((p) => p.name.startsWith('tnat64_')).map((p) => p.id))
  return links.filter((l) => ours.has(l.prog_id)).map((l) => String(l.prog_id))
}

async function nothingOfOursInTheKernel(): Promise<void> {
  // Programs and maps are freed shortly after their last reference goes (RCU): allow a moment.
  for (let i = 0; i < 50; i++) {
    const maps = spawnSync('bpftool', ['-j', 'map', 'show'], { encoding: 'utf8' }).stdout
    if (!maps.includes('"tnat64_') && attachedLinks().length === 0) break
    await new Promise((r) => setTimeout(r, 100))
  }
  assert.deepEqual(attachedLinks(), [])
  assert.doesNotMatch(spawnSync('bpftool', ['-j', 'map', 'show'], { encoding: 'utf8' }).stdout, /"tnat64_/)
  assert.equal(existsSync(PIN_DIR), false)
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
  spawnSync(TNAT64, ['detach', '--all'])
  for (const name of cgroups) {
    try {
      rmdirSync(join(cgroup2Mount(), name))
    } catch {
      // already gone
    }
  }
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
    const r = ok(cli(['attach', '--cgroup', cgroup, '--prefix', LAB.nat64Prefix, '--json']))
    assert.equal(JSON.parse(r.stdout).newlyAttached, true)
  })

  it('python: an AF_INET6 socket to the mapped address goes through NAT64 and reports the mapped peer', () => {
    const r = ok(tcp(cgroup, MAPPED))
    const [peer, body] = r.stdout.trim().split('\n')
    assert.equal(peer, MAPPED)
    assert.match(body, VIA_NAT64)
  })

  it('Java (dual-stack sockets, no preload) fetches the page', () => {
    const r = ok(inCgroup(cgroup, ['java', JAVA_CLIENT, `http://${LAB.serverIPv4}:${LAB.httpPort}/`]))
    assert.match(r.stdout, VIA_NAT64)
    assert.match(r.stdout, /^peer=\/198\.51\.100\.10:8000$/m)
  })

  it('connected UDP works and reports the mapped peer, on recvfrom and getpeername', () => {
    const r = ok(inCgroup(cgroup, [PYTHON, '-c', UDP_CLIENT, MAPPED, String(LAB.echoPort)]))
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
    const status = JSON.parse(ok(cli(['status', '--json'])).stdout)
    assert.ok(status.counters.local >= 1)
    assert.ok(status.counters.rewritten >= 1)
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

  it('follows route changes with refresh --watch', async () => {
    const watcher: ChildProcess = spawn('nsenter', [
      `--net=${lab.nsPath('client')}`,
      TNAT64,
      'refresh',
      '--watch',
    ])
    let output = ''
    watcher.stdout?.on('data', (b) => {
      output += b
    })
    const waitFor = async (pattern: RegExp) => {
      for (let i = 0; i < 100 && !pattern.test(output); i++) await new Promise((r) => setTimeout(r, 50))
      assert.match(output, pattern)
    }
    try {
      await waitFor(/reachable/)
      lab.setNat64Route(false)
      await waitFor(/unreachable/)
      const prefixes = JSON.parse(ok(cli(['prefix', 'list', '--json'])).stdout)
      assert.equal(prefixes[0].reachable, false)
    } finally {
      watcher.kill('SIGTERM')
    }
    lab.setNat64Route(true)
    ok(cli(['refresh']))
  })

  it('lets app mode work inside the cgroup, fallback included', () => {
    const app = (env: Record<string, string> = {}) =>
      inCgroup(cgroup, [
        'env',
        ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
        TNAT64,
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

  it('lists and flushes the cache; a destination pinned to IPv4 stays off NAT64', () => {
    const entries = JSON.parse(ok(cli(['cache', 'list', '--json'])).stdout)
    assert.ok(
      entries.some(
        (e: { destination: string; method: string }) =>
          e.destination === LAB.serverIPv4 && e.method === 'nat64',
      ),
    )
    ok(cli(['cache', 'set', LAB.serverIPv4, '--method', 'ipv4']))
    lab.setDirectIPv4(true)
    assert.match(ok(tcp(cgroup, MAPPED)).stdout, VIA_IPV4)
    assert.match(ok(cli(['cache', 'flush'])).stdout, /^removed \d+ entr/)
    assert.deepEqual(JSON.parse(ok(cli(['cache', 'list', '--json'])).stdout), [])
    assert.match(ok(tcp(cgroup, MAPPED)).stdout, VIA_NAT64)
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
    const nobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']
    const read = spawnSync(
      nobody[0],
      [...nobody.slice(1), 'bpftool', 'map', 'dump', 'pinned', join(PIN_DIR, 'tnat64_rules')],
      {
        encoding: 'utf8',
      },
    )
    assert.notEqual(read.status, 0)
    const cliAsNobody = spawnSync(
      nobody[0],
      [...nobody.slice(1), TNAT64, 'prefix', 'add', '2001:db8:bad::/96'],
      {
        encoding: 'utf8',
      },
    )
    assert.equal(cliAsNobody.status, 1)
    assert.equal(cliAsNobody.stderr.trim().split('\n').length, 1, cliAsNobody.stderr)
    assert.match(cliAsNobody.stderr, /needs root/)
  })

  it('reverses every rewritten socket, also when more live sockets than mark slots share them', () => {
    // 9 000 live sockets for 8 192 slots: the later ones find their slot held and go to the
    // overflow hash; all must still see the mapped peer, and closing them must leave nothing.
    const overflow = join(PIN_DIR, 'tnat64_marks_overflow')
    const script = `
import socket, resource, subprocess, sys, json
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
socks = []
assert hard >= 9100, f'RLIMIT_NOFILE hard limit {hard} is below the 9 100 this test needs'
for i in range(9000):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.connect((sys.argv[1], 9)); socks.append(s)
wrong = sum(1 for s in socks if s.getpeername()[0] != sys.argv[1])
held = len(json.loads(subprocess.run(["bpftool", "-j", "map", "dump", "pinned", sys.argv[2]], capture_output=True).stdout))
print(len(socks), wrong, held)
`
    const r = ok(inCgroup(cgroup, [PYTHON, '-c', script, MAPPED, overflow]))
    const [count, wrong, held] = r.stdout.trim().split(' ').map(Number)
    assert.deepEqual([count, wrong], [9000, 0])
    assert.ok(held >= 9000 - 8192, `overflow held ${held}`)
    const after = JSON.parse(
      spawnSync('bpftool', ['-j', 'map', 'dump', 'pinned', overflow], { encoding: 'utf8' }).stdout,
    )
    assert.deepEqual(after, [])
  })

  it('is idempotent, and detach leaves open connections working', async () => {
    assert.equal(
      JSON.parse(ok(cli(['attach', '--cgroup', cgroup, '--prefix', LAB.nat64Prefix, '--json'])).stdout)
        .newlyAttached,
      false,
    )
    const holder = `
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM); s.settimeout(5)
s.connect(("${MAPPED}", ${LAB.echoPort}))
print("connected", flush=True)
sys.stdin.readline()
s.sendall(b"still here"); print(s.recv(100).decode(), flush=True)
`
    const cg = join(cgroup2Mount(), cgroup, 'cgroup.procs')
    const child = spawn('sh', [
      '-c',
      `echo $$ > ${cg} && exec nsenter --net=${lab.nsPath('client')} ${PYTHON} -c '${holder}'`,
    ])
    let out = ''
    child.stdout.on('data', (b) => {
      out += b
    })
    for (let i = 0; i < 100 && !out.includes('connected'); i++) await new Promise((r) => setTimeout(r, 50))
    ok(spawnSync(TNAT64, ['detach', '--cgroup', cgroup], { encoding: 'utf8' }))
    child.stdin.end('go\n')
    await new Promise((r) => child.on('exit', r))
    assert.equal(out, 'connected\nstill here\n')
    await nothingOfOursInTheKernel()
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
    // Every prefix needs a route for connect6 to use it, and a destination left on IPv4 needs one
    // too (nothing is sent: a UDP connect only looks the route up).
    ok(
      spawnSync('ip', ['-n', lab.ns('client'), '-6', 'route', 'replace', 'default', 'via', LAB.routerIPv6], {
        encoding: 'utf8',
      }),
    )
    ok(
      spawnSync('ip', ['-n', lab.ns('client'), 'route', 'replace', 'default', 'via', LAB.routerDirectIPv4], {
        encoding: 'utf8',
      }),
    )
    try {
      for (const round of rounds) {
        const config = round
          .map((v) => `path {\n subnet = ${v.ipv4}/32\n nat64_prefix = ${v.prefix}\n}`)
          .join('\n')
        const file = join(lab.stateDir, 'vectors.conf')
        writeFileSync(file, `${config}\n`)
        ok(cli(['attach', '--cgroup', cgroup, '--config', file]))
        const { config: parsed } = parseConfig(`${config}\n`, file)
        for (const v of round) {
          const r = ok(inCgroup(cgroup, [PYTHON, '-c', KERNEL_PEER, `::ffff:${v.ipv4}`]))
          // The well-known prefix never carries a non-global address: that one stays IPv4.
          const stays = resolve(parsed, parseIPv4(v.ipv4)).kind !== 'nat64'
          const canonical = (text: string) => formatIPv6(parseIPv6(text))
          assert.equal(
            canonical(r.stdout.trim()),
            canonical(stays ? `::ffff:${v.ipv4}` : v.ipv6),
            `${v.ipv4} in ${v.prefix}`,
          )
        }
      }
    } finally {
      spawnSync('ip', ['-n', lab.ns('client'), '-6', 'route', 'del', 'default'])
      spawnSync('ip', ['-n', lab.ns('client'), 'route', 'del', 'default'])
      ok(cli(['detach', '--cgroup', cgroup]))
    }
    await nothingOfOursInTheKernel()
  })
})

describe('kernel mode: bad input', () => {
  it('a missing cgroup, a bad prefix: one line, exit 2; a non-root caller: one line, exit 1', () => {
    const missing = spawnSync(TNAT64, ['attach', '--cgroup', 'no-such-cgroup-t64'], { encoding: 'utf8' })
    assert.equal(missing.status, 2)
    assert.match(missing.stderr, /^tnat64: --cgroup no-such-cgroup-t64: no such cgroup/)
    const prefix = spawnSync(TNAT64, ['attach', '--cgroup', 'x', '--prefix', '2001:db8::/33'], {
      encoding: 'utf8',
    })
    assert.equal(prefix.status, 2)
    assert.equal(prefix.stderr.split('\n').filter(Boolean).length, 1)
    const nobody = spawnSync(
      'setpriv',
      ['--reuid=65534', '--regid=65534', '--clear-groups', TNAT64, 'attach', '--cgroup', '.'],
      {
        encoding: 'utf8',
      },
    )
    assert.equal(nobody.status, 1)
    assert.match(nobody.stderr, /^tnat64: kernel mode needs root/)
    assert.equal(nobody.stderr.split('\n').filter(Boolean).length, 1)
  })
})
