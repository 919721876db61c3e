// The C core of libtnat64 against the vectors and fixtures the TypeScript core passes.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { FIXTURES, ROOT } from './helpers.js'

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

  it('parses every config fixture as the TypeScript core does: the same error lines, the same rules', () => {
    const dir = join(FIXTURES, 'config')
    const files = readdirSync(dir)
      .filter((f) => f.endsWith('.conf'))
      .map((f) => join(dir, f))
    const r = run(['config', ...files])
    assert.equal(r.status, 0, r.stdout)
    assert.match(r.stdout, /^\d+ passed, 0 failed$/m)
  })
})
