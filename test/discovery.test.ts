// Prefix discovery without a network: RFC 7050's derivation from crafted answers (also through a
// DNS server on loopback, the way the host's resolver would hand them over), the state files
// others read, and which prefix wins.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createSocket, type Socket } from 'node:dgram'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { answer, parseQuery } from '../src/lab/dns.js'
import { formatIPv6, parseIPv4, parseIPv6 } from '../src/lib/address.js'
import { processStart } from '../src/lib/command-line.js'
import { parseConfig } from '../src/lib/config.js'
import { givenPrefix, prefixInForce } from '../src/lib/discovery/discover.js'
import { derivePrefixes, lookupDns64 } from '../src/lib/discovery/dns64.js'
import {
  chooseFound,
  type DiscoveryState,
  type Found,
  formatState,
  parseState,
  readHostState,
  thisWatcher,
  userCacheFile,
  type Watcher,
  writeState,
} from '../src/lib/discovery/state.js'
import { TNAT64_CLI } from '../src/lib/paths.js'
import { PREFIX_LENGTHS, parsePrefix, synthesize } from '../src/lib/rfc6052.js'
import { IPV4ONLY_ADDRESSES } from '../src/lib/rfc7050.js'
import { ROOT } from './helpers.js'

const AAAA = 28
const PREFIXES: Record<number, string> = {
  32: '2001:db8::/32',
  40: '2001:db8:100::/40',
  48: '2001:db8:122::/48',
  56: '2001:db8:122:300::/56',
  64: '2001:db8:122:344::/64',
  96: '2001:db8:64::/96',
}

/** The AAAA records a DNS64 under `prefix` synthesizes for ipv4only.arpa. */
function synthesized(prefix: string, ttl = 600) {
  return IPV4ONLY_ADDRESSES.map((a) => ({
    address: formatIPv6(synthesize(parseIPv4(a), parsePrefix(prefix))),
    ttl,
  }))
}

describe('RFC 7050: the prefix from the AAAA records of ipv4only.arpa', () => {
  for (const length of PREFIX_LENGTHS) {
    it(`finds a /${length} prefix`, () => {
      const { prefixes, refused } = derivePrefixes(synthesized(PREFIXES[length]))
      assert.deepEqual(
        prefixes.map((p) => p.prefix.text),
        [PREFIXES[length]],
      )
      assert.deepEqual(refused, [])
    })
  }

  it('holds a prefix only as long as its shortest-lived record', () => {
    const [a, b] = synthesized(PREFIXES[96])
    const { prefixes } = derivePrefixes([
      { ...a, ttl: 600 },
      { ...b, ttl: 90 },
    ])
    assert.equal(prefixes[0].ttl, 90)
  })

  it('reports every prefix of a network that has several', () => {
    const { prefixes } = derivePrefixes([...synthesized(PREFIXES[96]), ...synthesized(PREFIXES[48])])
    assert.deepEqual(prefixes.map((p) => p.prefix.text).sort(), [PREFIXES[48], PREFIXES[96]].sort())
  })

  it('refuses false positives, each with its reason', () => {
    const cases: [string, RegExp][] = [
      ['2001:db8::1', /carries neither 192\.0\.0\.170 nor 192\.0\.0\.171/], // a real AAAA record
      ['::ffff:192.0.0.170', /IPv4-mapped/], // a resolver mapping the A record
      ['::c000:aa', /cannot be NAT64 prefixes/], // IPv4-compatible
      ['2001:db8:c000:aa01::', /carries neither/], // the address at /32, but the u-octet set
      ['2001:db8:64::c000:aa:0', /carries neither/], // a /64 position with bits after it
      ['fe80::c000:aa', /link-local/],
      ['not-an-address', /not an IPv6 address/],
    ]
    for (const [address, why] of cases) {
      const { prefixes, refused } = derivePrefixes([{ address, ttl: 60 }])
      assert.deepEqual(prefixes, [], address)
      assert.equal(refused.length, 1, address)
      assert.match(refused[0], why, address)
    }
  })

  it('keeps the good records of an answer that also holds a bad one', () => {
    const { prefixes, refused } = derivePrefixes([
      ...synthesized(PREFIXES[64]),
      { address: '2001:db8::1', ttl: 60 },
    ])
    assert.deepEqual(
      prefixes.map((p) => p.prefix.text),
      [PREFIXES[64]],
    )
    assert.equal(refused.length, 1)
  })
})

