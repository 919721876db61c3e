// Discovery on the lab as on a real IPv6-only network: the router advertises the NAT64 prefix
// (PREF64) and its resolver is a DNS64; `tnat64 discover` finds each, prefers PREF64, and
// `tnat64 app` and `tnat64 attach` reach the server with no prefix given; `attach --watch`
// follows a prefix withdrawn and announced again.
import assert from 'node:assert/strict'
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { cgroup2Mount } from '../src/lib/kernel/cgroup.js'
import { LAB, LAB_DNS64_RESOLV_CONF, LAB_RESOLV_CONF, Lab } from '../src/lib/lab.js'
import { TNAT64_CLI } from '../src/lib/paths.js'
import { assertRoot, freshLabName } from './helpers.js'

const OTHER_PREFIX = '2001:db8:46::/96'
const URL = `http://${LAB.serverIPv4}:${LAB.httpPort}/`

let lab: Lab
const home = mkdtempSync(join(tmpdir(), 'tnat64-discover-lab-'))
const cgroup = `t64-discover-${process.pid}`
/** Attached with the lab's prefix named: what discovery does to `cgroup` never reaches it. */
const bystander = `t64-discover-by-${process.pid}`
const watchers: ChildProcess[] = []

/** A command in the client with the DNS64 resolver in its resolv.conf, no configuration, a cache home of its own. */
function client(command: string[], resolvConf = LAB_DNS64_RESOLV_CONF, env: NodeJS.ProcessEnv = {}) {
  const [cmd, ...args] = lab.inNs('client', command, { resolvConf })
  return spawnSync(cmd, args, {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, TNAT64_CONF_FILE: '', XDG_CACHE_HOME: home, ...env },
  })
}

function discover(): {
  inForce: { prefix: string; source: string; from: string }
  found: { source: string; prefix: string; router?: string; interface?: string }[]
  notes: { source: string; text: string }[]
} {
  const r = client([TNAT64_CLI, 'discover', '--json', '--wait', '2'])
  assert.equal(r.status, 0, r.stderr)
  return JSON.parse(r.stdout)
}

/** A dual-stack client in the cgroup and the client's namespace: connects to the server's mapped address. */
function mappedConnect(name = cgroup): { status: number | null; out: string } {
  const script = [
    'import socket, sys',
    's = socket.socket(socket.AF_INET6, socket.SOCK_STREAM); s.settimeout(3)',
    'try:',
    `    s.connect(("::ffff:${LAB.serverIPv4}", ${LAB.httpPort})); s.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")`,
    '    print(s.recv(200).decode(errors="replace").split("\\r\\n\\r\\n")[-1])',
    'except OSError as e:',
    '    print("error", e.errno); sys.exit(1)',
  ].join('\n')
  const enter = `echo $$ > ${join(cgroup2Mount(), name, 'cgroup.procs')} && exec nsenter --net=${lab.nsPath('client')} "$@"`
  const r = spawnSync('sh', ['-c', enter, 'sh', 'python3', '-c', script], {
    encoding: 'utf8',
    timeout: 30_000,
  })
  return { status: r.status, out: `${r.stdout}${r.stderr}` }
}

/** Waits until `lines()` holds a line matching `pattern` (a watcher's log). */
async function waitFor(lines: () => string, pattern: RegExp, ms = 15_000): Promise<void> {
  for (let waited = 0; waited < ms; waited += 50) {
    if (pattern.test(lines())) return
    await new Promise((r) => setTimeout(r, 50))
  }
  assert.fail(`no line matching ${pattern} within ${ms} ms:\n${lines()}`)
}

