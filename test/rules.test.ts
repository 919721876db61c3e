// The kernel's rule table: its longest-prefix match must give every address the rule that the
// configuration core gives it.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { formatIPv4, parseIPv4 } from '../src/lib/address.js'
import { Action } from '../src/lib/bpf/layout.js'
import { parseConfig, resolve } from '../src/lib/config.js'
import { ipv4ToNumber, numberToIPv4Bytes, parseIpv4Net } from '../src/lib/ipv4net.js'
import { compileRules, lookupRule, pinRefusal } from '../src/lib/kernel/rules.js'
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
  for (const fixture of configFixtures().filter((f) => f.errors.length === 0)) {
    it(`${fixture.name}: the LPM lookup agrees with resolve() everywhere`, () => {
      const { config } = parseConfig(readFileSync(fixture.file, 'utf8'), fixture.file)
      const rules = compileRules(config)
      for (const address of probes(rules.entries.map((e) => e.net))) {
        const want = resolve(config, numberToIPv4Bytes(address))
        const got = lookupRule(rules, address)
        assert.ok(got, formatIPv4(numberToIPv4Bytes(address)))
        const gotKind = got.action === Action.Nat64 ? 'nat64' : got.action === Action.IPv4 ? 'local' : 'none'
        assert.equal(gotKind, want.kind, formatIPv4(numberToIPv4Bytes(address)))
        if (want.kind === 'nat64') assert.equal(rules.prefixes[got.prefixId].text, want.prefix.text)
      }
    })
  }
})

describe('kernel rule table: operator pins', () => {
  const { config } = parseConfig('local = 198.51.100.0/24\nnat64_prefix = 2001:db8:64::/96\n', 'f')

  it('a pin to IPv4 or to NAT64 is a /32 entry that wins over the configured rule', () => {
    const rules = compileRules(config, [
      { destination: '198.51.100.10', method: 'nat64' },
      { destination: '8.8.8.8', method: 'ipv4' },
    ])
    const at = (a: string) => lookupRule(rules, ipv4ToNumber(parseIPv4(a)))
    assert.equal(at('198.51.100.10')?.action, Action.Nat64)
    assert.equal(rules.prefixes[at('198.51.100.10')?.prefixId ?? -1].text, '2001:db8:64::/96')
    assert.equal(at('198.51.100.11')?.action, Action.IPv4)
    assert.equal(at('8.8.8.8')?.action, Action.IPv4)
    assert.equal(at('8.8.8.8')?.pinned, true)
  })

  it('refuses to pin through NAT64 what must never go there', () => {
    assert.match(pinRefusal(config, parseIpv4Net('127.0.0.1/32')) ?? '', /never goes through NAT64/)
    assert.match(pinRefusal(config, parseIpv4Net('224.0.0.1/32')) ?? '', /never goes through NAT64/)
    const wellKnown = parseConfig('', 'f').config
    assert.match(pinRefusal(wellKnown, parseIpv4Net('10.1.2.3/32')) ?? '', /RFC 6052/)
    assert.equal(pinRefusal(wellKnown, parseIpv4Net('8.8.8.8/32')), undefined)
  })
})
