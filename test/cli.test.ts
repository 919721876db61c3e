// The CLI as a user meets it: a real process, its exit code, its output.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { configFileInForce, NO_CONFIG_FILE } from '../src/lib/config.js'
import { DEFAULT_CONFIG_FILE } from '../src/lib/defaults.js'
import { TNAT64_CLI } from '../src/lib/paths.js'
import { FIXTURES, ROOT, rfc6052Vectors, tnat64 } from './helpers.js'

const fixture = (name: string) => join(FIXTURES, 'config', `${name}.conf`)

describe('tnat64 translate', () => {
  it('prints the RFC 6052 example of the issue', () => {
    const r = tnat64(['translate', '192.0.2.33', '--prefix', '2001:db8:100::/40'])
    assert.equal(r.status, 0, r.stderr)
    assert.equal(r.stdout, '2001:db8:1c0:2:21::\n')
  })

  it('embeds and extracts every vector, each way, as JSON', () => {
    for (const v of rfc6052Vectors().embed) {
      const there = tnat64(['translate', v.ipv4, '--prefix', v.prefix, '--json'])
      assert.equal(there.status, 0, there.stderr)
      assert.equal(JSON.parse(there.stdout).output, v.ipv6, `${v.ipv4} in ${v.prefix}`)
      const back = tnat64(['translate', v.ipv6, '--prefix', v.prefix])
      assert.equal(back.stdout.trim(), v.ipv4, `${v.ipv6} in ${v.prefix}`)
    }
  })

  it('rejects every invalid prefix with a reason and exit 2', () => {
    for (const v of rfc6052Vectors().reject) {
      const r = tnat64(['translate', '192.0.2.1', '--prefix', v.prefix])
      assert.equal(r.status, 2, v.prefix)
      assert.equal(r.stdout, '')
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
      assert.match(r.stderr, /^tnat64: --prefix: /)
    }
  })

  it('rejects bad addresses with one line and exit 2', () => {
    for (const bad of ['1.2.3', 'example.org', '1.2.3.4.5', '']) {
      const r = tnat64(['translate', bad])
      assert.equal(r.status, 2, bad)
      assert.match(r.stderr, /^tnat64: .*is neither an IPv4 address/, bad)
    }
    const outside = tnat64(['translate', '2001:db8::1'])
    assert.equal(outside.status, 2)
    assert.match(outside.stderr, /not inside the NAT64 prefix \(64:ff9b::\/96\)/)
  })

  it('defaults to the well-known prefix, and warns for a non-global address', () => {
    assert.equal(tnat64(['translate', '8.8.8.8']).stdout, '64:ff9b::808:808\n')
    const r = tnat64(['translate', '10.0.0.1'])
    assert.equal(r.status, 0)
    assert.equal(r.stdout, '64:ff9b::a00:1\n')
    assert.match(r.stderr, /^warning: .*RFC 6052 §3\.1/)
  })

  it("takes the prefix of the destination's rule from the configuration, and finds it back", () => {
    const conf = fixture('original-paths')
    const r = tnat64(['translate', '150.1.3.3', '--config', conf, '--json'])
    const out = JSON.parse(r.stdout)
    assert.equal(out.output, '2001:db8:2:ffff::9601:303')
    assert.equal(out.prefixSource, `${conf}:12`)
    const back = tnat64(['translate', '2001:db8:2:ffff::9601:303'], { TNAT64_CONF_FILE: conf })
    assert.equal(back.stdout, '150.1.3.3\n')
  })

  it('refuses a broken configuration with its lines and exit 2', () => {
    const r = tnat64(['translate', '8.8.8.8', '--config', fixture('broken')])
    assert.equal(r.status, 2)
    assert.match(r.stderr, /broken\.conf:2: /)
  })
})

