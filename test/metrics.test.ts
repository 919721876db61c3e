// tnat64 metrics: the Prometheus text format, checked by promtool, read from the real kernel while
// a process of an attached cgroup connects through the lab's NAT64; --listen serves it over HTTP
// and stops cleanly on SIGTERM. Other administrators may share the kernel: counters are compared
// as "moved at least by".
import assert from 'node:assert/strict'
import { type ChildProcess, type SpawnSyncReturns, spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, rmdirSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { cgroup2Mount } from '../src/lib/kernel/cgroup.js'
import type { Status } from '../src/lib/kernel/stats.js'
import { LAB, Lab } from '../src/lib/lab.js'
import { CONTENT_TYPE, exposition, families } from '../src/lib/metrics.js'
import { TNAT64_CLI } from '../src/lib/paths.js'
import { assertRoot, clientCli, freshLabName, ok, PYTHON } from './helpers.js'

const MAPPED = `::ffff:${LAB.serverIPv4}`
const STAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ /

let lab: Lab
let cgroup: string

/** promtool's verdict on an exposition: its exit status and what it said. */
function promtool(text: string): SpawnSyncReturns<string> {
  return spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 30_000 })
}

function assertValid(text: string): void {
  const r = promtool(text)
  assert.equal(r.error, undefined, 'promtool must be installed (scripts/setup installs prometheus)')
  assert.equal(r.status, 0, `promtool check metrics: ${r.stdout}${r.stderr}\n${text}`)
}

interface Parsed {
  readonly name: string
  readonly labels: Record<string, string>
  readonly value: number
}

/** The samples of an exposition, label values unescaped. */
function parse(text: string): Parsed[] {
  return text
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((line) => {
      const m = /^([a-z0-9_]+)(?:\{(.*)\})? (\S+)$/.exec(line)
      assert.ok(m, `not a sample line: ${line}`)
      const labels: Record<string, string> = {}
      for (const [, k, v] of (m[2] ?? '').matchAll(/([a-z_]+)="((?:[^"\\]|\\.)*)"/g))
        labels[k] = v.replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c))
      return { name: m[1], labels, value: Number(m[3]) }
    })
}

function value(samples: Parsed[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  )
  assert.equal(found.length, 1, `one ${name} ${JSON.stringify(labels)} in ${JSON.stringify(samples)}`)
  return found[0].value
}

const cli = (args: string[]) => clientCli(lab, args)

function metrics(): Parsed[] {
  const { stdout } = ok(cli(['metrics']))
  assertValid(stdout)
  return parse(stdout)
}

/** A dual-stack TCP connect to the lab server's mapped address, from the cgroup in the client's
 * namespace (the cgroup joined first: `ip netns exec` would hide the cgroup2 mount). */
function connectMapped(): SpawnSyncReturns<string> {
  const script = `
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM); s.settimeout(5)
try:
    s.connect(("${MAPPED}", ${LAB.httpPort})); print("connected", s.getpeername()[0])
except OSError as e:
    print("failed", e.errno)
`
  const procs = join(cgroup2Mount(), cgroup, 'cgroup.procs')
  const enter = `echo $$ > "$1" && shift && exec nsenter --net=${lab.nsPath('client')} "$@"`
  return spawnSync('sh', ['-c', enter, 'sh', procs, PYTHON, '-c', script], {
    encoding: 'utf8',
    timeout: 30_000,
  })
}

before(async () => {
  assertRoot()
  lab = new Lab(await freshLabName('mx'))
  await lab.up()
  // Quotes and a backslash in its name: label values are escaped as the text format says.
  cgroup = `t64-mx-${process.pid} "q\\b"`
  mkdirSync(join(cgroup2Mount(), cgroup))
  // No --prefix: the lab router's PREF64 gives it, so its source shows.
  ok(cli(['attach', '--cgroup', cgroup]))
})

after(() => {
  spawnSync(TNAT64_CLI, ['detach', '--cgroup', cgroup])
  const dir = join(cgroup2Mount(), cgroup)
  if (existsSync(dir)) {
    for (const pid of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean))
      spawnSync('kill', ['-9', pid])
    rmdirSync(dir)
  }
  lab?.down()
})

