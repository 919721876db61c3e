// App mode in the lab: real IPv4-only programs in the IPv6-only client reach the IPv4-only server
// through tayga under `tnat64 app`, see IPv4 addresses, fall back to IPv4, and lose nothing.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { LAB } from '../src/lib/lab.js'
import { PRELOAD_LIBRARY, TNAT64_CLI } from '../src/lib/paths.js'
import { AppLab, keyValues, VIA_IPV4, VIA_NAT64 } from './app-lab.js'
import { FIXTURES, PYTHON, ROOT } from './helpers.js'

const CLIENT = join(ROOT, 'test', 'c', 'bin', 'client')
const URL = `http://${LAB.serverIPv4}:${LAB.httpPort}/`

const t = new AppLab('app')

/** CMD under `tnat64 app --config CONF`, in the client namespace. */
function app(command: string[], env: Record<string, string> = {}, flags = ['--config', t.conf]) {
  return t.inClient([TNAT64_CLI, 'app', ...flags, '--', ...command], env)
}

/** Connects an AF_INET socket and tells which family the kernel really holds (it lists the
 * connection in /proc/net/tcp for AF_INET, in /proc/net/tcp6 for AF_INET6). */
const KERNEL_FAMILY = [
  'import socket, sys',
  's = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)',
  'port = ":%04X" % s.getsockname()[1]',
  'local = [line.split()[1] for line in open("/proc/net/tcp").readlines()[1:]]',
  'print("AF_INET" if any(a.endswith(port) for a in local) else "AF_INET6")',
].join('\n')

function debugLog(name: string): { env: Record<string, string>; read: () => string } {
  const file = join(t.dir, `${name}.log`)
  return { env: { TNAT64_DEBUG: '2', TNAT64_DEBUG_FILE: file }, read: () => readFileSync(file, 'utf8') }
}

describe('app mode: IPv4-only programs through NAT64', () => {
  it('curl with an IPv4 literal fails without tnat64 and works under it', () => {
    const bare = t.inClient(['curl', '-sS', '--max-time', '5', URL])
    assert.notEqual(bare.status, 0)
    const r = app(['curl', '-sS', '--max-time', '5', URL])
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stdout, VIA_NAT64)
  })

  it('python urllib works and its socket is AF_INET with the IPv4 peer', () => {
    const script = [
      'import socket, urllib.request',
      `print(urllib.request.urlopen('${URL}', timeout=5).read().decode().strip())`,
      `s = socket.create_connection(('${LAB.serverIPv4}', ${LAB.echoPort}), timeout=5)`,
      'print(s.family.name, s.getpeername(), s.getsockname()[0])',
    ].join('\n')
    const r = app([PYTHON, '-c', script])
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stdout, VIA_NAT64)
    assert.match(r.stdout, /^AF_INET \('198\.51\.100\.10', 7\) 192\.0\.0\.1$/m)
  })

  it('wget works', () => {
    const r = app(['wget', '-q', '-T', '5', '-O', '-', URL])
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stdout, VIA_NAT64)
  })

  for (const mode of ['http', 'http-nb']) {
    it(`the C client (${mode === 'http' ? 'blocking' : 'non-blocking, poll + SO_ERROR'}) sees AF_INET names of its own connection`, () => {
      const r = app([CLIENT, mode, LAB.serverIPv4, String(LAB.httpPort)])
      assert.equal(r.status, 0, r.stdout + r.stderr)
      const out = keyValues(r.stdout)
      assert.equal(out.peer, `AF_INET ${LAB.serverIPv4}:${LAB.httpPort} len=16`)
      const local = /^AF_INET 192\.0\.0\.1:(\d+) len=16$/.exec(out.local)
      assert.ok(local, out.local)
      // The server saw the same port: the names describe this connection.
      assert.equal(VIA_NAT64.exec(out.body)?.[2], local[1])
      if (mode === 'http-nb') assert.equal(out.connect, 'in-progress')
    })
  }

  it('keeps the kernel’s rules for short buffers, and IP-level options work', () => {
    const r = app([CLIENT, 'names', LAB.serverIPv4, String(LAB.echoPort)])
    assert.equal(r.status, 0, r.stdout + r.stderr)
    const out = keyValues(r.stdout)
    assert.equal(out.short_peer_len, '16 short_peer_family=AF_INET short_peer_untouched=yes')
    assert.equal(out.zero_len_getsockname, 'ok len=16')
    assert.equal(out.ip_tos_set, 'ok')
    assert.equal(out.ip_tos_get, 'ok value=16')
    assert.equal(out.so_domain, 'AF_INET')
    assert.equal(out.dup_peer, `AF_INET ${LAB.serverIPv4}:${LAB.echoPort} len=16`)
  })

  it('takes the prefix from --prefix without a configuration file, and exec keeps the preload', () => {
    const r = t.inClient(
      [TNAT64_CLI, 'app', '--prefix', LAB.nat64Prefix, 'sh', '-c', `exec curl -sS --max-time 5 ${URL}`],
      {
        TNAT64_CONF_FILE: '',
      },
    )
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stdout, VIA_NAT64)
  })
})

