// The lab server's DNS: the wire format (RFC 1035, EDNS0 of RFC 6891) of a query with one question,
// and the authoritative answer from the lab's zones (A and PTR records). Written here so that the lab
// needs no DNS package; only what a stub resolver, dig and a DNS library send is understood.

import { bigAddresses, LAB, LAB_REVERSE_ZONE, reverseName } from '../lib/lab.js'
import { IPV4ONLY_ADDRESSES, IPV4ONLY_ARPA } from '../lib/rfc7050.js'

export const TYPE = { A: 1, SOA: 6, PTR: 12, OPT: 41, ANY: 255 } as const
export const RCODE = { NOERROR: 0, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const
const CLASS_IN = 1
const HEADER = 12
/** The largest answer over UDP to a client that sent no OPT record (RFC 1035 §4.2.1). */
const UDP_PLAIN = 512
/** What this server's OPT record advertises: the size the DNS flag day 2020 settled on. */
const UDP_ADVERTISED = 1232

const FLAG = { QR: 0x8000, OPCODE: 0x7800, AA: 0x0400, TC: 0x0200, RD: 0x0100 } as const

export interface Query {
  readonly id: number
  /** The header's flags as received: the opcode and RD are echoed. */
  readonly flags: number
  /** The name's labels, lowercase (a label may hold a dot: it is still one label). */
  readonly labels: readonly string[]
  readonly type: number
  readonly class: number
  /** The question as received (the name's case kept): an answer repeats it byte for byte. */
  readonly question: Buffer
  /** The UDP size of the client's OPT record (at least 512); undefined when it sent none. */
  readonly udpSize?: number
}

/** A record's type and its data (RDATA) in wire form. */
export interface Rdata {
  readonly type: number
  readonly data: Buffer
}

export interface Zone {
  /** The apex, lowercase, without the final dot: it holds the SOA. */
  readonly origin: string
  readonly ttl: number
  /** The records of each name (lowercase), the apex's besides its SOA. */
  readonly names: ReadonlyMap<string, readonly Rdata[]>
}

/**
 * The zones of LAB.dns: its names, the reverse zone where the server's address names the server, and
 * ipv4only.arpa (RFC 7050), which a DNS64 must get from upstream to synthesize its AAAA records.
 */
export function labZones(): Zone[] {
  const a = (address: string) => ({ type: TYPE.A, data: Buffer.from(address.split('.').map(Number)) })
  const forward = new Map([
    [LAB.dns.server, [a(LAB.serverIPv4)]],
    [LAB.dns.big, bigAddresses().map(a)],
  ])
  const reverse = new Map([
    [reverseName(LAB.serverIPv4), [{ type: TYPE.PTR, data: encodeName(LAB.dns.server) }]],
  ])
  return [
    { origin: LAB.dns.zone, ttl: LAB.dns.ttl, names: forward },
    { origin: LAB_REVERSE_ZONE, ttl: LAB.dns.ttl, names: reverse },
    { origin: IPV4ONLY_ARPA, ttl: LAB.dns.ttl, names: new Map([[IPV4ONLY_ARPA, IPV4ONLY_ADDRESSES.map(a)]]) },
  ]
}

/** Reads a query; undefined for anything else (a response, a truncated or inconsistent message). */
export function parseQuery(message: Buffer): Query | undefined {
  if (message.length < HEADER) return undefined
  const flags = message.readUInt16BE(2)
  const [qd, an, ns, ar] = [4, 6, 8, 10].map((o) => message.readUInt16BE(o))
  if (flags & FLAG.QR || qd !== 1 || an !== 0 || ns !== 0) return undefined
  const labels: string[] = []
  let offset = HEADER
  // A name in the first question has nothing earlier to point to: a compression pointer is malformed.
  for (let length = message[offset]; length !== 0; length = message[offset]) {
    if (length === undefined || length > 63 || offset + 1 + length > message.length) return undefined
    labels.push(message.toString('latin1', offset + 1, offset + 1 + length).toLowerCase())
    offset += 1 + length
  }
  offset += 1
  if (offset - HEADER > 255 || offset + 4 > message.length) return undefined
  const question = message.subarray(HEADER, offset + 4)
  const type = message.readUInt16BE(offset)
  const klass = message.readUInt16BE(offset + 2)
  offset += 4
  let udpSize: number | undefined
  for (let i = 0; i < ar; i++) {
    offset = skipName(message, offset)
    if (offset < 0 || offset + 10 > message.length) return undefined
    const rdEnd = offset + 10 + message.readUInt16BE(offset + 8)
    if (rdEnd > message.length) return undefined
    if (message.readUInt16BE(offset) === TYPE.OPT) {
      if (udpSize !== undefined) return undefined // RFC 6891 §6.1.1: at most one OPT
      udpSize = Math.max(UDP_PLAIN, message.readUInt16BE(offset + 2))
    }
    offset = rdEnd
  }
  return { id: message.readUInt16BE(0), flags, labels, type, class: klass, question, udpSize }
}

/** The offset after a (possibly compressed) name, or -1 when it runs off the message. */
function skipName(message: Buffer, offset: number): number {
  for (let at = offset; at < message.length; ) {
    const length = message[at]
    if (length === 0) return at + 1
    if ((length & 0xc0) === 0xc0) return at + 2 <= message.length ? at + 2 : -1
    if (length > 63) return -1
    at += 1 + length
  }
  return -1
}

/**
 * The answer to a query from the zone that holds its name, sized for its transport: over UDP, an
 * answer longer than the client takes (its OPT size, else 512) goes out as real servers send it: TC
 * set and the question only, so that the client asks again over TCP.
 */
export function answer(query: Query, zones: readonly Zone[], transport: 'udp' | 'tcp'): Buffer {
  const { flags, answers, authority } = lookUp(query, zones)
  const full = message(query, flags, answers, authority)
  const limit = transport === 'tcp' ? 0xffff : (query.udpSize ?? UDP_PLAIN)
  return full.length <= limit ? full : message(query, flags | FLAG.TC, [], [])
}

interface Outcome {
  /** AA and the rcode. */
  flags: number
  answers: Buffer[]
  authority: Buffer[]
}

function lookUp(query: Query, zones: readonly Zone[]): Outcome {
  const none: Buffer[] = []
  if (query.flags & FLAG.OPCODE) return { flags: RCODE.NOTIMP, answers: none, authority: none }
  // Label by label: a label holding a dot is not two of the origin's.
  const holds = (origin: string[]) =>
    origin.every((label, i) => label === query.labels[query.labels.length - origin.length + i])
  const zone = zones.find((z) => holds(z.origin.split('.')))
  if (query.class !== CLASS_IN || !zone) return { flags: RCODE.REFUSED, answers: none, authority: none }
  const origin = zone.origin.split('.')
  const soa = [soaRecord(zone)]
  const wanted = (type: number) => query.type === type || query.type === TYPE.ANY
  const noData = { flags: FLAG.AA | RCODE.NOERROR, answers: none, authority: soa }
  const apex = query.labels.length === origin.length
  // A label holding a dot names nothing here (joined, it would pass for two).
  const name = apex ? zone.origin : query.labels.some((l) => l.includes('.')) ? '' : query.labels.join('.')
  const records = zone.names.get(name) ?? (apex ? [] : undefined)
  if (!records) return { flags: FLAG.AA | RCODE.NXDOMAIN, answers: none, authority: soa }
  // Each answer's owner is the question's name: a pointer to it, right after the header.
  const owner = Buffer.from([0xc0, HEADER])
  const answers = [
    ...(apex && wanted(TYPE.SOA) ? soa : []),
    ...records.filter((r) => wanted(r.type)).map((r) => record(owner, r.type, zone.ttl, r.data)),
  ]
  return answers.length ? { flags: FLAG.AA | RCODE.NOERROR, answers, authority: none } : noData
}

/** A response: `flags` (AA, TC, the rcode) join what is echoed (opcode, RD); EDNS is answered in kind. */
function message(query: Query, flags: number, answers: Buffer[], authority: Buffer[]): Buffer {
  const header = Buffer.alloc(HEADER)
  header.writeUInt16BE(query.id, 0)
  header.writeUInt16BE(FLAG.QR | (query.flags & (FLAG.OPCODE | FLAG.RD)) | flags, 2)
  header.writeUInt16BE(1, 4)
  header.writeUInt16BE(answers.length, 6)
  header.writeUInt16BE(authority.length, 8)
  const opt = query.udpSize === undefined ? [] : [optRecord()]
  header.writeUInt16BE(opt.length, 10)
  return Buffer.concat([header, query.question, ...answers, ...authority, ...opt])
}

function record(owner: Buffer, type: number, ttl: number, data: Buffer, klass = CLASS_IN): Buffer {
  const fixed = Buffer.alloc(10)
  fixed.writeUInt16BE(type, 0)
  fixed.writeUInt16BE(klass, 2)
  fixed.writeUInt32BE(ttl, 4)
  fixed.writeUInt16BE(data.length, 8)
  return Buffer.concat([owner, fixed, data])
}

function encodeName(name: string): Buffer {
  const labels = name
    .split('.')
    .map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')]))
  return Buffer.concat([...labels, Buffer.from([0])])
}

/** The apex's SOA; its last field, the TTL of a negative answer, is the zone's TTL. */
function soaRecord(zone: Zone): Buffer {
  const times = Buffer.alloc(20)
  // serial, refresh, retry, expire, minimum
  for (const [i, v] of [1, 3600, 600, 86_400, zone.ttl].entries()) times.writeUInt32BE(v, 4 * i)
  const data = Buffer.concat([encodeName(zone.origin), encodeName(`hostmaster.${zone.origin}`), times])
  return record(encodeName(zone.origin), TYPE.SOA, zone.ttl, data)
}

/** The root name, OPT, our UDP size as the class, extended rcode, version and flags all zero. */
function optRecord(): Buffer {
  return record(Buffer.from([0]), TYPE.OPT, 0, Buffer.alloc(0), UDP_ADVERTISED)
}
