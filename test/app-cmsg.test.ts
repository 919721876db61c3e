// App mode's UDP socket options and control messages (test/c/cmsg.c), run with and without the
// library against real traffic. Two namespaces joined by a veth pair: the client, and a server
// that holds both 198.51.100.10, which the client reaches over IPv4 without the library, and its
// NAT64 address 2001:db8:64::c633:640a under 2001:db8:64::/96, which the library sends to: what
// comes from there is real IPv6, as what a translator forwards. The server also routes, for
// ICMPv6 errors from an IPv6 router on the way (too big, hop limit, no route, prohibited).
import assert from 'node:assert/strict'
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { TNAT64_CLI } from '../src/lib/paths.js'
import { assertRoot, isAlive, ROOT } from './helpers.js'

const CMSG = join(ROOT, 'test', 'c', 'bin', 'cmsg')
const PREFIX = '2001:db8:64::/96'
const SERVER = '198.51.100.10'
/** Beyond the server, through its IPv6 routes: a link of MTU 1280, no route, prohibited. */
const BEYOND = { link: '198.51.100.20', unreachable: '198.51.100.21', prohibited: '198.51.100.22' }
const CLIENT_IPV4 = '203.0.113.2'
const STANDIN = '192.0.0.1'
const PORT = '7007'
const CLOSED = '7008'
/** What the servers answer with: a traffic class (DSCP AF11 with ECT(0)) and a hop limit. */
const TOS = '0x2a'
const TTL = '33'

const NS = { client: `t64cmsg-${process.pid}-c`, server: `t64cmsg-${process.pid}-s` }
const servers: ChildProcess[] = []
let dir = ''
let conf = ''

function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' })
  assert.equal(r.status, 0, `ip ${args.join(' ')}: ${r.stderr}`)
}

function inNs(ns: string, command: string[]): void {
  ip('netns', 'exec', ns, ...command)
}

/** Namespaces left by test processes that died are removed first. */
function removeStale(): void {
  const names = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout
  for (const [, name, pid] of names.matchAll(/^(t64cmsg-(\d+)-[cs])\b/gm)) {
    if (!isAlive(Number(pid))) spawnSync('ip', ['netns', 'del', name])
  }
}

/** `cmsg serve` in a namespace, once it says it is bound. */
function startServer(ns: string, addresses: string[]): Promise<void> {
  const child = spawn('ip', ['netns', 'exec', ns, CMSG, 'serve', PORT, TOS, TTL, ...addresses], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  servers.push(child)
  return new Promise((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) resolve()
    })
    child.on('exit', (code) => reject(new Error(`cmsg serve in ${ns} exited with ${code}`)))
  })
}

before(async () => {
  assertRoot()
  removeStale()
  const [c, s] = [NS.client, NS.server]
  ip('netns', 'add', c)
  ip('netns', 'add', s)
  ip('-n', c, 'link', 'set', 'lo', 'up')
  ip('-n', s, 'link', 'set', 'lo', 'up')
  ip('-n', c, 'link', 'add', 'veth0', 'type', 'veth', 'peer', 'name', 'veth0', 'netns', s)
  ip('-n', c, 'addr', 'add', `${CLIENT_IPV4}/24`, 'dev', 'veth0')
  ip('-n', c, '-6', 'addr', 'add', '2001:db8:1::2/64', 'dev', 'veth0', 'nodad')
  ip('-n', s, 'addr', 'add', '203.0.113.1/24', 'dev', 'veth0')
  ip('-n', s, '-6', 'addr', 'add', '2001:db8:1::1/64', 'dev', 'veth0', 'nodad')
  ip('-n', s, 'addr', 'add', `${SERVER}/32`, 'dev', 'lo')
  ip('-n', s, '-6', 'addr', 'add', '2001:db8:64::c633:640a/128', 'dev', 'lo')
  ip('-n', c, 'link', 'set', 'veth0', 'up')
  ip('-n', s, 'link', 'set', 'veth0', 'up')
  ip('-n', c, 'route', 'add', `${SERVER}/32`, 'via', '203.0.113.1')
  ip('-n', c, '-6', 'route', 'add', PREFIX, 'via', '2001:db8:1::1')
  // The server as an IPv6 router, its errors unlimited in rate.
  inNs(s, [
    'sysctl',
    '-qw',
    'net.ipv6.conf.all.forwarding=1',
    'net.ipv6.icmp.ratelimit=0',
    'net.ipv4.icmp_ratelimit=0',
  ])
  ip('-n', s, 'link', 'add', 'veth1', 'mtu', '1280', 'type', 'veth', 'peer', 'name', 'veth2', 'mtu', '1280')
  ip('-n', s, 'link', 'set', 'veth1', 'up')
  ip('-n', s, 'link', 'set', 'veth2', 'up')
  ip('-n', s, '-6', 'route', 'add', '2001:db8:64::c633:6414/128', 'dev', 'veth1')
  ip('-n', s, '-6', 'route', 'add', 'unreachable', '2001:db8:64::c633:6415/128')
  ip('-n', s, '-6', 'route', 'add', 'prohibit', '2001:db8:64::c633:6416/128')
  await startServer(s, [SERVER, '2001:db8:64::c633:640a'])
  await startServer(c, ['127.0.0.1'])
  dir = mkdtempSync(join(tmpdir(), 'tnat64-cmsg-'))
  conf = join(dir, 'tnat64.conf')
  writeFileSync(conf, `# the server's NAT64 prefix\nnat64_prefix = ${PREFIX}\n`)
})