describe('app mode: fallback to IPv4', () => {
  it('falls back when the NAT64 route is missing, then goes straight to IPv4 from the cache', () => {
    t.lab.setNat64Route(false)
    t.lab.setDirectIPv4(true)
    const curl = app(['curl', '-sS', '--max-time', '5', URL])
    assert.equal(curl.status, 0, curl.stderr)
    assert.match(curl.stdout, VIA_IPV4)

    const log = debugLog('route')
    const r = app([CLIENT, 'repeat', LAB.serverIPv4, String(LAB.echoPort), '3'], log.env)
    assert.equal(r.status, 0, r.stdout)
    const lines = log.read()
    assert.equal(lines.match(/NAT64 unreachable \(ENETUNREACH\), trying IPv4/g)?.length, 1, lines)
    assert.equal(lines.match(/via NAT64/g)?.length, 1, lines)
    assert.equal(lines.match(/via IPv4 to \[::ffff:198\.51\.100\.10\]:7: connected/g)?.length, 3, lines)
  })

  it('falls back for a non-blocking connect whose route is missing', () => {
    t.lab.setNat64Route(false)
    t.lab.setDirectIPv4(true)
    const r = app([CLIENT, 'http-nb', LAB.serverIPv4, String(LAB.httpPort)])
    assert.equal(r.status, 0, r.stdout)
    const out = keyValues(r.stdout)
    assert.match(out.body, VIA_IPV4)
    assert.match(out.local, /^AF_INET 203\.0\.113\.2:\d+ len=16$/)
  })

  it('falls back when the NAT64 answers "no route" after the SYN (blocking), and learns it from SO_ERROR (non-blocking)', () => {
    t.lab.setRouterNat64(false)
    t.lab.setDirectIPv4(true)
    const blocking = app([CLIENT, 'http', LAB.serverIPv4, String(LAB.httpPort)])
    assert.equal(blocking.status, 0, blocking.stdout)
    assert.match(keyValues(blocking.stdout).body, VIA_IPV4)

    // A non-blocking connect learns of the failure only through SO_ERROR: that one is lost, and
    // it is recorded, so the next connect to the destination goes over IPv4 at once.
    const log = debugLog('async')
    const script = [
      'import socket, select, errno',
      'def attempt():',
      '    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM); s.setblocking(False)',
      `    s.connect_ex(('${LAB.serverIPv4}', ${LAB.httpPort})); select.select([], [s], [], 5)`,
      '    e = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR); s.close(); return errno.errorcode.get(e, "OK")',
      'print(attempt(), attempt())',
    ].join('\n')
    const r = app([PYTHON, '-c', script], log.env)
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stdout, /^(EHOSTUNREACH|ENETUNREACH) OK$/m, log.read())
    assert.match(log.read(), /NAT64 connect failed .*; next time the other way first/)
  })

  it('gives the application the native error when neither way works', () => {
    t.lab.setNat64Route(false)
    const bare = t.inClient(['curl', '-sS', '--max-time', '5', URL])
    const r = app(['curl', '-sS', '--max-time', '5', URL])
    assert.equal(r.status, bare.status)
    assert.match(bare.stderr, /Couldn't connect to server/)
    assert.match(r.stderr, /Couldn't connect to server/)
    const log = debugLog('none')
    const c = app([CLIENT, 'http', LAB.serverIPv4, String(LAB.httpPort)], log.env)
    assert.notEqual(c.status, 0)
    assert.match(keyValues(c.stdout).error, /^connect: Network is unreachable$/)
  })
})

describe('app mode: what it leaves alone', () => {
  it('keeps local destinations local: a server on 127.0.0.1', async () => {
    await t.lab.startServer('client', '127.0.0.1', 8080, 7007)
    const r = app([CLIENT, 'http', '127.0.0.1', '8080'])
    assert.equal(r.status, 0, r.stdout + r.stderr)
    const out = keyValues(r.stdout)
    assert.equal(out.peer, 'AF_INET 127.0.0.1:8080 len=16')
    assert.match(out.local, /^AF_INET 127\.0\.0\.1:\d+ len=16$/)
    assert.match(out.body, /hello 127\.0\.0\.1 /)
  })

  it('serves a program that listens as well: bind and accept stay IPv4', () => {
    const script = [
      'import socket',
      'srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM); srv.bind(("127.0.0.1", 0)); srv.listen()',
      'cli = socket.create_connection(srv.getsockname()); conn, peer = srv.accept()',
      'print(srv.getsockname()[0], srv.family.name, peer[0], conn.getpeername() == peer, cli.getpeername() == srv.getsockname())',
    ].join('\n')
    const r = app([PYTHON, '-c', script])
    assert.equal(r.status, 0, r.stderr)
    assert.equal(r.stdout, '127.0.0.1 AF_INET 127.0.0.1 True True\n')
  })

  it('leaves netlink, unix and native IPv6 sockets untouched', () => {
    const bare = t.inClient(['ip', '-4', 'addr'])
    const under = app(['ip', '-4', 'addr'])
    assert.equal(under.status, 0, under.stderr)
    assert.equal(under.stdout, bare.stdout)
    const unix = [
      'import socket, os, tempfile',
      'p = os.path.join(tempfile.mkdtemp(), "s"); srv = socket.socket(socket.AF_UNIX); srv.bind(p); srv.listen()',
      'c = socket.socket(socket.AF_UNIX); c.connect(p); a, _ = srv.accept(); a.sendall(b"echo"); print(c.recv(4).decode(), c.getpeername() == p, c.family.name)',
      `v6 = socket.create_connection(("${LAB.serverNat64}", ${LAB.echoPort}), timeout=5); print(v6.family.name, v6.getsockname()[0])`,
    ].join('\n')
    const r = app([PYTHON, '-c', unix])
    assert.equal(r.status, 0, r.stderr)
    assert.equal(r.stdout, `echo True AF_UNIX\nAF_INET6 ${LAB.clientIPv6}\n`)
  })
})

describe('app mode: threads, forks, descriptors', () => {
  it('a threaded client loses no connection and leaks no descriptor', () => {
    const r = app([CLIENT, 'threads', LAB.serverIPv4, String(LAB.echoPort), '16', '40'])
    assert.equal(r.status, 0, r.stdout)
    assert.match(r.stdout, /^connections=640 failures=0 fds_before=(\d+) fds_after=\1$/m)
  })

  it('a forking client loses no connection and leaks no descriptor', () => {
    const r = app([CLIENT, 'fork', LAB.serverIPv4, String(LAB.echoPort), '8', '40'])
    assert.equal(r.status, 0, r.stdout)
    assert.match(r.stdout, /^connections=321 failures=0 fds_before=(\d+) fds_after=\1$/m)
  })
})

describe('app mode: bad configuration', () => {
  const broken = join(FIXTURES, 'config', 'broken.conf')

  it('tnat64 app refuses a broken configuration with its lines, before running anything', () => {
    const r = app(['sh', '-c', 'echo ran'], {}, ['--config', broken])
    assert.equal(r.status, 2)
    assert.equal(r.stdout, '')
    assert.match(r.stderr, /broken\.conf:2: .*host bits/)
    const prefix = app(['true'], {}, ['--prefix', '2001:db8::/33'])
    assert.equal(prefix.status, 2)
    assert.match(prefix.stderr, /^tnat64: --prefix: .*\/33/)
  })

  it('under a plain LD_PRELOAD the program runs untouched, with one warning line', async () => {
    await t.lab.startServer('client', '127.0.0.2', 8081, 7008)
    for (const env of [{ TNAT64_CONF_FILE: broken }, { TNAT64_PREFIX: 'not-a-prefix' }] as Record<
      string,
      string
    >[]) {
      const r = t.inClient([PYTHON, '-c', KERNEL_FAMILY, '127.0.0.2', '8081'], {
        LD_PRELOAD: PRELOAD_LIBRARY,
        ...env,
      })
      assert.equal(r.status, 0, r.stderr)
      assert.equal(r.stdout, 'AF_INET\n') // passed through: the kernel holds a real AF_INET socket
      const lines = r.stderr.trim().split('\n')
      assert.equal(lines.length, 1, r.stderr)
      assert.match(lines[0], /^tnat64\[\d+\]: .*tnat64 is off in this process, calls pass through unchanged$/)
    }
    const swapped = t.inClient([PYTHON, '-c', KERNEL_FAMILY, '127.0.0.2', '8081'], {
      LD_PRELOAD: PRELOAD_LIBRARY,
    })
    assert.equal(swapped.stdout, 'AF_INET6\n')
    assert.equal(swapped.stderr, '')
  })
})
