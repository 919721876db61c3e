// The lab server's DNS at the wire level: queries are built and answers read here, by hand, so that
// the encoder is checked against an independent reading (the lab test asks it with dig and dnspython).
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { answer, labZones, parseQuery, RCODE, TYPE } from '../src/lab/dns.js'
import { bigAddresses, LAB, LAB_REVERSE_ZONE, reverseName } from '../src/lib/lab.js'
import { IPV4ONLY_ARPA } from '../src/lib/rfc7050.js'

const zones = labZones()
/** The reverse name of the server's address, which names the server. */
const SERVER_PTR = reverseName(LAB.serverIPv4)
const AAAA = 28
const RD = 0x0100

function encodeName(name: string): Buffer {
  const labels = name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]))
  return Buffer.concat([...labels, Buffer.from([0])])
}

/** A query as a stub resolver sends it; `udpSize` adds an OPT record. */
function query(
  name: string,
  type = TYPE.A as number,
  options: { id?: number; flags?: number; udpSize?: number; klass?: number; labels?: Buffer } = {},
): Buffer {
  const header = Buffer.alloc(12)
  header.writeUInt16BE(options.id ?? 0x1234, 0)
  header.writeUInt16BE(options.flags ?? RD, 2)
  header.writeUInt16BE(1, 4)
  header.writeUInt16BE(options.udpSize === undefined ? 0 : 1, 10)
  const tail = Buffer.alloc(4)
  tail.writeUInt16BE(type, 0)
  tail.writeUInt16BE(options.klass ?? 1, 2)
  const parts = [header, options.labels ?? encodeName(name), tail]
  if (options.udpSize !== undefined) {
    const opt = Buffer.alloc(11)
    opt.writeUInt16BE(TYPE.OPT, 1)
    opt.writeUInt16BE(options.udpSize, 3)
    parts.push(opt)
  }
  return Buffer.concat(parts)
}

interface Record {
  name: string
  type: number
  klass: number
  ttl: number
  data: Buffer
}

/** A name at `offset`, following pointers; and the offset after it where it is written. */
function readName(m: Buffer, offset: number): [string, number] {
  const labels: string[] = []
  let end = -1
  for (let at = offset; ; ) {
    const length = m[at]
    if (length === 0) return [labels.join('.'), end < 0 ? at + 1 : end]
    if (length >= 0xc0) {
      if (end < 0) end = at + 2
      at = m.readUInt16BE(at) & 0x3fff
    } else {
      labels.push(m.toString('latin1', at + 1, at + 1 + length))
      at += 1 + length
    }
  }
}

function read(m: Buffer) {
  const counts = [4, 6, 8, 10].map((o) => m.readUInt16BE(o))
  let offset = 12
  const [qname, afterName] = readName(m, offset)
  offset = afterName + 4
  const sections: Record[][] = []
  for (const count of counts.slice(1)) {
    const records: Record[] = []
    for (let i = 0; i < count; i++) {
      const [name, at] = readName(m, offset)
      const length = m.readUInt16BE(at + 8)
      const data = m.subarray(at + 10, at + 10 + length)
      records.push({
        name,
        type: m.readUInt16BE(at),
        klass: m.readUInt16BE(at + 2),
        ttl: m.readUInt32BE(at + 4),
        data,
      })
      offset = at + 10 + length
    }
    sections.push(records)
  }
  assert.equal(offset, m.length, 'nothing after the last record')
  const flags = m.readUInt16BE(2)
  return {
    id: m.readUInt16BE(0),
    flags,
    rcode: flags & 0xf,
    tc: Boolean(flags & 0x0200),
    question: m.subarray(12, afterName + 4),
    qname,
    qd: counts[0],
    answers: sections[0],
    authority: sections[1],
    additional: sections[2],
    addresses: sections[0].filter((r) => r.type === TYPE.A).map((r) => [...r.data].join('.')),
  }
}