after(() => {
  for (const child of servers) child.kill()
  spawnSync('ip', ['netns', 'del', NS.client])
  spawnSync('ip', ['netns', 'del', NS.server])
  if (dir) rmSync(dir, { recursive: true, force: true })
})

/** `cmsg ARGS` in the client, under `tnat64 app` or not; its output, which must show success. */
function run(args: string[], library: boolean): string {
  const app = library ? [TNAT64_CLI, 'app', '--config', conf, '--'] : []
  const r = spawnSync('ip', ['netns', 'exec', NS.client, ...app, CMSG, ...args], {
    encoding: 'utf8',
    timeout: 30_000,
  })
  assert.equal(
    r.status,
    0,
    `cmsg ${args.join(' ')}${library ? ' (under tnat64)' : ''}:\n${r.stdout}${r.stderr}`,
  )
  if (library) assert.doesNotMatch(r.stdout, /^cmsg ipv6/m, 'an IPv6 control message reached the program')
  return r.stdout
}

/** The output of a run without the library as the library's run through NAT64 must show it: the
 * client's address, a local one, is the stand-in, and the server heard from it over IPv6. */
function throughNat64(bare: string): string {
  return bare.replaceAll(CLIENT_IPV4, STANDIN).replaceAll('via=4', 'via=6')
}

/** The lines of `output` about one read (the line of the call and its messages), by size. */
function read(output: string, size: number): string {
  const lines = output.split('\n')
  const start = lines.findIndex((l) => new RegExp(`^\\w+ size=${size} `).test(l))
  assert.ok(start >= 0, `a read with a ${size}-byte buffer in\n${output}`)
  const end = lines.findIndex((l, i) => i > start && !l.startsWith('cmsg '))
  return lines.slice(start, end < 0 ? undefined : end).join('\n')
}

describe('UDP control messages through NAT64', () => {
  it('are exactly the IPv4 ones: the hop limit and traffic class the server sent, the stand-in as our address', () => {
    const args = ['recv', SERVER, PORT, 'pktinfo,ttl,tos', '256']
    const out = run(args, true)
    assert.match(
      read(out, 256),
      new RegExp(
        [
          `^recv size=256 r=1 controllen=80 ctrunc=no errqueue=no from=2:${SERVER}:${PORT} via=6 namelen=16`,
          `cmsg ip pktinfo len=28 ifindex=\\d+ spec_dst=${STANDIN} addr=${STANDIN}`,
          `cmsg ip ttl len=20 ${TTL}`,
          `cmsg ip tos len=17 ${TOS}$`,
        ].join('\n'),
      ),
    )
    assert.equal(out, throughNat64(run(args, false)))
  })

  it('are translated on a socket handed across exec with its options set', () => {
    const args = ['pktinfo,ttl,tos', '256']
    assert.equal(run(['handoff', SERVER, PORT, ...args], true), run(['recv', SERVER, PORT, ...args], true))
  })

  it('fill short buffers as the kernel fills an AF_INET socket’s: msg_controllen and MSG_CTRUNC as without the library', () => {
    // 80 holds the three messages; 79 too (the last needs no padding); 72 cuts the third, 56
    // leaves it out, 20 and 16 cut the first, 0 holds nothing: each with MSG_CTRUNC as the kernel sets it.
    const args = ['recv', SERVER, PORT, 'pktinfo,ttl,tos', '80', '79', '72', '56', '20', '16', '0']
    const out = run(args, true)
    assert.equal(out, throughNat64(run(args, false)))
    assert.match(read(out, 80), /controllen=80 ctrunc=no/)
    assert.match(read(out, 79), /controllen=79 ctrunc=no.*cmsg ip tos len=17/s)
    assert.match(read(out, 72), /controllen=72 ctrunc=yes.*cmsg raw level=0 type=1 len=16 bytes=$/s)
    assert.match(read(out, 0), /controllen=0 ctrunc=yes/)
  })

  it('keep socket-level messages first and in order, give IP_RECVORIGDSTADDR, follow options turned off, in recvmmsg too', () => {
    const args = ['recvmmsg', SERVER, PORT, 'timestamp,pktinfo,ttl,tos,origdst,-pktinfo', '120', '60']
    const out = run(args, true)
    assert.equal(out, throughNat64(run(args, false)))
    assert.match(out, /^get pktinfo=0 len=4$/m)
    assert.match(
      read(out, 120),
      new RegExp(
        [
          'controllen=112 ctrunc=no .*via=6.*',
          'cmsg socket type=35 len=32',
          `cmsg ip ttl len=20 ${TTL}`,
          `cmsg ip tos len=17 ${TOS}`,
          `cmsg ip origdstaddr len=32 family=2 ${STANDIN} port=ours$`,
        ].join('\n'),
      ),
    )
    assert.match(read(out, 60), /controllen=56 ctrunc=yes/)
  })
})

