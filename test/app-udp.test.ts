// App mode and UDP in the lab: IPv4-only UDP programs in the IPv6-only client reach the IPv4-only
// server through tayga under the library, each datagram to its own destination, with sources,
// lengths and servers' semantics as an AF_INET socket has them; and the program's own AF_INET6
// sockets reach IPv4-mapped destinations (Java, Python), TCP and UDP.
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { LAB } from '../src/lib/lab.js'
import { DEMO_JAVA_CLIENT, PRELOAD_LIBRARY, TNAT64_CLI } from '../src/lib/paths.js'
import { AppLab, keyValues, type Run, VIA_NAT64 } from './app-lab.js'
import { PYTHON, ROOT } from './helpers.js'

const UDP = join(ROOT, 'test', 'c', 'bin', 'udp')
const SERVER = LAB.serverIPv4
const ECHO = String(LAB.echoPort)
const LOCAL = { address: '127.0.0.1', http: 8081, echo: 7008 }

const t = new AppLab('udp', (lab) => lab.startServer('client', LOCAL.address, LOCAL.http, LOCAL.echo))

function under(command: string[], env: Record<string, string> = {}): Run {
  return t.inClient(command, { LD_PRELOAD: PRELOAD_LIBRARY, TNAT64_CONF_FILE: t.conf, ...env })
}

/** Runs `command` without and with the library; both must print the same (ports aside). */
function same(command: string[]): Run {
  const bare = t.inClient(command)
  const tnat64 = under(command)
  const portless = (s: string) => s.replace(/:\d+ namelen/g, ':PORT namelen')
  assert.equal(portless(tnat64.stdout), portless(bare.stdout), `${command.join(' ')}\n${tnat64.stderr}`)
  assert.equal(tnat64.status, bare.status, tnat64.stderr)
  return bare
}

function debugLog(name: string): { env: Record<string, string>; read: () => string } {
  const file = join(t.dir, `${name}.log`)
  return { env: { TNAT64_DEBUG: '2', TNAT64_DEBUG_FILE: file }, read: () => readFileSync(file, 'utf8') }
}

/** A Python AF_INET UDP exchange with the lab server's echo: what it saw. */
const PY_ECHO = [
  'import socket, sys',
  's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
  's.settimeout(3)',
  'for i in range(int(sys.argv[3])):',
  '    s.sendto(b"ping%d" % i, (sys.argv[1], int(sys.argv[2])))',
  '    data, source = s.recvfrom(100)',
  '    print(data.decode(), source, s.family.name, s.getsockname()[0])',
].join('\n')