describe('discovery in the lab', () => {
  before(async () => {
    assertRoot()
    lab = new Lab(await freshLabName('dlab'))
    await lab.up()
    for (const name of [cgroup, bystander]) mkdirSync(join(cgroup2Mount(), name))
  })

  after(() => {
    for (const w of watchers) w.kill('SIGKILL')
    for (const name of [cgroup, bystander]) {
      spawnSync(TNAT64_CLI, ['detach', '--cgroup', name], { encoding: 'utf8' })
      const path = join(cgroup2Mount(), name)
      if (!existsSync(path)) continue
      for (const pid of readFileSync(join(path, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean))
        spawnSync('kill', ['-9', pid])
      for (let i = 0; i < 50 && existsSync(path); i++) {
        try {
          rmdirSync(path)
        } catch {
          spawnSync('sleep', ['0.1'])
        }
      }
    }
    lab?.down()
    rmSync(home, { recursive: true, force: true })
  })

  it('finds PREF64 alone: the prefix, the router and the interface', async () => {
    await lab.setDns64(false)
    const d = discover()
    assert.deepEqual([d.inForce.prefix, d.inForce.source], [LAB.nat64Prefix, 'pref64'])
    assert.deepEqual(
      d.found.map((f) => [f.source, f.prefix, f.interface]),
      [['pref64', LAB.nat64Prefix, 'eth0']],
    )
    assert.match(d.found[0].router ?? '', /^fe80::/)
    assert.ok(
      d.notes.some((n) => n.source === 'dns64'),
      'why DNS64 gave nothing is said',
    )
  })

  it('finds DNS64 alone', async () => {
    lab.setPref64(false)
    await lab.setDns64(LAB.nat64Prefix)
    const d = discover()
    assert.deepEqual([d.inForce.prefix, d.inForce.source], [LAB.nat64Prefix, 'dns64'])
    assert.deepEqual(
      d.found.map((f) => f.source),
      ['dns64'],
    )
    assert.ok(d.notes.some((n) => /no router advertisement with PREF64/.test(n.text)))
  })

  it('reports both when they differ, and PREF64 wins', async () => {
    lab.setPref64(LAB.nat64Prefix)
    await lab.setDns64(OTHER_PREFIX)
    const d = discover()
    assert.deepEqual([d.inForce.prefix, d.inForce.source], [LAB.nat64Prefix, 'pref64'])
    assert.deepEqual(d.found.map((f) => `${f.source} ${f.prefix}`).sort(), [
      `dns64 ${OTHER_PREFIX}`,
      `pref64 ${LAB.nat64Prefix}`,
    ])
    const human = client([TNAT64_CLI, 'discover', '--wait', '2'])
    assert.match(human.stdout, new RegExp(`^prefix in force: ${LAB.nat64Prefix} \\(PREF64 from fe80::`, 'm'))
    assert.match(human.stdout, new RegExp(`^found: ${OTHER_PREFIX}  DNS64`, 'm'))
  })

  it('names a malformed PREF64 option in one line and keeps the good one', async () => {
    // Type 38, length 2, scaled lifetime 225 with the prefix length code 6 (invalid), 12 bytes of prefix.
    lab.setPref64(false)
    await lab.setDns64(false)
    const listen = spawn(
      ...spawnArgs(
        lab.inNs('client', [TNAT64_CLI, 'discover', '--json', '--wait', '3'], {
          resolvConf: LAB_RESOLV_CONF,
        }),
      ),
    )
    const out = collect(listen)
    await new Promise((r) => setTimeout(r, 1000))
    lab.advertiseOnce({
      prefixes: [{ prefix: LAB.nat64Prefix }],
      options: ['2602070e20010db80064000000000000'],
    })
    const status = await new Promise((r) => listen.on('close', r))
    assert.equal(status, 0, out.stderr())
    const d = JSON.parse(out.stdout())
    assert.equal(d.inForce.source, 'pref64')
    assert.ok(
      d.notes.some((n: { text: string }) =>
        /^router fe80::\S+ on eth0: invalid prefix length code 6$/.test(n.text),
      ),
      JSON.stringify(d.notes),
    )
  })

  it('tnat64 app reaches the server with no prefix given: a DNS64 lookup of its own, then its cache', async () => {
    lab.setPref64(false)
    await lab.setDns64(LAB.nat64Prefix)
    const r = client([TNAT64_CLI, 'app', '--debug', 'curl', '-sS', '--max-time', '5', URL])
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stdout, /hello 192\.0\.2\.\d+/, 'through the NAT64 pool')
    assert.match(r.stderr, /NAT64 prefix 2001:db8:64::\/96, discovered by DNS64/)
    assert.match(
      readFileSync(join(home, 'tnat64', 'discovery'), 'utf8'),
      /^in-force 2001:db8:64::\/96 dns64 \d+$/m,
    )
    // The cached answer serves the next run, the resolver stopped.
    await lab.setDns64(false)
    const again = client([TNAT64_CLI, 'app', 'curl', '-sS', '--max-time', '5', URL])
    assert.equal(again.status, 0, again.stderr)
    rmSync(join(home, 'tnat64'), { recursive: true, force: true })
  })

  it("tnat64 app takes the prefix that root's discover --watch keeps for every user", async () => {
    lab.setPref64(LAB.nat64Prefix)
    await lab.setDns64(false)
    // Its own /run, so the state file of this test is seen by no other test's commands.
    const script = [
      'mount -t tmpfs tmpfs /run',
      `${TNAT64_CLI} discover --watch > /dev/null & watcher=$!`,
      'for i in $(seq 100); do [ -s /run/tnat64-discovery ] && grep -q "^in-force 2001" /run/tnat64-discovery && break; sleep 0.1; done',
      `su nobody -s /bin/sh -c '${TNAT64_CLI} app curl -sS --max-time 5 ${URL}'`,
      'status=$?; stat -c %a /run/tnat64-discovery; kill -TERM $watcher; wait $watcher',
      '[ ! -e /run/tnat64-discovery ] || { echo "the state outlived its watcher"; exit 1; }; exit $status',
    ].join('; ')
    const [cmd, ...args] = lab.inNs('client', ['sh', '-c', script], { resolvConf: LAB_RESOLV_CONF })
    const r = spawnSync('unshare', ['--mount', '--propagation', 'private', cmd, ...args], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, TNAT64_CONF_FILE: '' },
    })
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`)
    assert.match(r.stdout, /hello 192\.0\.2\.\d+/)
    assert.match(r.stdout, /^644$/m, 'readable by every user, written by root')
  })

  it('tnat64 attach with no prefix takes the discovered one; --watch withdraws it when its lifetime ends and puts it back', async () => {
    lab.setPref64(LAB.nat64Prefix)
    await lab.setDns64(false)
    const { watch, log } = attachWatch()
    await waitFor(
      log.stdout,
      new RegExp(`attached to .*default prefix ${LAB.nat64Prefix} \\(PREF64 from fe80::`),
    )
    await waitFor(log.stdout, /2001:db8:64::\/96 reachable/)
    const before = mappedConnect()
    assert.equal(before.status, 0, before.out)
    assert.match(before.out, /hello 192\.0\.2\.\d+/)
    assert.doesNotMatch(log.stdout(), /withdrawn/, 'DNS64 saying nothing at the start withdraws nothing')
    assert.equal(client([TNAT64_CLI, 'attach', '--cgroup', bystander, '--prefix', LAB.nat64Prefix]).status, 0)

    // The router stops announcing and says so: lifetime 0.
    lab.setPref64(false)
    lab.advertiseOnce({ prefixes: [{ prefix: LAB.nat64Prefix, lifetime: 0 }] })
    await waitFor(log.stdout, /default prefix 2001:db8:64::\/96 withdrawn/)
    const withdrawn = mappedConnect()
    assert.notEqual(withdrawn.status, 0, withdrawn.out)
    assert.match(withdrawn.out, /error 101/, 'untouched: the mapped address has no route (ENETUNREACH)')
    // The cgroup's own rules say so, whatever else refreshes: another cgroup with that prefix keeps it.
    assert.equal(client([TNAT64_CLI, 'refresh']).status, 0)
    assert.notEqual(mappedConnect().status, 0, 'still withdrawn after tnat64 refresh')
    assert.equal(defaultPrefixOf(cgroup), undefined)
    assert.equal(mappedConnect(bystander).status, 0, 'a cgroup given the prefix keeps it')

    lab.setPref64(LAB.nat64Prefix)
    await waitFor(log.stdout, /withdrawn[\s\S]*default prefix 2001:db8:64::\/96 \(PREF64 from fe80::/)
    const back = mappedConnect()
    assert.equal(back.status, 0, back.out)

    // The router announces another prefix instead: the cgroup's rules follow.
    lab.setPref64(OTHER_PREFIX)
    lab.advertiseOnce({ prefixes: [{ prefix: LAB.nat64Prefix, lifetime: 0 }] })
    await waitFor(
      log.stdout,
      new RegExp(`default prefix ${OTHER_PREFIX.replace(/[/]/g, '\\/')} \\(PREF64 from fe80::`),
    )
    assert.equal(defaultPrefixOf(cgroup), OTHER_PREFIX)
    lab.setPref64(LAB.nat64Prefix)

    watch.kill('SIGTERM')
    const code = await new Promise((r) => watch.on('close', r))
    assert.equal(code, 0, log.stderr())
  })

  it('attach --watch ends in one line when its cgroup is detached under it, and never attaches it again', async () => {
    lab.setPref64(LAB.nat64Prefix)
    const { watch, log } = attachWatch()
    await waitFor(log.stdout, /2001:db8:64::\/96 reachable/)
    assert.equal(client([TNAT64_CLI, 'detach', '--cgroup', cgroup]).status, 0)
    lab.setPref64(OTHER_PREFIX)
    lab.advertiseOnce({ prefixes: [{ prefix: LAB.nat64Prefix, lifetime: 0 }] })
    const code = await new Promise((r) => watch.on('close', r))
    assert.equal(code, 1, log.stdout())
    assert.match(log.stderr(), /was detached: nothing left to follow/)
    assert.equal(defaultPrefixOf(cgroup), undefined)
    assert.ok(
      !JSON.parse(client([TNAT64_CLI, 'status', '--json']).stdout).attached.some(
        (a: { path: string }) => a.path === join(cgroup2Mount(), cgroup),
      ),
      'still detached',
    )
    lab.setPref64(LAB.nat64Prefix)
  })

  it('attach --watch whose PREF64 listener dies ends with one line and exit 1, leaving no process behind', async () => {
    lab.setPref64(LAB.nat64Prefix)
    const { watch, log } = attachWatch()
    await waitFor(log.stdout, /2001:db8:64::\/96 reachable/)
    const [listener] = children(watch.pid ?? 0, 'tnat64-ra')
    const [monitor] = children(watch.pid ?? 0, 'ip')
    assert.ok(listener && monitor, 'the watcher runs a PREF64 listener and a route monitor')
    process.kill(listener, 'SIGKILL')
    const code = await new Promise((r) => watch.on('close', r))
    assert.equal(code, 1, log.stdout())
    assert.equal(log.stderr().trim().split('\n').length, 1, log.stderr())
    assert.match(log.stderr(), /^tnat64: PREF64 listener ended \(SIGKILL\)/)
    for (let i = 0; i < 50 && existsSync(`/proc/${monitor}`); i++) await new Promise((r) => setTimeout(r, 20))
    assert.ok(!existsSync(`/proc/${monitor}`), 'the route monitor is gone')
  })

  it('discover --watch: a second watcher is refused, a /run it cannot write ends it in one line, and the listener dies with it', () => {
    const script = [
      'mount -t tmpfs tmpfs /run',
      `${TNAT64_CLI} discover --watch > /dev/null 2>&1 & first=$!`,
      'for i in $(seq 100); do [ -s /run/tnat64-discovery ] && break; sleep 0.1; done',
      `${TNAT64_CLI} discover --watch; echo "second: $?"`,
      // SIGKILL: the watcher cannot clean up, but its listener must not outlive it.
      'listener=$(pgrep -P $first -x tnat64-ra); kill -KILL $first; sleep 0.3',
      // Gone, or a zombie that nobody reaps in this pid namespace.
      'case "$(ps -o stat= -p $listener)" in ""|Z*) echo "listener gone";; *) echo "listener left";; esac',
      'mount -o remount,ro /run',
      `${TNAT64_CLI} discover --watch; echo "read-only: $?"`,
    ].join('; ')
    const [cmd, ...args] = lab.inNs('client', ['sh', '-c', script], { resolvConf: LAB_RESOLV_CONF })
    const r = spawnSync('unshare', ['--mount', '--propagation', 'private', cmd, ...args], {
      encoding: 'utf8',
      timeout: 60_000,
    })
    assert.match(r.stderr, /^tnat64: tnat64 discover --watch already runs \(pid \d+\)/m)
    assert.match(r.stdout, /^second: 1$/m)
    assert.match(r.stdout, /^listener gone$/m)
    assert.match(r.stdout, /^read-only: 1$/m)
    assert.match(r.stderr, /^tnat64: \/run\/tnat64-discovery: .*read-only/m)
  })
})

/** `tnat64 attach --cgroup CGROUP --watch`, no prefix given, in the client; killed in after() at the latest. */
function attachWatch(): { watch: ChildProcess; log: ReturnType<typeof collect> } {
  const [cmd, ...args] = lab.inNs('client', [TNAT64_CLI, 'attach', '--cgroup', cgroup, '--watch'], {
    resolvConf: LAB_RESOLV_CONF,
  })
  const watch = spawn(cmd, args, { env: { ...process.env, TNAT64_CONF_FILE: '' } })
  watchers.push(watch)
  return { watch, log: collect(watch) }
}

/** A cgroup's default prefix as `tnat64 status` reads it from the kernel. */
function defaultPrefixOf(name: string): string | undefined {
  const status = JSON.parse(client([TNAT64_CLI, 'status', '--json']).stdout)
  return (
    status.attached.find((a: { path: string }) => a.path === join(cgroup2Mount(), name))?.defaultPrefix ??
    undefined
  )
}

/** The pids of a process's children running `comm`. */
function children(pid: number, comm: string): number[] {
  const out = spawnSync('pgrep', ['-P', String(pid), '-x', comm], { encoding: 'utf8' }).stdout
  return out.split('\n').filter(Boolean).map(Number)
}

function spawnArgs(argv: string[]): [string, string[]] {
  return [argv[0], argv.slice(1)]
}

function collect(child: ChildProcess): { stdout: () => string; stderr: () => string } {
  let out = ''
  let err = ''
  child.stdout?.on('data', (b) => {
    out += b
  })
  child.stderr?.on('data', (b) => {
    err += b
  })
  return { stdout: () => out, stderr: () => err }
}
