// App mode and glibc's resolver: on the IPv6-only client, a resolv.conf naming the lab server's
// IPv4 address (the lab's DNS) gives programs under `tnat64 app` their answers through NAT64, and
// without tnat64 nothing. Each command runs with its own resolv.conf (the lab's runner), so the
// host's file is never touched.
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { LAB, LAB_RESOLV_CONF } from '../src/lib/lab.js'
import { TNAT64_CLI } from '../src/lib/paths.js'
import { AppLab, keyValues, type Run, VIA_IPV4, VIA_NAT64 } from './app-lab.js'
import { PYTHON, ROOT } from './helpers.js'

const RESOLVE = join(ROOT, 'test', 'c', 'bin', 'resolve')
const NAME = LAB.dns.server
const ADDRESS = LAB.serverIPv4

/** A pattern matching `text` as it is. */
function literal(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

/** The line getent prints for the server's name: `ADDRESS  NAME`, with `STREAM` between for ahosts. */
function hostsLine(db: 'ahosts' | 'hosts'): RegExp {
  return new RegExp(`^${literal(ADDRESS)} +${db === 'ahosts' ? 'STREAM ' : ''}${literal(NAME)}$`, 'm')
}

/** How many lines of `log` hold `text`. */
function count(log: string, text: string): number {
  return log.split('\n').filter((l) => l.includes(text)).length
}

/** A second DNS server, on the client's loopback (the lab server's zone; 127.0.0.1 answers nothing): one the library leaves alone. */
const LOOPBACK_DNS = { address: '127.0.0.2', http: 8082, echo: 7010 }
const t = new AppLab('dns', (lab) =>
  lab.startServer('client', LOOPBACK_DNS.address, LOOPBACK_DNS.http, LOOPBACK_DNS.echo, LAB.dns.port),
)

/** COMMAND in the client namespace with `resolvConf` as its /etc/resolv.conf, and `env` added. */
function inClient(command: string[], resolvConf = LAB_RESOLV_CONF, env: Record<string, string> = {}): Run {
  const vars = Object.entries(env).map(([k, v]) => `${k}=${v}`)
  return t.lab.exec('client', ['env', ...vars, ...command], { check: false, timeoutMs: 60_000, resolvConf })
}

/** COMMAND under `tnat64 app` with the lab's configuration (or `conf`), and `resolvConf`. */
function app(
  command: string[],
  resolvConf = LAB_RESOLV_CONF,
  env: Record<string, string> = {},
  conf = t.conf,
) {
  return inClient([TNAT64_CLI, 'app', '--config', conf, '--', ...command], resolvConf, env)
}

let logs = 0

function debugLog(): { env: Record<string, string>; read: () => string } {
  const file = join(t.dir, `dns-${++logs}.log`)
  return { env: { TNAT64_DEBUG: '2', TNAT64_DEBUG_FILE: file }, read: () => readFileSync(file, 'utf8') }
}

describe('app mode: glibc’s resolver through NAT64', () => {
  it('getent finds the name under tnat64, and nothing without it', () => {
    for (const db of ['ahosts', 'hosts'] as const) {
      const bare = inClient(['getent', db, NAME])
      assert.equal(bare.status, 2, bare.stdout)
      const r = app(['getent', db, NAME])
      assert.equal(r.status, 0, r.stderr)
      assert.match(r.stdout, hostsLine(db))
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
    assert.equal(r.stdout, `['${ADDRESS}']\n('${ADDRESS}', 80)\n`)
  })

  it('curl reaches the server by name through NAT64', () => {
    const url = `http://${NAME}:${LAB.httpPort}/`
    assert.notEqual(inClient(['curl', '-sS', '--max-time', '5', url]).status, 0)
    const r = app(['curl', '-sS', '--max-time', '5', url])
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stdout, VIA_NAT64)
  })

  it('serves every entry point, in any thread; getaddrinfo_a stays out of reach', () => {
    const log = debugLog()
    const r = app([RESOLVE, 'calls', NAME, ADDRESS], LAB_RESOLV_CONF, log.env)
    assert.equal(r.status, 0, r.stderr)
    const out = keyValues(r.stdout)
    for (const call of ['gethostbyname', 'gethostbyname2', 'gethostbyname_r', 'gethostbyname2_r']) {
      assert.equal(out[call], `${NAME} ${ADDRESS}`, call)
    }
    // The lab's PTR of the server's address.
    assert.equal(out.gethostbyaddr, `${NAME} ${ADDRESS}`)
    assert.equal(out.gethostbyaddr_r, `${NAME} ${ADDRESS}`)
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
    assert.equal(out.thread, ADDRESS)
    // Its lookups run in glibc's own threads, through calls inside libc.
    assert.equal(out.getaddrinfo_a, 'Temporary failure in name resolution')
    assert.ok(count(log.read(), `resolver: nameserver ${ADDRESS} via NAT64 [${LAB.serverNat64}]`) > 0)
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
      assert.equal(r.stdout, `('${ADDRESS}', 80)\n`)
      // AF_UNSPEC: IPv4 answers as such, not mapped into IPv6 as for an IPv6-only host.
      const getent = app(['getent', 'ahosts', NAME])
      assert.equal(getent.status, 0, getent.stderr)
      assert.match(getent.stdout, hostsLine('ahosts'))
    } finally {
      t.lab.exec('client', ['ip', 'addr', 'add', `${LAB.clientDirectIPv4}/24`, 'dev', 'eth1'])
    }
  })
})

