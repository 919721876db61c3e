// The C core of libtnat64 against the vectors and fixtures the TypeScript core passes.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import * as defaults from '../src/lib/defaults.js'
import { parsePrefix } from '../src/lib/rfc6052.js'
import { cDefine, cDefineNumber, FIXTURES, ROOT } from './helpers.js'

const VECTORS = join(ROOT, 'test', 'c', 'bin', 'vectors')

function run(args: string[]) {
  const r = spawnSync(VECTORS, args, { encoding: 'utf8' })
  assert.equal(r.error, undefined, `${VECTORS} is built by npm run build`)
  return r
}

describe('libtnat64 core (C)', () => {
  it('passes every RFC 6052 vector', () => {
    const r = run(['rfc6052', join(ROOT, 'test', 'vectors', 'rfc6052.txt')])
    assert.equal(r.status, 0, r.stdout)
    assert.match(r.stdout, /^(\d+) passed, 0 failed$/m)
    assert.ok(Number(/^(\d+) passed/m.exec(r.stdout)?.[1]) >= 50)
  })

  it('parses every config fixture as the TypeScript core does: the same error messages, the same rules, the same addresses read back', () => {
    const dir = join(FIXTURES, 'config')
    const files = readdirSync(dir)
      .filter((f) => f.endsWith('.conf'))
      .map((f) => join(dir, f))
    const r = run(['config', ...files])
    assert.equal(r.status, 0, r.stdout)
    assert.match(r.stdout, /^\d+ passed, 0 failed$/m)
  })
})

describe('preload/defaults.h and src/lib/defaults.ts', () => {
  const header = readFileSync(join(ROOT, 'preload', 'defaults.h'), 'utf8')
  const string = (name: string) => JSON.parse(cDefine(header, name))
  const number = (name: string) => cDefineNumber(header, name)

  it('name the same default file, environment and stand-in address', () => {
    assert.equal(string('TNAT64_DEFAULT_CONFIG_FILE'), defaults.DEFAULT_CONFIG_FILE)
    assert.equal(string('TNAT64_ENV_CONF_FILE'), defaults.ENV_CONF_FILE)
    assert.equal(string('TNAT64_ENV_PREFIX'), defaults.ENV_PREFIX)
    assert.equal(string('TNAT64_ENV_DEBUG'), defaults.ENV_DEBUG)
    assert.equal(string('TNAT64_ENV_DEBUG_FILE'), defaults.ENV_DEBUG_FILE)
    assert.equal(string('TNAT64_STANDIN_IPV4'), defaults.STANDIN_IPV4)
    assert.equal(string('TNAT64_DISCOVERY_STATE_FILE'), defaults.DISCOVERY_STATE_FILE)
    assert.equal(string('TNAT64_USER_CACHE_NAME'), defaults.USER_CACHE_NAME)
  })

  it('hold the same well-known prefix and the same largest configuration file', () => {
    const prefix = parsePrefix(defaults.WELL_KNOWN_PREFIX)
    const bytes = cDefine(header, 'TNAT64_WELL_KNOWN_PREFIX')
      .replace(/[{}\s]/g, '')
      .split(',')
      .map(Number)
    assert.deepEqual([...prefix.bytes], [...bytes, ...Array(16 - bytes.length).fill(0)])
    assert.equal(number('TNAT64_WELL_KNOWN_LENGTH'), prefix.length)
    assert.equal(number('TNAT64_CONFIG_MAX_BYTES'), defaults.CONFIG_MAX_BYTES)
  })
})
