// The TypeScript mirror of bpf/tnat64.h: every map's key and value, byte for byte. A test checks
// these layouts against the BTF of the built object, so the two cannot drift apart.

export interface StructLayout {
  readonly size: number
  /** Field name -> byte offset. */
  readonly fields: Readonly<Record<string, number>>
}

export const LAYOUTS: Readonly<Record<string, StructLayout>> = {
  rule_key: { size: 8, fields: { prefixlen: 0, addr: 4 } },
  rule_value: { size: 4, fields: { action: 0, prefix_id: 1, pad: 2 } },
  prefix_value: { size: 20, fields: { addr: 0, length: 16, reachable: 17, pad: 18 } },
  cache_value: { size: 16, fields: { updated_ns: 0, method: 8, source: 12 } },
  mark_slot: { size: 16, fields: { cookie: 0, addr: 8, overflow: 12 } },
  mark_value: { size: 4, fields: { addr: 0 } },
}

export const MAPS = {
  rules: 'tnat64_rules',
  prefixes: 'tnat64_prefixes',
  cache: 'tnat64_cache',
  marks: 'tnat64_marks',
  marksOverflow: 'tnat64_marks_overflow',
  counters: 'tnat64_counters',
} as const

export const PROGRAMS = {
  connect6: 'tnat64_connect6',
  getpeername6: 'tnat64_getpeername6',
  recvmsg6: 'tnat64_recvmsg6',
  sock_release: 'tnat64_sock_release',
} as const

export const MAX_PREFIXES = 256

export enum Action {
  Local = 1,
  Nat64 = 2,
  None = 3,
}

export enum Method {
  Nat64 = 1,
  IPv4 = 2,
}

export enum CacheSource {
  User = 1,
  Connect = 2,
}

/** enum counter, in index order. */
export const COUNTERS = ['rewritten', 'local', 'non_global', 'unreachable', 'cache_ipv4', 'reversed'] as const

export type CounterName = (typeof COUNTERS)[number]

const { rule_key, rule_value, prefix_value, cache_value } = LAYOUTS

export function encodeRuleKey(address: Uint8Array, prefixlen: number): Buffer {
  const b = Buffer.alloc(rule_key.size)
  b.writeUInt32LE(prefixlen, rule_key.fields.prefixlen)
  b.set(address, rule_key.fields.addr)
  return b
}

export function encodeRuleValue(action: Action, prefixId: number): Buffer {
  const b = Buffer.alloc(rule_value.size)
  b.writeUInt8(action, rule_value.fields.action)
  b.writeUInt8(prefixId, rule_value.fields.prefix_id)
  return b
}

export function encodePrefixValue(address: Uint8Array, length: number, reachable: boolean): Buffer {
  const b = Buffer.alloc(prefix_value.size)
  b.set(address, prefix_value.fields.addr)
  b.writeUInt8(length, prefix_value.fields.length)
  b.writeUInt8(reachable ? 1 : 0, prefix_value.fields.reachable)
  return b
}

export function decodePrefixValue(b: Buffer): { address: Uint8Array; length: number; reachable: boolean } {
  return {
    address: Uint8Array.from(b.subarray(0, 16)),
    length: b.readUInt8(prefix_value.fields.length),
    reachable: b.readUInt8(prefix_value.fields.reachable) !== 0,
  }
}

export function encodeCacheValue(method: Method, source: CacheSource, updatedNs: bigint): Buffer {
  const b = Buffer.alloc(cache_value.size)
  b.writeBigUInt64LE(updatedNs, cache_value.fields.updated_ns)
  b.writeUInt32LE(method, cache_value.fields.method)
  b.writeUInt32LE(source, cache_value.fields.source)
  return b
}

export function decodeCacheValue(b: Buffer): { method: Method; source: CacheSource; updatedNs: bigint } {
  return {
    updatedNs: b.readBigUInt64LE(cache_value.fields.updated_ns),
    method: b.readUInt32LE(cache_value.fields.method),
    source: b.readUInt32LE(cache_value.fields.source),
  }
}
