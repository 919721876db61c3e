// App mode and glibc's resolver: on the IPv6-only client, a resolv.conf naming the lab server's
// IPv4 address gives programs under `tnat64 app` their answers through NAT64, and without tnat64
// nothing. Each command runs with its own resolv.conf, bound over /etc/resolv.conf in a private
// mount namespace, so the host's file is never touched.
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { LAB, type Lab } from '../src/lib/lab.js'
import { AppLab, keyValues, type Run, VIA_IPV4, VIA_NAT64 } from './app-lab.js'
import { PYTHON, ROOT } from './helpers.js'

const TNAT64 = join(ROOT, 'bin', 'tnat64')
const RESOLVE = join(ROOT, 'test', 'c', 'bin', 'resolve')
const NAME = 'server.tnat64.test'
const SERVER_CONF = `nameserver ${LAB.serverIPv4}\n`

// TODO(lead): use the lab's DNS server. Until then, this one: UDP and TCP on the lab server's
// address, `server.tnat64.test` A 198.51.100.10 and its PTR, NXDOMAIN for every other name.
const DNS_SERVER = String.raw`
import socket, struct, sys, threading
A = {'server.tnat64.test': '198.51.100.10'}
PTR = {'10.100.51.198.in-addr.arpa': 'server.tnat64.test'}
def encode(name):
    return b''.join(bytes([len(l)]) + l.encode() for l in name.split('.')) + b'\0'
def answer(q):
    labels, i = [], 12
    while q[i]:
        labels.append(q[i + 1:i + 1 + q[i]].decode().lower()); i += 1 + q[i]
    name, qtype = '.'.join(labels), struct.unpack('!H', q[i + 1:i + 3])[0]
    rrs = []
    if qtype == 1 and name in A:
        rrs.append(struct.pack('!HHHIH', 0xc00c, 1, 1, 60, 4) + socket.inet_aton(A[name]))
    if qtype == 12 and name in PTR:
        data = encode(PTR[name]); rrs.append(struct.pack('!HHHIH', 0xc00c, 12, 1, 60, len(data)) + data)
    flags = 0x8400 | (q[2] & 1) << 8 | (0 if name in A or name in PTR else 3)
    return q[:2] + struct.pack('!HHHHH', flags, 1, len(rrs), 0, 0) + q[12:i + 5] + b''.join(rrs)
def tcp_client(c):
    with c:
        while len(head := c.recv(2)) == 2:
            n, q = struct.unpack('!H', head)[0], b''
            while len(q) < n and (part := c.recv(n - len(q))): q += part
            r = answer(q); c.sendall(struct.pack('!H', len(r)) + r)
def tcp():
    s = socket.create_server((sys.argv[1], 53))
    while True: threading.Thread(target=tcp_client, args=(s.accept()[0],), daemon=True).start()
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); udp.bind((sys.argv[1], 53))
threading.Thread(target=tcp, daemon=True).start()
print('listening', flush=True)
while True:
    q, peer = udp.recvfrom(512); udp.sendto(answer(q), peer)
`
let dns: ChildProcess | undefined

async function startDnsServer(lab: Lab): Promise<void> {
  const [cmd, ...args] = lab.inNs('server', [PYTHON, '-c', DNS_SERVER, LAB.serverIPv4])
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] })
  dns = child
  await new Promise<void>((resolve, reject) => {
    child.stdout?.once('data', () => resolve())
    child.once('exit', (code) => reject(new Error(`the DNS server exited (${code})`)))
  })
}

const t = new AppLab('dns', startDnsServer)
after(() => dns?.kill('SIGKILL'))

let confs = 0
const BIND_RESOLV_CONF = 'mount --bind "$0" /etc/resolv.conf && exec "$@"'

/** CMD in the client namespace with `resolvConf` as its /etc/resolv.conf (a private mount). */
function withResolvConf(resolvConf: string, command: string[], env: Record<string, string> = {}): Run {
  const file = join(t.dir, `resolv-${++confs}.conf`)
  writeFileSync(file, resolvConf)
  const mount = ['unshare', '-m', '--propagation', 'private', 'sh', '-c', BIND_RESOLV_CONF, file]
  const vars = Object.entries(env).map(([k, v]) => `${k}=${v}`)
  return t.lab.exec('client', [...mount, 'env', ...vars, ...command], { check: false, timeoutMs: 60_000 })
}

/** CMD under `tnat64 app` with the lab's configuration (or `conf`), and `resolvConf`. */
function app(command: string[], resolvConf = SERVER_CONF, env: Record<string, string> = {}, conf = t.conf) {
  return withResolvConf(resolvConf, [TNAT64, 'app', '--config', conf, '--', ...command], env)
}

