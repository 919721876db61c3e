// RFC 7050 (updated by RFC 8880): the NAT64 prefix learnt from a DNS64 resolver. ipv4only.arpa has
// only A records (192.0.0.170 and 192.0.0.171, RFC 8880 §2), so every AAAA record the host's
// resolver returns for it was synthesized, and the well-known addresses inside show where the
// prefix ends.
import { Resolver } from 'node:dns/promises'
import { formatIPv4, formatIPv6, parseIPv6 } from '../address.js'
import { extract, type Nat64Prefix, PREFIX_LENGTHS, parsePrefix } from '../rfc6052.js'

/** The name asked for, and the two IPv4 addresses it holds (RFC 7050 §2.2, RFC 8880 §2). */
export const IPV4ONLY_NAME = 'ipv4only.arpa'
export const WELL_KNOWN_IPV4 = ['192.0.0.170', '192.0.0.171'] as const

/**
 * How long a negative answer holds, in seconds. node's resolver does not give the SOA minimum
 * of a NODATA answer (RFC 2308), so this is fixed; a failed lookup (timeout, refusal) holds for
 * FAILURE_TTL only, so a resolver that comes back is soon asked again.
 */
export const NEGATIVE_TTL = 300
export const FAILURE_TTL = 30

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

/** The lengths at which `ipv6` carries a well-known address, with the address found there. */
function positions(ipv6: Uint8Array): { length: number; wka: string }[] {
  const found: { length: number; wka: string }[] = []
  for (const length of PREFIX_LENGTHS) {
    // RFC 6052 §2.2: the u-octet and the suffix after the embedded address are zero.
    const suffixStart = length === 96 ? 16 : length / 8 + 5
    if (ipv6[8] !== 0 || ipv6.subarray(suffixStart).some((b) => b !== 0)) continue
    const prefix: Nat64Prefix = { bytes: maskTo(ipv6, length), length, text: '' }
    const ipv4 = formatIPv4(extract(ipv6, prefix))
    if ((WELL_KNOWN_IPV4 as readonly string[]).includes(ipv4)) found.push({ length, wka: ipv4 })
  }
  return found
}

function maskTo(bytes: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(16)
  out.set(bytes.subarray(0, length / 8))
  return out
}

const prefixText = (ipv6: Uint8Array, length: number) => `${formatIPv6(maskTo(ipv6, length))}/${length}`

/**
 * RFC 7050 §3: the prefixes the AAAA records of ipv4only.arpa reveal. Each record is searched at
 * every RFC 6052 position for 192.0.0.170 or .171. A record where one shows at several positions
 * (a prefix whose own bits spell a well-known address) is resolved by the other records: the
 * position kept is one where another record shows the other well-known address under the same
 * prefix; one that stays ambiguous, or a prefix that could not be a NAT64 prefix, is refused
 * rather than guessed (the RFC's guard against false positives).
 */
export function derivePrefixes(records: readonly AaaaRecord[]): Derivation {
  const refused: string[] = []
  const found = new Map<string, Dns64Prefix>()
  const parsed = records.flatMap((r) => {
    try {
      return [{ ...r, bytes: parseIPv6(r.address) }]
    } catch {
      refused.push(`${r.address}: not an IPv6 address`)
      return []
    }
  })
  const candidates = parsed.map((r) => positions(r.bytes))
  parsed.forEach((record, i) => {
    let where = candidates[i]
    if (where.length > 1) {
      where = where.filter(({ length, wka }) =>
        parsed.some(
          (other, j) =>
            j !== i &&
            candidates[j].some((c) => c.length === length && c.wka !== wka) &&
            prefixText(other.bytes, length) === prefixText(record.bytes, length),
        ),
      )
    }
    if (candidates[i].length === 0) {
      refused.push(
        `${record.address}: carries neither ${WELL_KNOWN_IPV4.join(' nor ')} at any RFC 6052 position`,
      )
      return
    }
    if (where.length !== 1) {
      const at = candidates[i].map((c) => `/${c.length}`).join(', ')
      refused.push(
        `${record.address}: a well-known address shows at ${at}; no other record tells which is meant`,
      )
      return
    }
    const text = prefixText(record.bytes, where[0].length)
    let prefix: Nat64Prefix
    try {
      prefix = parsePrefix(text)
    } catch (e) {
      refused.push(`${record.address}: ${(e as Error).message}`)
      return
    }
    const before = found.get(prefix.text)
    found.set(prefix.text, { prefix, ttl: Math.min(before?.ttl ?? record.ttl, record.ttl) })
  })
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
  const resolver = new Resolver({ timeout: options.timeoutMs ?? 2000, tries: 2 })
  if (options.servers) resolver.setServers(options.servers)
  let records: AaaaRecord[]
  try {
    records = await resolver.resolve6(IPV4ONLY_NAME, { ttl: true })
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? ''
    if (code === 'ENODATA' || code === 'ENOTFOUND')
      return {
        kind: 'none',
        why: `${IPV4ONLY_NAME} has no AAAA records: the resolver does not synthesize`,
        ttl: NEGATIVE_TTL,
      }
    return { kind: 'failed', why: `${IPV4ONLY_NAME} AAAA: ${dnsFailure(code, e as Error)}`, ttl: FAILURE_TTL }
  }
  const { prefixes, refused } = derivePrefixes(records)
  if (prefixes.length === 0)
    return {
      kind: 'none',
      why: `${IPV4ONLY_NAME} AAAA gave no NAT64 prefix (${refused.join('; ')})`,
      ttl: NEGATIVE_TTL,
    }
  return { kind: 'found', prefixes, refused }
}

function dnsFailure(code: string, e: Error): string {
  const words: Record<string, string> = {
    ETIMEOUT: 'no answer from the resolver (timeout)',
    ECONNREFUSED: 'the resolver refused the connection',
    ESERVFAIL: 'the resolver failed (SERVFAIL)',
    EREFUSED: 'the resolver refused the query',
  }
  return words[code] ?? e.message
}
