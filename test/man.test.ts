// The man pages: tnat64(1), made by the build from the commands' own definitions, and the
// hand-written tnat64.conf(5), held to the parser and the defaults; both render with no warning
// and ship in the package.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { parseConfig } from '../src/lib/config.js'
import {
  CONFIG_MAX_BYTES,
  DEFAULT_CONFIG_FILE,
  DISCOVERY_STATE_FILE,
  ENV_CONF_FILE,
  ENV_DEBUG,
  ENV_DEBUG_FILE,
  ENV_PREFIX,
  USER_CACHE_NAME,
  WELL_KNOWN_PREFIX,
} from '../src/lib/defaults.js'
import { RUN_DIR } from '../src/lib/dirs.js'
import { PIN_DIR } from '../src/lib/kernel/pins.js'
import { type Manifest, manPage, roff } from '../src/lib/manpage.js'
import { ROOT } from './helpers.js'

const COMMANDS_PAGE = join(ROOT, 'man', 'tnat64.1')
const CONFIG_PAGE = join(ROOT, 'man', 'tnat64.conf.5')
const manifest = (): Manifest => JSON.parse(readFileSync(join(ROOT, 'oclif.manifest.json'), 'utf8'))

/** The page as man shows it at 80 columns, and what groff and man said while making it. */
function render(file: string): { text: string; warnings: string } {
  const r = spawnSync('man', ['--warnings', '-l', file], {
    encoding: 'utf8',
    env: { ...process.env, MANWIDTH: '80', LANG: 'C.UTF-8' },
  })
  assert.equal(r.status, 0, `man -l ${file}: ${r.stderr}`)
  // Not a terminal: man gives plain text, no overstrikes.
  return { text: r.stdout, warnings: r.stderr }
}