describe('app mode: UDP through NAT64', () => {
  it('an AF_INET UDP socket fails without tnat64, and under it reaches the IPv4 server, which it sees as IPv4', () => {
    const bare = t.inClient([PYTHON, '-c', PY_ECHO, SERVER, ECHO, '1'])
    assert.notEqual(bare.status, 0)
    assert.match(bare.stderr, /Network is unreachable/)
    const log = debugLog('echo')
    const r = under([PYTHON, '-c', PY_ECHO, SERVER, ECHO, '2'], log.env)
    assert.equal(r.status, 0, r.stderr)
    assert.equal(
      r.stdout,
      "ping0 ('198.51.100.10', 7) AF_INET 0.0.0.0\nping1 ('198.51.100.10', 7) AF_INET 0.0.0.0\n",
    )
    assert.equal(log.read().match(/send fd \d+ via NAT64 to \[2001:db8:64::c633:640a\]:7: sent/g)?.length, 2)
  })

  it('gives the source through short and long buffers, MSG_PEEK and recvmsg, as the kernel gives an AF_INET one', () => {
    const local = same([UDP, 'names', LOCAL.address, String(LOCAL.echo)])
    const r = under([UDP, 'names', SERVER, ECHO])
    assert.equal(r.status, 0, r.stderr)
    assert.equal(
      r.stdout,
      local.stdout.replaceAll(`${LOCAL.address}:${LOCAL.echo}`, `${SERVER}:${ECHO}`),
      'the same lengths and truncation as over loopback',
    )
    assert.match(r.stdout, /^short\.r=4 len=16 family=2 untouched=1$/m)
    assert.match(r.stdout, /^msg\.r=2 namelen=16 from=198\.51\.100\.10:7 trunc=1$/m)
  })

  it('sends one sendmmsg to a NAT64 and a local destination in turn, and recvmmsg gives each reply its source', () => {
    same([UDP, 'mmsg', LOCAL.address, String(LOCAL.echo), LOCAL.address, String(LOCAL.echo)])
    const r = under([UDP, 'mmsg', SERVER, ECHO, LOCAL.address, String(LOCAL.echo)])
    assert.equal(r.status, 0, r.stderr)
    const kv = keyValues(r.stdout)
    assert.equal(kv.sendmmsg, '6')
    assert.deepEqual(
      Object.keys(kv)
        .filter((k) => k.startsWith('reply.'))
        .map((k) => kv[k]),
      [
        '127.0.0.1:7008 namelen=16 data=m1',
        '127.0.0.1:7008 namelen=16 data=m3',
        '127.0.0.1:7008 namelen=16 data=m5',
        '198.51.100.10:7 namelen=16 data=m0',
        '198.51.100.10:7 namelen=16 data=m2',
        '198.51.100.10:7 namelen=16 data=m4',
      ],
    )
  })

  // Not the other order: an IPv6 UDP socket disconnected keeps its last peer's address, and the
  // kernel then drops IPv6 datagrams from any other (README, known limits).
  it('connects through NAT64, sends, disconnects with AF_UNSPEC and sends to a local and a NAT64 destination in turn', () => {
    same([UDP, 'turns', LOCAL.address, String(LOCAL.echo), LOCAL.address, String(LOCAL.echo)])
    for (const [one, two] of [[SERVER, LOCAL.address]]) {
      const port = (a: string) => (a === SERVER ? ECHO : String(LOCAL.echo))
      const r = under([UDP, 'turns', one, port(one), two, port(two)])
      assert.equal(r.status, 0, r.stderr)
      const kv = keyValues(r.stdout)
      assert.equal(kv.connect, 'OK')
      assert.equal(kv['connected.reply'], `c1 from=${one}:${port(one)}`)
      assert.equal(kv.peer, `${one}:${port(one)} len=16`)
      assert.equal(kv['connected.sendto.reply'], `c2 from=${one}:${port(one)}`)
      assert.equal(kv.disconnect, 'OK')
      assert.equal(kv['peer.after'], 'ENOTCONN')
      assert.equal(kv['two.reply'], `t2 from=${two}:${port(two)}`)
      assert.equal(kv['one.reply'], `t1 from=${one}:${port(one)}`)
      assert.equal(kv['local.family'], '2 len=16')
    }
  })

  it('a socket bound to a specific IPv4 address stays on IPv4, as an AF_INET one', () => {
    same([UDP, 'bound', LOCAL.address, LOCAL.address, String(LOCAL.echo)])
    same([UDP, 'bound', LOCAL.address, SERVER, ECHO])
  })

  it('a socket bound to 0.0.0.0:PORT still sends through NAT64, from its port', () => {
    const r = under([UDP, 'send', '40300', SERVER, ECHO])
    assert.equal(r.status, 0, r.stderr)
    assert.deepEqual(keyValues(r.stdout), {
      bind: 'OK',
      send: 'OK',
      'bound.reply': 's from=198.51.100.10:7',
      'local.port.kept': '1',
    })
  })

  for (const filter of ['', ' with a filter of its own']) {
    it(`a server on 0.0.0.0 hears IPv4 senders and no native IPv6 one, as without tnat64${filter}`, () => {
      const server = [UDP, 'server', '40301', '1200', ...(filter ? ['own-filter'] : [])].join(' ')
      const senders = [
        'import socket, time',
        'time.sleep(0.3)',
        'six = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)',
        `six.sendto(b"six", ("${LAB.clientIPv6}", 40301))`,
        'four = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
        'four.sendto(b"four", ("127.0.0.1", 40301))',
      ].join('\n')
      const script = `${server} & /usr/bin/env -u LD_PRELOAD ${PYTHON} -c '${senders}'; wait`
      const bare = t.inClient(['sh', '-c', script])
      const tnat64 = under(['sh', '-c', script])
      assert.equal(bare.status, 0, bare.stderr)
      assert.equal(
        tnat64.stdout.replace(/127\.0\.0\.1:\d+/g, 'LOCAL'),
        bare.stdout.replace(/127\.0\.0\.1:\d+/g, 'LOCAL'),
      )
      assert.match(tnat64.stdout, /^count=1$/m)
    })
  }

  it('broadcast, multicast and reserved destinations go over IPv4, as without tnat64', () => {
    const r = same([UDP, 'special'])
    assert.equal(Object.keys(keyValues(r.stdout)).length, 6)
  })

  it('a server on 0.0.0.0 answers an IPv4 host over IPv4, the way its request came, though the rules say NAT64', () => {
    t.lab.setDirectIPv4(true)
    const ask = [
      'import socket',
      's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
      's.settimeout(3)',
      `s.sendto(b"who", ("${LAB.clientDirectIPv4}", 40302))`,
      'print(s.recvfrom(100))',
    ].join('\n')
    const asker = `nsenter --net=${t.lab.nsPath('server')} env -u LD_PRELOAD ${PYTHON} -c '${ask}'`
    const r = under(['sh', '-c', `${UDP} server 40302 1500 & sleep 0.3; ${asker}; wait`])
    assert.equal(r.status, 0, r.stdout + r.stderr)
    assert.match(r.stdout, /^heard=198\.51\.100\.10:\d+$/m)
    assert.match(r.stdout, /^\(b'who', \('203\.0\.113\.2', 40302\)\)$/m)
  })

  it('falls back to IPv4 when NAT64 has no route, and sends the next datagram there at once', () => {
    t.lab.setNat64Route(false)
    t.lab.setDirectIPv4(true)
    const log = debugLog('fallback')
    const r = under([PYTHON, '-c', PY_ECHO, SERVER, ECHO, '2'], log.env)
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stdout, /^ping1 \('198\.51\.100\.10', 7\) AF_INET/m)
    const lines = log.read()
    assert.equal(lines.match(/NAT64 unreachable \(ENETUNREACH\), trying IPv4/g)?.length, 1, lines)
    assert.equal(
      lines.match(/send fd \d+ via IPv4 to \[::ffff:198\.51\.100\.10\]:7: sent/g)?.length,
      2,
      lines,
    )
  })

  it('node: a udp4 socket exchanges with the IPv4 server and sees it as IPv4', () => {
    const script = [
      "const s = require('node:dgram').createSocket('udp4')",
      "s.on('message', (m, r) => { console.log(String(m), r.family, r.address, r.port); s.close() })",
      `s.send('hi', ${ECHO}, '${SERVER}')`,
      'setTimeout(() => process.exit(3), 3000).unref()',
    ].join('\n')
    const r = under([process.execPath, '-e', script])
    assert.equal(r.status, 0, r.stderr)
    assert.equal(r.stdout, 'hi IPv4 198.51.100.10 7\n')
  })
})

