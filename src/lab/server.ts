// The lab's IPv4-only server: an HTTP server and a TCP and UDP echo service. Each HTTP answer names the
// client's address as the server saw it, so a test can tell which way the traffic came (through the
// NAT64 pool, or over the direct IPv4 path).

import { createSocket } from 'node:dgram'
import { createServer as createHttpServer } from 'node:http'
import { createServer as createTcpServer } from 'node:net'
import { parseArgs } from 'node:util'

const { values } = parseArgs({
  options: {
    address: { type: 'string', default: '0.0.0.0' },
    http: { type: 'string', default: '8000' },
    echo: { type: 'string', default: '7' },
  },
})
const address = values.address ?? '0.0.0.0'

const http = createHttpServer((request, response) => {
  const body = `tnat64 lab server ${address}: hello ${request.socket.remoteAddress} port ${request.socket.remotePort}\n`
  response.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) })
  response.end(request.method === 'HEAD' ? undefined : body)
})

const echo = createTcpServer((socket) => {
  socket.on('error', () => socket.destroy())
  socket.pipe(socket)
})

const udp = createSocket('udp4')
udp.on('message', (message, peer) => udp.send(message, peer.port, peer.address))

let listening = 0
const ready = () => {
  if (++listening === 3) {
    process.stdout.write(`listening on ${address}: http ${values.http}, echo ${values.echo} (tcp, udp)\n`)
  }
}
http.listen(Number(values.http), address, ready)
echo.listen(Number(values.echo), address, ready)
udp.bind(Number(values.echo), address, ready)

const stop = () => {
  http.close()
  echo.close()
  udp.close()
  process.exit(0)
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
