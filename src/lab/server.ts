// The lab's IPv4-only server: an HTTP server, a TCP and UDP echo service and, with --dns, the
// authoritative DNS of LAB.dns over UDP and TCP. Each HTTP answer names the client's address as the
// server saw it, so a test can tell which way the traffic came (through the NAT64 pool, or over the
// direct IPv4 path); GET /dns-stats counts the DNS queries by transport, so a test can tell that a
// client retried over TCP.

import { createSocket } from 'node:dgram'
import { createServer as createHttpServer } from 'node:http'
import { createServer as createTcpServer } from 'node:net'
import { parseArgs } from 'node:util'
import { answer, labZones, parseQuery } from './dns.js'

const { values } = parseArgs({
  options: {
    address: { type: 'string', default: '0.0.0.0' },
    http: { type: 'string', default: '8000' },
    echo: { type: 'string', default: '7' },
    dns: { type: 'string' },
  },
})
const address = values.address ?? '0.0.0.0'

const zones = labZones()
const dnsStats = { udp: 0, tcp: 0 }

const http = createHttpServer((request, response) => {
  const [type, body] =
    request.url === '/dns-stats'
      ? ['application/json', `${JSON.stringify(dnsStats)}\n`]
      : [
          'text/plain',
          `tnat64 lab server ${address}: hello ${request.socket.remoteAddress} port ${request.socket.remotePort}\n`,
        ]
  response.writeHead(200, { 'content-type': type, 'content-length': Buffer.byteLength(body) })
  response.end(request.method === 'HEAD' ? undefined : body)
})

const echo = createTcpServer((socket) => {
  socket.on('error', () => socket.destroy())
  socket.pipe(socket)
})

const udp = createSocket('udp4')
udp.on('message', (message, peer) => udp.send(message, peer.port, peer.address))

/** The answer to one DNS message, counted; undefined for a message that is not a query. */
function resolve(message: Buffer, transport: 'udp' | 'tcp'): Buffer | undefined {
  const query = parseQuery(message)
  if (!query) return undefined
  dnsStats[transport]++
  return answer(query, zones, transport)
}

const dnsUdp = createSocket('udp4')
dnsUdp.on('message', (message, peer) => {
  const reply = resolve(message, 'udp')
  // A callback, so that a failed send (the client gone) is dropped as a lost datagram, not thrown.
  if (reply) dnsUdp.send(reply, peer.port, peer.address, () => {})
})

// Over TCP each message has a 2-byte length in front (RFC 1035 §4.2.2), and a connection may carry
// several queries, even in one segment; one that is not a query ends the connection.
const dnsTcp = createTcpServer((socket) => {
  let pending = Buffer.alloc(0)
  socket.on('error', () => socket.destroy())
  socket.on('data', (chunk) => {
    pending = Buffer.concat([pending, chunk])
    while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
      const end = 2 + pending.readUInt16BE(0)
      const reply = resolve(pending.subarray(2, end), 'tcp')
      pending = pending.subarray(end)
      if (!reply) {
        socket.destroy()
        return
      }
      const length = Buffer.alloc(2)
      length.writeUInt16BE(reply.length)
      socket.write(Buffer.concat([length, reply]))
    }
  })
})

const services = values.dns === undefined ? 3 : 5
let listening = 0
const ready = () => {
  if (++listening === services) {
    const dns = values.dns === undefined ? '' : `, dns ${values.dns} (udp, tcp)`
    process.stdout.write(
      `listening on ${address}: http ${values.http}, echo ${values.echo} (tcp, udp)${dns}\n`,
    )
  }
}
http.listen(Number(values.http), address, ready)
echo.listen(Number(values.echo), address, ready)
udp.bind(Number(values.echo), address, ready)
if (values.dns !== undefined) {
  dnsUdp.bind(Number(values.dns), address, ready)
  dnsTcp.listen(Number(values.dns), address, ready)
}

const stop = () => {
  http.close()
  echo.close()
  udp.close()
  process.exit(0)
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
