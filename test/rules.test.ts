// The kernel's rule table: its longest-prefix match must give every address the rule that the
// configuration core gives it.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { formatIPv4 } from '../src/lib/address.js'
import { Action } from '../src/lib/bpf/layout.js'
import { parseConfig, resolve } from '../src/lib/config.js'
import { numberToIPv4Bytes } from '../src/lib/ipv4net.js'
import { compileRules, lookupRule } from '../src/lib/rules.js'
import { configFixtures } from './helpers.js'

/** Addresses worth checking: each named network's first and last address and their neighbours,
 * and a deterministic spread over the whole space. */
function probes(nets: { address: number; length: number }[]): number[] {
  const out = new Set<number>()
  for (const net of nets) {
    const last = (net.address + 2 ** (32 - net.length) - 1) >>> 0
    for (const a of [net.address - 1, net.address, net.address + 1, last - 1, last, last + 1])
      out.add(a >>> 0)
  }
  for (let i = 0; i < 4096; i++) out.add(Math.imul(i, 2654435761) >>> 0)
  return [...out]
}

describe('kernel rule table', () => {
  for (const fixture of configFixtures().filter((f) => f.errorLines.length === 0)) {
    it(`${fixture.name}: the LPM lookup agrees with resolve() everywhere`, () => {
      const { config } = parseConfig(readFileSync(fixture.file, 'utf8'), fixture.file)
      const rules = compileRules(config)
      for (const address of probes(rules.entries.map((e) => e.net))) {
        const want = resolve(config, numberToIPv4Bytes(address))
        const got = lookupRule(rules, address)
        assert.ok(got, formatIPv4(numberToIPv4Bytes(address)))
        const gotKind = got.action === Action.Nat64 ? 'nat64' : got.action === Action.Local ? 'local' : 'none'
        assert.equal(gotKind, want.kind, formatIPv4(numberToIPv4Bytes(address)))
        if (want.kind === 'nat64') assert.equal(rules.prefixes[got.prefixId].text, want.prefix.text)
      }
    })
  }
})