describe('RFC 7050 through a resolver', () => {
  let server: Socket
  let port = 0
  /** What the server answers for ipv4only.arpa AAAA: addresses, or nothing (NODATA). */
  let records: string[] = []
  let zoneTtl = 300

  before(async () => {
    server = createSocket('udp4')
    server.on('message', (msg, peer) => {
      const query = parseQuery(msg)
      if (!query) return
      const zone = {
        origin: 'arpa',
        ttl: zoneTtl,
        names: new Map([
          ['ipv4only.arpa', records.map((a) => ({ type: AAAA, data: Buffer.from(parseIPv6(a)) }))],
        ]),
      }
      server.send(answer(query, [zone], 'udp'), peer.port, peer.address)
    })
    await new Promise<void>((resolve) => server.bind(0, '127.0.0.1', resolve))
    port = server.address().port
  })
  after(() => server.close())

  const servers = () => [`127.0.0.1:${port}`]

  for (const length of PREFIX_LENGTHS) {
    it(`derives a /${length} prefix from a DNS answer, with its TTL`, async () => {
      records = synthesized(PREFIXES[length]).map((r) => r.address)
      const lookup = await lookupDns64({ servers: servers(), timeoutMs: 1000 })
      assert.equal(lookup.kind, 'found')
      assert.ok(lookup.kind === 'found')
      assert.deepEqual(
        lookup.prefixes.map((p) => [p.prefix.text, p.ttl]),
        [[PREFIXES[length], 300]],
      )
    })
  }

  it('bounds a TTL of 0 and one of years (a prefix in force for a while; asked again within a day)', async () => {
    records = synthesized(PREFIXES[96]).map((r) => r.address)
    for (const [ttl, held] of [
      [0, 30],
      [2 ** 31 - 1, 86_400],
    ]) {
      zoneTtl = ttl
      const lookup = await lookupDns64({ servers: servers(), timeoutMs: 1000 })
      assert.ok(lookup.kind === 'found')
      assert.equal(lookup.prefixes[0].ttl, held)
    }
    zoneTtl = 300
  })

  it('says there is no DNS64 when the answer has no AAAA records', async () => {
    records = []
    const lookup = await lookupDns64({ servers: servers(), timeoutMs: 1000 })
    assert.equal(lookup.kind, 'none')
    assert.ok(lookup.kind === 'none')
    assert.match(lookup.why, /no AAAA records/)
  })

  it('says so, and names the record, when the answer lacks the well-known addresses', async () => {
    records = ['2001:db8::1']
    const lookup = await lookupDns64({ servers: servers(), timeoutMs: 1000 })
    assert.equal(lookup.kind, 'none')
    assert.ok(lookup.kind === 'none')
    assert.match(lookup.why, /2001:db8::1: carries neither/)
  })

  it('reports a resolver that does not answer as a failure, not as "no DNS64"', async () => {
    const silent = createSocket('udp4')
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve))
    try {
      const lookup = await lookupDns64({ servers: [`127.0.0.1:${silent.address().port}`], timeoutMs: 200 })
      assert.equal(lookup.kind, 'failed')
    } finally {
      silent.close()
    }
  })
})