function ask(message: Buffer, transport: 'udp' | 'tcp' = 'udp') {
  const q = parseQuery(message)
  assert.ok(q, 'a query')
  return read(answer(q, zones, transport))
}

describe('lab DNS', () => {
  it(`answers ${LAB.dns.server} A with the server's address, echoing ID, question and RD`, () => {
    const message = query('Server.TNAT64.test', TYPE.A, { id: 0xbeef })
    const r = ask(message)
    assert.equal(r.id, 0xbeef)
    // QR, AA, RD; no TC, no RA, NOERROR
    assert.equal(r.flags, 0x8000 | 0x0400 | RD)
    assert.deepEqual(r.question, message.subarray(12), 'the question as sent, case kept')
    assert.equal(r.qd, 1)
    assert.deepEqual(r.addresses, [LAB.serverIPv4])
    assert.deepEqual(
      r.answers.map(({ name, klass, ttl }) => ({ name, klass, ttl })),
      [{ name: 'Server.TNAT64.test', klass: 1, ttl: LAB.dns.ttl }],
    )
    assert.deepEqual(r.additional, [], 'no OPT to a query without one')
    assert.equal(ask(query(LAB.dns.server, TYPE.A, { flags: 0 })).flags & RD, 0)
  })

  it('answers ANY with the A records, and the apex SOA', () => {
    assert.deepEqual(ask(query(LAB.dns.server, TYPE.ANY)).addresses, [LAB.serverIPv4])
    const soa = ask(query(LAB.dns.zone, TYPE.SOA))
    assert.deepEqual(
      soa.answers.map((r) => [r.name, r.type]),
      [[LAB.dns.zone, TYPE.SOA]],
    )
  })

  it(`answers the PTR of ${LAB.serverIPv4} with ${LAB.dns.server}`, () => {
    assert.equal(reverseName('192.0.2.1'), '1.2.0.192.in-addr.arpa')
    assert.equal(reverseName('192.0.2.1', 3), '2.0.192.in-addr.arpa')
    const message = query(SERVER_PTR.toUpperCase(), TYPE.PTR, { id: 0xcafe })
    const r = ask(message)
    assert.equal(r.id, 0xcafe)
    assert.equal(r.flags, 0x8000 | 0x0400 | RD)
    assert.deepEqual(r.question, message.subarray(12), 'the question as sent, case kept')
    // [owner, type, class, TTL, the name it points to]
    assert.deepEqual(
      r.answers.map((a) => [a.name, a.type, a.klass, a.ttl, readName(a.data, 0)[0]]),
      [[SERVER_PTR.toUpperCase(), TYPE.PTR, 1, LAB.dns.ttl, LAB.dns.server]],
    )
    assert.deepEqual(r.authority, [])
    assert.deepEqual(
      ask(query(SERVER_PTR, TYPE.ANY)).answers.map((a) => a.type),
      [TYPE.PTR],
    )
    const soa = ask(query(LAB_REVERSE_ZONE, TYPE.SOA))
    assert.deepEqual(
      soa.answers.map((a) => [a.name, a.type]),
      [[LAB_REVERSE_ZONE, TYPE.SOA]],
    )
  })

  it(`answers ${IPV4ONLY_ARPA} A with RFC 8880's two addresses, at its apex beside the SOA`, () => {
    const r = ask(query('IPv4only.ARPA', TYPE.A))
    assert.equal(r.flags, 0x8000 | 0x0400 | RD)
    assert.deepEqual(r.addresses, ['192.0.0.170', '192.0.0.171'])
    assert.deepEqual(
      r.answers.map(({ name, klass, ttl }) => [name, klass, ttl]),
      r.addresses.map(() => ['IPv4only.ARPA', 1, LAB.dns.ttl]),
    )
    assert.deepEqual(
      ask(query(IPV4ONLY_ARPA, TYPE.ANY)).answers.map((a) => a.type),
      [TYPE.SOA, TYPE.A, TYPE.A],
    )
    assert.equal(ask(query(`x.${IPV4ONLY_ARPA}`)).rcode, RCODE.NXDOMAIN)
    assert.equal(ask(query('arpa')).rcode, RCODE.REFUSED)
  })

  it('answers another type of an existing name with no data and its zone’s SOA', () => {
    for (const [name, type, zone] of [
      [LAB.dns.server, AAAA, LAB.dns.zone],
      [LAB.dns.server, TYPE.PTR, LAB.dns.zone],
      [LAB.dns.big, AAAA, LAB.dns.zone],
      [LAB.dns.zone, AAAA, LAB.dns.zone],
      [SERVER_PTR, TYPE.A, LAB_REVERSE_ZONE],
      [LAB_REVERSE_ZONE, TYPE.PTR, LAB_REVERSE_ZONE],
      // No AAAA: what a DNS64 synthesizes from.
      [IPV4ONLY_ARPA, AAAA, IPV4ONLY_ARPA],
    ] as const) {
      const r = ask(query(name, type))
      assert.equal(r.rcode, RCODE.NOERROR, name)
      assert.equal(r.flags & 0x0400, 0x0400, 'authoritative')
      assert.deepEqual(r.answers, [], name)
      assert.deepEqual(
        r.authority.map((a) => [a.name, a.type]),
        [[zone, TYPE.SOA]],
      )
    }
  })

  it('answers NXDOMAIN for an unknown name of a zone, REFUSED outside them or another class', () => {
    for (const [name, zone] of [
      [`nope.${LAB.dns.zone}`, LAB.dns.zone],
      [reverseName(LAB.routerServerSide), LAB_REVERSE_ZONE],
      [`1.${SERVER_PTR}`, LAB_REVERSE_ZONE],
    ]) {
      const nx = ask(query(name, TYPE.PTR))
      assert.equal(nx.rcode, RCODE.NXDOMAIN, name)
      assert.equal(nx.flags & 0x0400, 0x0400, 'authoritative')
      assert.deepEqual(
        nx.authority.map((a) => [a.name, a.type]),
        [[zone, TYPE.SOA]],
      )
    }
    // A label holding a dot is one label, not two: no name of the zone.
    const dotted = Buffer.concat([Buffer.from([13]), Buffer.from('server.tnat64'), encodeName('test')])
    assert.equal(ask(query('', TYPE.A, { labels: dotted })).rcode, RCODE.REFUSED)
    const inside = Buffer.concat([Buffer.from([11]), Buffer.from('tnat64.test'), encodeName(LAB.dns.zone)])
    assert.equal(ask(query('', TYPE.A, { labels: inside })).rcode, RCODE.NXDOMAIN)
    const outside = ['example.com', `x${LAB.dns.zone}`, `${LAB.dns.server}.com`, 'test']
    // Another network's reverse name, and the /16 above the lab's reverse zone, are not the lab's.
    outside.push(reverseName(LAB.taygaIPv4), LAB_REVERSE_ZONE.slice(LAB_REVERSE_ZONE.indexOf('.') + 1))
    for (const name of outside) {
      const r = ask(query(name))
      assert.equal(r.rcode, RCODE.REFUSED, name)
      assert.equal(r.flags & 0x0400, 0, 'not authoritative')
      assert.deepEqual([r.answers, r.authority], [[], []])
    }
    assert.equal(ask(query(LAB.dns.server, TYPE.A, { klass: 3 })).rcode, RCODE.REFUSED)
  })

  it('answers another opcode NOTIMP', () => {
    const r = ask(query(LAB.dns.server, TYPE.A, { flags: (2 << 11) | RD }))
    assert.equal(r.rcode, RCODE.NOTIMP)
    assert.equal(r.flags & 0x7800, 2 << 11, 'the opcode echoed')
  })

  it(`gives ${LAB.dns.big} whole over TCP, and truncated over UDP beyond the client's size`, () => {
    const tcp = ask(query(LAB.dns.big, TYPE.A, { udpSize: 1232 }), 'tcp')
    assert.equal(tcp.tc, false)
    assert.deepEqual(tcp.addresses, bigAddresses())
    assert.equal(new Set(tcp.addresses).size, LAB.dns.bigCount)
    const full = answer(
      parseQuery(query(LAB.dns.big, TYPE.A, { udpSize: 1232 })) ?? assert.fail(),
      zones,
      'tcp',
    )
    assert.ok(full.length > 1232, `${full.length} bytes: more than EDNS0's usual 1232`)

    for (const udpSize of [undefined, 1232, full.length - 1]) {
      const message = query(LAB.dns.big, TYPE.A, { udpSize })
      const r = ask(message)
      assert.equal(r.tc, true, `udp size ${udpSize}`)
      assert.equal(r.rcode, RCODE.NOERROR)
      assert.deepEqual([r.answers, r.authority], [[], []])
      assert.deepEqual(r.question, message.subarray(12, 12 + r.question.length))
      assert.equal(r.additional.length, udpSize === undefined ? 0 : 1)
    }
    // Exactly the client's size fits; so does anything over a small one below 512 read as 512.
    const exact = ask(query(LAB.dns.big, TYPE.A, { udpSize: full.length }))
    assert.deepEqual([exact.tc, exact.addresses.length], [false, LAB.dns.bigCount])
    assert.equal(ask(query(LAB.dns.server, TYPE.A, { udpSize: 100 })).tc, false)
  })

  it('answers EDNS in kind: an OPT record with its own UDP size', () => {
    const r = ask(query(LAB.dns.server, TYPE.A, { udpSize: 4096 }))
    assert.deepEqual(
      r.additional.map(({ name, type, klass, ttl, data }) => ({ name, type, klass, ttl, size: data.length })),
      [{ name: '', type: TYPE.OPT, klass: 1232, ttl: 0, size: 0 }],
    )
  })

  it('takes no message that is not a well-formed query', () => {
    const good = query(LAB.dns.server, TYPE.A, { udpSize: 1232 })
    for (let length = 0; length < good.length; length++) {
      assert.equal(parseQuery(good.subarray(0, length)), undefined, `cut at ${length}`)
    }
    const edit = (offset: number, value: number) => {
      const m = Buffer.from(good)
      m.writeUInt16BE(value, offset)
      return m
    }
    assert.equal(parseQuery(edit(2, 0x8000)), undefined, 'a response')
    assert.equal(parseQuery(edit(4, 0)), undefined, 'no question')
    assert.equal(parseQuery(edit(4, 2)), undefined, 'two questions')
    assert.equal(parseQuery(edit(6, 1)), undefined, 'an answer in a query')
    assert.equal(parseQuery(edit(10, 2)), undefined, 'an additional record missing')
    const pointer = Buffer.concat([good.subarray(0, 12), Buffer.from([0xc0, 12]), good.subarray(-15)])
    assert.equal(parseQuery(pointer), undefined, 'a pointer in the question')
    const twoOpts = Buffer.concat([edit(10, 2), good.subarray(-11)])
    assert.equal(parseQuery(twoOpts), undefined, 'two OPT records')
    const long = query('', TYPE.A, { labels: encodeName(Array(5).fill('a'.repeat(63)).join('.')) })
    assert.equal(parseQuery(long), undefined, 'a name over 255 bytes')
  })

  it('never throws, whatever it is sent', () => {
    const good = query(LAB.dns.big, TYPE.A, { udpSize: 1232 })
    let seed = 1
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31
      return seed
    }
    for (let i = 0; i < 20_000; i++) {
      // Mostly a real query with a few bytes changed, so the parser gets past the header.
      const m =
        i % 4 === 0
          ? Buffer.alloc(random() % 64)
          : Buffer.from(good.subarray(0, random() % (good.length + 1)))
      for (let j = 0; j < m.length; j++) if (i % 4 === 0 || random() % 8 === 0) m[j] = random() & 0xff
      const q = parseQuery(m)
      if (q) for (const transport of ['udp', 'tcp'] as const) read(answer(q, zones, transport))
    }
  })
})
