// The package as an operator gets it: `npm pack`, then `npm install -g` of the tarball into a scratch
// prefix on a PATH with no compiler, no make; app, attach/detach and the demo run from that copy.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { cgroup2Mount } from '../src/lib/kernel/cgroup.js'
import { Lab } from '../src/lib/lab.js'
import { assertRoot, freshLabName, ROOT } from './helpers.js'

/** What builds C, BPF or Go, in any of Debian's spellings (gcc-12, x86_64-linux-gnu-ld.bfd, clang-14). */
const BUILD_TOOL =
  /^(.*-)?(cc|c\+\+|c89|c99|gcc|g\+\+|cpp|clang|clang\+\+|clang-cpp|llc|ld|ld\.bfd|ld\.gold|as|make|gmake|tcc|musl-gcc|go)(-[\d.]+)?$/
const BIN_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']

interface Packed {
  filename: string
  files: { path: string }[]
}

describe('the npm package', () => {
  let dir: string
  let packed: Packed
  let installed: string
  let env: NodeJS.ProcessEnv
  const cgroup = `t64-package-${process.pid}`
  let labName: string | undefined

  /** The installed `tnat64`. */
  const installedCli = () => join(dir, 'prefix', 'bin', 'tnat64')
  /** The installed `tnat64` with `args`, on the compiler-free PATH. */
  const tnat64 = (args: string[]) =>
    spawnSync(installedCli(), args, { encoding: 'utf8', env, timeout: 120_000 })

  before(async () => {
    assertRoot()
    dir = mkdtempSync(join(tmpdir(), 'tnat64-package-'))
    const pack = spawnSync('npm', ['pack', '--json', '--pack-destination', dir], {
      cwd: ROOT,
      encoding: 'utf8',
    })
    assert.equal(pack.status, 0, pack.stderr)
    packed = (JSON.parse(pack.stdout) as Packed[])[0]
    // A PATH of links to every program of the usual directories but the build tools.
    const path = join(dir, 'path')
    mkdirSync(path)
    for (const bin of BIN_DIRS.filter(existsSync))
      for (const name of readdirSync(bin))
        if (!BUILD_TOOL.test(name) && !existsSync(join(path, name)))
          symlinkSync(join(bin, name), join(path, name))
    env = { PATH: path, HOME: process.env.HOME, XDG_CACHE_HOME: join(dir, 'cache'), TNAT64_CONF_FILE: '' }
    const install = spawnSync(
      'npm',
      [
        'install',
        '-g',
        '--prefix',
        join(dir, 'prefix'),
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        join(dir, packed.filename),
      ],
      { encoding: 'utf8', env, timeout: 300_000 },
    )
    assert.equal(install.status, 0, install.stderr)
    installed = join(dir, 'prefix', 'lib', 'node_modules', 'tnat64')
    labName = await freshLabName('package')
  })

  after(() => {
    if (labName) new Lab(labName).down()
    if (existsSync(join(cgroup2Mount(), cgroup))) {
      tnat64(['detach', '--cgroup', cgroup])
      rmdirSync(join(cgroup2Mount(), cgroup))
    }
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it('is installed on a PATH that holds no compiler and no make', () => {
    const r = spawnSync('sh', ['-c', 'command -v cc gcc clang make ld'], { encoding: 'utf8', env })
    assert.equal(r.stdout, '')
    assert.notEqual(r.status, 0)
  })

  it('carries the built parts, and no source, test or install script', () => {
    const paths = packed.files.map((f) => f.path)
    for (const part of [
      'bin/tnat64',
      'bpf/tnat64.bpf.o',
      'bpf/lab-udp6-checksum.bpf.o',
      'preload/libtnat64.so',
      'preload/tnat64-app',
      'ra/tnat64-ra',
      'preload/aarch64/libtnat64.so',
      'preload/aarch64/tnat64-app',
      'ra/aarch64/tnat64-ra',
      'demo/Client.java',
      'dist/main.js',
      'oclif.manifest.json',
    ])
      assert.ok(paths.includes(part), `${part} is not in the package`)
    assert.deepEqual(
      paths.filter((p) => /\.(c|h|ts)$|(?<!\.bpf)\.o$|^(test|src|scripts|dist\/bench)\//.test(p)),
      [],
    )
    const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8'))
    for (const script of ['preinstall', 'install', 'postinstall', 'prepare'])
      assert.equal(manifest.scripts?.[script], undefined, `the package runs "${script}"`)
  })

  it('puts its man pages where man finds them', () => {
    for (const page of ['man1/tnat64.1', 'man5/tnat64.conf.5']) {
      const r = spawnSync(
        'man',
        ['--warnings', '-M', join(dir, 'prefix', 'share', 'man'), page.split('/')[1].replace(/\.\d$/, '')],
        {
          encoding: 'utf8',
          env: { ...env, MANWIDTH: '80', MANPAGER: 'cat', PAGER: 'cat' },
        },
      )
      assert.equal(r.status, 0, r.stderr)
      assert.equal(r.stderr, '')
      assert.match(r.stdout, /^TNAT64(\.CONF)?\(\d\)/)
    }
  })

  it("carries the C parts for x86_64 and aarch64, and runs the machine's own", () => {
    // ELF e_machine, at byte 18: EM_X86_64 62, EM_AARCH64 183.
    const machine = (file: string) => readFileSync(join(installed, file)).readUInt16LE(18)
    for (const part of ['preload/libtnat64.so', 'preload/tnat64-app', 'ra/tnat64-ra']) {
      assert.equal(machine(part), 62, part)
      assert.equal(machine(part.replace('/', '/aarch64/')), 183, part)
    }
    // A machine that calls itself aarch64 gets the aarch64 launcher (which this one cannot run).
    const fake = join(dir, 'fake-uname')
    mkdirSync(fake, { recursive: true })
    writeFileSync(join(fake, 'uname'), '#!/bin/sh\necho aarch64\n', { mode: 0o755 })
    const r = spawnSync(installedCli(), ['app', '--', 'true'], {
      encoding: 'utf8',
      env: { ...env, PATH: `${fake}:${env.PATH}` },
    })
    assert.notEqual(r.status, 0)
    assert.match(r.stderr, /preload\/aarch64\/tnat64-app: Exec format error/)
    // And the CLI's own paths, for a node that says arm64.
    const script = `Object.defineProperty(process, 'arch', { value: 'arm64' }); const p = await import(${JSON.stringify(join(installed, 'dist', 'lib', 'paths.js'))}); console.log([p.PRELOAD_LIBRARY, p.APP_LAUNCHER, p.RA_TOOL].join(' '))`
    const paths = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      env,
    })
    assert.equal(
      paths.stdout,
      `${['preload/aarch64/libtnat64.so', 'preload/aarch64/tnat64-app', 'ra/aarch64/tnat64-ra'].map((p) => join(installed, p)).join(' ')}\n`,
      paths.stderr,
    )
  })

  it('says its version', () => {
    const r = tnat64(['--version'])
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stdout, /^tnat64\/0\.1\.0 linux-x64 node-v\d+/)
  })

  it('runs a program under app mode with the installed library', () => {
    const r = tnat64(['app', '--prefix', '2001:db8:64::/96', '--', 'sh', '-c', 'echo "$LD_PRELOAD"'])
    assert.equal(r.status, 0, r.stderr)
    assert.equal(r.stdout, `${join(installed, 'preload', 'libtnat64.so')}\n`)
  })

  it('attaches kernel mode to a cgroup and detaches it', () => {
    mkdirSync(join(cgroup2Mount(), cgroup))
    const attach = tnat64(['attach', '--cgroup', cgroup, '--prefix', '2001:db8:64::/96'])
    assert.equal(attach.status, 0, attach.stderr)
    const status = tnat64(['status', '--json'])
    assert.equal(status.status, 0, status.stderr)
    const paths = (JSON.parse(status.stdout) as { attached: { path: string }[] }).attached.map((a) => a.path)
    assert.ok(paths.includes(join(cgroup2Mount(), cgroup)), paths.join(', '))
    // Without bpftool, which status reads the programs' run counts with: one line that says so.
    const bare = join(dir, 'path-without-bpftool')
    mkdirSync(bare)
    for (const name of readdirSync(join(dir, 'path')))
      if (name !== 'bpftool') symlinkSync(join(dir, 'path', name), join(bare, name))
    const without = spawnSync(installedCli(), ['status'], {
      encoding: 'utf8',
      env: { ...env, PATH: bare },
    })
    assert.equal(without.status, 1)
    assert.equal(without.stderr, 'tnat64: bpftool: not found: install it (Debian: apt install bpftool)\n')
    const detach = tnat64(['detach', '--cgroup', cgroup])
    assert.equal(detach.status, 0, detach.stderr)
    const after = JSON.parse(tnat64(['status', '--json']).stdout) as { attached?: { path: string }[] }
    assert.ok(!(after.attached ?? []).some((a) => a.path === join(cgroup2Mount(), cgroup)))
  })

  it('runs the demo: every step as expected, app mode and kernel mode through the lab NAT64', () => {
    const r = tnat64(['demo', '--name', labName as string])
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`)
    assert.equal(r.stdout.match(/^-> (succeeded|failed)$/gm)?.length, 11, r.stdout)
    assert.match(
      r.stdout,
      /under tnat64 app[^\n]*\n\$ [^\n]*\ntnat64 lab server 198\.51\.100\.10: hello 192\.0\.2\./,
    )
  })
})