describe('the discovery state and the prefix in force', () => {
  let dir = ''
  const home = () => {
    dir ||= mkdtempSync(join(tmpdir(), 'tnat64-state-'))
    return dir
  }
  after(() => dir && rmSync(dir, { recursive: true, force: true }))
  const now = Math.floor(Date.now() / 1000)
  const pref64 = (prefix: string, received: number, expires = now + 600): Found => ({
    source: 'pref64',
    prefix,
    expires,
    received,
    router: 'fe80::1',
    interface: 'eth0',
  })
  const dns64: Found = {
    source: 'dns64',
    prefix: '2001:db8:46::/96',
    expires: now + 300,
    resolver: '2001:db8:1::1',
  }

  it('round-trips through its file format', () => {
    const state: DiscoveryState = {
      written: now,
      watcher: { pid: 42, start: '1234' },
      found: [
        pref64('2001:db8:64::/96', now - 5),
        { ...pref64('2001:db8:65::/96', now - 5), interface: 'a=b' },
        dns64,
      ],
      notes: [{ source: 'dns64', text: 'one  note\twith spaces' }],
      until: now + 300,
    }
    const text = formatState(state, 'test')
    assert.match(text, new RegExp(`^in-force 2001:db8:64::/96 pref64 ${now + 600}$`, 'm'))
    assert.deepEqual(parseState(text), {
      ...state,
      notes: [{ source: 'dns64', text: 'one note with spaces' }],
    })
    assert.equal(
      parseState('in-force 2001:db8:64::/96 pref64 1\n'),
      undefined,
      'no `written` line: not a state',
    )
  })

  it('prefers PREF64 to DNS64, the lowest of several whatever their order, and never an expired one', () => {
    assert.equal(chooseFound([dns64, pref64('2001:db8:64::/96', now - 50)])?.source, 'pref64')
    const two = [pref64('2001:db8:2::/96', now - 50), pref64('2001:db8:1:0:0:1::/96', now - 10)]
    assert.equal(chooseFound(two)?.prefix, '2001:db8:1:0:0:1::/96')
    assert.equal(chooseFound([...two].reverse())?.prefix, '2001:db8:1:0:0:1::/96')
    const answers = [{ ...dns64, prefix: '2001:db8:ff::/96' }, dns64]
    assert.equal(
      chooseFound(answers)?.prefix,
      dns64.prefix,
      'a resolver rotating its answers changes nothing',
    )
    assert.equal(chooseFound([pref64('2001:db8:64::/96', now - 50, now - 1), dns64])?.source, 'dns64')
    assert.equal(chooseFound([{ ...dns64, expires: now - 1 }]), undefined)
  })

  it("trusts the host's state only while its watcher runs: the same pid, started at the same time", () => {
    const file = join(home(), 'host-state')
    const state = (watcher?: Watcher): DiscoveryState => ({
      written: now,
      watcher,
      found: [dns64],
      notes: [],
      until: now + 300,
    })
    writeState(file, state(thisWatcher()), 'test', 0o644)
    assert.equal(readHostState(file)?.found[0].prefix, dns64.prefix)
    writeState(file, state({ pid: process.pid, start: '1' }), 'test', 0o644)
    assert.equal(readHostState(file), undefined, 'a reused pid')
    writeState(file, state(), 'test', 0o644)
    assert.equal(readHostState(file), undefined, 'no watcher named')
  })

  it('writes the mode asked for whatever the umask', () => {
    const file = join(home(), 'umask-state')
    const old = process.umask(0o077)
    try {
      writeState(file, { written: now, found: [], notes: [], until: now }, 'test', 0o644)
    } finally {
      process.umask(old)
    }
    assert.equal(statSync(file).mode & 0o777, 0o644)
  })

  it('finds the user cache where the launcher does: never relative to the current directory', () => {
    const passwd = join(userInfo().homedir, '.cache', 'tnat64', 'discovery')
    assert.equal(userCacheFile({ XDG_CACHE_HOME: '/x', HOME: '/h' }), '/x/tnat64/discovery')
    assert.equal(userCacheFile({ XDG_CACHE_HOME: 'rel', HOME: '/h' }), '/h/.cache/tnat64/discovery')
    assert.equal(userCacheFile({ HOME: '' }), passwd)
    assert.equal(userCacheFile({ HOME: 'rel' }), passwd)
    assert.equal(userCacheFile({}), passwd)
  })

  it('ranks --prefix, the configuration, PREF64, DNS64, then the well-known prefix', () => {
    const state: DiscoveryState = {
      written: now,
      found: [dns64, pref64('2001:db8:64::/96', now)],
      notes: [],
      until: now + 300,
    }
    const withDefault = parseConfig('nat64_prefix = 2001:db8:cf::/96\n', 'f.conf').config
    const none = parseConfig('', 'f.conf').config
    assert.equal(prefixInForce(givenPrefix('2001:db8:f1::/96'), withDefault, state).source, 'flag')
    assert.deepEqual(givenPrefix(undefined, { TNAT64_PREFIX: '2001:db8:f2::/96' }), {
      prefix: '2001:db8:f2::/96',
      from: '$TNAT64_PREFIX',
    })
    assert.equal(
      givenPrefix(undefined, { TNAT64_PREFIX: '' }),
      undefined,
      'empty is unset, as for the launcher',
    )
    assert.deepEqual(
      [
        prefixInForce(undefined, withDefault, state).source,
        prefixInForce(undefined, withDefault, state).from,
      ],
      ['config', 'f.conf:1'],
    )
    assert.equal(prefixInForce(undefined, none, state).source, 'pref64')
    assert.equal(prefixInForce(undefined, none, { ...state, found: [dns64] }).source, 'dns64')
    const guess = prefixInForce(undefined, none, { ...state, found: [] })
    assert.deepEqual([guess.source, guess.prefix], ['well-known', '64:ff9b::/96'])
  })
})