let logs = 0

function debugLog(): { env: Record<string, string>; read: () => string } {
  const file = join(t.dir, `dns-${++logs}.log`)
  return { env: { TNAT64_DEBUG: '2', TNAT64_DEBUG_FILE: file }, read: () => readFileSync(file, 'utf8') }
}

describe('app mode: glibc’s resolver through NAT64', () => {
  it('getent finds the name under tnat64, and nothing without it', () => {
    for (const db of ['ahosts', 'hosts']) {
      const bare = withResolvConf(SERVER_CONF, ['getent', db, NAME])
      assert.equal(bare.status, 2, bare.stdout)
      const r = app(['getent', db, NAME])
      assert.equal(r.status, 0, r.stderr)
      assert.match(r.stdout, /^198\.51\.100\.10 +(STREAM )?server\.tnat64\.test$/m)
    }
  })

  it('python’s socket.getaddrinfo finds the name', () => {
    const script = [
      'import socket',
      `print(sorted({a[4][0] for a in socket.getaddrinfo("${NAME}", 80)}))`,
      `print(socket.getaddrinfo("${NAME}", 80, socket.AF_INET, socket.SOCK_STREAM)[0][4])`,
    ].join('\n')
    const r = app([PYTHON, '-c', script])
    assert.equal(r.status, 0, r.stderr)
    assert.equal(r.stdout, "['198.51.100.10']\n('198.51.100.10', 80)\n")
  })

  it('curl reaches the server by name through NAT64', () => {
    const url = `http://${NAME}:${LAB.httpPort}/`
    assert.notEqual(withResolvConf(SERVER_CONF, ['curl', '-sS', '--max-time', '5', url]).status, 0)
    const r = app(['curl', '-sS', '--max-time', '5', url])
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stdout, VIA_NAT64)
  })

  it('serves every entry point, in any thread; getaddrinfo_a stays out of reach', () => {
    const log = debugLog()
    const r = app([RESOLVE, 'calls', NAME, LAB.serverIPv4], SERVER_CONF, log.env)
    assert.equal(r.status, 0, r.stderr)
    const out = keyValues(r.stdout)
    for (const call of ['gethostbyname', 'gethostbyname2', 'gethostbyname_r', 'gethostbyname2_r']) {
      assert.equal(out[call], `${NAME} ${LAB.serverIPv4}`, call)
    }
    assert.equal(out.gethostbyaddr, `${NAME} ${LAB.serverIPv4}`)
    assert.equal(out.gethostbyaddr_r, `${NAME} ${LAB.serverIPv4}`)
    assert.equal(out.getnameinfo, NAME)
    for (const call of [
      'res_query',
      'res_search',
      'res_querydomain',
      'res_send',
      'res_nquery',
      'res_nsearch',
      'res_nsend',
    ]) {
      assert.equal(out[call], '1 answers', call)
    }
    assert.equal(out.thread, LAB.serverIPv4)
    // Its lookups run in glibc's own threads, through calls inside libc.
    assert.equal(out.getaddrinfo_a, 'Temporary failure in name resolution')
    assert.match(log.read(), /resolver: nameserver 198\.51\.100\.10 via NAT64 \[2001:db8:64::c633:640a\]/)
  })

  it('gives an IPv4-only program its A records on a host with no IPv4 address (AI_ADDRCONFIG)', () => {
    t.lab.exec('client', ['ip', 'addr', 'del', `${LAB.clientDirectIPv4}/24`, 'dev', 'eth1'])
    try {
      const script = [
        'import socket',
        `print(socket.getaddrinfo("${NAME}", 80, socket.AF_INET, socket.SOCK_STREAM, 0, socket.AI_ADDRCONFIG)[0][4])`,
      ].join('\n')
      const r = app([PYTHON, '-c', script])
      assert.equal(r.status, 0, r.stderr)
      assert.equal(r.stdout, "('198.51.100.10', 80)\n")
      // AF_UNSPEC: IPv4 answers as such, not mapped into IPv6 as for an IPv6-only host.
      const getent = app(['getent', 'ahosts', NAME])
      assert.equal(getent.status, 0, getent.stderr)
      assert.match(getent.stdout, /^198\.51\.100\.10 +STREAM server\.tnat64\.test$/m)
    } finally {
      t.lab.exec('client', ['ip', 'addr', 'add', `${LAB.clientDirectIPv4}/24`, 'dev', 'eth1'])
    }
  })
})