describe('tnat64 config', () => {
  it('check accepts a valid original tnat64.conf unchanged', () => {
    const r = tnat64(['config', 'check', fixture('original-paths')])
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stdout, /OK \(default prefix 64:ff9b::\/96, 2 local networks, 2 paths\)/)
  })

  it('check reports every error of a broken file with its line, and exits 1', () => {
    const file = fixture('broken')
    const r = tnat64(['config', 'check', file])
    assert.equal(r.status, 1)
    const lines = r.stderr.trim().split('\n')
    assert.ok(lines.length >= 19, r.stderr)
    for (const line of lines) assert.ok(line.startsWith(`${file}:`), line)
    const json = JSON.parse(tnat64(['config', 'check', file, '--json']).stdout)
    assert.equal(json.valid, false)
    assert.equal(json.errors.length, lines.length)
  })

  it('every command and the launcher agree on the file in force: a file named must exist, only /etc/tnat64.conf may be absent', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tnat64-cli-'))
    writeFileSync(join(dir, 'rel.conf'), 'nat64_prefix = 2001:db8:64::/96\n')
    // Named, either way, and missing: one line naming it, and an error from each.
    for (const [args, env] of [
      [['--config', 'missing.conf'], {}],
      [[], { TNAT64_CONF_FILE: 'missing.conf' }],
    ] as const) {
      const line = 'missing.conf: no such file\n'
      for (const command of [
        ['translate', '8.8.8.8', ...args],
        ['config', 'show', ...args],
        ['app', ...args, '--', 'true'],
        ['app', '--env', ...args],
      ]) {
        const r = tnat64(command, env, dir)
        assert.deepEqual([r.status, r.stderr], [2, line], command.join(' '))
      }
      // config check takes the file as its argument, and says "invalid" with 1.
      const check = tnat64(['config', 'check', ...args.slice(1)], env, dir)
      assert.deepEqual([check.status, check.stderr], [1, line])
    }
    // Named relative: the launcher exports it absolute, for a program that changes directory.
    const expected = join(dir, 'rel.conf')
    for (const [args, env] of [
      [['--config', 'rel.conf'], {}],
      [[], { TNAT64_CONF_FILE: 'rel.conf' }],
    ] as const) {
      const r = tnat64(['app', ...args, 'sh', '-c', 'cd / && echo "$TNAT64_CONF_FILE"'], env, dir)
      assert.deepEqual([r.status, r.stdout], [0, `${expected}\n`], r.stderr)
      assert.equal(configFileInForce(args[1], env), 'rel.conf')
    }
    // Nothing named: /etc/tnat64.conf if it exists, else the defaults, which config check accepts.
    const implicit = configFileInForce(undefined, {})
    assert.equal(implicit, existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : undefined)
    const env = tnat64(['app', 'sh', '-c', 'echo "[$TNAT64_CONF_FILE]"'], { TNAT64_CONF_FILE: '' })
    assert.equal(env.stdout, `[${implicit ?? ''}]\n`, env.stderr)
    if (implicit === undefined) {
      const r = tnat64(['config', 'check'])
      assert.deepEqual([r.status, r.stdout], [0, `configuration file: ${NO_CONFIG_FILE}\n`])
      assert.equal(JSON.parse(tnat64(['config', 'check', '--json']).stdout).file, null)
    }
  })

  it('check prints warnings but exits 0; a missing file exits 1 naming it', () => {
    const r = tnat64(['config', 'check', fixture('warnings')])
    assert.equal(r.status, 0)
    assert.match(r.stderr, /warnings\.conf:4: warning: .*local wins/)
    const missing = tnat64(['config', 'check', '/nonexistent/tnat64.conf'])
    assert.equal(missing.status, 1)
    assert.equal(missing.stderr, '/nonexistent/tnat64.conf: no such file\n')
  })

  it('show --host tells the rule and the address a destination gets', () => {
    const conf = fixture('original-paths')
    const r = tnat64(['config', 'show', '--config', conf, '--host', '150.0.3.4:443', '--json'])
    assert.equal(r.status, 0, r.stderr)
    assert.deepEqual(JSON.parse(r.stdout), {
      destination: '150.0.3.4:443',
      method: 'nat64',
      connectTo: '[2001:db8:1:ffff::9600:304]:443',
      rule: `path subnet 150.0.0.0/16 (${conf}:6)`,
      prefix: '2001:db8:1:ffff::/96',
      warnings: [],
    })
    const local = tnat64(['config', 'show', '--config', conf, '--host', '10.1.1.1'])
    assert.match(local.stdout, /rule: +local 10\.0\.0\.0\/8/)
    assert.match(local.stdout, /method: +IPv4, directly/)
  })

  it('show without --host summarizes the configuration, the always-IPv4 networks included', () => {
    const r = tnat64(['config', 'show', '--config', fixture('extended'), '--json'])
    const out = JSON.parse(r.stdout)
    assert.equal(out.defaultPrefix, undefined)
    assert.deepEqual(out.local, [
      '0.0.0.0/8',
      '127.0.0.0/8',
      '224.0.0.0/4',
      '240.0.0.0/4',
      '172.16.0.0/12',
      '203.0.113.77/32',
    ])
    assert.equal(out.paths.length, 3)
  })

  it('show rejects a bad --host with exit 2', () => {
    for (const bad of ['1.2.3', '1.2.3.4:0', '1.2.3.4:70000', 'host:80']) {
      const r = tnat64(['config', 'show', '--host', bad])
      assert.equal(r.status, 2, bad)
      assert.match(r.stderr, /^tnat64: --host: /)
    }
  })
})