describe('tnat64 app: the discovered prefix', () => {
  const home = mkdtempSync(join(tmpdir(), 'tnat64-discovery-'))
  const cache = join(home, 'tnat64', 'discovery')
  after(() => rmSync(home, { recursive: true, force: true }))
  const now = () => Math.floor(Date.now() / 1000)
  const state = (prefix: string, expires: number, pid?: number, start = pid && processStart(pid)) =>
    `written ${now()}\nuntil ${expires}\n${pid ? `pid ${pid} ${start}\n` : ''}in-force ${prefix} dns64 ${expires}\n`
  const writeCache = (text: string) => {
    mkdirSync(join(home, 'tnat64'), { recursive: true })
    writeFileSync(cache, text, { mode: 0o600 })
  }
  /** `tnat64 app` printing the prefix it handed the program; /run private, so the host's state
   * file of a test is seen by this command alone. */
  const app = (
    hostState: string | undefined,
    args: string[] = [],
    env: NodeJS.ProcessEnv = {},
    mode = '644',
  ) => {
    const script = [
      'mount -t tmpfs tmpfs /run',
      hostState === undefined
        ? ':'
        : `printf %s "$STATE" > /run/tnat64-discovery && chmod ${mode} /run/tnat64-discovery`,
      `exec "$@"`,
    ].join(' && ')
    return spawnSync(
      'unshare',
      [
        '--mount',
        '--propagation',
        'private',
        'sh',
        '-c',
        script,
        'sh',
        TNAT64_CLI,
        'app',
        ...args,
        'sh',
        '-c',
        'echo "[$TNAT64_PREFIX]"',
      ],
      {
        encoding: 'utf8',
        env: { ...process.env, TNAT64_CONF_FILE: '', XDG_CACHE_HOME: home, STATE: hostState, ...env },
      },
    )
  }

  it("uses the user's cached answer while it holds, and says where it came from with --debug", () => {
    writeCache(state('2001:db8:64::/96', now() + 100))
    const r = app(undefined, ['--debug'])
    assert.equal(r.stdout, '[2001:db8:64::/96]\n')
    assert.match(r.stderr, /NAT64 prefix 2001:db8:64::\/96, discovered by DNS64 \(RFC 7050\)/)
  })

  it('lets --prefix, $TNAT64_PREFIX and the configuration win over discovery', () => {
    writeCache(state('2001:db8:64::/96', now() + 100))
    assert.equal(app(undefined, ['--prefix', '2001:db8:1::/96']).stdout, '[2001:db8:1::/96]\n')
    assert.equal(app(undefined, [], { TNAT64_PREFIX: '2001:db8:2::/96' }).stdout, '[2001:db8:2::/96]\n')
    const conf = join(home, 'with-prefix.conf')
    writeFileSync(conf, 'nat64_prefix = 2001:db8:3::/96\n')
    assert.equal(app(undefined, ['--config', conf]).stdout, '[]\n', 'the library reads the file itself')
  })

  it('prefers the host state kept by a running watcher, and ignores one whose watcher is gone or that others may write', () => {
    writeCache(state('2001:db8:64::/96', now() + 100))
    assert.equal(app(state('2001:db8:46::/96', now() + 100, process.pid)).stdout, '[2001:db8:46::/96]\n')
    const dead = spawnSync('true').pid ?? 1
    assert.equal(app(state('2001:db8:46::/96', now() + 100, dead)).stdout, '[2001:db8:64::/96]\n')
    const reused = state('2001:db8:46::/96', now() + 100, process.pid, '1')
    assert.equal(app(reused).stdout, '[2001:db8:64::/96]\n', 'a pid now another process')
    assert.equal(
      app(state('2001:db8:46::/96', now() + 100, process.pid), [], {}, '666').stdout,
      '[2001:db8:64::/96]\n',
    )
    assert.equal(
      app(state('2001:db8:46::/96', now() - 1, process.pid)).stdout,
      '[2001:db8:64::/96]\n',
      'expired',
    )
  })

  it('refuses an in-force line with anything after its expiry', () => {
    writeCache(`${state('2001:db8:64::/96', now() + 100).trimEnd()}junk\n`)
    const r = spawnSync('unshare', ['-n', TNAT64_CLI, 'app', 'sh', '-c', 'echo "[$TNAT64_PREFIX]"'], {
      encoding: 'utf8',
      env: { ...process.env, TNAT64_CONF_FILE: '', XDG_CACHE_HOME: home },
    })
    assert.equal(r.stdout, '[]\n', 'looked up anew (and found nothing, with no network)')
  })

  it("looks up whatever configuration the environment names: --config is the program's, not discovery's", () => {
    rmSync(cache, { force: true })
    const good = join(home, 'good.conf')
    writeFileSync(good, 'local = 10.0.0.0/8\n')
    const r = spawnSync('unshare', ['-n', TNAT64_CLI, 'app', '--config', good, 'true'], {
      encoding: 'utf8',
      env: { ...process.env, TNAT64_CONF_FILE: join(home, 'missing.conf'), XDG_CACHE_HOME: home },
    })
    assert.equal(r.status, 0, r.stderr)
    assert.doesNotMatch(r.stderr, /could not run/)
    assert.match(r.stderr, /no NAT64 prefix discovered/)
  })

  it('never hangs on a FIFO in place of a state file', () => {
    rmSync(cache, { force: true })
    spawnSync('mkfifo', ['-m', '600', cache])
    const r = spawnSync('unshare', ['-n', TNAT64_CLI, 'app', 'true'], {
      encoding: 'utf8',
      timeout: 10_000,
      env: { ...process.env, TNAT64_CONF_FILE: '', XDG_CACHE_HOME: home },
    })
    assert.equal(r.status, 0, r.stderr)
    rmSync(cache, { force: true })
  })

  it('says in one line when discovery cannot run at all (no node), and goes on with the well-known prefix', () => {
    rmSync(cache, { force: true })
    const bin = mkdtempSync(join(tmpdir(), 'tnat64-no-node-'))
    try {
      for (const tool of ['sh', 'true']) symlinkSync(`/bin/${tool}`, join(bin, tool))
      const r = spawnSync(join(ROOT, 'preload', 'tnat64-app'), ['sh', '-c', 'echo "[$TNAT64_PREFIX]"'], {
        encoding: 'utf8',
        env: { PATH: bin, XDG_CACHE_HOME: home, TNAT64_CONF_FILE: '' },
      })
      assert.equal(r.stdout, '[]\n')
      assert.match(
        r.stderr,
        /^tnat64: NAT64 prefix discovery could not run \(.*: node not found\); the well-known prefix 64:ff9b::\/96 is used\n$/,
      )
    } finally {
      rmSync(bin, { recursive: true, force: true })
    }
  })

  it('looks DNS64 up when nothing fresh is known, says once that nothing was found, and caches that', () => {
    writeCache(state('2001:db8:64::/96', now() - 1))
    // No network at all: the lookup fails at once, and nothing outside is ever asked.
    const first = spawnSync('unshare', ['-n', TNAT64_CLI, 'app', 'sh', '-c', 'echo "[$TNAT64_PREFIX]"'], {
      encoding: 'utf8',
      env: { ...process.env, TNAT64_CONF_FILE: '', XDG_CACHE_HOME: home },
    })
    assert.equal(first.stdout, '[]\n')
    assert.match(
      first.stderr,
      /^tnat64: no NAT64 prefix discovered \(ipv4only\.arpa AAAA: .*\); the well-known prefix 64:ff9b::\/96 is used\n$/,
    )
    assert.match(readFileSync(cache, 'utf8'), /^in-force none - \d+$/m)
    const second = spawnSync('unshare', ['-n', TNAT64_CLI, 'app', 'true'], {
      encoding: 'utf8',
      env: { ...process.env, TNAT64_CONF_FILE: '', XDG_CACHE_HOME: home },
    })
    assert.equal(second.stderr, '', 'the cached answer is used quietly')
  })
})
