import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { parseIPv4 } from '../src/lib/address.js'
import {
  EMPTY_CONFIG,
  loadConfig,
  parseConfig,
  readConfigFile,
  resolve,
  withDefaultPrefix,
} from '../src/lib/config.js'
import { CONFIG_MAX_BYTES, DEFAULT_CONFIG_FILE } from '../src/lib/defaults.js'
import { ConfigError, UsageError } from '../src/lib/errors.js'
import { parsePrefix } from '../src/lib/rfc6052.js'
import { translate } from '../src/lib/translate.js'
import { configFixtures } from './helpers.js'

function methodOf(rule: ReturnType<typeof resolve>): [string, string | undefined] {
  return rule.kind === 'nat64' ? ['nat64', rule.prefix.text] : [rule.kind, undefined]
}

describe('config fixtures', () => {
  const fixtures = configFixtures()
  it('include a valid original file, a broken one, nested prefixes and addresses to read back', () => {
    assert.ok(fixtures.some((f) => f.name.startsWith('original') && f.errors.length === 0))
    assert.ok(fixtures.some((f) => f.errors.length > 5))
    assert.ok(fixtures.some((f) => f.name === 'nested' && f.extract.length > 5))
  })

  for (const fixture of fixtures) {
    it(`${fixture.name}: exactly the expected error messages, and resolves and reads back as expected`, () => {
      const { config, errors } = parseConfig(readFileSync(fixture.file, 'utf8'), fixture.file)
      assert.deepEqual(
        errors.map(({ line, message }) => ({ line, message })),
        fixture.errors,
      )
      for (const { destination, method, prefix } of fixture.expect) {
        assert.deepEqual(methodOf(resolve(config, parseIPv4(destination))), [method, prefix], destination)
      }
      for (const { ipv6, ipv4 } of fixture.extract) {
        if (ipv4 === undefined) assert.throws(() => translate(ipv6, config), UsageError, ipv6)
        else assert.equal(translate(ipv6, config).output, ipv4, ipv6)
      }
    })
  }
})

describe('config details', () => {
  it('warns when a path subnet lies inside a local network, and when the well-known prefix meets private space', () => {
    const text = readFileSync(configFixtures().find((f) => f.name === 'warnings')?.file ?? '', 'utf8')
    const { warnings, errors } = parseConfig(text, 'w.conf')
    assert.equal(errors.length, 0)
    assert.deepEqual(
      warnings.map((w) => w.line),
      [4, 8],
    )
    assert.match(warnings[0].message, /local wins/)
    assert.match(warnings[1].message, /RFC 6052 §3\.1/)
  })

  it('reports every error, not only the first', () => {
    const { errors } = parseConfig('bogus = 1\nlocal = x\n', 'f')
    assert.equal(errors.length, 2)
  })

  it('loads an explicit file, else $TNAT64_CONF_FILE; a missing file named either way is an error naming it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tnat64-config-'))
    const file = join(dir, 'a.conf')
    writeFileSync(file, 'nat64_prefix = 2001:db8:64::/96\n')
    assert.equal(loadConfig(file).config.defaultPrefix?.value.text, '2001:db8:64::/96')
    assert.equal(loadConfig(undefined, { TNAT64_CONF_FILE: file }).config.defaultPrefix?.line, 1)
    const missing = join(dir, 'missing.conf')
    for (const [explicit, env] of [
      [missing, {}],
      [undefined, { TNAT64_CONF_FILE: missing }],
      [undefined, { TNAT64_CONF_FILE: DEFAULT_CONFIG_FILE }],
    ] as const) {
      const named = explicit ?? env.TNAT64_CONF_FILE
      assert.throws(
        () => loadConfig(explicit, env),
        (e: unknown) => e instanceof ConfigError && e.message === `${named}: no such file`,
      )
    }
    writeFileSync(file, 'local = 1.2.3.4/33\n')
    assert.throws(() => loadConfig(file), /a\.conf:1: .*at most 32/)
  })

  it('refuses, as the C core does, a file that is a directory, too large, or not text', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tnat64-config-'))
    const big = join(dir, 'big.conf')
    writeFileSync(big, '#'.repeat(CONFIG_MAX_BYTES + 1))
    const binary = join(dir, 'binary.conf')
    writeFileSync(binary, 'local = 10.0.0.0/8\n\0')
    for (const [file, message] of [
      [dir, 'is a directory'],
      [big, 'larger than 16 MiB'],
      [binary, 'is not a text file'],
    ]) {
      assert.deepEqual(readConfigFile(file).errors, [{ file, line: 0, message }])
    }
  })

  it('sends loopback direct even when a path claims it', () => {
    const { config } = parseConfig('path {\n subnet = 0.0.0.0/0\n nat64_prefix = 2001:db8::/32\n}\n', 'f')
    assert.equal(resolve(config, parseIPv4('127.0.0.1')).kind, 'local')
  })

  it('lets --prefix replace the default prefix, paths still first', () => {
    const { config } = parseConfig(readFileSync(configFixtures()[0].file, 'utf8'), 'f')
    const replaced = withDefaultPrefix(config, parsePrefix('2001:db8:64::/96'))
    assert.deepEqual(resolve(replaced, parseIPv4('10.0.0.1')), {
      kind: 'nat64',
      why: 'default',
      prefix: parsePrefix('2001:db8:64::/96'),
      line: 0,
    })
    assert.equal(
      resolve(withDefaultPrefix(EMPTY_CONFIG, parsePrefix('2001:db8::/32')), parseIPv4('10.0.0.1')).kind,
      'nat64',
    )
  })
})
