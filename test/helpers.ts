// Shared by the test files: the vector and fixture readers, the CLI runner, root checks.
import assert from 'node:assert/strict'
import { type SpawnSyncReturns, spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { TNAT64_CLI } from '../src/lib/paths.js'

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
export const FIXTURES = join(ROOT, 'test', 'fixtures')

/** Records of a shared vector or fixture file: blank-separated fields, '#' comments. */
export function records(file: string): string[][] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim())
    .filter((line) => line !== '')
    .map((line) => line.split(/\s+/))
}

/** The text of `#define NAME VALUE` in a C header's text, a trailing comment dropped. */
export function cDefine(header: string, name: string): string {
  const value = new RegExp(`^#define ${name} (\\S.*?)(\\s*/\\*.*)?$`, 'm').exec(header)?.[1]
  assert.ok(value, `${name} is defined`)
  return value
}

/** The same, evaluated: a number, or an expression of numbers and shifts. */
export function cDefineNumber(header: string, name: string): number {
  return Number(Function(`return (${cDefine(header, name)})`)())
}

export interface EmbedVector {
  prefix: string
  ipv4: string
  ipv6: string
}

export function rfc6052Vectors(): { embed: EmbedVector[]; reject: { prefix: string; code: string }[] } {
  const rows = records(join(ROOT, 'test', 'vectors', 'rfc6052.txt'))
  return {
    embed: rows.filter((r) => r[0] === 'embed').map(([, prefix, ipv4, ipv6]) => ({ prefix, ipv4, ipv6 })),
    reject: rows.filter((r) => r[0] === 'reject').map(([, prefix, code]) => ({ prefix, code })),
  }
}

export interface ConfigFixture {
  name: string
  file: string
  /** The errors both parsers must report, in line order: `error LINE MESSAGE` rows. */
  errors: { line: number; message: string }[]
  /** `DESTINATION METHOD [PREFIX]` rows: the rule a destination gets. */
  expect: { destination: string; method: string; prefix?: string }[]
  /** `extract IPV6 IPV4|none` rows: the IPv4 address a NAT64 address reads back as. */
  extract: { ipv6: string; ipv4?: string }[]
}

/** test/fixtures/config/NAME.conf with NAME.expect, read by the TypeScript and the C tests (test/c/vectors.c). */
export function configFixtures(): ConfigFixture[] {
  const dir = join(FIXTURES, 'config')
  return readdirSync(dir)
    .filter((f) => f.endsWith('.conf'))
    .sort()
    .map((f) => {
      const name = f.replace(/\.conf$/, '')
      const expectFile = join(dir, `${name}.expect`)
      const rows = records(expectFile)
      // A message runs to the end of its line: read raw, not split into fields.
      const errors = readFileSync(expectFile, 'utf8')
        .split('\n')
        .flatMap((line) => {
          const match = /^error (\d+) (.+)$/.exec(line)
          return match ? [{ line: Number(match[1]), message: match[2] }] : []
        })
      return {
        name,
        file: join(dir, f),
        errors,
        expect: rows
          .filter((r) => r[0] !== 'error' && r[0] !== 'extract')
          .map(([destination, method, prefix]) => ({ destination, method, prefix })),
        extract: rows
          .filter((r) => r[0] === 'extract')
          .map(([, ipv6, ipv4]) => ({ ipv6, ipv4: ipv4 === 'none' ? undefined : ipv4 })),
      }
    })
}

export interface CliResult {
  status: number | null
  stdout: string
  stderr: string
}

/**
 * A cache home whose discovery answer is "none" for a day: `tnat64 app` with no prefix would
 * otherwise ask the host's resolver for ipv4only.arpa, and tests contact nothing outside.
 */
export const NO_DISCOVERY_CACHE = (() => {
  const dir = mkdtempSync(join(tmpdir(), 'tnat64-test-cache-'))
  const now = Math.floor(Date.now() / 1000)
  mkdirSync(join(dir, 'tnat64'))
  writeFileSync(join(dir, 'tnat64', 'discovery'), `written ${now}\nin-force none - ${now + 86_400}\n`, {
    mode: 0o600,
  })
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }))
  return dir
})()
// Every command a test runs inherits it, unless the test gives another.
process.env.XDG_CACHE_HOME = NO_DISCOVERY_CACHE

export function tnat64(args: string[], env: NodeJS.ProcessEnv = {}, cwd?: string): CliResult {
  const result = spawnSync(TNAT64_CLI, args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, TNAT64_CONF_FILE: '', XDG_CACHE_HOME: NO_DISCOVERY_CACHE, ...env },
    timeout: 60_000,
  })
  return { status: result.status, stdout: result.stdout, stderr: result.stderr }
}

/** Tests that need root fail, never skip, when they cannot run: CI runs as root. */
export function assertRoot(): void {
  assert.equal(process.getuid?.(), 0, 'this test needs root (network namespaces, tayga); CI runs it as root')
}

/**
 * A lab name unique to this test process. Labs left by test processes that died (a crash, a
 * killed CI run) are taken down first, so a failure never leaks into the next run.
 */
export async function freshLabName(tag: string): Promise<string> {
  const { Lab } = await import('../src/lib/lab.js')
  for (const name of Lab.list()) {
    const owner = /^t64-[a-z]+-(\d+)$/.exec(name)
    if (owner && !isAlive(Number(owner[1]))) new Lab(name).down()
  }
  return `t64-${tag}-${process.pid}`
}

/** The Python interpreter itself, not a wrapper script (pyenv's shims run several programs per call). */
export const PYTHON = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], {
  encoding: 'utf8',
}).stdout.trim()

/** Whether a process of that id still runs (a test run that left namespaces behind, say). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** A run that must succeed: its output in the message when it did not. */
export function ok<R extends { status: number | null; stdout: string; stderr: string }>(r: R): R {
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`)
  return r
}

/** The CLI in a lab client's network namespace (its routes decide reachability), bpffs still
 * visible (nsenter, not ip netns exec). */
export function clientCli(lab: { nsPath(role: 'client'): string }, args: string[]): SpawnSyncReturns<string> {
  return spawnSync('nsenter', [`--net=${lab.nsPath('client')}`, TNAT64_CLI, ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  })
}
