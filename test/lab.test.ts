// The lab carries real traffic: a native IPv6 client in the IPv6-only namespace reaches the IPv4-only
// server through tayga, the direct IPv4 path works only when switched on, and nothing outlives it.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { LAB, Lab } from '../src/lib/lab.js'
import { assertRoot, freshLabName, tnat64 } from './helpers.js'

const nat64Url = `http://[${LAB.serverNat64}]:${LAB.httpPort}/`
const ipv4Url = `http://${LAB.serverIPv4}:${LAB.httpPort}/`

function curl(lab: Lab, url: string) {
  return lab.exec('client', ['curl', '-sS', '-g', '--max-time', '3', url], { check: false })
}

/** Every process whose command line mentions the lab's state directory (tayga's config, the server). */
function processesOf(lab: Lab): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(lab.name)
      } catch {
        return false
      }
    })
    .map(Number)
}

describe('lab', () => {
  let lab: Lab

  before(async () => {
    assertRoot()
    lab = new Lab(await freshLabName('lab'))
    await lab.up()
  })

  after(() => lab?.down())

  it('carries a native IPv6 client to the IPv4 server through the NAT64', () => {
    const r = curl(lab, nat64Url)
    assert.equal(r.status, 0, r.stderr)
    // The server sees an address of tayga's pool: the request was translated.
    assert.match(
      r.stdout,
      /^tnat64 lab server 198\.51\.100\.10: hello 192\.0\.2\.(1[3-9]\d|2[0-5]\d) port \d+\n$/,
    )
  })

  it('gives the client no IPv4 path unless asked', () => {
    const r = curl(lab, ipv4Url)
    assert.notEqual(r.status, 0)
    assert.match(r.stderr, /Couldn't connect|Network is unreachable/)
  })

  it('carries the echo service through the NAT64', () => {
    const script = `const s=require('net').connect(${LAB.echoPort},'${LAB.serverNat64}',()=>s.end('ping'));let d='';s.on('data',b=>d+=b).on('end',()=>{process.stdout.write(d)})`
    const r = lab.exec('client', [process.execPath, '-e', script], { check: false })
    assert.equal(r.stdout, 'ping', r.stderr)
  })

  it('switches the direct IPv4 path and the NAT64 route on and off', () => {
    lab.setDirectIPv4(true)
    try {
      const direct = curl(lab, ipv4Url)
      assert.equal(direct.status, 0, direct.stderr)
      assert.match(direct.stdout, /hello 203\.0\.113\.2 /)
      lab.setNat64Route(false)
      const r = curl(lab, nat64Url)
      assert.notEqual(r.status, 0)
      assert.match(r.stderr, /Couldn't connect|unreachable/i)
      assert.deepEqual(
        { directIPv4: lab.status().directIPv4, nat64Route: lab.status().nat64Route },
        { directIPv4: true, nat64Route: false },
      )
    } finally {
      lab.setDirectIPv4(false)
      lab.setNat64Route(true)
    }
    assert.equal(curl(lab, nat64Url).status, 0)
  })

  it('is idempotent, and rebuilds itself when a part has died', async () => {
    const again = await lab.up()
    assert.equal(again.tayga && again.server, true)
    const tayga = Number(readFileSync(`${lab.stateDir}/tayga.pid`, 'utf8'))
    process.kill(tayga, 'SIGKILL')
    for (let i = 0; i < 50 && lab.status().tayga; i++) await new Promise((r) => setTimeout(r, 20))
    assert.equal(lab.status().tayga, false)
    await lab.up()
    assert.equal(curl(lab, nat64Url).status, 0)
  })

  it('reports itself through the CLI', () => {
    const r = tnat64(['lab', 'status', '--name', lab.name, '--json'])
    assert.equal(r.status, 0, r.stderr)
    assert.equal(JSON.parse(r.stdout).up, true)
  })

  it('leaves nothing behind when taken down, and recovers from a half-built lab', async () => {
    lab.down()
    assert.deepEqual(processesOf(lab), [])
    for (const role of ['client', 'router', 'server'] as const)
      assert.equal(existsSync(lab.nsPath(role)), false)
    assert.equal(existsSync(lab.stateDir), false)
    const down = tnat64(['lab', 'status', '--name', lab.name])
    assert.equal(down.status, 1)

    // What a crash mid-way leaves: one namespace, no state.
    spawnSync('ip', ['netns', 'add', lab.ns('client')])
    await lab.up()
    assert.equal(curl(lab, nat64Url).status, 0)
  })
})