describe('app mode: UDP calls as the kernel answers them (review cases)', () => {
  // Each mode prints what the calls returned; loopback without and with the library, and
  // through NAT64 with it, must print the same.
  for (const mode of ['efault', 'namelen', 'partial', 'big', 'reuse']) {
    it(`${mode}: the same as an AF_INET socket, over loopback and through NAT64`, () => {
      const local = same([UDP, mode, LOCAL.address, String(LOCAL.echo)])
      const nat64 = under([UDP, mode, SERVER, ECHO])
      assert.equal(nat64.stdout, local.stdout, nat64.stderr)
    })
  }

  it('an ICMP error pending on the socket is reported by the next send, which sends nothing, as the kernel does', () => {
    // 198.18.0.1 (RFC 2544's benchmark range): the lab's router has no route to it, and says so.
    const r = under([UDP, 'pending', '198.18.0.1', '9'])
    assert.equal(r.status, 0, r.stderr)
    assert.deepEqual(keyValues(r.stdout), {
      'send.0': 'OK',
      'send.1': 'UNREACH',
      'send.2': 'OK',
      'send.3': 'UNREACH',
    })
  })

  it('a socket bound to 0.0.0.0 hears a multicast group another socket joined (IP_MULTICAST_ALL), as without tnat64', () => {
    const script = [
      'import socket, subprocess',
      'subprocess.run("ip link set lo multicast on; ip route replace 239.0.0.0/8 dev lo", shell=True)',
      'a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
      'a.bind(("0.0.0.0", 40310))',
      'a.settimeout(1)',
      'b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
      'b.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton("239.1.1.1") + socket.inet_aton("127.0.0.1"))',
      's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
      's.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))',
      's.sendto(b"group", ("239.1.1.1", 40310))',
      'print(a.recvfrom(100)[0])',
    ].join('\n')
    assert.equal(same([PYTHON, '-c', script]).stdout, "b'group'\n")
  })

  it('IP_TOS set as one byte or an int reaches the IPv4 server through NAT64', () => {
    const listen = [
      'import socket',
      's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
      's.setsockopt(socket.IPPROTO_IP, socket.IP_RECVTOS, 1)',
      `s.bind(("${SERVER}", 40311))`,
      's.settimeout(5)',
      'for _ in range(2):',
      '    data, ancillary, flags, peer = s.recvmsg(100, 100)',
      '    print(data.decode(), [c[2][0] for c in ancillary if c[1] == socket.IP_TOS])',
    ].join('\n')
    const send = [
      'import socket, time',
      'time.sleep(0.3)',
      'for value, label in ((bytes([0x28]), "byte"), ((0x48).to_bytes(4, "little"), "int")):',
      '    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
      '    s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, value)',
      `    s.sendto(label.encode(), ("${SERVER}", 40311))`,
    ].join('\n')
    const server = `nsenter --net=${t.lab.nsPath('server')} env -u LD_PRELOAD ${PYTHON} -c '${listen}'`
    const r = under(['sh', '-c', `${server} & ${PYTHON} -c '${send}'; wait`])
    assert.equal(r.status, 0, r.stderr)
    assert.equal(r.stdout, 'byte [40]\nint [72]\n')
  })

  it('a UDP socket connected over IPv4 connects again through NAT64, as an AF_INET one can', () => {
    const script = [
      'import socket',
      's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
      's.settimeout(3)',
      `for peer in (("${SERVER}", ${ECHO}), ("${LOCAL.address}", ${LOCAL.echo}), ("${SERVER}", ${ECHO})):`,
      '    s.connect(peer)',
      '    s.send(b"x")',
      '    print(s.recvfrom(10)[1], s.getpeername())',
    ].join('\n')
    const r = under([PYTHON, '-c', script])
    assert.equal(r.status, 0, r.stderr)
    const lines = r.stdout.trim().split('\n')
    assert.deepEqual(lines, [
      "('198.51.100.10', 7) ('198.51.100.10', 7)",
      `('127.0.0.1', ${LOCAL.echo}) ('127.0.0.1', ${LOCAL.echo})`,
      "('198.51.100.10', 7) ('198.51.100.10', 7)",
    ])
  })

  it('with more prefixes than the socket filter holds, unconnected datagrams through NAT64 still get their answers', () => {
    const conf = join(t.dir, 'many-prefixes.conf')
    // The lab's prefix last, after 24 others: past the room of the filter.
    const path = (subnet: string, prefix: string) =>
      `path {\n  subnet = ${subnet}\n  nat64_prefix = ${prefix}\n}`
    const others = Array.from({ length: 24 }, (_, i) =>
      path(`10.${i + 1}.0.0/16`, `2001:db8:1${(i + 1).toString(16).padStart(2, '0')}::/96`),
    )
    const lines = ['nat64_prefix = 2001:db8:ff::/96', ...others, path('198.51.100.0/24', LAB.nat64Prefix), '']
    writeFileSync(conf, lines.join('\n'))
    const r = t.inClient([PYTHON, '-c', PY_ECHO, SERVER, ECHO, '1'], {
      LD_PRELOAD: PRELOAD_LIBRARY,
      TNAT64_CONF_FILE: conf,
    })
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stdout, /^ping0 \('198\.51\.100\.10', 7\)/)
  })
})

