// The TypeScript mirror of bpf/tnat64.h: every map's key and value byte for byte, and the constants
// user space shares with the programs. A test checks these against the BTF of the built object and
// against the header's own text, so the two cannot drift apart.

export interface StructLayout {
  readonly size: number
  /** Field name -> byte offset. */
  readonly fields: Readonly<Record<string, number>>
}

export const LAYOUTS = {
  rule_key: { size: 16, fields: { prefixlen: 0, cgroup: 4, addr: 12 } },
  rule_value: { size: 4, fields: { action: 0, prefix_id: 1, flags: 2, pad: 3 } },
  prefix_value: { size: 20, fields: { addr: 0, length: 16, unreachable_somewhere: 17, pad: 18 } },
  prefix_set: { size: 32, fields: { bits: 0 } },
  reverse_record: { size: 32, fields: { cgroup: 0, nat64: 8, port: 24, ipv4: 28 } },
  reverse_slot: { size: 48, fields: { cookie: 0, record: 8, overflow: 40, pad: 44 } },
  monitor_lease: { size: 8, fields: { until: 0 } },
  connect_event: {
    size: 64,
    fields: { time: 0, cgroup: 8, pid: 16, outcome: 20, nat64: 24, ipv4: 40, port: 44, comm: 48 },
  },
} as const satisfies Record<string, StructLayout>

/** The header's #defines that user space relies on. */
export const MAX_PREFIXES = 256
export const MAX_RULES = 1 << 18
export const MAX_NETNS = 4096
export const REVERSE_SLOTS = 8192
export const MAX_REVERSE_OVERFLOW = 65536
export const EVENT_RING_BYTES = 256 * 1024

/** TNAT64_ALWAYS_IPV4_NETS: [address (host order), length]. */
export const ALWAYS_IPV4_NETS: readonly (readonly [number, number])[] = [
  [0x00000000, 8],
  [0x7f000000, 8],
  [0xe0000000, 4],
  [0xf0000000, 4],
]

/** enum counter, in index order. */
export const COUNTERS = [
  'rewritten',
  'ipv4',
  'non_global',
  'unreachable',
  'pinned_ipv4',
  'bound_ipv4',
  'no_rules',
  'reversed',
  'reverse_lost',
] as const

export type CounterName = (typeof COUNTERS)[number]

/** bpf(2) map types (uapi enum bpf_map_type) of the maps below. */
export const MapType = { hash: 1, array: 2, percpuArray: 6, lpmTrie: 11, ringbuf: 27 } as const
const BPF_F_NO_PREALLOC = 1

export interface MapSpec {
  readonly name: string
  readonly type: number
  readonly keySize: number
  /** For a per-CPU map, the size of one CPU's value. */
  readonly valueSize: number
  readonly maxEntries: number
  readonly flags: number
}

const spec = (
  name: string,
  type: number,
  keySize: number,
  valueSize: number,
  maxEntries: number,
  flags = 0,
): MapSpec => ({ name, type, keySize, valueSize, maxEntries, flags })

/** Every map of the object, as the kernel must report it before user space reads or writes it. */
export const MAPS = {
  rules: spec(
    'tnat64_rules',
    MapType.lpmTrie,
    LAYOUTS.rule_key.size,
    LAYOUTS.rule_value.size,
    MAX_RULES,
    BPF_F_NO_PREALLOC,
  ),
  prefixes: spec('tnat64_prefixes', MapType.array, 4, LAYOUTS.prefix_value.size, MAX_PREFIXES),
  unreachable: spec('tnat64_unreachable', MapType.hash, 8, LAYOUTS.prefix_set.size, MAX_NETNS),
  reverse: spec('tnat64_reverse', MapType.array, 4, LAYOUTS.reverse_slot.size, REVERSE_SLOTS),
  reverseOverflow: spec(
    'tnat64_reverse_overflow',
    MapType.hash,
    8,
    LAYOUTS.reverse_record.size,
    MAX_REVERSE_OVERFLOW,
    BPF_F_NO_PREALLOC,
  ),
  counters: spec('tnat64_counters', MapType.percpuArray, 4, 8, COUNTERS.length),
  monitor: spec('tnat64_monitor', MapType.array, 4, LAYOUTS.monitor_lease.size, 1),
  events: spec('tnat64_events', MapType.ringbuf, 0, 0, EVENT_RING_BYTES),
  monitorDropped: spec('tnat64_monitor_dropped', MapType.percpuArray, 4, 8, 1),
} as const

/** The read-only variable that tells each loaded copy of the programs whose rules it applies. */
export const CGROUP_VARIABLE = 'tnat64_cgroup'

export const PROGRAMS = {
  connect6: 'tnat64_connect6',
  getpeername6: 'tnat64_getpeername6',
  recvmsg6: 'tnat64_recvmsg6',
  sock_release: 'tnat64_sock_release',
} as const

