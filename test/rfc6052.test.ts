import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { AddressError, formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from '../src/lib/address.js'
import { WELL_KNOWN_PREFIX } from '../src/lib/defaults.js'
import {
  extract,
  isWithinPrefix,
  parsePrefix,
  synthesize,
  wellKnownPrefixWarning,
} from '../src/lib/rfc6052.js'
import { rfc6052Vectors } from './helpers.js'

const vectors = rfc6052Vectors()

describe('RFC 6052 vectors', () => {
  it('covers every prefix length and the RFC table', () => {
    const lengths = new Set(vectors.embed.map((v) => parsePrefix(v.prefix).length))
    assert.deepEqual(
      [...lengths].sort((a, b) => a - b),
      [32, 40, 48, 56, 64, 96],
    )
    assert.ok(vectors.embed.some((v) => v.prefix === '2001:db8:100::/40' && v.ipv6 === '2001:db8:1c0:2:21::'))
  })

  for (const v of vectors.embed) {
    it(`embeds ${v.ipv4} in ${v.prefix} as ${v.ipv6}, and back`, () => {
      const prefix = parsePrefix(v.prefix)
      const ipv6 = synthesize(parseIPv4(v.ipv4), prefix)
      assert.equal(formatIPv6(ipv6), v.ipv6)
      assert.deepEqual(ipv6, parseIPv6(v.ipv6))
      assert.equal(formatIPv4(extract(parseIPv6(v.ipv6), prefix)), v.ipv4)
    })
  }

  for (const v of vectors.reject) {
    it(`rejects ${v.prefix} (${v.code})`, () => {
      assert.throws(
        () => parsePrefix(v.prefix),
        (e: unknown) => e instanceof AddressError && e.code === v.code && e.message.includes(v.prefix),
      )
    })
  }
})

describe('RFC 6052 details', () => {
  it('leaves the u-octet and the suffix zero', () => {
    const ipv6 = synthesize(parseIPv4('255.255.255.255'), parsePrefix('2001:db8::/32'))
    assert.equal(ipv6[8], 0)
    assert.deepEqual([...ipv6.subarray(9)], [0, 0, 0, 0, 0, 0, 0])
  })

  it('suggests the network when host bits are set', () => {
    assert.throws(() => parsePrefix('2001:db8::1/96'), /did you mean 2001:db8::\/96\?/)
  })

  it('refuses to extract from an address outside the prefix or with a non-zero u-octet', () => {
    const prefix = parsePrefix('2001:db8:122::/48')
    assert.throws(
      () => extract(parseIPv6('2001:db9::1'), prefix),
      (e: unknown) => (e as AddressError).code === 'outside',
    )
    assert.throws(() => extract(parseIPv6('2001:db8:122:c000:ff02:2100::'), prefix), /u-octet/)
    assert.equal(isWithinPrefix(parseIPv6('2001:db8:122:ffff::'), prefix), true)
  })

  it('warns when the well-known prefix meets a non-global IPv4 address, and only then', () => {
    const wkp = parsePrefix(WELL_KNOWN_PREFIX)
    for (const a of ['10.1.2.3', '192.168.1.1', '172.16.0.1', '100.64.0.1', '192.0.2.33', '169.254.0.1']) {
      assert.match(wellKnownPrefixWarning(parseIPv4(a), wkp) ?? '', /RFC 6052 §3\.1/, a)
    }
    assert.equal(wellKnownPrefixWarning(parseIPv4('8.8.8.8'), wkp), undefined)
    assert.equal(wellKnownPrefixWarning(parseIPv4('10.1.2.3'), parsePrefix('64:ff9b:1::/48')), undefined)
  })

  it('parses addresses strictly', () => {
    for (const bad of ['1.2.3', '1.2.3.256', '01.2.3.4x', '', '1.2.3.4/8'])
      assert.throws(() => parseIPv4(bad), AddressError)
    assert.throws(() => parseIPv6('fe80::1%eth0'), AddressError)
  })
})