describe('tnat64 usage', () => {
  it('has --help on every command', () => {
    for (const command of [
      [],
      ['translate'],
      ['config', 'check'],
      ['config', 'show'],
      ['lab', 'up'],
      ['lab', 'down'],
      ['lab', 'status'],
      ['demo'],
      ['app'],
    ]) {
      const r = tnat64([...command, '--help'])
      assert.equal(r.status, 0, command.join(' '))
      assert.match(r.stdout, /USAGE/)
    }
  })

  it('exits 2 with one line for unknown commands, unknown flags and missing arguments', () => {
    for (const args of [
      ['frobnicate'],
      ['translate', '1.2.3.4', '--bogus'],
      ['translate'],
      ['translate', '1.2.3.4', '--prefix'],
      ['config', 'show', '--host', '1.2.3.4', '--host', '1.2.3.5'],
      ['lab', 'status', '--name', 'a', '--name', 'b'],
      ['refresh', '--log-format'],
      ['metrics', '--log-format', 'yaml'],
    ]) {
      const r = tnat64(args)
      assert.equal(r.status, 2, args.join(' '))
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
      assert.match(r.stderr, /^tnat64: .*\(see --help\)\n$/)
    }
  })
})

describe('the read commands run without oclif', () => {
  /** The CLI with `argv`, through the direct runner or (direct: false) through oclif alone; and
   * whether oclif was loaded (told on fd 3). */
  const cli = (argv: string[], direct: boolean, user: string[] = []) => {
    const script = [
      `const { main } = await import(${JSON.stringify(join(ROOT, 'dist', 'main.js'))})`,
      `await main(process.argv.slice(1), ${JSON.stringify(`file://${TNAT64_CLI}.js`)}, { direct: ${direct} })`,
      "const { createRequire } = await import('node:module')",
      'const cache = Object.keys(createRequire(import.meta.url).cache)',
      "(await import('node:fs')).writeSync(3, String(cache.some((file) => file.includes('@oclif'))))",
    ].join(';\n')
    const [command, ...args] = [...user, process.execPath, '--input-type=module', '-e', script, ...argv]
    const r = spawnSync(command, args, {
      encoding: 'utf8',
      env: { ...process.env, TNAT64_CONF_FILE: '' },
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    })
    return { run: { status: r.status, stdout: r.stdout, stderr: r.stderr }, oclif: r.output[3] === 'true' }
  }
  const broken = join(FIXTURES, 'config', 'broken.conf')
  const cases: string[][] = [
    ['translate', '192.0.2.33', '--prefix', '2001:db8:100::/40'],
    ['translate', '-p', '2001:db8:100::/40', '2001:db8:1c0:2:21::', '--json'],
    ['translate', '--prefix=64:ff9b::/96', '10.0.0.1'],
    ['translate', 'bogus'],
    ['translate', 'bogus', '--json'],
    ['translate', '192.0.2.1', '--prefix', '2001:db8::/33'],
    ['translate', '192.0.2.1', '--config', broken],
    ['translate', '192.0.2.1', '--config', broken, '--json'],
    ['translate', '192.0.2.1', '192.0.2.2'],
    ['translate'],
    ['translate', '192.0.2.1', '--bogus'],
    ['translate', '192.0.2.1', '--prefix', '64:ff9b::/96', '--prefix', '2001:db8::/96'],
    ['config', 'show'],
    ['config', 'show', '--json'],
    [
      'config',
      'show',
      '--host',
      '198.51.100.10:80',
      '--config',
      join(FIXTURES, 'config', 'original-paths.conf'),
    ],
    ['config', 'show', '-H', '300.1.1.1'],
    ['config', 'show', '--config', broken, '--json'],
    ['status', '--json'],
    ['status', '--help'],
    ['config:show', '--json'],
    ['config:show', `--config=${broken}`],
    ['config:show', '-H198.51.100.10'],
    ['translate', '192.0.2.1', '-p=2001:db8:64::/96'],
  ]
  // What the runner leaves to oclif: help, an unknown or repeated flag, an argument too many or missing.
  const toOclif = /--bogus|--help|192\.0\.2\.2|^translate$|--prefix 64:ff9b::\/96 --prefix|-p=/
  for (const argv of cases)
    it(`gives what oclif gives: ${argv.join(' ')}`, () => {
      const direct = cli(argv, true)
      const oclif = cli(argv, false)
      assert.deepEqual(direct.run, oclif.run)
      assert.equal(oclif.oclif, true)
      assert.equal(direct.oclif, toOclif.test(argv.join(' ')), 'oclif loaded')
    })

  it('gives what oclif gives to a user without root: status', () => {
    const nobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']
    const direct = cli(['status'], true, nobody)
    assert.deepEqual(direct.run, cli(['status'], false, nobody).run)
    assert.equal(direct.run.status, 1)
    assert.equal(direct.oclif, false)
  })

  it('ends quietly, exit 0, when the reader stops early, as the oclif commands do', () => {
    for (const command of ['config show', 'translate 192.0.2.1 --prefix 2001:db8:64::/96', 'config check']) {
      const r = spawnSync('bash', ['-c', `set -o pipefail; ${TNAT64_CLI} ${command} | true`], {
        encoding: 'utf8',
        env: { ...process.env, TNAT64_CONF_FILE: '' },
      })
      assert.deepEqual({ status: r.status, stderr: r.stderr }, { status: 0, stderr: '' }, command)
    }
  })

  it('asks for the root its oclif command asks for', async () => {
    const { DIRECT } = await import('../src/direct.js')
    for (const [id, { root }] of Object.entries(DIRECT)) {
      const command = (await import(`../src/commands/${id.replace(':', '/')}.js`)).default
      assert.equal(root, command.root, id)
    }
  })
})

