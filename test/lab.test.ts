// The lab carries real traffic: a native IPv6 client in the IPv6-only namespace reaches the IPv4-only
// server through tayga, the direct IPv4 path works only when switched on, and nothing outlives it.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { bigAddresses, LAB, LAB_RESOLV_CONF, Lab } from '../src/lib/lab.js'
import { assertRoot, freshLabName, tnat64 } from './helpers.js'

const nat64Url = `http://[${LAB.serverNat64}]:${LAB.httpPort}/`
const ipv4Url = `http://${LAB.serverIPv4}:${LAB.httpPort}/`

function curl(lab: Lab, url: string) {
  return lab.exec('client', ['curl', '-sS', '-g', '--max-time', '3', url], { check: false })
}

/** dig, in the client, asking the server at its NAT64 address. */
function dig(lab: Lab, args: string[]) {
  const r = lab.exec('client', ['dig', `@${LAB.serverNat64}`, '+time=2', '+tries=2', ...args], {
    check: false,
  })
  assert.equal(r.status, 0, r.stderr)
  return r.stdout
}

function dnsStats(lab: Lab): { udp: number; tcp: number } {
  const r = curl(lab, `${nat64Url}dns-stats`)
  assert.equal(r.status, 0, r.stderr)
  return JSON.parse(r.stdout)
}

// dnspython as a program uses it; Debian's python3-dnspython is for the system's Python, which
// may not be the first python3 on PATH.
const DNSPYTHON = `
import json, socket, struct, sys, time
import dns.flags, dns.message, dns.query, dns.rcode
server = sys.argv[1]
def q(name): return dns.message.make_query(name, "A")
def addresses(r): return [a.address for rrset in r.answer for a in rrset]
out = {}
# Not queries: no answer over UDP, the connection closed over TCP; the server carries on.
with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as u:
    u.sendto(b"junk", (server, ${LAB.dns.port}))
with socket.create_connection((server, ${LAB.dns.port}), timeout=3) as s:
    s.sendall(b"\\x00\\x04junk")
    out["junkClosed"] = s.recv(1) == b""
r = dns.query.udp(q("${LAB.dns.server}"), server, timeout=3)
out["udp"] = addresses(r)
r = dns.query.udp(q("${LAB.dns.big}"), server, timeout=3)
out["udpBig"] = {"tc": bool(r.flags & dns.flags.TC), "answers": len(r.answer)}
r = dns.query.tcp(q("${LAB.dns.big}"), server, timeout=3)
out["tcpBig"] = addresses(r)
r, used_tcp = dns.query.udp_with_fallback(q("${LAB.dns.big}"), server, timeout=3)
out["fallback"] = {"tcp": used_tcp, "answers": len(addresses(r))}
r = dns.query.tcp(q("nope.${LAB.dns.zone}"), server, timeout=3)
out["nxdomain"] = dns.rcode.to_text(r.rcode())
# Two queries in one segment on one connection: two answers, in order.
queries = [q("${LAB.dns.big}"), q("${LAB.dns.server}")]
with socket.create_connection((server, ${LAB.dns.port}), timeout=3) as s:
    s.sendall(b"".join(struct.pack("!H", len(w)) + w for w in (m.to_wire() for m in queries)))
    replies = [dns.query.receive_tcp(s, time.time() + 3)[0] for _ in queries]
out["pipelined"] = [m.is_response(r) and len(addresses(r)) for m, r in zip(queries, replies)]
print(json.dumps(out))
`

/** A UDP echo from a fixed source whose payload's last word makes the IPv6 checksum sum to zero. */
const ZERO_SUM_ECHO = `
import socket, struct, sys
client, server, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
def ones_sum(b):
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s > 0xffff:
        s = (s & 0xffff) + (s >> 16)
    return s
with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
    s.bind((client, 0))
    s.settimeout(2)
    sport = s.getsockname()[1]
    payload = bytearray(b"zero sum\\0\\0")
    length = 8 + len(payload)
    pseudo = socket.inet_pton(socket.AF_INET6, client) + socket.inet_pton(socket.AF_INET6, server) + struct.pack("!IxxxB", length, 17)
    total = ones_sum(pseudo + struct.pack("!HHHH", sport, port, length, 0) + payload)
    payload[-2:] = struct.pack("!H", ~total & 0xffff)
    s.sendto(payload, (server, port))
    try:
        print("echoed" if s.recv(64) == payload else "garbled")
    except socket.timeout:
        print("lost")
`

/** Every process whose command line mentions the lab's state directory (tayga's config, the server). */
function processesOf(lab: Lab): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(lab.name)
      } catch {
        return false
      }
    })
    .map(Number)
}

