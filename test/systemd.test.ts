// The systemd units of the package: systemd-analyze verify accepts them as shipped (with the
// command pointed at this build), and what they run works — the attach unit's shell lines with
// a stand-in systemctl, under the unit's own capability bounding set and no_new_privs, on a
// cgroup of this test.
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { isAttached } from '../src/lib/kernel/attach.js'
import { cgroup2Mount } from '../src/lib/kernel/cgroup.js'
import { PIN_DIR } from '../src/lib/kernel/pins.js'
import { assertRoot, ROOT } from './helpers.js'

const UNITS = join(ROOT, 'systemd')
const BIN = join(ROOT, 'bin')
const dir = mkdtempSync(join(tmpdir(), 'tnat64-systemd-'))
const PREFIX = '2001:db8:64::/96'

/** A unit's settings: key, then every value it is given, in order. */
function settings(file: string): Map<string, string[]> {
  const map = new Map<string, string[]>()
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const match = /^([A-Za-z]+)=(.*)$/.exec(line)
    if (match) map.set(match[1], [...(map.get(match[1]) ?? []), match[2]])
  }
  return map
}

/** systemd-analyze verify of the units in `unitDir`, the man pages of this build on MANPATH
 * (Documentation=man:tnat64(1) must name a page that exists). */
function verify(unitDir: string, ...names: string[]) {
  const manpath = join(dir, 'manpath')
  if (!existsSync(manpath)) {
    for (const [section, page] of [
      ['man1', 'tnat64.1'],
      ['man5', 'tnat64.conf.5'],
    ]) {
      mkdirSync(join(manpath, section), { recursive: true })
      symlinkSync(join(ROOT, 'man', page), join(manpath, section, page))
    }
  }
  return spawnSync('systemd-analyze', ['verify', ...names.map((n) => join(unitDir, n))], {
    encoding: 'utf8',
    env: { ...process.env, MANPATH: manpath, SYSTEMD_LOG_COLOR: '0' },
  })
}

/** The units as a package installs them, their bare `tnat64` pointed at this build (systemd
 * checks that ExecStart's program exists), the template instantiated for a slice. */
function installed(name: string, edit = (text: string) => text): string {
  const target = join(dir, name)
  mkdirSync(target)
  for (const [from, to] of [
    ['tnat64-discover.service', 'tnat64-discover.service'],
    ['tnat64-attach@.service', 'tnat64-attach@system-legacy.slice.service'],
  ])
    writeFileSync(
      join(target, to),
      edit(readFileSync(join(UNITS, from), 'utf8').replace(/^(Exec\w+=)tnat64 /gm, `$1${BIN}/tnat64 `)),
    )
  return target
}

