// tnat64 doctor: in the lab's client, whose only resolver is the lab's (a private resolv.conf), so
// that neither discovery nor the check of resolv.conf ever asks a resolver outside the lab.
import assert from 'node:assert/strict'
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { EMPTY_CONFIG } from '../src/lib/config.js'
import { prefixInForce } from '../src/lib/discovery/discover.js'
import type { DiscoveryState } from '../src/lib/discovery/state.js'
import { type DoctorReport, prefixChecks } from '../src/lib/doctor.js'
import { LAB, LAB_DNS64_RESOLV_CONF, LAB_RESOLV_CONF, Lab } from '../src/lib/lab.js'
import { TNAT64_CLI } from '../src/lib/paths.js'
import { assertRoot, freshLabName } from './helpers.js'

/** The healthy client's resolv.conf: the lab's DNS through NAT64. */
const NAT64_RESOLV_CONF = `nameserver ${LAB.serverNat64}\n`
const HTTP = `${LAB.serverIPv4}:${LAB.httpPort}`

interface Doctor {
  status: number | null
  stdout: string
  stderr: string
  /** The line of a check, found by its status and name. */
  line(status: string, name: string): string | undefined
}

describe('tnat64 doctor in the lab', () => {
  let lab: Lab
  let dir: string
  /** Names the lab's prefix. */
  let conf: string
  /** Names no prefix: whatever /etc/tnat64.conf this host may have stays out of it. */
  let empty: string

  before(async () => {
    assertRoot()
    lab = new Lab(await freshLabName('doctor'))
    await lab.up()
    dir = mkdtempSync(join(tmpdir(), 'tnat64-doctor-'))
    chmodSync(dir, 0o755)
    conf = join(dir, 'tnat64.conf')
    writeFileSync(conf, `nat64_prefix = ${LAB.nat64Prefix}\n`)
    empty = join(dir, 'empty.conf')
    writeFileSync(empty, '# no prefix\n')
  })
  after(() => {
    lab?.down()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  function doctor(args: string[], resolvConf = NAT64_RESOLV_CONF): Doctor {
    const command = ['env', 'TNAT64_CONF_FILE=', TNAT64_CLI, 'doctor', ...args]
    const r = lab.exec('client', command, { check: false, resolvConf, timeoutMs: 60_000 })
    const lines = r.stdout.split('\n')
    return {
      ...r,
      line: (status, name) => lines.find((l) => new RegExp(`^${status}\\s+${name}\\s`).test(l)),
    }
  }

  it('passes a healthy client with the lab prefix configured, the probe connecting through NAT64', () => {
    const r = doctor(['--config', conf, '--probe', HTTP])
    assert.equal(r.status, 0, r.stdout + r.stderr)
    assert.match(r.line('ok', 'prefix') ?? '', new RegExp(`${LAB.nat64Prefix} from ${conf}:1$`))
    assert.match(r.line('ok', 'route') ?? '', new RegExp(`${LAB.nat64Prefix} via ${LAB.routerIPv6} dev eth0`))
    assert.match(
      r.line('ok', 'probe') ?? '',
      new RegExp(`${HTTP} through \\[${LAB.serverNat64}\\]:${LAB.httpPort}: connected in \\d+ ms$`),
    )
    assert.ok(r.line('info', 'ipv4')?.includes('IPv6-only host'))
    assert.ok(r.line('ok', 'preload'))
    assert.doesNotMatch(r.stdout, /^FAIL/m)
    assert.match(r.stdout, /^tnat64 can serve this host/m)
    assert.equal(r.stderr, '')
  })

  it('fails without the route to the prefix, naming the route to add', () => {
    lab.setNat64Route(false)
    try {
      const r = doctor(['--config', conf])
      assert.equal(r.status, 1, r.stdout)
      const fail = r.line('FAIL', 'route') ?? assert.fail(r.stdout)
      assert.match(
        fail,
        new RegExp(`no route to ${LAB.nat64Prefix} -> fix: ip -6 route add ${LAB.nat64Prefix} via `),
      )
      assert.match(r.stdout, /^tnat64 cannot serve this host: fix the 1 FAIL line above$/m)
    } finally {
      lab.setNat64Route(true)
    }
  })

  it('passes a client that configures nothing: the network gives the prefix, PREF64 and DNS64 agreeing', () => {
    const r = doctor(['--config', empty, '--probe', HTTP], LAB_DNS64_RESOLV_CONF)
    assert.equal(r.status, 0, r.stdout + r.stderr)
    assert.match(
      r.line('ok', 'prefix') ?? '',
      new RegExp(`${LAB.nat64Prefix} from PREF64 from fe80::\\S+ on eth0$`),
    )
    assert.match(r.line('ok', 'pref64') ?? '', new RegExp(`${LAB.nat64Prefix} from PREF64`))
    assert.match(r.line('ok', 'dns64') ?? '', new RegExp(`${LAB.nat64Prefix} from DNS64`))
    assert.ok(r.line('ok', 'probe'), r.stdout)
  })

  it('warns when only PREF64 gives the prefix and no root watcher passes it on to tnat64 app', async () => {
    await lab.setDns64(false)
    let r: Doctor
    try {
      r = doctor(['--config', empty], LAB_RESOLV_CONF)
    } finally {
      await lab.setDns64(LAB.nat64Prefix)
    }
    assert.match(
      r.line('warn', 'app') ?? assert.fail(r.stdout),
      /programs would use the well-known prefix 64:ff9b::\/96 -> fix: run "tnat64 discover --watch" as root/,
    )
  })

  it('fails with no prefix from configuration, PREF64 or DNS64, and an IPv4-only resolv.conf', async () => {
    lab.setPref64(false)
    await lab.setDns64(false)
    let r: Doctor
    try {
      r = doctor(['--config', empty], LAB_RESOLV_CONF)
    } finally {
      lab.setPref64(LAB.nat64Prefix)
      await lab.setDns64(LAB.nat64Prefix)
    }
    assert.equal(r.status, 1, r.stdout)
    const fail = r.line('FAIL', 'prefix') ?? assert.fail(r.stdout)
    assert.match(
      fail,
      /no NAT64 prefix .* -> fix: set nat64_prefix in \/etc\/tnat64\.conf, or run "tnat64 discover --watch"/,
    )
    // 198.51.100.10 is not global: the well-known prefix may not carry it, so there is no NAT64 form.
    assert.ok(r.line('FAIL', 'resolv')?.includes(`only IPv4 nameservers (${LAB.serverIPv4})`), r.stdout)
  })

  for (const [how, args] of [
    ['--prefix', () => ['--config', empty, '--prefix', LAB.nat64Prefix]],
    ['the configuration', () => ['--config', conf]],
  ] as const) {
    it(`gives the NAT64 form of an IPv4-only nameserver under the prefix ${how} gives`, () => {
      const r = doctor(args(), LAB_RESOLV_CONF)
      assert.equal(r.status, 1, r.stdout)
      assert.ok(r.line('ok', 'prefix'), r.stdout)
      assert.match(r.line('FAIL', 'resolv') ?? '', new RegExp(`-> fix: .*nameserver ${LAB.serverNat64}$`))
    })
  }

  it('fails when no nameserver can be reached, an IPv6 one included', () => {
    const r = doctor(['--config', conf], 'nameserver 2001:db8:99::1\n')
    assert.equal(r.status, 1, r.stdout)
    assert.match(r.line('FAIL', 'resolv') ?? '', /no route to any nameserver \(2001:db8:99::1\)/)
  })

  it('fails a probe of a closed port; refuses a malformed one in one line (exit 2)', () => {
    const closed = doctor(['--config', conf, '--probe', `${LAB.serverIPv4}:9`])
    assert.equal(closed.status, 1, closed.stdout)
    assert.match(closed.line('FAIL', 'probe') ?? '', /ECONNREFUSED after \d+ ms -> fix: /)
    for (const probe of ['1.2.3', `${LAB.serverIPv4}:0`, `${LAB.serverIPv4}:65536`, `${LAB.clientIPv6}:80`]) {
      const r = doctor(['--config', conf, '--probe', probe])
      assert.equal(r.status, 2, `${probe}: ${r.stdout}${r.stderr}`)
      assert.equal(r.stdout, '')
      assert.match(r.stderr, new RegExp(`^tnat64: --probe '${probe}': [^\\n]+\\n$`))
    }
  })

  it('--json gives the same checks and verdict, and the same exit code', () => {
    const healthy = doctor(['--config', conf, '--probe', HTTP, '--json'])
    assert.equal(healthy.status, 0, healthy.stdout)
    const report = JSON.parse(healthy.stdout) as DoctorReport
    assert.equal(report.ok, true)
    assert.deepEqual(report.prefix, { prefix: LAB.nat64Prefix, source: 'config', from: `${conf}:1` })
    const human = doctor(['--config', conf, '--probe', HTTP])
    assert.deepEqual(
      report.checks.map((c) => [c.name, c.status]),
      human.stdout
        .trim()
        .split('\n')
        .slice(0, -1)
        .map((l) => {
          const [status, name] = l.split(/\s+/)
          return [name, status === 'FAIL' ? 'fail' : status]
        }),
    )
    lab.setNat64Route(false)
    try {
      const broken = doctor(['--config', conf, '--json'])
      assert.equal(broken.status, 1)
      const r = JSON.parse(broken.stdout) as DoctorReport
      assert.equal(r.ok, false)
      const route = r.checks.find((c) => c.name === 'route')
      assert.equal(route?.status, 'fail')
      assert.equal(route?.fix?.startsWith(`ip -6 route add ${LAB.nat64Prefix} via `), true)
      for (const c of r.checks)
        assert.equal(c.fix !== undefined, c.status === 'warn' || c.status === 'fail', c.name)
    } finally {
      lab.setNat64Route(true)
    }
  })
})

describe('tnat64 doctor: the prefix sources', () => {
  const now = Math.floor(Date.now() / 1000)
  const state: DiscoveryState = {
    written: now,
    found: [
      { source: 'dns64', prefix: '64:ff9b::/96', expires: now + 600, resolver: '2001:db8:1::53' },
      {
        source: 'pref64',
        prefix: LAB.nat64Prefix,
        expires: now + 1800,
        received: now,
        router: 'fe80::1',
        interface: 'eth0',
      },
    ],
    notes: [],
    until: now + 600,
  }
  const agree = (checks: ReturnType<typeof prefixChecks>) => checks.filter((c) => c.name === 'agree')

  it('warns when PREF64 and DNS64 differ, and puts PREF64 in force', () => {
    const inForce = prefixInForce(undefined, EMPTY_CONFIG, state)
    const checks = prefixChecks(inForce, state)
    assert.equal(checks[0].detail, `${LAB.nat64Prefix} from PREF64 from fe80::1 on eth0`)
    assert.match(
      checks.find((c) => c.name === 'pref64')?.detail ?? '',
      /from PREF64 from fe80::1 on eth0, \d+ s left/,
    )
    assert.equal(checks.find((c) => c.name === 'dns64')?.status, 'ok')
    const [warn, ...rest] = agree(checks)
    assert.deepEqual(rest, [])
    assert.equal(warn.status, 'warn')
    assert.match(
      warn.detail,
      /PREF64 2001:db8:64::\/96 and DNS64 64:ff9b::\/96 differ: PREF64 wins \(RFC 8781, RFC 9872/,
    )
    assert.match(warn.fix ?? '', /dns64-prefix: 2001:db8:64::\/96/)
  })

  it('warns when --prefix overrides the network, and says so when every source agrees', () => {
    const over = agree(
      prefixChecks(
        prefixInForce({ prefix: '2001:db8:65::/96', from: '--prefix' }, EMPTY_CONFIG, state),
        state,
      ),
    )
    assert.ok(over.some((c) => c.status === 'warn' && c.fix === 'drop --prefix to follow the network'))
    const same = { ...state, found: state.found.filter((f) => f.source === 'pref64') }
    assert.deepEqual(
      agree(
        prefixChecks(prefixInForce({ prefix: LAB.nat64Prefix, from: '--prefix' }, EMPTY_CONFIG, same), same),
      ).map((c) => c.status),
      ['ok'],
    )
  })
})