describe("app mode: the program's own AF_INET6 sockets to IPv4-mapped addresses", () => {
  const mapped = `::ffff:${SERVER}`

  it('UDP: sendto, connect and getpeername keep the mapped address', () => {
    const script = [
      'import socket',
      's = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)',
      's.settimeout(3)',
      `s.sendto(b"one", ("${mapped}", ${ECHO}))`,
      'print(s.recvfrom(100))',
      `s.connect(("${mapped}", ${ECHO}))`,
      's.send(b"two")',
      'print(s.recv(100), s.getpeername())',
    ].join('\n')
    assert.notEqual(t.inClient([PYTHON, '-c', script]).status, 0)
    const r = under([PYTHON, '-c', script])
    assert.equal(r.status, 0, r.stderr)
    assert.equal(
      r.stdout,
      "(b'one', ('::ffff:198.51.100.10', 7, 0, 0))\nb'two' ('::ffff:198.51.100.10', 7, 0, 0)\n",
    )
  })

  it('UDP: a native exchange with the NAT64 address after a mapped one shows the native address', () => {
    const script = [
      'import socket',
      's = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)',
      's.settimeout(3)',
      `s.sendto(b"m", ("${mapped}", ${ECHO}))`,
      'print(s.recvfrom(10)[1][0])',
      `s.sendto(b"n", ("${LAB.serverNat64}", ${ECHO}))`,
      'print(s.recvfrom(10)[1][0])',
      `s.connect(("${LAB.serverNat64}", ${ECHO}))`,
      's.send(b"c")',
      'print(s.recvfrom(10)[1][0], s.getpeername()[0])',
    ].join('\n')
    const r = under([PYTHON, '-c', script])
    assert.equal(r.status, 0, r.stderr)
    assert.equal(r.stdout, `${mapped}\n${LAB.serverNat64}\n${LAB.serverNat64} ${LAB.serverNat64}\n`)
  })

  it('TCP: python connects a dual-stack socket to the mapped address', () => {
    const script = [
      'import socket',
      `s = socket.create_connection(("${mapped}", ${LAB.httpPort}), timeout=5)`,
      's.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")',
      'print(s.recv(1000).decode().splitlines()[-1], s.getpeername())',
    ].join('\n')
    const r = under([PYTHON, '-c', script])
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stdout, VIA_NAT64)
    assert.match(r.stdout, /\('::ffff:198\.51\.100\.10', 8000, 0, 0\)$/m)
  })

  it('Java (dual-stack sockets) works under tnat64 app, with no privilege', () => {
    const java = ['java', DEMO_JAVA_CLIENT, `http://${SERVER}:${LAB.httpPort}/`]
    assert.notEqual(t.inClient(java).status, 0)
    const r = t.inClient([TNAT64_CLI, 'app', '--config', t.conf, '--', ...java])
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stdout, VIA_NAT64)
  })
})