describe('app mode: the resolver state', () => {
  it('is put back after each call, so a changed resolv.conf is read', () => {
    const r = app([RESOLVE, 'around', NAME, 'echo nameserver 127.0.0.1 > /etc/resolv.conf'])
    assert.equal(r.status, 0, r.stderr)
    const out = keyValues(r.stdout)
    assert.equal(out.before, LAB.serverIPv4)
    assert.equal(out.nameserver_before, `AF_INET ${LAB.serverIPv4}:53`)
    // Nothing answers on the client's 127.0.0.1: the new file is in force.
    assert.equal(out.nameserver_after, 'AF_INET 127.0.0.1:53')
    assert.notEqual(out.after, LAB.serverIPv4)
  })

  it('keeps no socket to the NAT64 address open (RES_STAYOPEN) when IPv4 takes over', () => {
    t.lab.setDirectIPv4(true)
    // One attempt: a send on a socket left to the NAT64 address would fail the lookup.
    const resolvConf = `${SERVER_CONF}options attempts:1\n`
    const r = app([RESOLVE, 'around', NAME, `ip route del ${LAB.nat64Prefix}`, 'stayopen'], resolvConf)
    assert.equal(r.status, 0, r.stderr)
    const out = keyValues(r.stdout)
    assert.equal(out.before, LAB.serverIPv4)
    assert.equal(out.after, LAB.serverIPv4)
  })

  for (const mode of ['', 'stayopen']) {
    it(`2000 lookups in one process${mode ? ' (RES_STAYOPEN)' : ''} leak no memory and no descriptor`, () => {
      const r = app([RESOLVE, 'lookups', NAME, '2000', ...(mode ? [mode] : [])])
      assert.equal(r.status, 0, r.stderr)
      const out = keyValues(r.stdout)
      assert.equal(out.lookups, '2000/2000')
      assert.ok(Number(out.rss_growth_kb) < 256, out.rss_growth_kb)
      assert.equal(out.fds_growth, '0')
      assert.equal(out.nameserver, `AF_INET ${LAB.serverIPv4}:53`)
    })
  }
})

describe('app mode: nameservers it leaves alone, and the fallback', () => {
  it('leaves a nameserver on 127.0.0.1 alone', () => {
    const log = debugLog()
    const bare = withResolvConf('nameserver 127.0.0.1\n', ['getent', 'hosts', NAME])
    const r = app(['getent', 'hosts', NAME], 'nameserver 127.0.0.1\n', log.env)
    assert.equal(r.status, bare.status)
    assert.match(log.read(), /resolver: nameserver 127\.0\.0\.1 over IPv4 \(local\)/)
    assert.doesNotMatch(log.read(), /via NAT64/)
  })

  it('asks a nameserver of a `local` network over IPv4', () => {
    t.lab.setDirectIPv4(true)
    const conf = join(t.dir, 'local.conf')
    writeFileSync(conf, `nat64_prefix = ${LAB.nat64Prefix}\nlocal = 198.51.100.0/24\n`)
    const log = debugLog()
    const r = app(['getent', 'hosts', NAME], SERVER_CONF, log.env, conf)
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stdout, /^198\.51\.100\.10 +server\.tnat64\.test$/m)
    assert.match(log.read(), /resolver: nameserver 198\.51\.100\.10 over IPv4 \(local\)/)
  })

  it('asks over IPv4 when NAT64 has no route, then keeps to IPv4 for a while', () => {
    t.lab.setNat64Route(false)
    t.lab.setDirectIPv4(true)
    const log = debugLog()
    const r = app([RESOLVE, 'lookups', NAME, '3'], SERVER_CONF, log.env)
    assert.equal(r.status, 0, r.stderr)
    assert.equal(keyValues(r.stdout).lookups, '3/3')
    const lines = log.read()
    assert.equal(
      lines.match(/resolver: nameserver 198\.51\.100\.10: NAT64 unreachable \(ENETUNREACH\), over IPv4/g)
        ?.length,
      1,
      lines,
    )
    assert.equal(
      lines.match(/nameserver 198\.51\.100\.10 over IPv4 \(NAT64 failed lately\)/g)?.length,
      3,
      lines,
    )
    const curl = app(['curl', '-sS', '--max-time', '5', `http://${NAME}:${LAB.httpPort}/`])
    assert.equal(curl.status, 0, curl.stderr)
    assert.match(curl.stdout, VIA_IPV4)
  })

  it('passes every call through when tnat64 is off (a broken prefix)', () => {
    const r = withResolvConf(SERVER_CONF, ['getent', 'hosts', NAME], {
      LD_PRELOAD: join(ROOT, 'preload', 'libtnat64.so'),
      TNAT64_PREFIX: 'nonsense',
    })
    assert.equal(r.status, 2)
    assert.match(r.stderr, /tnat64 is off in this process/)
  })
})