describe('UDP control messages over IPv4', () => {
  it('are the kernel’s own, as without the library: the IPv6 ones it adds are dropped', () => {
    const args = [
      'recv',
      '127.0.0.1',
      PORT,
      'timestamp,pktinfo,ttl/1,tos,origdst,recverr',
      '512',
      '120',
      '100',
      '80',
    ]
    const out = run(args, true)
    assert.equal(out, run(args, false))
    assert.match(
      read(out, 512),
      /controllen=144 ctrunc=no.*cmsg ip pktinfo len=28 ifindex=1 spec_dst=127\.0\.0\.1/s,
    )
  })

  it('an error from 127.0.0.1 is read from the error queue as without the library', () => {
    const args = ['errqueue', '127.0.0.1', CLOSED, 'recverr,pktinfo,ttl,tos', '512']
    assert.equal(run(args, true), run(args, false))
  })
})

describe('IP_RECVERR through NAT64', () => {
  it('a closed port: ICMP port unreachable from the server, named by its IPv4 address, as over IPv4', () => {
    for (const size of ['48', '40']) {
      const args = ['errqueue', SERVER, CLOSED, 'recverr', size]
      const out = run(args, true)
      assert.equal(out, run(args, false))
      if (size === '48')
        assert.match(
          out,
          new RegExp(
            [
              `^errqueue size=48 r=1 controllen=48 ctrunc=no errqueue=yes from=2:${SERVER}:${CLOSED} namelen=16`,
              `cmsg ip recverr len=48 errno=ECONNREFUSED origin=ICMP type=3 code=3 info=0 data=0 offender=2:${SERVER}$`,
            ].join('\n'),
            'm',
          ),
        )
    }
  })

  it('with the error the other messages of the ICMPv6 packet, in IPv4 form', () => {
    const args = ['errqueue', SERVER, CLOSED, 'recverr,pktinfo,ttl,tos,origdst', '512']
    const out = run(args, true)
    // An ICMP error carries TOS 0xc0 (RFC 1812's precedence for network control), the server's
    // ICMPv6 one traffic class 0: the value is the packet's, as a translator would copy it.
    assert.match(out, /^cmsg ip tos len=17 0x00$/m)
    assert.equal(out.replace(/tos len=17 0x00/, 'tos len=17 0xc0'), throughNat64(run(args, false)))
    assert.match(
      out,
      new RegExp(`cmsg ip pktinfo len=28 ifindex=\\d+ spec_dst=0\\.0\\.0\\.0 addr=${STANDIN}`),
    )
  })

  it('ICMPv6 errors from an IPv6 router take their RFC 7915 ICMP form, from RFC 7600’s 192.0.0.8', () => {
    const error = (args: string[]) => /^cmsg ip recverr .*$/m.exec(run(['errqueue', ...args], true))?.[0]
    const from = 'offender=2:192.0.0.8'
    assert.equal(
      error([BEYOND.link, CLOSED, 'recverr', '512', '1400']),
      `cmsg ip recverr len=48 errno=EMSGSIZE origin=ICMP type=3 code=4 info=1260 data=0 ${from}`,
    )
    assert.equal(
      error([BEYOND.link, CLOSED, 'recverr,hops=1', '512']),
      `cmsg ip recverr len=48 errno=EHOSTUNREACH origin=ICMP type=11 code=0 info=0 data=0 ${from}`,
    )
    assert.equal(
      error([BEYOND.unreachable, CLOSED, 'recverr', '512']),
      `cmsg ip recverr len=48 errno=ENETUNREACH origin=ICMP type=3 code=1 info=0 data=0 ${from}`,
    )
    assert.equal(
      error([BEYOND.prohibited, CLOSED, 'recverr', '512']),
      `cmsg ip recverr len=48 errno=EACCES origin=ICMP type=3 code=10 info=0 data=0 ${from}`,
    )
  })
})