describe('app mode: the resolver state', () => {
  it('is put back after each call, so a changed resolv.conf is read', () => {
    // A text of its own: the command rewrites the file that holds it.
    const resolvConf = `# rewritten by the command\n${LAB_RESOLV_CONF}`
    const r = app([RESOLVE, 'around', NAME, 'echo nameserver 127.0.0.1 > /etc/resolv.conf'], resolvConf)
    assert.equal(r.status, 0, r.stderr)
    const out = keyValues(r.stdout)
    assert.equal(out.before, ADDRESS)
    assert.equal(out.nameserver_before, `AF_INET ${ADDRESS}:${LAB.dns.port}`)
    // Nothing answers on the client's 127.0.0.1: the new file is in force.
    assert.equal(out.nameserver_after, 'AF_INET 127.0.0.1:53')
    assert.notEqual(out.after, ADDRESS)
  })

  it('keeps no socket to the NAT64 address open (RES_STAYOPEN) when IPv4 takes over', () => {
    t.lab.setDirectIPv4(true)
    // One attempt: a send on a socket left to the NAT64 address would fail the lookup.
    const resolvConf = `${LAB_RESOLV_CONF}options attempts:1\n`
    const r = app([RESOLVE, 'around', NAME, `ip route del ${LAB.nat64Prefix}`, 'stayopen'], resolvConf)
    assert.equal(r.status, 0, r.stderr)
    const out = keyValues(r.stdout)
    assert.equal(out.before, ADDRESS)
    assert.equal(out.after, ADDRESS)
  })

  it('asks the nameserver the program switched to, though the socket to the last one is kept (RES_STAYOPEN)', () => {
    const udpQueries = () => {
      const stats = inClient([
        'curl',
        '-sS',
        '--max-time',
        '5',
        '-g',
        `http://[${LAB.serverNat64}]:${LAB.httpPort}/dns-stats`,
      ])
      assert.equal(stats.status, 0, stats.stderr)
      return (JSON.parse(stats.stdout) as { udp: number }).udp
    }
    const before = udpQueries()
    const r = app([RESOLVE, 'switch', NAME, ADDRESS], `nameserver ${LOOPBACK_DNS.address}\n`)
    assert.equal(r.status, 0, r.stderr)
    assert.deepEqual(keyValues(r.stdout), {
      before: ADDRESS,
      after: ADDRESS,
      nameserver: `AF_INET ${ADDRESS}:${LAB.dns.port}`,
    })
    assert.equal(udpQueries() - before, 1, 'the second lookup reached the server the program named')
  })

  for (const mode of ['', 'stayopen']) {
    it(`2000 lookups in one process${mode ? ' (RES_STAYOPEN)' : ''} leak no memory and no descriptor`, () => {
      // Short retries: on a loaded machine the lab's NAT64 loses a datagram now and then, with or
      // without tnat64, and glibc's default would wait 5 s and give up after two tries.
      const retries = `${LAB_RESOLV_CONF}options timeout:1 attempts:5\n`
      const r = app([RESOLVE, 'lookups', NAME, '2000', ...(mode ? [mode] : [])], retries)
      assert.equal(r.status, 0, r.stderr)
      const out = keyValues(r.stdout)
      assert.equal(out.lookups, '2000/2000', out.first_failure)
      assert.ok(Number(out.rss_growth_kb) < 256, out.rss_growth_kb)
      assert.equal(out.fds_growth, '0')
      assert.equal(out.nameserver, `AF_INET ${ADDRESS}:${LAB.dns.port}`)
    })
  }
})