describe('tnat64 metrics', () => {
  it('prints a valid exposition: our cgroup, its programs and pins, the prefix with its source', () => {
    const samples = metrics()
    const path = join(cgroup2Mount(), cgroup)
    assert.equal(value(samples, 'tnat64_kernel_loaded'), 1)
    assert.ok(value(samples, 'tnat64_attached_cgroups') >= 1)
    const info = samples.find((s) => s.name === 'tnat64_cgroup_info' && s.labels.cgroup === path)
    assert.ok(info, `no tnat64_cgroup_info for ${path}`)
    assert.equal(info.labels.default_prefix, LAB.nat64Prefix)
    assert.equal(info.labels.removed, 'false')
    assert.ok(value(samples, 'tnat64_cgroup_rules', { cgroup: path }) > 1)
    for (const program of ['connect6', 'getpeername6', 'recvmsg6', 'sock_release'])
      assert.ok(value(samples, 'tnat64_program_runs_total', { cgroup: path, program }) >= 0)
    assert.equal(value(samples, 'tnat64_prefix_reachable', { prefix: LAB.nat64Prefix, source: 'pref64' }), 1)

    ok(cli(['cache', 'set', '198.51.100.99', '--method', 'ipv4', '--cgroup', cgroup]))
    const pinned = metrics()
    assert.equal(value(pinned, 'tnat64_cache_entries', { cgroup: path, method: 'ipv4' }), 1)
    assert.equal(value(pinned, 'tnat64_cache_entries', { cgroup: path, method: 'nat64' }), 0)
    ok(cli(['cache', 'flush', '--cgroup', cgroup]))
    assert.equal(value(metrics(), 'tnat64_cache_entries', { cgroup: path, method: 'ipv4' }), 0)
  })

  it('counts a connect through NAT64 as rewritten, and one with no route to the prefix as unreachable', () => {
    const decisions = (s: Parsed[], outcome: string) =>
      value(s, 'tnat64_connect_decisions_total', { outcome })
    const before = metrics()
    const r = connectMapped()
    assert.equal(r.stdout.trim(), `connected ${MAPPED}`, r.stderr)
    const moved = metrics()
    assert.ok(decisions(moved, 'rewritten') >= decisions(before, 'rewritten') + 1)
    assert.ok(
      value(moved, 'tnat64_peer_addresses_restored_total') >=
        value(before, 'tnat64_peer_addresses_restored_total') + 1,
    )

    lab.setNat64Route(false)
    try {
      ok(cli(['refresh']))
      const cut = metrics()
      assert.equal(value(cut, 'tnat64_prefix_reachable', { prefix: LAB.nat64Prefix, source: 'pref64' }), 0)
      assert.match(connectMapped().stdout, /^failed \d+/)
      assert.ok(decisions(metrics(), 'unreachable') >= decisions(cut, 'unreachable') + 1)
    } finally {
      lab.setNat64Route(true)
      cli(['refresh'])
    }
  })

  it("a path's prefix is configured; so is a default that prefix add replaced the discovered one with", () => {
    const other = '2001:db8:99::/96'
    ok(cli(['prefix', 'add', other, '--subnet', '10.0.0.0/8', '--cgroup', cgroup]))
    const withPath = metrics()
    assert.equal(value(withPath, 'tnat64_prefix_reachable', { prefix: other, source: 'config' }), 0)
    assert.equal(value(withPath, 'tnat64_prefix_reachable', { prefix: LAB.nat64Prefix, source: 'pref64' }), 1)
    ok(cli(['prefix', 'remove', other, '--cgroup', cgroup]))
    ok(cli(['prefix', 'add', LAB.nat64Prefix, '--cgroup', cgroup]))
    const samples = metrics().filter((s) => s.name === 'tnat64_prefix_reachable')
    assert.deepEqual(
      samples.filter((s) => s.labels.prefix === LAB.nat64Prefix).map((s) => s.labels.source),
      ['config'],
    )
    assert.equal(
      samples.some((s) => s.labels.prefix === other),
      false,
    )
  })

  it('escapes label values and stays valid without kernel mode loaded', () => {
    const unloaded: Status = {
      loaded: false,
      attached: [],
      prefixes: [],
      namespaces: [],
      orphans: [],
      bpfStatsEnabled: false,
    }
    const text = exposition(families(unloaded))
    assertValid(text)
    assert.equal(value(parse(text), 'tnat64_attached_cgroups'), 0)
    assert.equal(value(parse(text), 'tnat64_connect_decisions_total', { outcome: 'rewritten' }), 0)
    const odd = `/a "b"\\c\nd`
    const one: Status = {
      ...unloaded,
      loaded: true,
      attached: [{ id: '7', path: odd, removed: true, clear: 'x', rules: [], programs: [] }],
    }
    const escaped = exposition(families(one))
    assert.match(escaped, /cgroup="\/a \\"b\\"\\\\c\\nd"/)
    assertValid(escaped)
    assert.equal(value(parse(escaped), 'tnat64_cgroup_rules', { cgroup: odd }), 0)
  })
})