describe('tnat64 app (no lab needed)', () => {
  it('runs the command with the library first in LD_PRELOAD, keeping what was there', () => {
    const r = tnat64(
      ['app', '--prefix', '2001:db8:64::/96', 'sh', '-c', 'echo "$LD_PRELOAD|$TNAT64_PREFIX"', '-x'],
      {
        LD_PRELOAD: '/nonexistent/other.so',
      },
    )
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stdout, /^\S+\/preload\/libtnat64\.so \/nonexistent\/other\.so\|2001:db8:64::\/96\n$/)
  })

  it('splits an existing LD_PRELOAD as ld.so does: on spaces and colons only, empty entries dropped, ours once', () => {
    const ours = join(ROOT, 'preload', 'libtnat64.so')
    const r = tnat64(['app', '--', 'sh', '-c', 'printf %s "$LD_PRELOAD"'], {
      LD_PRELOAD: `/x/a.so::/x/b c.so\t2 ${ours}:`,
    })
    assert.equal(r.stdout, `${ours} /x/a.so /x/b c.so\t2`)
  })

  it('refuses an install path that LD_PRELOAD cannot carry, rather than run without the library', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tnat64 with space-'))
    try {
      mkdirSync(join(dir, 'preload'))
      for (const file of ['tnat64-app', 'libtnat64.so'])
        copyFileSync(join(ROOT, 'preload', file), join(dir, 'preload', file))
      chmodSync(join(dir, 'preload', 'tnat64-app'), 0o755)
      const r = spawnSync(join(dir, 'preload', 'tnat64-app'), ['--', 'sh', '-c', 'echo ran'], {
        encoding: 'utf8',
      })
      assert.equal(r.status, 2)
      assert.equal(r.stdout, '')
      assert.match(
        r.stderr,
        /^tnat64: .*libtnat64\.so: LD_PRELOAD cannot carry a path with a space or a colon; .*\n$/,
      )
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('--debug turns the library decision log on, unless a level is already set', () => {
    assert.equal(tnat64(['app', '--debug', 'sh', '-c', 'echo $TNAT64_DEBUG']).stdout, '1\n')
    assert.equal(tnat64(['app', '-d', 'sh', '-c', 'echo $TNAT64_DEBUG'], { TNAT64_DEBUG: '2' }).stdout, '2\n')
  })

  it('passes the exit status and the terminating signal through', () => {
    assert.equal(tnat64(['app', '--', 'sh', '-c', 'exit 7']).status, 7)
    const killed = spawnSync(TNAT64_CLI, ['app', '--', 'sh', '-c', 'kill -TERM $$'])
    assert.equal(killed.signal, 'SIGTERM')
  })

  it('says what is wrong with the command, as a shell would', () => {
    const missing = tnat64(['app', '--', 'no-such-command-tnat64'])
    assert.equal(missing.status, 127)
    assert.equal(missing.stderr, 'tnat64: no-such-command-tnat64: command not found\n')
    const none = tnat64(['app'])
    assert.equal(none.status, 2)
    assert.match(none.stderr, /no command given/)
  })

  it('--env prints exports that a shell can eval', () => {
    const r = tnat64(['app', '--env', '--config', join(FIXTURES, 'config', 'original-simple.conf')])
    assert.equal(r.status, 0, r.stderr)
    const shell = spawnSync('sh', ['-c', `${r.stdout}\necho "$LD_PRELOAD $TNAT64_CONF_FILE"`], {
      encoding: 'utf8',
    })
    assert.match(shell.stdout, /libtnat64\.so \S+original-simple\.conf\n$/)
    assert.equal(tnat64(['app', '--env', '--', 'true']).status, 2)
  })
})
