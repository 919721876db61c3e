// Address text in and out, through ipaddr.js; the one place that parses or prints an address.
import { createRequire } from 'node:module'

// require(), not import: node's ESM loader would first scan the CommonJS file for its exports
// (cjs-module-lexer), some 20 ms of every start of the CLI.
const ipaddr: typeof import('ipaddr.js') = createRequire(import.meta.url)('ipaddr.js')

/** Why an address, network or prefix was rejected; the codes are shared with the C and BPF tests' vectors. */
export type RejectCode =
  | 'syntax'
  | 'length'
  | 'host-bits'
  | 'u-octet'
  | 'mapped'
  | 'multicast'
  | 'not-global'
  | 'outside'

export class AddressError extends Error {
  constructor(
    readonly code: RejectCode,
    message: string,
  ) {
    super(message)
  }
}

export function parseIPv4(text: string): Uint8Array {
  if (!ipaddr.IPv4.isValidFourPartDecimal(text)) {
    throw new AddressError('syntax', `'${text}' is not an IPv4 address (a.b.c.d)`)
  }
  return Uint8Array.from(ipaddr.IPv4.parse(text).toByteArray())
}

export function parseIPv6(text: string): Uint8Array {
  if (!ipaddr.IPv6.isValid(text) || text.includes('%')) {
    throw new AddressError('syntax', `'${text}' is not an IPv6 address`)
  }
  // ipaddr.js reads `::a.b.c.d` as `::ffff:a.b.c.d`; inet_pton (the C core) and RFC 4291 read `::` there.
  return Uint8Array.from(ipaddr.IPv6.parse(text.replace(/^::(?=[0-9]+\.)/, '0::')).toByteArray())
}

/** Whether `text` is an address of each family, by the same rules as the parsers above. */
export function isIPv4Text(text: string): boolean {
  return ipaddr.IPv4.isValidFourPartDecimal(text)
}

export function isIPv6Text(text: string): boolean {
  return ipaddr.IPv6.isValid(text)
}

export function formatIPv4(bytes: Uint8Array): string {
  return Array.from(bytes).join('.')
}

export function formatIPv6(bytes: Uint8Array): string {
  return ipaddr.fromByteArray(Array.from(bytes)).toString()
}
