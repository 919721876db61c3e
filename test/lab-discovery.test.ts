// The lab as a real IPv6-only network: the router's advertisements carry the NAT64 prefix (PREF64,
// RFC 8781) and its DNS64 resolver synthesizes AAAA records (RFC 7050's ipv4only.arpa too); each can
// be given another prefix or stopped, and the NAT64 carries traffic without them.
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { LAB, LAB_DNS64_RESOLV_CONF, Lab } from '../src/lib/lab.js'
import { RA_TOOL } from '../src/lib/paths.js'
import { assertRoot, freshLabName, tnat64 } from './helpers.js'

const nat64Url = `http://[${LAB.serverNat64}]:${LAB.httpPort}/`
const OTHER_PREFIX = '2001:db8:46::/96'

/** dig in the client, asking the DNS64 resolver once, with a 1 s timeout. */
function dig(lab: Lab, args: string[]) {
  return lab.exec('client', ['dig', `@${LAB.dns64Resolver}`, '+time=1', '+tries=1', ...args], {
    check: false,
  })
}

/** The records dig prints for a name and type (+short), sorted. */
function answers(lab: Lab, type: string, name: string, extra: string[] = []): string[] {
  const r = dig(lab, ['+short', type, name, ...extra])
  assert.equal(r.status, 0, r.stderr || r.stdout)
  return r.stdout.split('\n').filter(Boolean).sort()
}

interface Heard {
  event: string
  prefix?: string
  length?: number
  lifetime?: number
  router?: string
  interface?: string
  error?: string | null
  reason?: string
  ifindex?: number
  /** When it was printed, in ms after the listener's ready event. */
  at: number
}

/**
 * `tnat64-ra listen ARGS` in the client (ARGS hold --for, so it always ends by itself): `ready`
 * once it listens, `events` when it has ended, or at the first event `until` takes.
 */
function listen(lab: Lab, args: string[], until: (e: Heard) => boolean = () => false) {
  const [cmd, ...rest] = lab.inNs('client', [RA_TOOL, 'listen', ...args])
  const child = spawn(cmd, rest, { stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (b) => {
    stderr += b
  })
  let readyAt = 0
  let signalReady: () => void = () => {}
  const ready = new Promise<void>((resolve) => {
    signalReady = resolve
  })
  const events = new Promise<Heard[]>((resolve, reject) => {
    const heard: Heard[] = []
    let pending = ''
    child.stdout.on('data', (b) => {
      pending += b
      for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
        const e = { ...JSON.parse(pending.slice(0, nl)), at: Date.now() - readyAt } as Heard
        pending = pending.slice(nl + 1)
        if (e.event === 'ready') {
          readyAt = Date.now()
          signalReady()
        } else heard.push(e)
        if (until(e)) child.kill('SIGTERM')
      }
    })
    child.on('error', reject)
    child.on('close', (status, signal) => {
      if (status === 0 || signal === 'SIGTERM') resolve(heard)
      else reject(new Error(`tnat64-ra listen: exit ${status ?? signal}: ${stderr}`))
    })
  })
  return { ready, events }
}

/** The router's link-local address on the client's link: the source of its advertisements. */
function routerLinkLocal(lab: Lab): string {
  const out = spawnSync(
    'ip',
    ['-j', '-n', lab.ns('router'), '-6', 'addr', 'show', 'dev', LAB.ra.interface, 'scope', 'link'],
    {
      encoding: 'utf8',
    },
  ).stdout
  // ip -j lists the addresses the filter left out as empty objects.
  const local = JSON.parse(out)[0]?.addr_info?.find((a: { local?: string }) => a.local)?.local
  assert.ok(local, out)
  return local
}

/** The processes in a role's namespace, by name. */
function processes(lab: Lab, role: 'client' | 'router' | 'server'): { pid: number; comm: string }[] {
  const out = spawnSync('ip', ['netns', 'pids', lab.ns(role)], { encoding: 'utf8' }).stdout
  return out
    .split(/\s+/)
    .filter(Boolean)
    .flatMap((pid) => {
      try {
        return [{ pid: Number(pid), comm: readFileSync(`/proc/${pid}/comm`, 'utf8').trim() }]
      } catch {
        return []
      }
    })
}

