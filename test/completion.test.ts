// `tnat64 completion bash|zsh|fish`: each script, loaded in its real shell, completes the commands
// and flags oclif has (from the manifest) and the values of this host.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { WELL_KNOWN_PREFIX } from '../src/lib/defaults.js'
import { cgroup2Mount } from '../src/lib/kernel/cgroup.js'
import type { Manifest } from '../src/lib/manpage.js'
import { TNAT64_CLI } from '../src/lib/paths.js'
import { assertRoot, ROOT, tnat64 } from './helpers.js'

const dir = mkdtempSync(join(tmpdir(), 'tnat64-completion-'))
const commands = Object.values(
  (JSON.parse(readFileSync(join(ROOT, 'oclif.manifest.json'), 'utf8')) as Manifest).commands,
).filter((c) => !c.hidden)
const topLevel = [...new Set(commands.map((c) => c.id.split(':')[0]))].sort()
const flagsOf = (id: string) => [
  ...Object.values(commands.find((c) => c.id === id)?.flags ?? {})
    .filter((f) => !f.hidden)
    .map((f) => `--${f.name}`),
  '--help',
]
const sorted = (words: string[]) => [...words].sort()

function script(shell: string): string {
  const r = tnat64(['completion', shell])
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stderr, '')
  const file = join(dir, `tnat64.${shell}`)
  writeFileSync(file, r.stdout)
  return file
}

/** What bash's completion function offers for the words typed, the last being completed. */
function bash(file: string, ...words: string[]): string[] {
  const r = spawnSync(
    'bash',
    [
      '-c',
      `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _tnat64; printf "%s\\n" "\${COMPREPLY[@]}"`,
      'bash',
      file,
      TNAT64_CLI,
      ...words,
    ],
    { encoding: 'utf8' },
  )
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stderr, '')
  return r.stdout.split('\n').filter(Boolean)
}

const cgroup = `t64-completion-${process.pid}`

before(() => {
  assertRoot()
  mkdirSync(join(cgroup2Mount(), cgroup))
})

after(() => {
  rmSync(dir, { recursive: true, force: true })
  rmdirSync(join(cgroup2Mount(), cgroup))
})

describe('tnat64 completion bash', () => {
  it('registers a completion function for tnat64', () => {
    const file = script('bash')
    const r = spawnSync('bash', ['-c', 'source "$1" && complete -p tnat64', 'bash', file], {
      encoding: 'utf8',
    })
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stdout, /^complete .*-F _tnat64 tnat64$/m)
  })

  it('completes commands, topics and subcommands', () => {
    const file = script('bash')
    assert.deepEqual(sorted(bash(file, '')), topLevel)
    assert.deepEqual(bash(file, 'ca'), ['cache'])
    assert.deepEqual(sorted(bash(file, 'cache', '')), ['flush', 'list', 'set'])
    assert.deepEqual(sorted(bash(file, 'prefix', 'r')), ['remove'])
  })

  it('completes the flags of the command, and the options of a flag', () => {
    const file = script('bash')
    assert.deepEqual(sorted(bash(file, 'attach', '--')), sorted(flagsOf('attach')))
    assert.deepEqual(sorted(bash(file, 'cache', 'set', '--')), sorted(flagsOf('cache:set')))
    assert.deepEqual(bash(file, 'attach', '--w'), ['--watch'])
    assert.deepEqual(sorted(bash(file, 'cache', 'set', '1.2.3.4', '--method', '')), ['ipv4', 'nat64'])
    // --method=n: bash splits the word at '='.
    assert.deepEqual(bash(file, 'cache', 'set', '--method', '=', 'n'), ['nat64'])
    // After '--' the words are the command's: no flag of ours.
    assert.deepEqual(bash(file, 'run', '--', 'curl', '--'), [])
  })

  it('completes cgroups, prefixes in force and files', () => {
    const file = script('bash')
    assert.deepEqual(bash(file, 'attach', '--cgroup', cgroup.slice(0, -1)), [cgroup])
    assert.deepEqual(bash(file, 'detach', '-g', cgroup), [cgroup])
    assert.ok(bash(file, 'translate', '--prefix', '').includes(WELL_KNOWN_PREFIX))
    assert.ok(bash(file, 'prefix', 'remove', '').includes(WELL_KNOWN_PREFIX))
    assert.deepEqual(bash(file, 'config', 'check', join(dir, 'tnat64.ba')), [join(dir, 'tnat64.bash')])
    assert.deepEqual(bash(file, 'attach', '--config', join(dir, 'tnat64.ba')), [join(dir, 'tnat64.bash')])
  })
})