describe('lab', () => {
  let lab: Lab

  before(async () => {
    assertRoot()
    lab = new Lab(await freshLabName('lab'))
    await lab.up()
  })

  after(() => lab?.down())

  it('carries a native IPv6 client to the IPv4 server through the NAT64', () => {
    const r = curl(lab, nat64Url)
    assert.equal(r.status, 0, r.stderr)
    // The server sees an address of tayga's pool: the request was translated.
    assert.match(
      r.stdout,
      /^tnat64 lab server 198\.51\.100\.10: hello 192\.0\.2\.(1[3-9]\d|2[0-5]\d) port \d+\n$/,
    )
  })

  it('gives the client no IPv4 path unless asked', () => {
    const r = curl(lab, ipv4Url)
    assert.notEqual(r.status, 0)
    assert.match(r.stderr, /Couldn't connect|Network is unreachable/)
  })

  it('carries the echo service through the NAT64', () => {
    const script = `const s=require('net').connect(${LAB.echoPort},'${LAB.serverNat64}',()=>s.end('ping'));let d='';s.on('data',b=>d+=b).on('end',()=>{process.stdout.write(d)})`
    const r = lab.exec('client', [process.execPath, '-e', script], { check: false })
    assert.equal(r.stdout, 'ping', r.stderr)
  })

  it('carries a UDP datagram whose checksum sums to zero, which tayga alone would send as none', () => {
    // The echo's reply sums as the request does (the same words, swapped), so a request made to sum
    // to zero comes back through tayga with the checksum 0x0000 that bpf/lab-udp6-checksum.bpf.c mends.
    for (let i = 0; i < 2; i++) {
      const r = lab.exec(
        'client',
        ['python3', '-c', ZERO_SUM_ECHO, LAB.clientIPv6, LAB.serverNat64, String(LAB.echoPort)],
        { check: false },
      )
      assert.equal(r.stdout, 'echoed\n', r.stderr)
    }
  })

  it('switches the direct IPv4 path and the NAT64 route on and off', () => {
    lab.setDirectIPv4(true)
    try {
      const direct = curl(lab, ipv4Url)
      assert.equal(direct.status, 0, direct.stderr)
      assert.match(direct.stdout, /hello 203\.0\.113\.2 /)
      lab.setNat64Route(false)
      const r = curl(lab, nat64Url)
      assert.notEqual(r.status, 0)
      assert.match(r.stderr, /Couldn't connect|unreachable/i)
      assert.deepEqual(
        { directIPv4: lab.status().directIPv4, nat64Route: lab.status().nat64Route },
        { directIPv4: true, nat64Route: false },
      )
    } finally {
      lab.setDirectIPv4(false)
      lab.setNat64Route(true)
    }
    assert.equal(curl(lab, nat64Url).status, 0)
  })

  it('is idempotent, and rebuilds itself when a part has died', async () => {
    const again = await lab.up()
    assert.equal(again.tayga && again.server, true)
    const tayga = Number(readFileSync(`${lab.stateDir}/tayga.pid`, 'utf8'))
    process.kill(tayga, 'SIGKILL')
    for (let i = 0; i < 50 && lab.status().tayga; i++) await new Promise((r) => setTimeout(r, 20))
    assert.equal(lab.status().tayga, false)
    await lab.up()
    assert.equal(curl(lab, nat64Url).status, 0)
  })

  it('runs a command with a resolv.conf of its own, the host keeping its file', () => {
    const host = readFileSync('/etc/resolv.conf', 'utf8')
    const text = `# for one command\nnameserver ${LAB.serverNat64}\noptions timeout:1\n`
    const inside = lab.exec('client', ['cat', '/etc/resolv.conf'], { resolvConf: text })
    assert.equal(inside.stdout, text)
    assert.equal(lab.exec('client', ['cat', '/etc/resolv.conf']).stdout, host)
    assert.equal(readFileSync('/etc/resolv.conf', 'utf8'), host)
    // The command's own arguments and exit status come through the mount namespace's shell.
    const argv = lab.exec('client', ['sh', '-c', 'printf "%s|" "$@"; exit 3', 'sh', 'a b', '$x'], {
      check: false,
      resolvConf: text,
    })
    assert.deepEqual([argv.status, argv.stdout], [3, 'a b|$x|'])
    const file = lab.inNs('client', ['true'], { resolvConf: text }).find((a) => a.startsWith(lab.stateDir))
    assert.ok(file)
    assert.equal(statSync(file).mode & 0o777, 0o644)
    // A real resolver reads it: the lab's DNS at its NAT64 address, natively over IPv6.
    const getent = lab.exec('client', ['getent', 'ahosts', LAB.dns.server], {
      check: false,
      resolvConf: text,
    })
    assert.equal(getent.status, 0, getent.stderr)
    assert.match(
      getent.stdout,
      new RegExp(`^${LAB.serverIPv4.replaceAll('.', '\\.')}\\s+STREAM ${LAB.dns.server}\n`),
    )
  })

  it("leaves the IPv4-only resolver out of the client's reach natively", () => {
    const started = Date.now()
    const r = lab.exec('client', ['getent', 'ahosts', LAB.dns.server], {
      check: false,
      resolvConf: LAB_RESOLV_CONF,
    })
    assert.equal(r.status, 2, 'getent: not found')
    assert.equal(r.stdout, '')
    assert.ok(Date.now() - started < 5000, 'no route: it fails at once, no timeout')
  })

  it('answers DNS through the NAT64: names, addresses, NXDOMAIN, REFUSED', () => {
    assert.equal(dig(lab, [LAB.dns.server, 'A', '+short']), `${LAB.serverIPv4}\n`)
    assert.equal(dig(lab, ['-x', LAB.serverIPv4, '+short']), `${LAB.dns.server}.\n`)
    assert.equal(dig(lab, [LAB.dns.server, 'AAAA', '+short']), '')
    assert.match(dig(lab, [`nope.${LAB.dns.zone}`, 'A']), /status: NXDOMAIN,/)
    assert.match(dig(lab, ['example.com', 'A']), /status: REFUSED,/)
    assert.match(dig(lab, [LAB.dns.server, 'A', '+tcp']), /flags: qr aa rd;.*ANSWER: 1,[\s\S]*\(TCP\)/)
  })

  it(`truncates ${LAB.dns.big} over UDP, and dig gets it whole over TCP`, () => {
    const udpOnly = dig(lab, [LAB.dns.big, 'A', '+ignore', '+notcp'])
    assert.match(udpOnly, /flags: qr aa tc rd; QUERY: 1, ANSWER: 0,/)
    assert.match(udpOnly, /\(UDP\)/)

    const before = dnsStats(lab)
    const out = dig(lab, [LAB.dns.big, 'A'])
    assert.match(out, /Truncated, retrying in TCP mode/)
    assert.match(out, new RegExp(`ANSWER: ${LAB.dns.bigCount},[\\s\\S]*\\(TCP\\)`))
    const got = out.split('\n').flatMap((l) => /\sIN\s+A\s+(\S+)$/.exec(l)?.[1] ?? [])
    assert.deepEqual(got.sort(), bigAddresses().sort())
    const after = dnsStats(lab)
    assert.ok(after.udp > before.udp && after.tcp > before.tcp, JSON.stringify({ before, after }))

    // A client that takes more than the whole answer gets it over UDP.
    assert.match(
      dig(lab, [LAB.dns.big, 'A', '+bufsize=4096', '+notcp']),
      new RegExp(`flags: qr aa rd;.*ANSWER: ${LAB.dns.bigCount},[\\s\\S]*\\(UDP\\)`),
    )
  })

  it('answers a Python DNS library over UDP and TCP', () => {
    const r = lab.exec('client', ['/usr/bin/python3', '-c', DNSPYTHON, LAB.serverNat64], { check: false })
    assert.equal(r.status, 0, r.stderr)
    const out = JSON.parse(r.stdout)
    assert.equal(out.junkClosed, true)
    assert.deepEqual(out.udp, [LAB.serverIPv4])
    assert.deepEqual(out.udpBig, { tc: true, answers: 0 })
    assert.deepEqual(out.tcpBig.sort(), bigAddresses().sort())
    assert.deepEqual(out.fallback, { tcp: true, answers: LAB.dns.bigCount })
    assert.equal(out.nxdomain, 'NXDOMAIN')
    assert.deepEqual(out.pipelined, [LAB.dns.bigCount, 1])
  })

  it('reports itself through the CLI', () => {
    const r = tnat64(['lab', 'status', '--name', lab.name, '--json'])
    assert.equal(r.status, 0, r.stderr)
    assert.equal(JSON.parse(r.stdout).up, true)
  })

  it('leaves nothing behind when taken down, and recovers from a half-built lab', async () => {
    lab.down()
    assert.deepEqual(processesOf(lab), [])
    for (const role of ['client', 'router', 'server'] as const)
      assert.equal(existsSync(lab.nsPath(role)), false)
    assert.equal(existsSync(lab.stateDir), false)
    const down = tnat64(['lab', 'status', '--name', lab.name])
    assert.equal(down.status, 1)

    // What a crash mid-way leaves: one namespace, no state.
    spawnSync('ip', ['netns', 'add', lab.ns('client')])
    await lab.up()
    assert.equal(curl(lab, nat64Url).status, 0)
  })
})