function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/s.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return false
  }
}

describe('lab discovery: PREF64 and DNS64', () => {
  let lab: Lab

  before(async () => {
    assertRoot()
    assert.ok(existsSync(RA_TOOL), `${RA_TOOL} is built (npm run build)`)
    lab = new Lab(await freshLabName('disc'))
    const status = await lab.up()
    assert.deepEqual([status.dns64, status.pref64], [true, true])
  })

  after(() => lab?.down())

  it("synthesizes AAAA records with the lab's prefix, ipv4only.arpa's too, over UDP and TCP", () => {
    const ipv4only = ['2001:db8:64::c000:aa', '2001:db8:64::c000:ab']
    assert.deepEqual(answers(lab, 'AAAA', 'ipv4only.arpa'), ipv4only)
    assert.deepEqual(answers(lab, 'AAAA', 'ipv4only.arpa', ['+tcp']), ipv4only)
    assert.deepEqual(answers(lab, 'AAAA', LAB.dns.server), ['2001:db8:64::c633:640a'])
    assert.deepEqual(answers(lab, 'A', LAB.dns.server), [LAB.serverIPv4])
    // The reverse names of the server and of its synthesized address, which dns64 maps to the first.
    assert.deepEqual(answers(lab, '-x', LAB.serverIPv4), [`${LAB.dns.server}.`])
    assert.deepEqual(answers(lab, '-x', LAB.serverNat64), [`${LAB.dns.server}.`])
    assert.equal(answers(lab, 'AAAA', LAB.dns.big).length, LAB.dns.bigCount)
  })

  it('takes a native client to the server by name: DNS64 and NAT64 together', () => {
    const r = lab.exec(
      'client',
      ['curl', '-sS', '--max-time', '3', `http://${LAB.dns.server}:${LAB.httpPort}/`],
      { check: false, resolvConf: LAB_DNS64_RESOLV_CONF },
    )
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stdout, /^tnat64 lab server 198\.51\.100\.10: hello 192\.0\.2\.\d+ port \d+\n$/)
  })

  it('asks nothing of anyone but the lab DNS: no root servers, no trust anchor', () => {
    // The router has no default route, so an attempt to reach a root server would fail before any
    // packet filter saw it: for this test its default routes lead into a veth pair of its own, where
    // nothing answers, and counters on the router's own traffic count whatever goes anywhere but to
    // the lab DNS (IPv4) or back to the client from port 53 (IPv6).
    const rules = [
      ['iptables', '-p', 'udp', '!', '-d', LAB.serverIPv4],
      ['iptables', '-p', 'tcp', '!', '-d', LAB.serverIPv4],
      ['ip6tables', '-p', 'udp', '!', '--sport', String(LAB.dns.port)],
      ['ip6tables', '-p', 'tcp', '!', '--sport', String(LAB.dns.port)],
    ]
    /** Packets counted by each rule: IPv4 UDP, TCP, then IPv6 UDP, TCP. */
    const counts = () =>
      ['iptables', 'ip6tables'].flatMap((command) =>
        lab
          .exec('router', [command, '-nvxL', 'OUTPUT'])
          .stdout.split('\n')
          .slice(2)
          .filter(Boolean)
          .map((line) => Number(line.trim().split(/\s+/)[0])),
      )
    const router = (args: string[]) => lab.exec('router', args, { check: false })
    try {
      for (const args of [
        ['link', 'add', 'probe0', 'type', 'veth', 'peer', 'name', 'probe1'],
        ['link', 'set', 'probe1', 'up'],
        ['link', 'set', 'probe0', 'up'],
        ['-4', 'route', 'add', 'default', 'dev', 'probe0'],
        ['-6', 'route', 'add', 'default', 'dev', 'probe0'],
      ]) {
        lab.exec('router', ['ip', ...args])
      }
      for (const [command, ...match] of rules) lab.exec('router', [command, '-A', 'OUTPUT', ...match])
      for (const [type, name] of [
        ['AAAA', 'example.com'],
        ['NS', '.'],
        ['DS', 'com'],
        ['AAAA', 'www.iana.org'],
      ]) {
        assert.match(dig(lab, [type, name]).stdout, /status: (SERVFAIL|REFUSED),/, `${type} ${name}`)
      }
      assert.deepEqual(answers(lab, 'AAAA', LAB.dns.server), [LAB.serverNat64])
      assert.deepEqual(counts(), [0, 0, 0, 0])
      // What they would count: datagrams to name servers elsewhere (into the veth pair).
      const probe = 'echo probe >/dev/udp/198.18.0.1/53; echo probe >/dev/udp/2001:db8:99::1/53'
      lab.exec('router', ['bash', '-c', probe])
      assert.deepEqual(counts(), [1, 0, 1, 0])
    } finally {
      for (const [command, ...match] of rules) router([command, '-D', 'OUTPUT', ...match])
      router(['ip', 'link', 'del', 'probe0'])
    }
  })

  it("advertises the lab's prefix, and answers a solicitation at once", async () => {
    // Just after a periodic advertisement, so that the next is LAB.ra.interval s away: what comes
    // sooner answers the solicitation.
    await listen(lab, ['--for', String(LAB.ra.interval + 2)], (e) => e.event === 'pref64').events
    const events = await listen(lab, ['--for', '5', '--solicit', 'eth0'], (e) => e.event === 'pref64').events
    assert.deepEqual(events[0], { event: 'solicit', interface: 'eth0', error: null, at: events[0].at })
    const heard = events.find((e) => e.event === 'pref64')
    assert.ok(heard, JSON.stringify(events))
    const { at, ...pref64 } = heard
    assert.deepEqual(pref64, {
      event: 'pref64',
      prefix: LAB.nat64Prefix,
      length: 96,
      lifetime: LAB.ra.lifetime,
      router: routerLinkLocal(lab),
      interface: 'eth0',
      ifindex: pref64.ifindex,
    })
    assert.ok(at < (LAB.ra.interval * 1000) / 2, `answered ${at} ms after the solicitation`)
  })

  it('advertises another prefix and lifetime, or nothing, as set', async () => {
    try {
      lab.setPref64('2001:db8:46::/64', 600)
      const events = await listen(lab, ['--for', '5', '--solicit', 'eth0'], (e) => e.event === 'pref64')
        .events
      // The answer to the solicitation, and maybe the periodic one arriving with it.
      const heard = events.filter((e) => e.event === 'pref64')
      assert.ok(heard.length > 0)
      for (const e of heard) assert.deepEqual([e.prefix, e.lifetime], ['2001:db8:46::/64', 600])

      lab.setPref64(false)
      assert.equal(lab.status().pref64, false)
      assert.deepEqual(
        processes(lab, 'router').filter((p) => p.comm === 'tnat64-ra'),
        [],
      )
      const silence = await listen(lab, ['--for', '1.5', '--solicit', 'eth0']).events
      assert.deepEqual(
        silence.map((e) => e.event),
        ['solicit'],
      )
    } finally {
      lab.setPref64(LAB.nat64Prefix)
    }
    assert.equal(lab.status().pref64, true)
  })

  it('sends one-off advertisements: a prefix withdrawn (lifetime 0), a malformed option', async () => {
    lab.setPref64(false)
    try {
      const listener = listen(lab, ['--for', '3'], (e) => e.event === 'invalid')
      await listener.ready
      lab.advertiseOnce({ prefixes: [{ prefix: LAB.nat64Prefix, lifetime: 0 }] })
      // A PREF64 of length 1 (8 bytes): RFC 8781 §4 has it 2.
      lab.advertiseOnce({ options: ['2601000000000000'] })
      const events = await listener.events
      assert.deepEqual(
        events.map((e) => [e.event, e.prefix ?? null, e.lifetime ?? null, e.router]),
        [
          ['pref64', LAB.nat64Prefix, 0, routerLinkLocal(lab)],
          ['invalid', null, null, routerLinkLocal(lab)],
        ],
      )
      assert.throws(() => lab.advertiseOnce({ options: ['not hex'] }), /tnat64-ra/)
    } finally {
      lab.setPref64(LAB.nat64Prefix)
    }
  })

  it('stops the resolver, or gives it another prefix', async () => {
    try {
      await lab.setDns64(false)
      assert.equal(lab.status().dns64, false)
      const started = Date.now()
      const r = dig(lab, ['AAAA', LAB.dns.server])
      assert.notEqual(r.status, 0, r.stdout)
      assert.ok(Date.now() - started < 3000, `dig gave up after ${Date.now() - started} ms`)

      await lab.setDns64(OTHER_PREFIX)
      assert.equal(lab.status().dns64, true)
      assert.deepEqual(answers(lab, 'AAAA', 'ipv4only.arpa'), [
        '2001:db8:46::c000:aa',
        '2001:db8:46::c000:ab',
      ])
      assert.deepEqual(answers(lab, 'AAAA', LAB.dns.server), ['2001:db8:46::c633:640a'])
    } finally {
      await lab.setDns64(LAB.nat64Prefix)
    }
    assert.deepEqual(answers(lab, 'AAAA', LAB.dns.server), [LAB.serverNat64])
  })

  it('refuses a prefix that is no NAT64 prefix, before changing anything', async () => {
    await assert.rejects(
      lab.up({ dns64: '2001:db8:46::/33' }),
      /DNS64 prefix '2001:db8:46::\/33': prefix length/,
    )
    assert.throws(() => lab.setPref64('2001:db8::1/96'), /PREF64 prefix .*bits beyond the prefix length/)
    assert.deepEqual([lab.status().dns64, lab.status().pref64], [true, true])
  })

  it('is set by the CLI, reused lab and all, and reports both', () => {
    try {
      const up = tnat64([
        'lab',
        'up',
        '--name',
        lab.name,
        '--pref64',
        'none',
        '--dns64',
        OTHER_PREFIX,
        '--json',
      ])
      assert.equal(up.status, 0, up.stderr)
      assert.deepEqual((({ dns64, pref64 }) => ({ dns64, pref64 }))(JSON.parse(up.stdout)), {
        dns64: true,
        pref64: false,
      })
      assert.deepEqual(answers(lab, 'AAAA', LAB.dns.server), ['2001:db8:46::c633:640a'])
      const status = tnat64(['lab', 'status', '--name', lab.name])
      assert.equal(status.status, 0, status.stderr)
      assert.match(status.stdout, /DNS64 resolver: up, PREF64 advertiser: down/)
      const bad = tnat64(['lab', 'up', '--name', lab.name, '--pref64', '64:ff9b::/33'])
      assert.equal(bad.status, 2, bad.stderr)
      assert.match(bad.stderr, /^tnat64: PREF64 prefix '64:ff9b::\/33': prefix length/)
    } finally {
      tnat64(['lab', 'up', '--name', lab.name])
    }
    assert.deepEqual([lab.status().dns64, lab.status().pref64], [true, true])
  })

  it('carries NAT64 traffic with both off, and leaves no resolver or advertiser when down', async () => {
    const running = processes(lab, 'router').filter((p) => ['unbound', 'tnat64-ra'].includes(p.comm))
    assert.deepEqual(running.map((p) => p.comm).sort(), ['tnat64-ra', 'unbound'])
    lab.down()
    assert.deepEqual(
      running.filter((p) => alive(p.pid)),
      [],
    )
    for (const role of ['client', 'router', 'server'] as const)
      assert.equal(existsSync(lab.nsPath(role)), false)
    const leftover = readdirSync('/proc').filter((p) => {
      try {
        return /^\d+$/.test(p) && readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(lab.stateDir)
      } catch {
        return false
      }
    })
    assert.deepEqual(leftover, [])

    // A lab built with neither: the NAT64 alone.
    const status = await lab.up({ pref64: false, dns64: false })
    assert.deepEqual([status.dns64, status.pref64, status.tayga, status.server], [false, false, true, true])
    assert.deepEqual(
      processes(lab, 'router').filter((p) => ['unbound', 'tnat64-ra'].includes(p.comm)),
      [],
    )
    const r = lab.exec('client', ['curl', '-sS', '-g', '--max-time', '3', nat64Url], { check: false })
    assert.equal(r.status, 0, r.stderr)
    assert.notEqual(dig(lab, ['AAAA', LAB.dns.server]).status, 0)
  })
})