export enum Action {
  IPv4 = 1,
  Nat64 = 2,
  None = 3,
}

export enum RuleFlag {
  Pinned = 1,
}

const { rule_key, rule_value, prefix_value, connect_event } = LAYOUTS

export function encodeRuleKey(cgroup: bigint, address: Uint8Array, length: number): Buffer {
  const b = Buffer.alloc(rule_key.size)
  b.writeUInt32LE(64 + length, rule_key.fields.prefixlen)
  b.writeBigUInt64BE(cgroup, rule_key.fields.cgroup)
  b.set(address, rule_key.fields.addr)
  return b
}

export function decodeRuleKey(b: Buffer): { cgroup: bigint; address: Uint8Array; length: number } {
  return {
    cgroup: b.readBigUInt64BE(rule_key.fields.cgroup),
    address: Uint8Array.from(b.subarray(rule_key.fields.addr, rule_key.fields.addr + 4)),
    length: b.readUInt32LE(rule_key.fields.prefixlen) - 64,
  }
}

export interface RuleValue {
  readonly action: Action
  readonly prefixId: number
  readonly flags: number
}

export function encodeRuleValue(value: RuleValue): Buffer {
  const b = Buffer.alloc(rule_value.size)
  b.writeUInt8(value.action, rule_value.fields.action)
  b.writeUInt8(value.prefixId, rule_value.fields.prefix_id)
  b.writeUInt8(value.flags, rule_value.fields.flags)
  return b
}

export function decodeRuleValue(b: Buffer): RuleValue {
  return {
    action: b.readUInt8(rule_value.fields.action),
    prefixId: b.readUInt8(rule_value.fields.prefix_id),
    flags: b.readUInt8(rule_value.fields.flags),
  }
}

export interface PrefixValue {
  readonly address: Uint8Array
  readonly length: number
  readonly unreachableSomewhere: boolean
}

export function encodePrefixValue(value: PrefixValue): Buffer {
  const b = Buffer.alloc(prefix_value.size)
  b.set(value.address, prefix_value.fields.addr)
  b.writeUInt8(value.length, prefix_value.fields.length)
  b.writeUInt8(value.unreachableSomewhere ? 1 : 0, prefix_value.fields.unreachable_somewhere)
  return b
}

export function decodePrefixValue(b: Buffer): PrefixValue {
  return {
    address: Uint8Array.from(b.subarray(0, 16)),
    length: b.readUInt8(prefix_value.fields.length),
    unreachableSomewhere: b.readUInt8(prefix_value.fields.unreachable_somewhere) !== 0,
  }
}

/** struct prefix_set: a bitmap of prefix ids. */
export function encodePrefixSet(ids: Iterable<number>): Buffer {
  const b = Buffer.alloc(LAYOUTS.prefix_set.size)
  for (const id of ids) b[id >> 3] |= 1 << (id & 7) // little-endian __u64 words: bit id of the bytes
  return b
}

export function decodePrefixSet(b: Buffer): Set<number> {
  const ids = new Set<number>()
  for (let id = 0; id < MAX_PREFIXES; id++) if (b[id >> 3] & (1 << (id & 7))) ids.add(id)
  return ids
}

/** struct connect_event, as connect6 reports one decision to `tnat64 monitor`. */
export interface ConnectEvent {
  /** bpf_ktime_get_ns(): CLOCK_MONOTONIC, as process.hrtime.bigint(). */
  readonly time: bigint
  readonly cgroup: bigint
  readonly pid: number
  readonly outcome: CounterName | `outcome ${number}`
  readonly ipv4: Uint8Array
  readonly port: number
  /** The NAT64 address connected to; undefined when the destination was left unchanged. */
  readonly nat64?: Uint8Array
  readonly command: string
}

export function decodeConnectEvent(b: Buffer): ConnectEvent {
  const f = connect_event.fields
  const outcome = b.readUInt32LE(f.outcome)
  const nat64 = Uint8Array.from(b.subarray(f.nat64, f.nat64 + 16))
  const comm = b.subarray(f.comm, f.comm + 16)
  const end = comm.indexOf(0)
  return {
    time: b.readBigUInt64LE(f.time),
    cgroup: b.readBigUInt64LE(f.cgroup),
    pid: b.readUInt32LE(f.pid),
    outcome: COUNTERS[outcome] ?? `outcome ${outcome}`,
    ipv4: Uint8Array.from(b.subarray(f.ipv4, f.ipv4 + 4)),
    port: b.readUInt16BE(f.port), // network order in the low 16 bits of a little-endian __u32
    nat64: nat64.some((byte) => byte !== 0) ? nat64 : undefined,
    command: comm.subarray(0, end < 0 ? comm.length : end).toString('utf8'),
  }
}
