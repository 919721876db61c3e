// The lab as the app-mode suites use it: one per test file, a configuration for its NAT64 in a
// directory of the file's own, and every test starting from the lab's normal state (NAT64 up, no
// direct IPv4 path).
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, beforeEach } from 'node:test'
import { LAB, Lab } from '../src/lib/lab.js'
import { assertRoot, freshLabName } from './helpers.js'

/** What the lab server answers to a client that came through the NAT64 pool / the direct IPv4 path. */
export const VIA_NAT64 = /hello 192\.0\.2\.(1[3-9]\d|2[0-5]\d) port (\d+)/
export const VIA_IPV4 = /hello 203\.0\.113\.2 port (\d+)/

export interface Run {
  status: number | null
  stdout: string
  stderr: string
}

export class AppLab {
  lab!: Lab
  dir!: string
  /** A tnat64.conf naming the lab's NAT64 prefix. */
  conf!: string

  /** Registers the suite's set-up; `prepare` runs once the lab is up. */
  constructor(tag: string, prepare?: (lab: Lab) => Promise<void>) {
    before(async () => {
      assertRoot()
      this.lab = new Lab(await freshLabName(tag))
      await this.lab.up()
      await prepare?.(this.lab)
      this.dir = mkdtempSync(join(tmpdir(), `tnat64-${tag}-`))
      chmodSync(this.dir, 0o755)
      this.conf = join(this.dir, 'tnat64.conf')
      writeFileSync(this.conf, `# the lab's NAT64\nnat64_prefix = ${LAB.nat64Prefix}\n`)
    })
    after(() => {
      this.lab?.down()
      if (this.dir) rmSync(this.dir, { recursive: true, force: true })
    })
    beforeEach(() => {
      this.lab.setNat64Route(true)
      this.lab.setRouterNat64(true)
      this.lab.setDirectIPv4(false)
    })
  }

  /** A command in the client namespace with `env` added, its status and output whatever they are. */
  inClient(command: string[], env: Record<string, string> = {}, timeoutMs = 60_000): Run {
    const vars = Object.entries(env).map(([k, v]) => `${k}=${v}`)
    return this.lab.exec('client', ['env', ...vars, ...command], { check: false, timeoutMs })
  }
}

/** The `key=value` lines a test program prints. */
export function keyValues(stdout: string): Record<string, string> {
  return Object.fromEntries(
    stdout
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  )
}
