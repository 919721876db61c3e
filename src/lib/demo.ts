// `tnat64 demo`: the lab, and what a program in its IPv6-only client can and cannot reach.
import { LAB, type Lab } from './lab.js'

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
  const plan: [string, string[], boolean][] = [
    [
      'An IPv4-only program in the IPv6-only client cannot reach the IPv4 server',
      ['curl', '-4', '-sS', '--max-time', '3', ipv4Url],
      false,
    ],
    [
      'A native IPv6 client reaches the same server through the NAT64 (tayga), at the RFC 6052 address',
      ['curl', '-sS', '-g', '--max-time', '3', nat64Url],
      true,
    ],
  ]
  const steps: DemoStep[] = []
  for (const [title, command, expectOk] of plan) {
    const result = lab.exec('client', command, { check: false, timeoutMs: 10_000 })
    const step = {
      title,
      command: lab.inNs('client', command),
      ok: result.status === 0,
      output: (result.stdout + result.stderr).trim(),
      expectOk,
    }
    steps.push(step)
    onStep(step)
  }
  return steps
}
