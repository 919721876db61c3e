// The supervisor: tnat64 app for programs LD_PRELOAD cannot reach — a Go program (its dialer makes
// raw system calls), the C client built static with glibc and with musl — each run as an
// unprivileged user in the lab's IPv6-only client, and compared with the same run without tnat64.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { chmodSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { LAB, LAB_RESOLV_CONF } from '../src/lib/lab.js'
import { TNAT64_CLI } from '../src/lib/paths.js'
import { AppLab, keyValues, type Run, VIA_IPV4, VIA_NAT64 } from './app-lab.js'
import { ROOT } from './helpers.js'

const BIN = join(ROOT, 'test', 'c', 'bin')
const GO = join(BIN, 'dial')
const STATIC = { glibc: join(BIN, 'client-static'), musl: join(BIN, 'client-musl') }
const SERVER = `${LAB.serverIPv4}:${LAB.httpPort}`
const ECHO = `${LAB.serverIPv4}:${LAB.echoPort}`

const t = new AppLab('sup')

/** `command` as nobody in the client, under `tnat64 app FLAGS` (or alone, with no flags given),
 * with a PATH nobody may search (root's may hold directories nobody cannot enter: EACCES), and
 * the lab's IPv4 resolver in its resolv.conf. */
function asNobody(command: string[], flags?: string[]): Run {
  const app = flags ? [TNAT64_CLI, 'app', '--config', t.conf, ...flags, '--'] : []
  const nobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']
  const env = ['env', 'PATH=/usr/local/bin:/usr/bin:/bin']
  return t.lab.exec('client', [...env, ...nobody, ...app, ...command], {
    check: false,
    timeoutMs: 60_000,
    resolvConf: LAB_RESOLV_CONF,
  })
}

/** `body` run while the lab's router has an IPv6 route of `kind` to `to` (blackhole: what goes
 * there is dropped; unreachable: refused), removed afterwards whatever happens. */
function withRouterRoute(kind: 'blackhole' | 'unreachable', to: string, body: () => void) {
  const route = ['-6', 'route', 'add', kind, to]
  spawnSync('ip', ['-n', t.lab.ns('router'), ...route])
  try {
    body()
  } finally {
    spawnSync('ip', ['-n', t.lab.ns('router'), ...route.map((w) => (w === 'add' ? 'del' : w))])
  }
}

/** The NAT64 address of 198.18.0.1, which a blackhole route on the router makes silent. */
const SILENT = '2001:db8:64::c612:1/128'