describe('tnat64(1)', () => {
  it('renders with no warnings', () => {
    const { text, warnings } = render(COMMANDS_PAGE)
    assert.equal(warnings, '')
    for (const heading of ['NAME', 'SYNOPSIS', 'COMMANDS', 'ENVIRONMENT', 'FILES', 'EXIT STATUS'])
      assert.match(text, new RegExp(`^${heading}$`, 'm'))
  })

  it('is what the build makes of the commands as they are now', () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'))
    assert.equal(readFileSync(COMMANDS_PAGE, 'utf8'), manPage(manifest(), version))
  })

  it('has a section for every command, with each of its flags and arguments', () => {
    const page = readFileSync(COMMANDS_PAGE, 'utf8')
    const sections = page.split(/^(?=\.SS )/m).slice(1)
    const byId = new Map(sections.map((s) => [/^\.SS "tnat64 ([^"]+)"/.exec(s)?.[1].replaceAll(' ', ':'), s]))
    const commands = Object.values(manifest().commands).filter((c) => !c.hidden)
    assert.deepEqual([...byId.keys()].sort(), commands.map((c) => c.id).sort())
    for (const c of commands) {
      const section = byId.get(c.id) as string
      for (const f of Object.values(c.flags).filter((f) => !f.hidden))
        assert.ok(section.includes(`\\-\\-${roff(f.name)}`), `${c.id}: --${f.name}`)
      for (const name of Object.keys(c.args))
        assert.ok(section.includes(`\\fI${name.toUpperCase()}\\fR`), `${c.id}: ${name}`)
    }
  })

  it('names the environment and the files from the constants the code reads', () => {
    const { text } = render(COMMANDS_PAGE)
    const environment = /^ENVIRONMENT$([\s\S]*?)^FILES$/m.exec(text)?.[1] ?? ''
    for (const name of [ENV_CONF_FILE, ENV_PREFIX, ENV_DEBUG, ENV_DEBUG_FILE, 'XDG_CACHE_HOME'])
      assert.match(environment, new RegExp(`^ {7}${name}\\b`, 'm'), name)
    const files = /^FILES$([\s\S]*?)^EXIT STATUS$/m.exec(text)?.[1] ?? ''
    for (const path of [
      DEFAULT_CONFIG_FILE,
      DISCOVERY_STATE_FILE,
      `~/.cache/${USER_CACHE_NAME}`,
      PIN_DIR,
      RUN_DIR,
    ])
      assert.match(files, new RegExp(`^ {7}${path.replace(/[.]/g, '\\.')}$`, 'm'), path)
  })

  it('escapes what roff would read as requests, escapes or other characters', () => {
    assert.equal(roff('.TH x'), '\\&.TH x')
    assert.equal(roff("'br"), "\\&'br")
    assert.equal(roff('a\\fBb'), 'a\\efBb')
    assert.equal(roff('--x'), '\\-\\-x')
    assert.equal(roff('§ µ'), '\\[u00A7] \\[u00B5]')
    const hostile: Manifest = {
      commands: {
        'x:y': {
          id: 'x:y',
          summary: '.SH NOT A HEADING',
          description: "'br\nback\\slash \\fB and `code` § 5",
          flags: { dash: { name: 'dash', type: 'option', description: '.TP -1', options: ['a-b', '.c'] } },
          args: { thing: { description: "'quote" } },
          examples: ['.nf <%= config.bin %> x y'],
        },
      },
    }
    const dir = mkdtempSync(join(tmpdir(), 'tnat64-man-'))
    try {
      const file = join(dir, 'hostile.1')
      writeFileSync(file, manPage(hostile, '0'))
      const { text, warnings } = render(file)
      assert.equal(warnings, '')
      for (const literal of [
        '.SH NOT A HEADING',
        "'br",
        'back\\slash \\fB and code § 5',
        '.TP -1',
        'a-b|.c',
        "'quote",
        '.nf tnat64 x y',
      ])
        assert.ok(text.includes(literal), `${literal} in:\n${text}`)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('tnat64.conf(5)', () => {
  const page = readFileSync(CONFIG_PAGE, 'utf8')

  it('renders with no warnings', () => {
    const { text, warnings } = render(CONFIG_PAGE)
    assert.equal(warnings, '')
    assert.match(text, /^KEYWORDS$/m)
  })

  it('describes every keyword the parser knows, and its example parses clean', () => {
    // The parser names its keywords when it meets an unknown one.
    const { errors } = parseConfig('bogus = 1\n', 'x')
    const keywords = /expected (.*)\)$/.exec(errors[0].message)?.[1].split(/, | or /) ?? []
    assert.ok(keywords.length >= 4, errors[0].message)
    const section = /^\.SH KEYWORDS$([\s\S]*?)^\.SH /m.exec(page)?.[1] ?? ''
    for (const keyword of keywords) assert.match(section, new RegExp(`^\\.BI? ${keyword}\\b`, 'm'), keyword)
    const example = /^\.SH EXAMPLES\n\.nf\n([\s\S]*?)^\.fi$/m.exec(page)?.[1] ?? ''
    const parsed = parseConfig(example.replaceAll('\\-', '-'), 'example')
    assert.deepEqual(parsed.errors, [])
    assert.ok(
      parsed.config.defaultPrefix && parsed.config.locals.length > 0 && parsed.config.paths.length > 0,
    )
  })

  it('states the defaults the code has', () => {
    const { text } = render(CONFIG_PAGE)
    for (const fact of [
      DEFAULT_CONFIG_FILE,
      ENV_CONF_FILE,
      ENV_PREFIX,
      WELL_KNOWN_PREFIX,
      `${CONFIG_MAX_BYTES >> 20} MiB`,
    ])
      assert.ok(text.includes(fact), fact)
  })
})

describe('the package', () => {
  it('carries the man pages and the systemd units', () => {
    const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
      cwd: ROOT,
      encoding: 'utf8',
    })
    assert.equal(r.status, 0, r.stderr)
    const files = new Set((JSON.parse(r.stdout)[0].files as { path: string }[]).map((f) => f.path))
    for (const path of [
      'man/tnat64.1',
      'man/tnat64.conf.5',
      'systemd/tnat64-attach@.service',
      'systemd/tnat64-discover.service',
    ])
      assert.ok(files.has(path), path)
  })
})