/** `metrics --listen` in the client's namespace; resolves with the process and its URL. */
async function listen(args: string[]): Promise<{ child: ChildProcess; url: string; lines: string[] }> {
  const child = spawn('nsenter', [`--net=${lab.nsPath('client')}`, TNAT64_CLI, 'metrics', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const lines: string[] = []
  let buffer = ''
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no listening line: ${lines.join('\n')}${buffer}`)),
      30_000,
    )
    child.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString()
      const complete = buffer.split('\n')
      buffer = complete.pop() ?? ''
      lines.push(...complete)
      const m = /listening on (http:\/\/[^\s"]+)/.exec(lines[0] ?? '')
      if (m) {
        clearTimeout(timer)
        resolve(m[1])
      }
    })
    child.on('exit', (code) => reject(new Error(`exited ${code} before listening: ${lines.join('\n')}`)))
  })
  return { child, url, lines }
}

function stop(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    child.on('exit', (code) => resolve(code))
    child.kill('SIGTERM')
  })
}

/** An HTTP request from inside the client's namespace, where the server listens on loopback. */
function curl(args: string[]): { status: number; type: string; body: string } {
  const r = spawnSync(
    'nsenter',
    [
      `--net=${lab.nsPath('client')}`,
      'curl',
      '-s',
      '-o',
      '-',
      '-w',
      '\n%{http_code} %{content_type}',
      ...args,
    ],
    { encoding: 'utf8', timeout: 30_000 },
  )
  const cut = r.stdout.lastIndexOf('\n')
  const [status, ...type] = r.stdout.slice(cut + 1).split(' ')
  return { status: Number(status), type: type.join(' '), body: r.stdout.slice(0, cut) }
}

describe('tnat64 metrics --listen', () => {
  it('serves /metrics fresh at each scrape, 404 elsewhere, 405 for POST, and stops on SIGTERM with exit 0', async () => {
    const { child, url, lines } = await listen(['--listen', '127.0.0.1:0'])
    try {
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/)
      assert.match(lines[0], STAMP)
      const first = curl([url])
      assert.equal(first.status, 200)
      assert.equal(first.type, CONTENT_TYPE)
      assertValid(first.body)
      const r = connectMapped()
      assert.equal(r.stdout.trim(), `connected ${MAPPED}`, r.stderr)
      const second = curl([url])
      const rewritten = (text: string) =>
        value(parse(text), 'tnat64_connect_decisions_total', { outcome: 'rewritten' })
      assert.ok(rewritten(second.body) >= rewritten(first.body) + 1)
      assert.equal(curl([url.replace(/\/metrics$/, '/other')]).status, 404)
      assert.equal(curl(['-X', 'POST', url]).status, 405)
      assert.equal(curl(['-I', url]).status, 200)
      // A request target that is no URL: 400, and the server serves on.
      assert.equal(curl(['--request-target', 'http://[', url]).status, 400)
      assert.equal(curl([url]).status, 200)
    } finally {
      assert.equal(await stop(child), 0)
    }
    assert.ok(lines.length >= 2, lines.join('\n'))
    for (const line of lines) assert.match(line, STAMP)
    assert.match(lines.at(-1) ?? '', /stopping on SIGTERM$/)
  })

  it('--log-format json: one JSON object a line, with its time', async () => {
    const { child, url, lines } = await listen(['--listen', '[::1]:0', '--log-format', 'json'])
    assert.match(url, /^http:\/\/\[::1\]:\d+\/metrics$/)
    assert.equal(curl(['-g', url]).status, 200)
    assert.equal(await stop(child), 0)
    const events = lines.map((l) => JSON.parse(l))
    assert.deepEqual(
      events.map((e) => e.message),
      [`listening on ${url}`, 'stopping on SIGTERM'],
    )
    for (const e of events) assert.match(`${e.time} `, STAMP)
  })

  it('a bad address exits 2 with one line; a port in use exits 1 with one line', async () => {
    for (const bad of ['abc', '70000', '::1:9464', 'localhost:9464', '1.2.3:80']) {
      const r = spawnSync(TNAT64_CLI, ['metrics', '--listen', bad], { encoding: 'utf8', timeout: 30_000 })
      assert.equal(r.status, 2, `${bad}: ${r.stdout}${r.stderr}`)
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
      assert.match(r.stderr, /^tnat64: --listen .*expected \[ADDR:\]PORT/)
    }
    const taken = createServer()
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
    try {
      const { port } = taken.address() as { port: number }
      const r = spawnSync(TNAT64_CLI, ['metrics', '--listen', String(port)], {
        encoding: 'utf8',
        timeout: 30_000,
      })
      assert.equal(r.status, 1, r.stdout + r.stderr)
      assert.equal(r.stderr.trim(), `tnat64: cannot listen on 127.0.0.1:${port}: the port is in use`)
    } finally {
      taken.close()
    }
  })
})
