// IPv4-embedded IPv6 addresses (RFC 6052): the one TypeScript implementation of address synthesis.
// The same vectors (test/vectors/rfc6052.txt) are run against the C and BPF implementations.
import { AddressError, formatIPv4, formatIPv6, parseIPv6 } from './address.js'
import { WELL_KNOWN_PREFIX } from './defaults.js'
import { isNonGlobalIPv4 } from './ipv4net.js'

/** Prefix lengths RFC 6052 §2.2 allows. */
export const PREFIX_LENGTHS: readonly number[] = [32, 40, 48, 56, 64, 96]

/** Bits 64–71 of every IPv4-embedded address; RFC 6052 §2.2 requires them zero. */
const U_OCTET = 8

export interface Nat64Prefix {
  readonly bytes: Uint8Array
  readonly length: number
  /** Canonical text, e.g. `2001:db8:64::/96`. */
  readonly text: string
}

/** Bit `i` (0 = most significant) of a 16-byte address. */
function bit(bytes: Uint8Array, i: number): number {
  return (bytes[i >> 3] >> (7 - (i & 7))) & 1
}

function withinBits(address: Uint8Array, network: Uint8Array, length: number): boolean {
  for (let i = 0; i < length; i++) if (bit(address, i) !== bit(network, i)) return false
  return true
}

function masked(bytes: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(bytes.length)
  for (let i = 0; i < length; i++) if (bit(bytes, i)) out[i >> 3] |= 0x80 >> (i & 7)
  return out
}

const MAPPED = parseIPv6('::ffff:0:0')

/**
 * Parses and validates a NAT64 prefix. A prefix without `/len` is taken as /96, as the original
 * tnat64.conf wrote it (`nat64_prefix = 64:ff9b::`).
 */
export function parsePrefix(text: string): Nat64Prefix {
  const slash = text.indexOf('/')
  const addressText = slash < 0 ? text : text.slice(0, slash)
  const lengthText = slash < 0 ? '96' : text.slice(slash + 1)
  if (!/^\d{1,3}$/.test(lengthText)) {
    throw new AddressError('syntax', `'${text}': prefix length '${lengthText}' is not a number`)
  }
  const length = Number(lengthText)
  if (!PREFIX_LENGTHS.includes(length)) {
    throw new AddressError(
      'length',
      `'${text}': prefix length is not one of /${PREFIX_LENGTHS.join(', /')} (RFC 6052 §2.2)`,
    )
  }
  let bytes: Uint8Array
  try {
    bytes = parseIPv6(addressText)
  } catch {
    throw new AddressError('syntax', `'${text}': '${addressText}' is not an IPv6 address`)
  }
  const network = masked(bytes, length)
  const canonical = `${formatIPv6(network)}/${length}`
  if (!network.every((b, i) => b === bytes[i])) {
    throw new AddressError(
      'host-bits',
      `'${text}': bits beyond the prefix length are set (did you mean ${canonical}?)`,
    )
  }
  if (bytes[U_OCTET] !== 0) {
    throw new AddressError('u-octet', `'${text}': bits 64-71 (the u-octet) must be zero (RFC 6052 §2.2)`)
  }
  if (withinBits(bytes, MAPPED, 96)) {
    throw new AddressError(
      'mapped',
      `'${text}': ::ffff:0:0/96 holds IPv4-mapped addresses, not a NAT64 prefix`,
    )
  }
  if (bytes[0] === 0xff) {
    throw new AddressError('multicast', `'${text}': a multicast prefix (ff00::/8) cannot be a NAT64 prefix`)
  }
  if (bytes.subarray(0, 8).every((b) => b === 0) || (bytes[0] === 0xfe && (bytes[1] & 0xc0) === 0x80)) {
    throw new AddressError(
      'not-global',
      `'${text}': ::/64 (unspecified, loopback, IPv4-compatible) and link-local fe80::/10 cannot be NAT64 prefixes`,
    )
  }
  return { bytes, length, text: canonical }
}

/** The byte offsets of an address that carry the IPv4 address for a prefix length: after the prefix, around the u-octet. */
function ipv4Offsets(length: number): number[] {
  const offsets: number[] = []
  for (let i = length / 8; offsets.length < 4; i++) if (i !== U_OCTET) offsets.push(i)
  return offsets
}

/** RFC 6052 §2.2: embeds `ipv4` in `prefix`; u-octet and suffix are zero. */
export function synthesize(ipv4: Uint8Array, prefix: Nat64Prefix): Uint8Array {
  const out = new Uint8Array(16)
  out.set(prefix.bytes.subarray(0, prefix.length / 8))
  ipv4Offsets(prefix.length).forEach((offset, i) => {
    out[offset] = ipv4[i]
  })
  return out
}

export function isWithinPrefix(ipv6: Uint8Array, prefix: Nat64Prefix): boolean {
  return withinBits(ipv6, prefix.bytes, prefix.length)
}

/** RFC 6052 §2.3: the IPv4 address embedded in `ipv6`, which must lie inside `prefix`. */
export function extract(ipv6: Uint8Array, prefix: Nat64Prefix): Uint8Array {
  if (!isWithinPrefix(ipv6, prefix)) {
    throw new AddressError('outside', `${formatIPv6(ipv6)} is not inside ${prefix.text}`)
  }
  if (ipv6[U_OCTET] !== 0) {
    throw new AddressError(
      'u-octet',
      `${formatIPv6(ipv6)}: bits 64-71 (the u-octet) are not zero (RFC 6052 §2.2)`,
    )
  }
  return Uint8Array.from(ipv4Offsets(prefix.length), (offset) => ipv6[offset])
}

export function isWellKnownPrefix(prefix: Nat64Prefix): boolean {
  return prefix.text === WELL_KNOWN_PREFIX
}

/** A warning when RFC 6052 §3.1 forbids this pairing (the well-known prefix with a non-global IPv4 address). */
export function wellKnownPrefixWarning(ipv4: Uint8Array, prefix: Nat64Prefix): string | undefined {
  if (!isWellKnownPrefix(prefix) || !isNonGlobalIPv4(ipv4)) return undefined
  return (
    `${formatIPv4(ipv4)} is not a global IPv4 address: the well-known prefix ${WELL_KNOWN_PREFIX} must not ` +
    `carry it (RFC 6052 §3.1) and NAT64 gateways drop such packets; use a network-specific prefix`
  )
}
