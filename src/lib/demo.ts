// `tnat64 demo`: the lab, and what a program in its IPv6-only client can and cannot reach.
import { join } from 'node:path'
import { STANDIN_IPV4 } from './defaults.js'
import { LAB, LAB_DNS64_RESOLV_CONF, LAB_RESOLV_CONF, type Lab } from './lab.js'
import { DEMO_JAVA_CLIENT, TNAT64_CLI } from './paths.js'

export interface DemoStep {
  readonly title: string
  readonly command: string[]
  readonly ok: boolean
  readonly output: string
  /** Whether this step is meant to succeed; a demo whose steps end otherwise has failed. */
  readonly expectOk: boolean
}

export async function runDemo(lab: Lab, onStep: (step: DemoStep) => void): Promise<DemoStep[]> {
  await lab.up({ directIPv4: false })
  const ipv4Url = `http://${LAB.serverIPv4}:${LAB.httpPort}/`
  const nat64Url = `http://[${LAB.serverNat64}]:${LAB.httpPort}/`
  const tnat64 = TNAT64_CLI
  // No prefix anywhere: the lab's router advertises it (PREF64) and its resolver is a DNS64. The
  // launcher's cached DNS64 answer is the demo's own, never the user's.
  const cache = `XDG_CACHE_HOME=${join(lab.stateDir, 'cache')}`
  const app = ['env', cache, tnat64, 'app', '--']
  const java = ['java', DEMO_JAVA_CLIENT, ipv4Url]
  const resolve = ['getent', 'ahosts', LAB.dns.server]
  // Each step: its title, its command, whether it should succeed, and the client's resolv.conf.
  const plan: [string, string[], boolean, string?][] = [
    [
      'Discovery. The router advertises the NAT64 prefix (PREF64, RFC 8781) and the resolver is a DNS64 (RFC 7050): nobody configures it',
      [tnat64, 'discover'],
      true,
      LAB_DNS64_RESOLV_CONF,
    ],
    [
      'tnat64 app takes the prefix found, when none is given',
      ['env', cache, tnat64, 'app', '--debug', '--env'],
      true,
      LAB_DNS64_RESOLV_CONF,
    ],
    [
      'App mode. An IPv4-only program in the IPv6-only client cannot reach the IPv4 server',
      ['curl', '-sS', '--max-time', '3', ipv4Url],
      false,
    ],
    [
      'The same program, unchanged, under tnat64 app: it goes through the NAT64 (the server sees a tayga pool address)',
      [...app, 'curl', '-sS', '--max-time', '3', ipv4Url],
      true,
    ],
    [
      `It still sees IPv4 names: AF_INET peer, and ${STANDIN_IPV4} standing in for its IPv6 source address`,
      [
        ...app,
        'python3',
        '-c',
        `import socket; s = socket.create_connection(("${LAB.serverIPv4}", ${LAB.echoPort})); print(s.family.name, "peer", s.getpeername(), "local", s.getsockname())`,
      ],
      true,
    ],
    [
      `DNS. With only an IPv4 resolver in resolv.conf (${LAB_RESOLV_CONF.trim()}), the client cannot resolve a name`,
      resolve,
      false,
      LAB_RESOLV_CONF,
    ],
    [
      "Under tnat64 app the resolver's queries reach it through the NAT64",
      [...app, ...resolve],
      true,
      LAB_RESOLV_CONF,
    ],
    [
      'So does dig, asking that server by its IPv4 address',
      [...app, 'dig', `@${LAB.serverIPv4}`, LAB.dns.server, '+short'],
      true,
    ],
    [
      'Kernel mode. Java (dual-stack sockets, IPv4 address connected as ::ffff:198.51.100.10) fails alone',
      java,
      false,
    ],
    [
      'The same Java program in a cgroup served by the BPF programs (tnat64 run), with no LD_PRELOAD',
      [tnat64, 'run', '--', ...java],
      true,
    ],
    [
      'For reference: a native IPv6 client reaches the server at its RFC 6052 address',
      ['curl', '-sS', '-g', '--max-time', '3', nat64Url],
      true,
    ],
  ]
  const steps: DemoStep[] = []
  // The client's own resolver is the lab's DNS64; a step may name another.
  for (const [title, command, expectOk, resolvConf = LAB_DNS64_RESOLV_CONF] of plan) {
    const result = lab.exec('client', command, { check: false, timeoutMs: 30_000, resolvConf })
    const step = {
      title,
      command: lab.inNs('client', command, { resolvConf }),
      ok: result.status === 0,
      output: (result.stdout + result.stderr).trim(),
      expectOk,
    }
    steps.push(step)
    onStep(step)
  }
  return steps
}
