// IPv4 networks as written in tnat64.conf: `a.b.c.d`, `a.b.c.d/len` or the original's `a.b.c.d/m.m.m.m`.
import { AddressError, formatIPv4, parseIPv4 } from './address.js'
import { ALWAYS_IPV4_NETS as ALWAYS_IPV4_TABLE } from './bpf/layout.js'

export interface Ipv4Net {
  /** Network address as an unsigned 32-bit number. */
  readonly address: number
  readonly length: number
  /** Canonical `a.b.c.d/len`. */
  readonly text: string
}

export function ipv4ToNumber(bytes: Uint8Array): number {
  return ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0
}

export function numberToIPv4Bytes(n: number): Uint8Array {
  return Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff)
}

function numberToIPv4(n: number): string {
  return formatIPv4(numberToIPv4Bytes(n))
}

function maskOf(length: number): number {
  return length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0
}

/** The first address of the /length network that holds `address`. */
export function networkAddress(address: number, length: number): number {
  return (address & maskOf(length)) >>> 0
}

/** The prefix length a netmask stands for; `text` is the whole network, for the message. */
function maskLength(maskText: string, text: string): number {
  let mask: number
  try {
    mask = ipv4ToNumber(parseIPv4(maskText))
  } catch {
    throw new AddressError('syntax', `'${text}': netmask '${maskText}' is not an IPv4 address (a.b.c.d)`)
  }
  const length = Math.clz32(~mask >>> 0)
  if (maskOf(length) !== mask) {
    throw new AddressError(
      'syntax',
      `'${text}': netmask ${maskText} is not contiguous (write it as a prefix length, e.g. /24)`,
    )
  }
  return length
}

export function parseIpv4Net(text: string): Ipv4Net {
  const [addressText, lengthText, extra] = text.split('/')
  if (extra !== undefined) throw new AddressError('syntax', `'${text}' is not an IPv4 network (a.b.c.d/len)`)
  const address = ipv4ToNumber(parseIPv4(addressText))
  let length = 32
  if (lengthText !== undefined) {
    if (/^\d{1,2}$/.test(lengthText)) {
      length = Number(lengthText)
      if (length > 32) throw new AddressError('length', `'${text}': an IPv4 prefix length is at most 32`)
    } else if (lengthText.includes('.')) {
      length = maskLength(lengthText, text)
    } else {
      throw new AddressError('syntax', `'${text}': '${lengthText}' is neither a prefix length nor a netmask`)
    }
  }
  const network = networkAddress(address, length)
  const canonical = `${numberToIPv4(network)}/${length}`
  if (network !== address) {
    throw new AddressError('host-bits', `'${text}': host bits are set (did you mean ${canonical}?)`)
  }
  return { address, length, text: canonical }
}

export function netContains(net: Ipv4Net, address: number): boolean {
  return networkAddress(address, net.length) === net.address
}

/** True when `inner` lies wholly inside `outer`. */
export function netWithin(inner: Ipv4Net, outer: Ipv4Net): boolean {
  return inner.length >= outer.length && netContains(outer, inner.address)
}

/**
 * Networks that never go through NAT64, whatever the configuration says: "this network",
 * loopback, multicast, 240/4 and the limited broadcast. Mirrors TNAT64_ALWAYS_IPV4_NETS of
 * bpf/tnat64.h, which the preload uses and the kernel's rule table is compiled from.
 */
export const ALWAYS_IPV4_NETS: readonly Ipv4Net[] = ALWAYS_IPV4_TABLE.map(([address, length]) =>
  parseIpv4Net(`${formatIPv4(numberToIPv4Bytes(address))}/${length}`),
)

export function alwaysIPv4Net(address: number): Ipv4Net | undefined {
  return ALWAYS_IPV4_NETS.find((net) => netContains(net, address))
}

/**
 * Special-purpose IPv4 ranges that are not globally reachable (RFC 6890 and its registry): the
 * well-known NAT64 prefix must not carry them (RFC 6052 §3.1).
 */
export const NON_GLOBAL_NETS: readonly Ipv4Net[] = [
  '0.0.0.0/8',
  '10.0.0.0/8',
  '100.64.0.0/10',
  '127.0.0.0/8',
  '169.254.0.0/16',
  '172.16.0.0/12',
  '192.0.0.0/24',
  '192.0.2.0/24',
  '192.88.99.0/24',
  '192.168.0.0/16',
  '198.18.0.0/15',
  '198.51.100.0/24',
  '203.0.113.0/24',
  '224.0.0.0/3',
].map(parseIpv4Net)

export function isNonGlobalIPv4(ipv4: Uint8Array): boolean {
  const address = ipv4ToNumber(ipv4)
  return NON_GLOBAL_NETS.some((special) => netContains(special, address))
}

/** True when some address of `net` is not global. */
export function netHasNonGlobal(net: Ipv4Net): boolean {
  return NON_GLOBAL_NETS.some((special) => netWithin(net, special) || netWithin(special, net))
}