describe('app mode: DNS through an IPv4 server the program names itself', () => {
  const { server, big, bigCount } = LAB.dns
  const DNS_PYTHON = '/usr/bin/python3' // Debian's, with python3-dnspython (scripts/setup)

  it('dig @198.51.100.10: fails without tnat64; under it answers over UDP, and retries a truncated answer over TCP', () => {
    const dig = (name: string) => ['dig', '+time=2', '+tries=1', `@${SERVER}`, name, '+short']
    assert.notEqual(t.inClient(dig(server)).status, 0)
    const small = under(dig(server))
    assert.equal(small.status, 0, small.stderr)
    assert.equal(small.stdout, `${SERVER}\n`)
    const large = under(dig(big))
    assert.equal(large.status, 0, large.stderr)
    assert.equal(large.stdout.trim().split('\n').length, bigCount)
  })

  it('dnspython: UDP, and its fallback to TCP for a truncated answer', () => {
    const script = [
      'import dns.message, dns.query',
      `q = dns.message.make_query("${server}", "A")`,
      `print(dns.query.udp(q, "${SERVER}", timeout=2).answer[0][0])`,
      `r, tcp = dns.query.udp_with_fallback(dns.message.make_query("${big}", "A"), "${SERVER}", timeout=2)`,
      'print(len(r.answer[0]), "tcp" if tcp else "udp")',
    ].join('\n')
    const r = under([DNS_PYTHON, '-c', script])
    assert.equal(r.status, 0, r.stderr)
    assert.equal(r.stdout, `${SERVER}\n${bigCount} tcp\n`)
  })

  it("node's dns.Resolver (c-ares) with setServers, UDP and TCP", () => {
    const script = [
      "const r = new (require('node:dns').promises.Resolver)({ timeout: 2000, tries: 1 })",
      `r.setServers(['${SERVER}'])`,
      `r.resolve4('${server}').then((a) => console.log(a.join()))`,
      `  .then(() => r.resolve4('${big}')).then((a) => console.log(a.length))`,
      '  .catch((e) => { console.log(e.code); process.exitCode = 1 })',
    ].join('\n')
    const r = under([process.execPath, '-e', script])
    assert.equal(r.status, 0, r.stdout + r.stderr)
    assert.equal(r.stdout, `${SERVER}\n${bigCount}\n`)
  })
})