describe('app mode: nameservers it leaves alone, and the fallback', () => {
  it('leaves a nameserver on 127.0.0.1 alone', () => {
    const log = debugLog()
    const loopback = 'nameserver 127.0.0.1\n'
    const bare = inClient(['getent', 'hosts', NAME], loopback)
    const r = app(['getent', 'hosts', NAME], loopback, log.env)
    assert.equal(r.status, bare.status)
    const lines = log.read()
    assert.ok(count(lines, 'resolver: nameserver 127.0.0.1 over IPv4 (local)') > 0, lines)
    assert.equal(count(lines, 'via NAT64'), 0, lines)
  })

  it('asks a nameserver of a `local` network over IPv4', () => {
    t.lab.setDirectIPv4(true)
    const conf = join(t.dir, 'local.conf')
    writeFileSync(conf, `nat64_prefix = ${LAB.nat64Prefix}\nlocal = 198.51.100.0/24\n`)
    const log = debugLog()
    const r = app(['getent', 'hosts', NAME], LAB_RESOLV_CONF, log.env, conf)
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stdout, hostsLine('hosts'))
    const lines = log.read()
    assert.ok(count(lines, `resolver: nameserver ${ADDRESS} over IPv4 (local)`) > 0, lines)
  })

  it('asks over IPv4 while NAT64 has no route, and through NAT64 again as soon as it is back', () => {
    t.lab.setNat64Route(false)
    t.lab.setDirectIPv4(true)
    const log = debugLog()
    const restore = `ip route replace ${LAB.nat64Prefix} via ${LAB.routerIPv6}`
    const r = app([RESOLVE, 'around', NAME, restore], LAB_RESOLV_CONF, log.env)
    assert.equal(r.status, 0, r.stderr)
    const out = keyValues(r.stdout)
    assert.equal(out.before, ADDRESS)
    assert.equal(out.after, ADDRESS)
    const lines = log.read()
    const unreachable = `resolver: nameserver ${ADDRESS}: NAT64 unreachable (ENETUNREACH), over IPv4`
    const through = `resolver: nameserver ${ADDRESS} via NAT64 [${LAB.serverNat64}]`
    assert.equal(count(lines, unreachable), 1, lines)
    assert.ok(lines.indexOf(through) > lines.indexOf(unreachable), lines)
    // What the resolver learnt holds for connections too: curl by name, over IPv4 while NAT64 is away.
    t.lab.setNat64Route(false)
    const curl = app(['curl', '-sS', '--max-time', '5', `http://${NAME}:${LAB.httpPort}/`])
    assert.equal(curl.status, 0, curl.stderr)
    assert.match(curl.stdout, VIA_IPV4)
  })

  it('passes every call through when tnat64 is off (a broken prefix)', () => {
    const r = inClient(['getent', 'hosts', NAME], LAB_RESOLV_CONF, {
      LD_PRELOAD: join(ROOT, 'preload', 'libtnat64.so'),
      TNAT64_PREFIX: 'nonsense',
    })
    assert.equal(r.status, 2)
    assert.match(r.stderr, /tnat64 is off in this process/)
  })
})