describe('app mode: the supervisor, for Go and static programs', () => {
  it('serves Go with no privilege: it reaches the server through NAT64 and sees IPv4 addresses', () => {
    const bare = asNobody([GO, 'tcp', SERVER])
    assert.equal(bare.status, 1)
    assert.match(bare.stdout, /network is unreachable/)
    const r = asNobody([GO, 'tcp', SERVER], [])
    assert.equal(r.status, 0, r.stdout + r.stderr)
    assert.deepEqual(keyValues(r.stdout), { remote: SERVER, local: keyValues(r.stdout).local })
    assert.match(keyValues(r.stdout).local, /^192\.0\.0\.1:\d+$/, 'the stand-in, as the preload gives')
    const http = asNobody([GO, 'http', `http://${SERVER}/`], [])
    assert.equal(http.status, 0, http.stderr)
    assert.match(http.stdout, VIA_NAT64)
  })

  it('serves many goroutines dialling at once, from whichever thread each call comes', () => {
    const r = asNobody([GO, 'many', SERVER, '200'], [])
    assert.equal(r.status, 0, r.stderr)
    assert.deepEqual(keyValues(r.stdout), { connected: '200/200', ipv4_remote: '200', first_error: '<nil>' })
  })

  for (const [libc, client] of Object.entries(STATIC)) {
    it(`serves the static client (${libc}): peer and local names are AF_INET, as with the preload`, () => {
      const bare = asNobody([client, 'http', LAB.serverIPv4, String(LAB.httpPort)])
      assert.notEqual(bare.status, 0)
      const r = asNobody([client, 'http', LAB.serverIPv4, String(LAB.httpPort)], [])
      assert.equal(r.status, 0, r.stdout + r.stderr)
      const out = keyValues(r.stdout)
      assert.equal(out.peer, `AF_INET ${SERVER} len=16`)
      assert.match(out.local, /^AF_INET 192\.0\.0\.1:\d+ len=16$/)
      assert.match(out.body, VIA_NAT64)
      const run = asNobody([client, 'names', LAB.serverIPv4, String(LAB.httpPort)], [])
      const names = keyValues(run.stdout)
      assert.equal(run.status, 0, run.stdout + run.stderr)
      assert.equal(names.so_domain, 'AF_INET', 'getsockopt(SO_DOMAIN) as for the socket asked for')
      // A short buffer gets what fits, the full length back, the rest untouched: the kernel's rules.
      assert.equal(names.short_peer_len, '16 short_peer_family=AF_INET short_peer_untouched=yes')
      assert.equal(names.zero_len_getsockname, 'ok len=16')
      const nb = asNobody([client, 'http-nb', LAB.serverIPv4, String(LAB.httpPort)], [])
      assert.equal(nb.status, 0, nb.stdout + nb.stderr)
      assert.match(keyValues(nb.stdout).body, VIA_NAT64)
      const forks = asNobody([client, 'fork', LAB.serverIPv4, String(LAB.echoPort), '4', '10'], [])
      assert.equal(forks.status, 0, forks.stdout + forks.stderr)
      assert.match(forks.stdout, /failures=0/)
      const threads = asNobody([client, 'threads', LAB.serverIPv4, String(LAB.echoPort), '8', '10'], [])
      assert.equal(threads.status, 0, threads.stdout + threads.stderr)
      assert.match(threads.stdout, /failures=0/)
    })
  }

  it('serves the rest of the tree while a blocking connect waits for an answer that never comes', () => {
    // The router drops what goes to 198.18.0.1 through NAT64: that connect waits for minutes.
    withRouterRoute('blackhole', SILENT, () => {
      const script = [
        `${STATIC.glibc} http 198.18.0.1 80 & sleep 0.5`,
        `${STATIC.glibc} http ${LAB.serverIPv4} ${LAB.httpPort}`,
        'kill $!',
      ].join('; ')
      const r = asNobody(['sh', '-c', script], ['--supervise'])
      assert.match(keyValues(r.stdout).body ?? '', VIA_NAT64, r.stdout + r.stderr)
    })
  })

  it('leaves servers their IPv4 sockets: bind, listen and accept as the kernel gives them', () => {
    const r = asNobody([GO, 'listen', '127.0.0.1:0'], [])
    assert.equal(r.status, 0, r.stdout + r.stderr)
    const out = keyValues(r.stdout)
    assert.match(out.listening, /^127\.0\.0\.1:\d+$/)
    assert.match(out.accepted_from, /^127\.0\.0\.1:\d+$/)
    assert.equal(out.accepted_from, out.dialled_from)
  })

  it('gives a program in a network namespace of its own nothing of the outer one', () => {
    const r = asNobody(['unshare', '-rn', GO, 'tcp', SERVER], ['--supervise'])
    assert.equal(r.status, 1)
    assert.match(r.stdout, /network is unreachable/, 'as without tnat64: that namespace has no route')
    // Nor one that leaves after the supervisor has seen its thread make a socket.
    const later = asNobody([STATIC.glibc, 'unshared', LAB.serverIPv4, String(LAB.httpPort)], [])
    assert.equal(later.stdout, 'connect=Network is unreachable\n', later.stderr)
  })

  it('falls back to IPv4 at once when NAT64 has no route', () => {
    t.lab.setNat64Route(false)
    t.lab.setDirectIPv4(true)
    const go = asNobody([GO, 'http', `http://${SERVER}/`], [])
    assert.equal(go.status, 0, go.stderr)
    assert.match(go.stdout, VIA_IPV4)
    const c = asNobody([STATIC.glibc, 'http', LAB.serverIPv4, String(LAB.httpPort)], [])
    assert.match(keyValues(c.stdout).body, VIA_IPV4)
  })

  it('--supervise serves a whole tree: a shell script that starts the Go program', () => {
    const script = `exec ${GO} tcp ${SERVER}`
    assert.equal(asNobody(['sh', '-c', script], []).status, 1, 'a dynamic shell gets the preload alone')
    const r = asNobody(['sh', '-c', script], ['--supervise'])
    assert.equal(r.status, 0, r.stdout + r.stderr)
    assert.equal(keyValues(r.stdout).remote, SERVER)
    // A dynamic program in the tree keeps the preload, whose sockets the supervisor leaves alone.
    const names = asNobody(
      [join(BIN, 'client'), 'names', LAB.serverIPv4, String(LAB.httpPort)],
      ['--supervise'],
    )
    assert.equal(names.status, 0, names.stdout + names.stderr)
    const out = keyValues(names.stdout)
    assert.equal(out.so_domain, 'AF_INET', "the preload's answer")
    assert.equal(out.dup_peer, `AF_INET ${SERVER} len=16`)
  })

  it('serves Go over UDP: connected, unconnected, and its own AF_INET6 socket to IPv4-mapped addresses', () => {
    const bare = asNobody([GO, 'udp', ECHO])
    assert.equal(bare.status, 1)
    assert.match(bare.stdout, /network is unreachable/)
    const connected = asNobody([GO, 'udp', ECHO], [])
    assert.equal(connected.status, 0, connected.stdout + connected.stderr)
    const out = keyValues(connected.stdout)
    assert.equal(out.reply, 'ping')
    assert.equal(out.remote, ECHO)
    assert.match(out.local, /^192\.0\.0\.1:\d+$/)
    // ListenUDP("udp4") is AF_INET; ListenUDP("udp") is AF_INET6, sending to ::ffff:198.51.100.10.
    for (const network of ['udp4', 'udp']) {
      const r = asNobody([GO, 'udp-to', network, ECHO], [])
      assert.equal(r.status, 0, `${network}: ${r.stdout}${r.stderr}`)
      assert.deepEqual(keyValues(r.stdout), { reply: 'ping', from: ECHO }, network)
    }
  })

  it("serves the resolvers inside such programs through an IPv4 nameserver: Go's own, static glibc's and musl's", () => {
    const name = 'server.tnat64.test'
    assert.match(asNobody([GO, 'lookup', name]).stdout, /network is unreachable/)
    const go = asNobody([GO, 'lookup', name], [])
    assert.equal(go.status, 0, go.stdout + go.stderr)
    assert.equal(keyValues(go.stdout).addresses, LAB.serverIPv4)
    // A truncated UDP answer: Go asks again over TCP.
    const big = asNobody([GO, 'lookup', 'big.tnat64.test'], [])
    assert.equal(big.status, 0, big.stdout + big.stderr)
    assert.equal(keyValues(big.stdout).addresses.split(',').length, 100)
    const http = asNobody([GO, 'http', `http://${name}:${LAB.httpPort}/`], [])
    assert.match(http.stdout, VIA_NAT64, http.stderr)
    for (const [libc, client] of Object.entries(STATIC)) {
      const r = asNobody([client, 'http', name, String(LAB.httpPort)], [])
      assert.equal(r.status, 0, `${libc}: ${r.stdout}${r.stderr}`)
      assert.equal(keyValues(r.stdout).resolved, LAB.serverIPv4, libc)
      assert.match(keyValues(r.stdout).body, VIA_NAT64, libc)
    }
  })

  it('gives a static UDP program what the preload gives the same program dynamic, call for call', () => {
    // test/c/udp.c: names and lengths, sendmmsg/recvmmsg, connect and disconnect, bind, special
    // addresses, bad pointers and lengths, sizes, receives ended by shutdown or a timeout under
    // restarting signals, a datagram read again at once; the preload's answers are the reference.
    const modes = [
      ['names', LAB.serverIPv4, String(LAB.echoPort)],
      ['mmsg', LAB.serverIPv4, String(LAB.echoPort), LAB.serverIPv4, String(LAB.dns.port)],
      ['turns', LAB.serverIPv4, String(LAB.echoPort), LAB.serverIPv4, String(LAB.dns.port)],
      ['send', '5353', LAB.serverIPv4, String(LAB.echoPort)],
      ['bound', '127.0.0.1', '127.0.0.1', '9'],
      ['server', '5300', '300'],
      ['special'],
      ['efault', LAB.serverIPv4, String(LAB.echoPort)],
      ['namelen', LAB.serverIPv4, String(LAB.echoPort)],
      ['partial', LAB.serverIPv4, String(LAB.echoPort)],
      ['big', LAB.serverIPv4, String(LAB.echoPort)],
      ['waits', LAB.serverIPv4, String(LAB.echoPort)],
      ['again', LAB.serverIPv4, String(LAB.echoPort)],
    ]
    for (const mode of modes) {
      const preload = asNobody([join(BIN, 'udp'), ...mode], [])
      const supervised = asNobody([join(BIN, 'udp-static'), ...mode], [])
      assert.equal(supervised.status, preload.status, mode[0])
      assert.equal(supervised.stdout, preload.stdout, mode[0])
      assert.match(preload.stdout, /=/, `${mode[0]} printed something`)
    }
  })

  it('falls back to IPv4 for UDP too when NAT64 has no route', () => {
    t.lab.setNat64Route(false)
    t.lab.setDirectIPv4(true)
    const r = asNobody([GO, 'udp', ECHO], [])
    assert.equal(r.status, 0, r.stdout + r.stderr)
    assert.equal(keyValues(r.stdout).reply, 'ping')
    assert.match(keyValues(r.stdout).local, /^203\.0\.113\.2:\d+$/, 'the direct path: a real IPv4 source')
  })

  it('answers connects interrupted by a signal, and made again, as the kernel (the preload) does', () => {
    // The router drops what goes to 198.18.0.1: a blocking connect there waits until a signal
    // (SA_RESTART, with SO_SNDTIMEO: EINTR) or its timeout (EINPROGRESS; EALREADY the next time);
    // a socket closed after EINTR leaves nothing to the next one of that number.
    withRouterRoute('blackhole', SILENT, () => {
      for (const [mode, ...args] of [
        ['interrupted', '198.18.0.1', '80'],
        ['timeout', '198.18.0.1', '80'],
        ['reused', '198.18.0.1', '80', LAB.serverIPv4, String(LAB.httpPort)],
        ['twice', LAB.serverIPv4, String(LAB.echoPort)],
      ]) {
        const preload = asNobody([join(BIN, 'client'), mode, ...args], [])
        const supervised = asNobody([STATIC.glibc, mode, ...args], [])
        assert.equal(supervised.stdout, preload.stdout, mode)
      }
      const preload = asNobody([join(BIN, 'client'), 'interrupted', '198.18.0.1', '80'], [])
      assert.equal(preload.stdout, 'first=EINTR within_0.8s=yes\nagain=EALREADY waited_0.8-2s=yes\n')
      // A connect restarted every 5 ms (SA_RESTART) neither holds the supervisor nor piles up workers.
      const storm = asNobody(
        [STATIC.glibc, 'storm', '198.18.0.1', '80', LAB.serverIPv4, String(LAB.httpPort)],
        [],
      )
      assert.equal(storm.stdout, 'others_served_within_0.5s=yes\n', storm.stderr)
    })
  })

  it('falls back to IPv4 when NAT64 refuses a blocking connect after it started', () => {
    // The router answers "unreachable" for the server's NAT64 address: the handshake fails late.
    t.lab.setDirectIPv4(true)
    withRouterRoute('unreachable', `${LAB.serverNat64}/128`, () => {
      const r = asNobody([STATIC.glibc, 'http', LAB.serverIPv4, String(LAB.httpPort)], [])
      assert.equal(r.status, 0, r.stdout + r.stderr)
      assert.match(keyValues(r.stdout).body, VIA_IPV4)
    })
  })

  it('remembers a destination NAT64 timed out for: the next connect goes over IPv4 first', () => {
    t.lab.setRouterNat64('drop')
    t.lab.setDirectIPv4(true)
    t.lab.exec('client', ['sysctl', '-q', '-w', 'net.ipv4.tcp_syn_retries=1']) // a 3 s timeout
    try {
      // Two blocking connections in one program: the first waits for NAT64 and times out.
      const r = asNobody([STATIC.glibc, 'repeat', LAB.serverIPv4, String(LAB.echoPort), '2'], [])
      assert.match(r.stdout, /connections=2 failures=1/, r.stdout + r.stderr)
    } finally {
      t.lab.exec('client', ['sysctl', '-q', '-w', 'net.ipv4.tcp_syn_retries=6'])
    }
  })

  it('keeps native IPv6 out of a UDP socket bound to 0.0.0.0, whatever call reads it', () => {
    // Bound to 0.0.0.0:5300, reading by recv() with no address: IPv4 gets in (loopback), native
    // IPv6 does not, as for an AF_INET socket.
    const send = (family: string, to: string, word: string) =>
      `python3 -c "import socket;s=socket.socket(socket.${family},socket.SOCK_DGRAM);s.sendto(b'${word}',('${to}',5300))"`
    const senders = `(sleep 0.5; ${send('AF_INET6', '::1', 'six')}; ${send('AF_INET', '127.0.0.1', 'four')})`
    const script = `${senders} & exec ${join(BIN, 'udp-static')} hears 5300 1500`
    const r = asNobody(['sh', '-c', script], ['--supervise'])
    assert.equal(r.status, 0, r.stdout + r.stderr)
    assert.equal(r.stdout, 'ready\nheard=four\n')
  })

  it('leaves a program it may not reach as it is, and says so once', () => {
    // An executable nobody may run but not read is not dumpable: pidfd_getfd is refused.
    const dir = mkdtempSync(join(t.dir, 'unreadable-'))
    try {
      chmodSync(dir, 0o755)
      const hidden = join(dir, 'client')
      copyFileSync(STATIC.glibc, hidden)
      chmodSync(hidden, 0o711)
      const bare = asNobody([hidden, 'http', LAB.serverIPv4, String(LAB.httpPort)])
      // --supervise: the launcher cannot read it either, to see that it is static.
      const r = asNobody([hidden, 'http', LAB.serverIPv4, String(LAB.httpPort)], ['--supervise'])
      assert.equal(r.status, bare.status)
      assert.equal(keyValues(r.stdout).error, keyValues(bare.stdout).error, 'as without tnat64')
      assert.match(keyValues(r.stdout).error, /unreachable/)
      const lines = r.stderr.split('\n').filter((l) => l.includes('is not served'))
      assert.equal(lines.length, 1, r.stderr)
      assert.match(lines[0], /^tnat64: client \(pid \d+\) is not served: the kernel refuses/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('passes the exit status and a terminating signal through; a missing command is one line', () => {
    assert.equal(asNobody(['sh', '-c', 'exit 7'], ['--supervise']).status, 7)
    // The launcher ends by the program's signal: the shell around it tells which.
    const app = [TNAT64_CLI, 'app', '--config', t.conf, '--supervise', '--', 'sh', '-c', 'kill -TERM $$']
    const killed = asNobody(['sh', '-c', '"$@"; echo "status=$?"', 'sh', ...app])
    assert.equal(keyValues(killed.stdout).status, String(128 + 15))
    const missing = asNobody(['no-such-command-t64'], ['--supervise'])
    assert.equal(missing.status, 127)
    assert.equal(missing.stderr, 'tnat64: no-such-command-t64: command not found\n')
  })
})