describe('the systemd units', () => {
  it('pass systemd-analyze verify, with nothing to say', () => {
    const r = verify(
      installed('as-shipped'),
      'tnat64-discover.service',
      'tnat64-attach@system-legacy.slice.service',
    )
    assert.equal(r.stderr, '')
    assert.equal(r.status, 0)
  })

  it('fail it when the command is missing (the check checks)', () => {
    const target = installed('broken', (text) => text.replace(`${BIN}/tnat64 `, `${BIN}/tnat64-missing `))
    const r = verify(target, 'tnat64-discover.service')
    assert.notEqual(r.status, 0)
    assert.match(r.stderr, /tnat64-missing/)
  })

  it('run discover --watch and attach --watch, restart on failure, and start at boot', () => {
    const discover = settings(join(UNITS, 'tnat64-discover.service'))
    assert.deepEqual(discover.get('ExecStart'), ['tnat64 discover --watch'])
    const attach = settings(join(UNITS, 'tnat64-attach@.service'))
    assert.match(attach.get('ExecStart')?.[0] ?? '', /exec tnat64 attach --cgroup "\$\$\{cg#\/\}" --watch'$/)
    assert.match(attach.get('After')?.[0] ?? '', /\btnat64-discover\.service\b/)
    for (const unit of [discover, attach]) {
      assert.deepEqual(unit.get('Restart'), ['on-failure'])
      assert.deepEqual(unit.get('WantedBy'), ['multi-user.target'])
      assert.deepEqual(unit.get('NoNewPrivileges'), ['yes'])
    }
  })
})

describe('tnat64-attach@.service at work (no systemd here: its shell lines, its capabilities)', () => {
  const cgroup = `t64-systemd-${process.pid}`
  const stub = join(dir, 'stub')
  const unit = settings(join(UNITS, 'tnat64-attach@.service'))
  // setpriv's spelling of the unit's bounding set: -all,+bpf,+perfmon,...
  const caps = (unit.get('CapabilityBoundingSet')?.[0] ?? '')
    .split(' ')
    .map((c) => `+${c.replace(/^CAP_/, '').toLowerCase()}`)
  let cgroupId = 0n

  /** One of the unit's Exec lines as systemd would run it: its `$$` unescaped, the unit's
   * environment, the unit's capabilities, a systemctl that knows `unit`'s cgroup. */
  function exec(key: string, extra: Record<string, string> = {}, bounding = caps) {
    const line = unit.get(key)?.[0] ?? ''
    const script = /^\/bin\/sh -c '(.*)'$/.exec(line)?.[1]
    assert.ok(script, `${key} is one /bin/sh -c '...' line`)
    const environment = (unit.get('Environment')?.[0] ?? '').replace('%i', 'legacy.slice').split('=')
    return spawn(
      'setpriv',
      [
        '--no-new-privs',
        '--bounding-set',
        ['-all', ...bounding].join(','),
        '--',
        '/bin/sh',
        '-c',
        script.replaceAll('$$', '$'),
      ],
      {
        env: {
          PATH: `${stub}:${BIN}:/usr/sbin:/usr/bin:/sbin:/bin`,
          [environment[0]]: environment[1],
          ...extra,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
  }

  async function run(key: string, extra: Record<string, string> = {}, bounding = caps) {
    const child = exec(key, extra, bounding)
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => {
      stdout += d
    })
    child.stderr.on('data', (d) => {
      stderr += d
    })
    const status = await new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
    return { status, stdout, stderr }
  }

  /** systemctl as `systemctl show -P ControlGroup -- legacy.slice` answers, with `group`. */
  function systemctlSays(group: string) {
    writeFileSync(
      join(stub, 'systemctl'),
      `#!/bin/sh\n[ "$*" = "show -P ControlGroup -- legacy.slice" ] || exit 1\necho '${group}'\n`,
    )
    chmodSync(join(stub, 'systemctl'), 0o755)
  }

  before(() => {
    assertRoot()
    mkdirSync(stub)
    mkdirSync(join(cgroup2Mount(), cgroup))
    cgroupId = statSync(join(cgroup2Mount(), cgroup), { bigint: true }).ino
    // The prefix given, so nothing is discovered: this test contacts no network.
    writeFileSync(join(dir, 'tnat64.conf'), `nat64_prefix = ${PREFIX}\n`)
  })

  after(() => {
    if (isAttached(cgroupId)) spawnSync(join(BIN, 'tnat64'), ['detach', '--cgroup', cgroup])
    rmdirSync(join(cgroup2Mount(), cgroup))
    rmSync(dir, { recursive: true, force: true })
  })

  const conf = () => ({ TNAT64_CONF_FILE: join(dir, 'tnat64.conf') })

  it('refuses a unit with no cgroup of its own, before attaching anything', async () => {
    systemctlSays('/')
    const r = await run('ExecStartPre', conf())
    assert.equal(r.status, 1)
    assert.match(r.stderr, /^legacy\.slice has no cgroup of its own/)
    assert.equal(isAttached(cgroupId), false)
  })

  it('attaches in ExecStartPre, follows in ExecStart until SIGTERM, and leaves the cgroup attached', async () => {
    systemctlSays(`/${cgroup}`)
    const pre = await run('ExecStartPre', conf())
    assert.equal(pre.status, 0, pre.stderr)
    assert.match(pre.stdout, new RegExp(`^attached to .*/${cgroup}: `))
    assert.equal(isAttached(cgroupId), true)

    const watch = exec('ExecStart', conf())
    let out = ''
    watch.stdout.on('data', (d) => {
      out += d
    })
    const exited = new Promise<number | null>((resolve) => watch.on('exit', (code) => resolve(code)))
    for (let i = 0; i < 300 && !/reachable/.test(out); i++) await new Promise((r) => setTimeout(r, 50))
    assert.match(
      out,
      new RegExp(`^\\S+Z updated .*/${cgroup}: [\\s\\S]*${PREFIX.replace(/[/]/g, '\\/')} (un)?reachable`),
    )
    watch.kill('SIGTERM')
    assert.equal(await exited, 0)
    assert.equal(isAttached(cgroupId), true, 'attach --watch leaves its cgroup attached when stopped')
  })

  it('detaches in ExecStopPost after a clean stop only', async () => {
    systemctlSays(`/${cgroup}`)
    const crashed = await run('ExecStopPost', { SERVICE_RESULT: 'exit-code' })
    assert.equal(crashed.status, 0, crashed.stderr)
    assert.equal(isAttached(cgroupId), true, 'after a failure the rules stay until Restart= attaches again')
    const stopped = await run('ExecStopPost', { SERVICE_RESULT: 'success' })
    assert.equal(stopped.status, 0, stopped.stderr)
    assert.match(stopped.stdout, new RegExp(`^detached from .*/${cgroup}$`, 'm'))
    assert.equal(isAttached(cgroupId), false)
  })

  it('needs the capabilities it keeps: with CAP_BPF alone the attach fails', async () => {
    systemctlSays(`/${cgroup}`)
    const pinned = existsSync(PIN_DIR)
    const r = await run('ExecStartPre', conf(), ['+bpf'])
    assert.equal(r.status, 1)
    assert.match(r.stderr, /EPERM/)
    assert.equal(isAttached(cgroupId), false)
    // Nothing of the refused attach stays: no pin directory where there was none.
    assert.equal(existsSync(PIN_DIR), pinned)
  })
})
