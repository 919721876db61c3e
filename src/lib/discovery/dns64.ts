// RFC 7050 (updated by RFC 8880): the NAT64 prefix learnt from a DNS64 resolver. ipv4only.arpa has
// only A records (192.0.0.170 and 192.0.0.171, RFC 8880 §2), so every AAAA record the host's
// resolver returns for it was synthesized, and the well-known addresses inside show where the
// prefix ends.
import { Resolver } from 'node:dns/promises'
import { formatIPv4, formatIPv6, parseIPv6 } from '../address.js'
import { extract, type Nat64Prefix, PREFIX_LENGTHS, parsePrefix } from '../rfc6052.js'
import { IPV4ONLY_ADDRESSES, IPV4ONLY_ARPA } from '../rfc7050.js'

/**
 * How long a negative answer holds, in seconds. node's resolver does not give the SOA minimum
 * of a NODATA answer (RFC 2308), so this is fixed; a failed lookup (timeout, refusal) holds for
 * FAILURE_TTL only, so a resolver that comes back is soon asked again.
 */
export const NEGATIVE_TTL = 300
export const FAILURE_TTL = 30

/**
 * The bounds put on a DNS64 answer's TTL: one of 0 (legal: "do not cache") still puts its prefix
 * in force for a while rather than never, and one of years (RFC 2181 allows 2^31-1 s) is asked
 * again within a day.
 */
export const MIN_TTL = 30
export const MAX_TTL = 86_400

export interface AaaaRecord {
  readonly address: string
  readonly ttl: number
}

export interface Dns64Prefix {
  readonly prefix: Nat64Prefix
  /** The smallest TTL of the records that gave it (RFC 7050 §3: it holds no longer). */
  readonly ttl: number
}

export interface Derivation {
  readonly prefixes: Dns64Prefix[]
  /** Records refused, one line each: why they are not evidence of a prefix. */
  readonly refused: string[]
}

/**
 * The length at which `ipv6` carries a well-known address. RFC 6052 §2.2 wants the u-octet and
 * the suffix after the embedded address zero; asking that of a match means at most one length
 * can match, since a longer position's last byte lies in a shorter one's suffix and a well-known
 * address ends in 170 or 171, never 0.
 */
function wellKnownAt(ipv6: Uint8Array): number | undefined {
  return PREFIX_LENGTHS.find((length) => {
    const suffixStart = length === 96 ? 16 : length / 8 + 5
    if (ipv6[8] !== 0 || ipv6.subarray(suffixStart).some((b) => b !== 0)) return false
    const prefix: Nat64Prefix = { bytes: maskTo(ipv6, length), length, text: '' }
    return IPV4ONLY_ADDRESSES.includes(formatIPv4(extract(ipv6, prefix)))
  })
}

function maskTo(bytes: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(16)
  out.set(bytes.subarray(0, length / 8))
  return out
}

/**
 * RFC 7050 §3: the prefixes the AAAA records of ipv4only.arpa reveal. Each record is searched at
 * every RFC 6052 position for 192.0.0.170 or .171. Against false positives, a record is refused
 * rather than guessed at when it carries neither (a real AAAA record, a rewriting resolver), when
 * bits RFC 6052 wants zero are not, or when what precedes the address could not be a NAT64
 * prefix (an IPv4-mapped or IPv4-compatible answer, link-local, multicast).
 */
export function derivePrefixes(records: readonly AaaaRecord[]): Derivation {
  const refused: string[] = []
  const found = new Map<string, Dns64Prefix>()
  for (const record of records) {
    let bytes: Uint8Array
    try {
      bytes = parseIPv6(record.address)
    } catch {
      refused.push(`${record.address}: not an IPv6 address`)
      continue
    }
    const length = wellKnownAt(bytes)
    if (length === undefined) {
      refused.push(
        `${record.address}: carries neither ${IPV4ONLY_ADDRESSES.join(' nor ')} at an RFC 6052 position`,
      )
      continue
    }
    let prefix: Nat64Prefix
    try {
      prefix = parsePrefix(`${formatIPv6(maskTo(bytes, length))}/${length}`)
    } catch (e) {
      refused.push(`${record.address}: ${(e as Error).message}`)
      continue
    }
    const before = found.get(prefix.text)
    found.set(prefix.text, { prefix, ttl: Math.min(before?.ttl ?? record.ttl, record.ttl) })
  }
  return { prefixes: [...found.values()], refused }
}

export type Dns64Lookup =
  | { readonly kind: 'found'; readonly prefixes: Dns64Prefix[]; readonly refused: string[] }
  /** The resolver answered, and not with a usable prefix: no DNS64 here. */
  | { readonly kind: 'none'; readonly why: string; readonly ttl: number }
  /** The lookup itself failed: nothing is known. */
  | { readonly kind: 'failed'; readonly why: string; readonly ttl: number }

/** Asks the host's resolver (resolv.conf) for ipv4only.arpa AAAA and derives the prefixes. */
export async function lookupDns64(
  options: { timeoutMs?: number; servers?: string[] } = {},
): Promise<Dns64Lookup> {
  // One try of 1.5 s per nameserver: a silent resolver must not hold up every program's start.
  const resolver = new Resolver({ timeout: options.timeoutMs ?? 1500, tries: 1 })
  if (options.servers) resolver.setServers(options.servers)
  let records: AaaaRecord[]
  try {
    records = await resolver.resolve6(IPV4ONLY_ARPA, { ttl: true })
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? ''
    if (code === 'ENODATA' || code === 'ENOTFOUND')
      return {
        kind: 'none',
        why: `${IPV4ONLY_ARPA} has no AAAA records: the resolver does not synthesize`,
        ttl: NEGATIVE_TTL,
      }
    return { kind: 'failed', why: `${IPV4ONLY_ARPA} AAAA: ${dnsFailure(code, e as Error)}`, ttl: FAILURE_TTL }
  }
  const bounded = records.map((r) => ({ ...r, ttl: Math.min(Math.max(r.ttl, MIN_TTL), MAX_TTL) }))
  const { prefixes, refused } = derivePrefixes(bounded)
  if (prefixes.length === 0)
    return {
      kind: 'none',
      why: `${IPV4ONLY_ARPA} AAAA gave no NAT64 prefix (${refused.join('; ')})`,
      ttl: NEGATIVE_TTL,
    }
  return { kind: 'found', prefixes, refused }
}

function dnsFailure(code: string, e: Error): string {
  const words: Record<string, string> = {
    ETIMEOUT: 'no answer from the resolver (timeout)',
    // c-ares reports a resolver without a route (ENETUNREACH) as refused too.
    ECONNREFUSED: 'the resolver cannot be reached (no route, or nothing listens)',
    ESERVFAIL: 'the resolver failed (SERVFAIL)',
    EREFUSED: 'the resolver refused the query',
  }
  return words[code] ?? e.message
}
