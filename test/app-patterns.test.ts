// App mode against the ways real clients use sockets (test/c/patterns.c, curl, python): each runs
// with and without libtnat64 and must see the same, except that its IPv4 connections now work.
// Loopback comparisons run in the lab's client namespace against a server on 127.0.0.1; NAT64
// ones against the lab's IPv4-only server through tayga.
import assert from 'node:assert/strict'
import { chmodSync, chownSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { LAB } from '../src/lib/lab.js'
import { PRELOAD_LIBRARY, TNAT64_CLI } from '../src/lib/paths.js'
import { AppLab, keyValues, type Run, VIA_IPV4, VIA_NAT64 } from './app-lab.js'
import { PYTHON, ROOT } from './helpers.js'

const PATTERNS = join(ROOT, 'test', 'c', 'bin', 'patterns')
/** libtnat64.so built to cache descriptors 0-63 only (test/c/Makefile). */
const SMALL_REGISTRY_LIBRARY = join(ROOT, 'test', 'c', 'bin', 'small-registry', 'libtnat64.so')
const LOCAL = { address: '127.0.0.1', http: 8080, echo: 7007 }
const SERVER = LAB.serverIPv4

const t = new AppLab('pat', (lab) => lab.startServer('client', LOCAL.address, LOCAL.http, LOCAL.echo))

/** Under the library, configured for the lab's NAT64 (a plain LD_PRELOAD, as `tnat64 app --env` gives). */
function under(command: string[], env: Record<string, string> = {}, timeoutMs?: number): Run {
  return t.inClient(command, { LD_PRELOAD: PRELOAD_LIBRARY, TNAT64_CONF_FILE: t.conf, ...env }, timeoutMs)
}

/** Output with the numbers that differ from run to run (ports) taken out. */
function portless(text: string): string {
  return text.replace(/:\d+ len=/g, ':PORT len=').replace(/port \d+/g, 'port PORT')
}

/** Runs `command` without and with the library; both must print the same. */
function same(command: string[], env: Record<string, string> = {}): Run {
  const bare = t.inClient(command, env)
  const tnat64 = under(command, env)
  assert.equal(portless(tnat64.stdout), portless(bare.stdout), `${command.join(' ')}\n${tnat64.stderr}`)
  assert.equal(tnat64.status, bare.status, tnat64.stderr)
  return bare
}

describe('bind() before connect()', () => {
  it('is the same as without tnat64 on loopback, for the wildcard, a specific address and IP_BIND_ADDRESS_NO_PORT', () => {
    for (const [address, port, to] of [
      ['0.0.0.0', '40101', LOCAL.address],
      ['127.0.0.1', '40102', LOCAL.address],
      ['0.0.0.0', 'noport', LOCAL.address],
      ['0.0.0.0', '0', '0.0.0.0'], // this host: the kernel connects it to 127.0.0.1, and says so
    ]) {
      const r = same([PATTERNS, 'bind', address, port, to, String(LOCAL.http)])
      assert.equal(r.status, 0, r.stdout)
    }
  })

  it('bound to the wildcard: through NAT64 with the port the program chose (C, curl --local-port, python source_address)', () => {
    const c = under([PATTERNS, 'bind', '0.0.0.0', '40111', SERVER, String(LAB.httpPort)])
    assert.equal(c.status, 0, c.stdout + c.stderr)
    const out = keyValues(c.stdout)
    assert.equal(out.local, 'AF_INET 192.0.0.1:40111 len=16')
    assert.equal(out.peer, `AF_INET ${SERVER}:${LAB.httpPort} len=16`)
    assert.equal(VIA_NAT64.exec(out.body)?.[2], '40111')

    const url = `http://${SERVER}:${LAB.httpPort}/`
    const curl = under(['curl', '-sS', '--max-time', '5', '--local-port', '40112', url])
    assert.equal(curl.status, 0, curl.stderr)
    assert.equal(VIA_NAT64.exec(curl.stdout)?.[2], '40112')

    const script = `import socket; s = socket.create_connection(("${SERVER}", ${LAB.echoPort}), 5, ("", 40113)); print(s.getsockname())`
    const py = under([PYTHON, '-c', script])
    assert.equal(py.status, 0, py.stderr)
    assert.equal(py.stdout, "('192.0.0.1', 40113)\n")

    const noPort = under([PATTERNS, 'bind', '0.0.0.0', 'noport', SERVER, String(LAB.httpPort)])
    assert.equal(noPort.status, 0, noPort.stdout)
    assert.match(keyValues(noPort.stdout).body, VIA_NAT64)
  })

  it('bound to a specific IPv4 address: over IPv4, failing as it would without tnat64 when there is no IPv4 route', () => {
    const command = [PATTERNS, 'bind', LAB.clientDirectIPv4, '0', SERVER, String(LAB.httpPort)]
    const bare = t.inClient(command)
    const r = under(command)
    assert.equal(keyValues(r.stdout).connect, 'ENETUNREACH')
    assert.equal(r.stdout, bare.stdout)
    t.lab.setDirectIPv4(true)
    const direct = under(command)
    assert.equal(direct.status, 0, direct.stdout)
    assert.equal(portless(direct.stdout), portless(t.inClient(command).stdout))
    assert.match(keyValues(direct.stdout).body, VIA_IPV4)
  })

  it('bindresvport() binds a reserved port, on loopback as without tnat64 and through NAT64', () => {
    same([PATTERNS, 'resvport', LOCAL.address, String(LOCAL.http)])
    const r = under([PATTERNS, 'resvport', SERVER, String(LAB.httpPort)])
    assert.equal(r.status, 0, r.stdout)
    assert.equal(keyValues(r.stdout).bindresvport, 'OK reserved=yes')
    const port = Number(VIA_NAT64.exec(keyValues(r.stdout).body)?.[2])
    assert.ok(port >= 512 && port < 1024, r.stdout)
  })

  it('a successful connect leaves errno as it was, also after a fallback', () => {
    t.lab.setNat64Route(false)
    t.lab.setDirectIPv4(true)
    const r = under([PATTERNS, 'bind', '0.0.0.0', '0', SERVER, String(LAB.httpPort)])
    assert.equal(r.status, 0, r.stdout)
    assert.equal(keyValues(r.stdout).errno_after, 'untouched')
    assert.match(keyValues(r.stdout).body, VIA_IPV4)
  })
})

describe('listening sockets', () => {
  it('accept exactly what an AF_INET socket accepts: IPv4 clients, never native IPv6 ones', () => {
    for (const bound of ['none', '0.0.0.0', '127.0.0.1']) {
      const r = same([PATTERNS, 'listen', bound])
      const out = keyValues(r.stdout)
      assert.equal(out.ipv4_client, 'yes')
      assert.equal(out.ipv6_client, 'no')
      assert.equal(out.accepted_more, 'EAGAIN')
    }
  })
})

describe('TCP Fast Open', () => {
  it('sendto(MSG_FASTOPEN) connects as connect() would: on loopback as without tnat64, and through NAT64', () => {
    same([PATTERNS, 'fastopen', LOCAL.address, String(LOCAL.http)])
    const r = under([PATTERNS, 'fastopen', SERVER, String(LAB.httpPort)])
    assert.equal(r.status, 0, r.stdout + r.stderr)
    const out = keyValues(r.stdout)
    assert.equal(out.peer, `AF_INET ${SERVER}:${LAB.httpPort} len=16`)
    assert.match(out.body, VIA_NAT64)
  })
})

describe('the debug log stays out of the program', () => {
  it('lives on a high close-on-exec descriptor, and a program that closes it and reuses the number gets no log line', () => {
    const log = join(t.dir, 'closefrom.log')
    const env = { TNAT64_DEBUG: '2', TNAT64_DEBUG_FILE: log }
    const bareData = join(t.dir, 'bare.data')
    const data = join(t.dir, 'under.data')
    t.inClient([PATTERNS, 'closefrom', SERVER, String(LAB.httpPort), bareData])
    const r = under([PATTERNS, 'closefrom', SERVER, String(LAB.httpPort), data], env)
    assert.equal(r.status, 0, r.stdout + r.stderr)
    assert.equal(keyValues(r.stdout).log_fd, 'high-cloexec')
    assert.equal(readFileSync(data, 'utf8'), 'data\nmore\n')
    const lines = readFileSync(log, 'utf8')
    assert.equal(lines.match(/connect fd \d+ via NAT64 .*: connected/g)?.length, 2, lines)
  })

  it('is never a FIFO, a symbolic link or a file another user planted, and is created 0600', () => {
    const fifo = join(t.dir, 'log.fifo')
    t.lab.exec('client', ['mkfifo', fifo])
    const link = join(t.dir, 'log.link')
    symlinkSync(join(t.dir, 'target.log'), link)
    const shared = join(t.dir, 'shared')
    mkdirSync(shared, { mode: 0o1777 })
    chmodSync(shared, 0o1777)
    const planted = join(shared, 'planted.log')
    writeFileSync(planted, '')
    chownSync(planted, 65534, 65534)
    for (const file of [fifo, link, planted]) {
      const r = under(
        [PATTERNS, 'listen', '127.0.0.1'],
        { TNAT64_DEBUG: '1', TNAT64_DEBUG_FILE: file },
        10_000,
      )
      assert.equal(r.status, 0, `${file}: ${r.stderr}`) // no hang on the FIFO: it returned
      assert.match(
        r.stderr,
        /TNAT64_DEBUG_FILE .* is not a regular file of this user's that can be written; logging to stderr/,
      )
    }
    assert.equal(readFileSync(planted, 'utf8'), '')
    const fresh = join(t.dir, 'fresh.log')
    const r = under(['true'], { TNAT64_DEBUG: '1', TNAT64_DEBUG_FILE: fresh })
    assert.equal(r.status, 0)
    const mode = t.lab.exec('client', ['stat', '-c', '%a', fresh]).stdout.trim()
    assert.equal(mode, '600')
  })
})

describe('warnings and the log never land in the program’s files', () => {
  it('a warning at connect time is dropped when stderr was closed and a file of the program’s took its place', () => {
    const empty = join(t.dir, 'empty.conf')
    writeFileSync(empty, '')
    const data = join(t.dir, 'stderr.data')
    const r = under([PATTERNS, 'stderr-data', SERVER, String(LAB.httpPort), data], {
      TNAT64_CONF_FILE: empty,
    })
    assert.equal(r.status, 0)
    assert.equal(readFileSync(data, 'utf8'), 'data\n')
  })

  it('a relative TNAT64_DEBUG_FILE stays where it was when the program changes directory', () => {
    const app = join(t.dir, 'chdir-app')
    mkdirSync(app)
    writeFileSync(join(app, 'debug.log'), 'the program’s own file\n')
    const r = t.lab.exec(
      'client',
      [
        'sh',
        '-c',
        `cd ${t.dir} && LD_PRELOAD=${PRELOAD_LIBRARY} TNAT64_CONF_FILE=${t.conf} TNAT64_DEBUG=2 TNAT64_DEBUG_FILE=debug.log ${PATTERNS} chdir-log ${app} ${SERVER} ${LAB.echoPort}`,
      ],
      { check: false },
    )
    assert.equal(r.status, 0, r.stdout + r.stderr)
    assert.equal(readFileSync(join(app, 'debug.log'), 'utf8'), 'the program’s own file\n')
    assert.match(readFileSync(join(t.dir, 'debug.log'), 'utf8'), /connect fd 3 via NAT64 .*: connected/)
  })
})

describe('a refused call changes nothing', () => {
  it('connect() again on a pending or a connected socket answers and keeps the peer as without tnat64', () => {
    const r = same([PATTERNS, 'already'])
    const out = keyValues(r.stdout)
    assert.equal(out.second_elsewhere, 'EALREADY')
    assert.equal(out.connected_elsewhere, 'EISCONN')
    assert.equal(out.connected_peer_is_first, 'yes')
  })
})

describe('a connect after a connect, and SO_ERROR', () => {
  it('connect() elsewhere after a non-blocking connect completed keeps the first peer, and errno', () => {
    const r = same([PATTERNS, 'reconnect', LOCAL.address, String(LOCAL.echo), String(LOCAL.http)])
    assert.equal(keyValues(r.stdout).elsewhere, 'OK errno_after=untouched')
    const nat64 = under([PATTERNS, 'reconnect', SERVER, String(LAB.echoPort), String(LAB.httpPort)])
    assert.equal(keyValues(nat64.stdout).peer, `AF_INET ${SERVER}:${LAB.echoPort} len=16`)
    assert.equal(keyValues(nat64.stdout).elsewhere, 'OK errno_after=untouched')
  })

  it('a pending connect shut down leaves the socket free to connect elsewhere, as without tnat64', () => {
    const r = same([PATTERNS, 'shutdown', LOCAL.address, String(LOCAL.echo)])
    assert.equal(keyValues(r.stdout).peer, `AF_INET ${LOCAL.address}:${LOCAL.echo} len=16`)
    // Its first attempt went over IPv4, so it stays there, as the AF_INET socket does.
    same([PATTERNS, 'shutdown', SERVER, String(LAB.echoPort)])
    t.lab.setDirectIPv4(true)
    const direct = same([PATTERNS, 'shutdown', SERVER, String(LAB.echoPort)])
    assert.equal(keyValues(direct.stdout).peer, `AF_INET ${SERVER}:${LAB.echoPort} len=16`)
  })

  it('a listener shut down, or one whose listen() failed, connects through NAT64 like any socket', () => {
    for (const how of ['bound', 'none', 'failed']) {
      const command = [PATTERNS, 'listener-connects', SERVER, String(LAB.echoPort), how]
      const out = keyValues(under(command).stdout)
      assert.equal(out.filter_length, '0', how)
      // Never bound, listen() bound it to IPv4 as it binds an AF_INET socket: it stays there.
      assert.equal(out.connect, how === 'none' ? keyValues(t.inClient(command).stdout).connect : 'OK', how)
      same([PATTERNS, 'listener-connects', LOCAL.address, String(LOCAL.echo), how])
    }
  })

  it('SO_ERROR on a pending connect leaves errno as it was', () => {
    const r = same([PATTERNS, 'soerror'])
    assert.equal(r.stdout, 'so_error=OK value=0 errno_after=untouched\n')
  })
})

describe('socket options and listen() on any socket', () => {
  it('listen() on a connected socket fails and leaves its traffic alone, also through NAT64', () => {
    same([PATTERNS, 'listen-connected', LOCAL.address, String(LOCAL.echo)])
    const r = under([PATTERNS, 'listen-connected', SERVER, String(LAB.echoPort)])
    assert.equal(r.stdout, 'connect=OK\nlisten=EINVAL\necho=hello\n')
  })

  it('the program’s own socket filters stay its own, and the library’s is not seen', () => {
    const r = same([PATTERNS, 'filters'])
    const out = keyValues(r.stdout)
    assert.equal(out.own_filter_length, '2')
    assert.equal(out.own_locked_listen, 'OK')
    assert.equal(out.none_filter_length, '0')
    assert.equal(out.none_detach, 'ENOENT')
  })

  it('SO_PEERNAME and a short SO_DOMAIN answer as on an AF_INET socket; a connected socket says EISCONN to any address', () => {
    same([PATTERNS, 'options', LOCAL.address, String(LOCAL.echo)])
    const r = under([PATTERNS, 'options', SERVER, String(LAB.echoPort)])
    const out = keyValues(r.stdout)
    assert.equal(out.peername_16, `AF_INET ${SERVER}:${LAB.echoPort} len=16`)
    assert.equal(out.peername_24, 'EINVAL')
    assert.equal(out.domain_2, '2 len=2')
    assert.equal(out.connected_inet6, 'EISCONN')
  })
})

describe('processes and descriptors', () => {
  it('a vfork child’s dup2 and close leave the parent’s sockets as they were', () => {
    same([PATTERNS, 'vfork', LOCAL.address, String(LOCAL.http)])
    const r = under([PATTERNS, 'vfork', SERVER, String(LAB.httpPort)])
    assert.equal(r.status, 0, r.stdout)
    assert.equal(keyValues(r.stdout).socket_peer, `AF_INET ${SERVER}:${LAB.httpPort} len=16`)
    assert.equal(keyValues(r.stdout).unix_domain, 'AF_UNIX')
  })

  it('a socket inherited across exec is still AF_INET with its IPv4 peer in the new image', () => {
    same([PATTERNS, 'exec', LOCAL.address, String(LOCAL.http)])
    const r = under([PATTERNS, 'exec', SERVER, String(LAB.httpPort)])
    assert.equal(r.status, 0, r.stdout)
    const out = keyValues(r.stdout)
    assert.equal(out.inherited_peer, `AF_INET ${SERVER}:${LAB.httpPort} len=16`)
    assert.match(out.inherited_local, /^AF_INET 192\.0\.0\.1:\d+ len=16$/)
    assert.equal(out.inherited_domain, 'AF_INET')
    assert.match(out.body, VIA_NAT64)
  })

  it('a listener inherited across exec still keeps IPv6 clients out, and its filter unseen', () => {
    const r = same([PATTERNS, 'listen-exec'])
    assert.equal(r.stdout, 'inherited_filter_length=0\nipv4_client=yes\nipv6_client=no\n')
  })

  it('a native IPv6 socket received over a unix socket into a number closed by fclose() stays native', () => {
    const r = same([PATTERNS, 'scm-stale'])
    assert.equal(r.stdout, 'same_number=yes\nlisten=OK\nlocal_family=AF_INET6\nipv6_client=yes\n')
  })

  it('a socket closed behind the library’s back (fclose, a raw close) and its number reused is not taken for a swapped one', () => {
    const r = same([PATTERNS, 'reuse', LOCAL.address, String(LOCAL.http)])
    const out = keyValues(r.stdout)
    assert.equal(out.fclose_same_number, 'yes')
    assert.equal(out.syscall_connect, 'OK')
  })

  it('a connection accepted on a descriptor beyond the registry is served, not left as IPv6', () => {
    const command = [PATTERNS, 'beyond', LOCAL.address]
    const bare = t.inClient(command)
    const small = t.inClient(command, { LD_PRELOAD: SMALL_REGISTRY_LIBRARY, TNAT64_CONF_FILE: t.conf })
    assert.equal(portless(small.stdout), portless(bare.stdout), small.stderr)
    assert.equal(keyValues(small.stdout).accepted_high, 'yes')
    assert.equal(keyValues(small.stdout).accepted_domain, 'AF_INET')
    assert.match(keyValues(small.stdout).accepted_peer, /^AF_INET 127\.0\.0\.1:\d+ len=16$/)
  })

  it('address lengths and IPv6-level options are refused as on an AF_INET socket; errno is 0 at start', () => {
    const r = same([PATTERNS, 'addrlen', LOCAL.address, String(LOCAL.http)])
    const out = keyValues(r.stdout)
    assert.equal(out.startup_errno, '0')
    assert.equal(out.len_129, 'EINVAL')
    assert.equal(out.len_128, 'OK errno_after=untouched')
    assert.equal(out.ipv6_get, 'EOPNOTSUPP')
  })

  it('many threads connecting, duplicating, forking and closing at once: every answer right, nothing leaked', () => {
    const r = under([PATTERNS, 'stress', SERVER, String(LAB.echoPort), '16', '60'])
    assert.equal(r.status, 0, r.stdout + r.stderr)
    assert.equal(r.stdout, 'wrong=0 leaked=0\n')
  })

  it('connects from a signal handler while the program mallocs and prints: no deadlock, no error', () => {
    const log = join(t.dir, 'signal.log')
    const r = under([PATTERNS, 'signal', SERVER, String(LAB.echoPort), '1500'], {
      TNAT64_DEBUG: '2',
      TNAT64_DEBUG_FILE: log,
    })
    assert.equal(r.status, 0, r.stdout + r.stderr)
    assert.equal(r.stdout, 'handled=many errors=0\n')
  })
})

describe('special destinations never go through NAT64, whatever the prefix', () => {
  it('0.0.0.0 (this host), the limited broadcast, multicast and 240/4 behave as without tnat64', () => {
    const url = `http://0.0.0.0:${LOCAL.http}/`
    const curl = same(['curl', '-sS', '--max-time', '3', url])
    assert.equal(curl.status, 0)
    for (const address of ['255.255.255.255', '224.0.0.1', '240.0.0.1']) {
      const script = `import socket\ns = socket.socket()\ns.settimeout(2)\nprint(s.connect_ex(("${address}", 80)))`
      same([PYTHON, '-c', script])
    }
  })
})

describe('the configuration is read at load', () => {
  it('a program that changes directory before its first socket keeps a relative TNAT64_CONF_FILE', () => {
    const script = `import os, socket\nos.chdir("/")\ns = socket.create_connection(("${SERVER}", ${LAB.echoPort}), 5)\nprint(s.getpeername())`
    const r = t.lab.exec(
      'client',
      [
        'sh',
        '-c',
        `cd ${t.dir} && env LD_PRELOAD=${PRELOAD_LIBRARY} TNAT64_CONF_FILE=tnat64.conf ${PYTHON} -c '${script}'`,
      ],
      {
        check: false,
      },
    )
    assert.equal(r.status, 0, r.stderr)
    assert.equal(r.stdout, `('${SERVER}', ${LAB.echoPort})\n`)
    const app = t.lab.exec(
      'client',
      [
        'sh',
        '-c',
        `cd ${t.dir} && ${TNAT64_CLI} app --config tnat64.conf -- sh -c 'cd / && exec ${PYTHON} -c "$0"' '${script}'`,
      ],
      { check: false },
    )
    assert.equal(app.status, 0, app.stderr)
    assert.equal(app.stdout, `('${SERVER}', ${LAB.echoPort})\n`)
  })
})

describe('what is learnt, and forgotten', () => {
  it('a connect that times out through NAT64 teaches the next one to try IPv4 first', () => {
    t.lab.setRouterNat64('drop')
    t.lab.setDirectIPv4(true)
    t.lab.exec('client', ['sysctl', '-q', '-w', 'net.ipv4.tcp_syn_retries=1']) // a 3 s timeout
    try {
      const log = join(t.dir, 'timeout.log')
      const script = [
        'import socket',
        'for _ in range(2):',
        '    s = socket.socket()',
        `    print(s.connect_ex(("${SERVER}", ${LAB.echoPort})) == 0)`,
      ].join('\n')
      const r = under([PYTHON, '-c', script], { TNAT64_DEBUG: '2', TNAT64_DEBUG_FILE: log })
      assert.equal(r.status, 0, r.stderr)
      assert.equal(r.stdout, 'False\nTrue\n') // the first waited for NAT64 and timed out; the second went over IPv4
      const tried = [...readFileSync(log, 'utf8').matchAll(/via (NAT64|IPv4) .*: (\w+)$/gm)].map(
        (m) => `${m[1]} ${m[2]}`,
      )
      assert.deepEqual(tried, ['NAT64 ETIMEDOUT', 'IPv4 connected'])
    } finally {
      t.lab.exec('client', ['sysctl', '-q', '-w', 'net.ipv4.tcp_syn_retries=6'])
    }
  })

  it('a fallback holds for a minute, then NAT64 gets its chance again', () => {
    t.lab.setNat64Route(false)
    t.lab.setDirectIPv4(true)
    const log = join(t.dir, 'expiry.log')
    // The child of a new time namespace lives 61 s later on the monotonic clock, with the cache
    // its parent learnt: the entry has run out there.
    const script = [
      'import ctypes, os, socket',
      `def connect(): socket.create_connection(("${SERVER}", ${LAB.echoPort}), 5).close()`,
      'connect(); connect()',
      'assert ctypes.CDLL(None, use_errno=True).unshare(0x80) == 0, "unshare(CLONE_NEWTIME)"',
      'open("/proc/self/timens_offsets", "w").write("monotonic 61 0")',
      'pid = os.fork()',
      'if pid == 0:',
      '    connect(); os._exit(0)',
      'print(os.waitpid(pid, 0)[1])',
    ].join('\n')
    const r = under([PYTHON, '-c', script], { TNAT64_DEBUG: '2', TNAT64_DEBUG_FILE: log })
    assert.equal(r.status, 0, r.stderr)
    assert.equal(r.stdout, '0\n')
    const tried = [...readFileSync(log, 'utf8').matchAll(/connect fd \d+ via (NAT64|IPv4)/g)].map((m) => m[1])
    // fallback from NAT64; IPv4 first from the cache; 61 s on: NAT64 first again, then IPv4
    assert.deepEqual(tried, ['NAT64', 'IPv4', 'IPv4', 'NAT64', 'IPv4'])
  })
})