describe('tnat64 completion zsh', () => {
  /** _tnat64 with compadd and zsh's own completers replaced by ones that print. */
  function zsh(file: string, ...words: string[]): string[] {
    const r = spawnSync(
      'zsh',
      [
        '-fc',
        `compdef() { :; }; compadd() { shift $(( \${@[(i)--]} )); print -l -- "$@"; }; _files() { print @files; }; _default() { print @default; }; source "$1"; shift; words=("$@"); CURRENT=$#; _tnat64`,
        'zsh',
        file,
        TNAT64_CLI,
        ...words,
      ],
      { encoding: 'utf8' },
    )
    assert.equal(r.stderr, '')
    return r.stdout.split('\n').filter(Boolean)
  }

  it('parses', () => {
    const r = spawnSync('zsh', ['-n', script('zsh')], { encoding: 'utf8' })
    assert.equal(r.status, 0, r.stderr)
    assert.equal(r.stderr, '')
  })

  it('completes commands, subcommands, flags and values', () => {
    const file = script('zsh')
    assert.deepEqual(sorted(zsh(file, '')), topLevel)
    assert.deepEqual(sorted(zsh(file, 'cache', '')), ['flush', 'list', 'set'])
    assert.deepEqual(sorted(zsh(file, 'attach', '--')), sorted(flagsOf('attach')))
    assert.deepEqual(sorted(zsh(file, 'cache', 'set', '--method', '')), ['ipv4', 'nat64'])
    assert.deepEqual(zsh(file, 'run', '--', 'curl', '--'), ['@default'])
    assert.ok(zsh(file, 'attach', '--cgroup', '').includes(cgroup))
    assert.deepEqual(zsh(file, 'config', 'check', ''), ['@files'])
  })
})

describe('tnat64 completion fish', () => {
  /** fish's own `complete -C`: what it offers for the command line, without descriptions. */
  function fish(file: string, line: string): string[] {
    const r = spawnSync('fish', ['--no-config', '-c', 'source $argv[1]; complete -C $argv[2]', file, line], {
      encoding: 'utf8',
      env: { ...process.env, PATH: `${join(ROOT, 'bin')}:${process.env.PATH}` },
    })
    assert.equal(r.status, 0, r.stderr)
    assert.equal(r.stderr, '')
    return r.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split('\t')[0])
  }

  it('parses', () => {
    const r = spawnSync('fish', ['--no-config', '-n', script('fish')], { encoding: 'utf8' })
    assert.equal(r.status, 0, r.stderr)
    assert.equal(r.stderr, '')
  })

  it('completes commands, subcommands, flags and values', () => {
    const file = script('fish')
    assert.deepEqual(sorted(fish(file, 'tnat64 ')), topLevel)
    assert.deepEqual(sorted(fish(file, 'tnat64 cache ')), ['flush', 'list', 'set'])
    assert.deepEqual(sorted(fish(file, 'tnat64 attach --')), sorted(flagsOf('attach')))
    assert.deepEqual(sorted(fish(file, 'tnat64 cache set --method ')), ['ipv4', 'nat64'])
    assert.deepEqual(fish(file, 'tnat64 run -- curl --pr'), [])
    assert.deepEqual(fish(file, `tnat64 attach --cgroup ${cgroup}`), [cgroup])
    assert.ok(fish(file, 'tnat64 translate --prefix ').includes(WELL_KNOWN_PREFIX))
  })
})

describe('tnat64 completion, misused', () => {
  it('refuses a shell it does not know, or none, in one line with exit 2', () => {
    for (const args of [['completion', 'csh'], ['completion']]) {
      const r = tnat64(args)
      assert.equal(r.status, 2, args.join(' '))
      assert.equal(r.stdout, '')
      assert.match(r.stderr, /^tnat64: completion.*bash, zsh, fish\n$/)
    }
  })
})
