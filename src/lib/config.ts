// tnat64.conf: the original tnat64 grammar (tsocks-style), extended with prefix lengths and CIDR.
//
//   # comment
//   nat64_prefix = 64:ff9b::/96          default prefix (a bare address means /96)
//   local = 192.168.0.0/255.255.255.0    reached directly over IPv4 (also /24 form)
//   path {
//     subnet = 10.0.0.0/8                one or more networks ...
//     nat64_prefix = 2001:db8:100::/40   ... reached through this prefix
//   }
//
// Resolution for a destination: 127.0.0.0/8 and `local` networks go direct; else the most specific
// `path` subnet's prefix; else the default prefix; else no prefix applies (direct IPv4).
import { existsSync, readFileSync } from 'node:fs'
import { AddressError } from './address.js'
import { CONFIG_MAX_BYTES, DEFAULT_CONFIG_FILE, ENV_CONF_FILE, WELL_KNOWN_PREFIX } from './defaults.js'
import type { Source } from './discovery/state.js'
import { ConfigError, type ConfigIssue } from './errors.js'
import {
  alwaysIPv4Net,
  type Ipv4Net,
  ipv4ToNumber,
  isNonGlobalIPv4,
  netContains,
  netHasNonGlobal,
  netWithin,
  parseIpv4Net,
} from './ipv4net.js'
import { isWellKnownPrefix, isWithinPrefix, type Nat64Prefix, parsePrefix } from './rfc6052.js'

export interface Located<T> {
  readonly value: T
  readonly line: number
}

export interface PathBlock {
  readonly line: number
  readonly subnets: Located<Ipv4Net>[]
  readonly prefix: Located<Nat64Prefix>
}

export interface Config {
  /** The file it came from; undefined for the empty configuration used when there is none. */
  readonly file?: string
  readonly defaultPrefix?: Located<Nat64Prefix>
  readonly locals: Located<Ipv4Net>[]
  readonly paths: PathBlock[]
  /**
   * Kernel mode's alone, never a file's: no prefix at all for destinations outside the paths
   * (discovery withdrew the one it gave), so they go out untouched rather than through the
   * well-known prefix.
   */
  readonly withdrawn?: boolean
  /** Kernel mode's alone: the discovery source that gave the default prefix (none: configured). */
  readonly discovered?: Source
}

export interface ParseResult {
  readonly config: Config
  readonly errors: ConfigIssue[]
  readonly warnings: ConfigIssue[]
}

export const EMPTY_CONFIG: Config = { locals: [], paths: [] }

interface OpenPath {
  line: number
  subnets: Located<Ipv4Net>[]
  prefix?: Located<Nat64Prefix>
}

const ASSIGNMENT = /^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/

/** Parses the whole text, collecting every error (not only the first) so `config check` can list them. */
export function parseConfig(text: string, file: string): ParseResult {
  const errors: ConfigIssue[] = []
  const warnings: ConfigIssue[] = []
  const locals: Located<Ipv4Net>[] = []
  const paths: PathBlock[] = []
  let defaultPrefix: Located<Nat64Prefix> | undefined
  let open: OpenPath | undefined
  const error = (line: number, message: string) => errors.push({ file, line, message })
  const warn = (line: number, message: string) => warnings.push({ file, line, message })

  const parseValue = <T>(line: number, parse: (v: string) => T, value: string): T | undefined => {
    try {
      return parse(value)
    } catch (e) {
      if (!(e instanceof AddressError)) throw e
      error(line, e.message)
      return undefined
    }
  }

  const closePath = (block: OpenPath) => {
    if (block.subnets.length === 0) error(block.line, 'path block has no subnet')
    if (!block.prefix) error(block.line, 'path block has no nat64_prefix')
    if (block.prefix && block.subnets.length > 0) {
      paths.push({ line: block.line, subnets: block.subnets, prefix: block.prefix })
    }
  }

  text.split(/\r?\n/).forEach((raw, index) => {
    const line = index + 1
    const stripped = raw.replace(/#.*/, '').trim()
    if (stripped === '') return
    if (/^path\s*\{$/.test(stripped)) {
      if (open) error(line, `'path {' inside the path block opened on line ${open.line}`)
      else open = { line, subnets: [] }
      return
    }
    if (stripped === '}') {
      if (!open) error(line, "'}' without an open path block")
      else closePath(open)
      open = undefined
      return
    }
    const match = ASSIGNMENT.exec(stripped)
    if (!match) {
      error(line, `expected 'keyword = value', 'path {' or '}', found '${stripped}'`)
      return
    }
    const [, key, value] = match
    if (value === '') {
      error(line, `'${key}' has no value`)
      return
    }
    if (/\s/.test(value)) {
      error(line, `'${key}' takes one value, found '${value}'`)
      return
    }
    switch (key) {
      case 'nat64_prefix': {
        const prefix = parseValue(line, parsePrefix, value)
        if (!prefix) return
        const previous = open ? open.prefix : defaultPrefix
        if (previous) error(line, `nat64_prefix is already set on line ${previous.line}`)
        else if (open) open.prefix = { value: prefix, line }
        else defaultPrefix = { value: prefix, line }
        return
      }
      case 'local': {
        if (open) {
          error(line, `'local' is not allowed inside a path block (opened on line ${open.line})`)
          return
        }
        const net = parseValue(line, parseIpv4Net, value)
        if (net) locals.push({ value: net, line })
        return
      }
      case 'subnet': {
        if (!open) {
          error(line, "'subnet' belongs inside a 'path { }' block")
          return
        }
        const net = parseValue(line, parseIpv4Net, value)
        if (net) open.subnets.push({ value: net, line })
        return
      }
      default:
        error(line, `unknown keyword '${key}' (expected nat64_prefix, local, path or subnet)`)
    }
  })
  if (open) error(open.line, 'path block is not closed')

  checkOverlaps(locals, paths, error, warn)
  const byLine = (a: ConfigIssue, b: ConfigIssue) => a.line - b.line
  return {
    config: { file, defaultPrefix, locals, paths },
    errors: errors.sort(byLine),
    warnings: warnings.sort(byLine),
  }
}

function checkOverlaps(
  locals: Located<Ipv4Net>[],
  paths: PathBlock[],
  error: (line: number, message: string) => void,
  warn: (line: number, message: string) => void,
) {
  const seen = new Map<string, number>()
  for (const path of paths) {
    for (const subnet of path.subnets) {
      const earlier = seen.get(subnet.value.text)
      if (earlier !== undefined) {
        error(subnet.line, `subnet ${subnet.value.text} is already given on line ${earlier}`)
        continue
      }
      seen.set(subnet.value.text, subnet.line)
      const local = locals.find((l) => netWithin(subnet.value, l.value))
      if (local) {
        warn(
          subnet.line,
          `subnet ${subnet.value.text} lies inside local ${local.value.text} (line ${local.line}): local wins`,
        )
      }
      if (isWellKnownPrefix(path.prefix.value) && netHasNonGlobal(subnet.value)) {
        warn(
          subnet.line,
          `subnet ${subnet.value.text} holds non-global IPv4 addresses, which the well-known prefix must not carry (RFC 6052 §3.1)`,
        )
      }
    }
  }
}

/** Why a file cannot be read, in config_load's words (preload/config.c). */
const UNREADABLE: Record<string, string> = {
  ENOENT: 'no such file',
  EISDIR: 'is a directory',
  EACCES: 'permission denied',
}

/** Reads and parses a file; a file that cannot be read is one error for the file as a whole. */
export function readConfigFile(file: string): ParseResult {
  const unreadable = (message: string) => ({
    config: EMPTY_CONFIG,
    errors: [{ file, line: 0, message }],
    warnings: [],
  })
  let data: Buffer
  try {
    data = readFileSync(file)
  } catch (e) {
    const { code, message } = e as NodeJS.ErrnoException
    return unreadable(UNREADABLE[code ?? ''] ?? message)
  }
  if (data.length > CONFIG_MAX_BYTES) return unreadable('larger than 16 MiB')
  if (data.includes(0)) return unreadable('is not a text file')
  return parseConfig(data.toString('utf8'), file)
}

/** Reads a configuration file; every error is reported at once through ConfigError. */
export function loadConfigFile(file: string): ParseResult {
  const result = readConfigFile(file)
  if (result.errors.length > 0) throw new ConfigError(result.errors)
  return result
}

/**
 * Which file is in force, as config_file_in_force (preload/config.c) answers for the library and
 * the launcher: a file named (--config, else a non-empty $TNAT64_CONF_FILE) must then exist and
 * parse; only the implicit /etc/tnat64.conf may be absent, and then none is (undefined).
 */
export function configFileInForce(
  explicit?: string,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  const named = explicit ?? (env[ENV_CONF_FILE] || undefined)
  if (named !== undefined) return named
  return existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : undefined
}

/** What is said when no file is in force. */
export const NO_CONFIG_FILE = `none (no $${ENV_CONF_FILE}, no ${DEFAULT_CONFIG_FILE}): the defaults are in force`

/** The configuration in force (see configFileInForce); the empty one when no file is. */
export function loadConfig(explicit?: string, env: NodeJS.ProcessEnv = process.env): ParseResult {
  const file = configFileInForce(explicit, env)
  return file === undefined ? { config: EMPTY_CONFIG, errors: [], warnings: [] } : loadConfigFile(file)
}

export type Rule =
  | { readonly kind: 'local'; readonly why: 'always'; readonly net: Ipv4Net }
  | { readonly kind: 'local'; readonly why: 'local'; readonly net: Ipv4Net; readonly line: number }
  | {
      readonly kind: 'nat64'
      readonly why: 'path'
      readonly prefix: Nat64Prefix
      readonly net: Ipv4Net
      readonly line: number
    }
  /** `line` 0: the default prefix was given on the command line or in $TNAT64_PREFIX. */
  | { readonly kind: 'nat64'; readonly why: 'default'; readonly prefix: Nat64Prefix; readonly line: number }
  | { readonly kind: 'nat64'; readonly why: 'builtin'; readonly prefix: Nat64Prefix }
  /** The only prefix that applies is the well-known one, which must not carry this address (RFC 6052 §3.1). */
  | { readonly kind: 'none'; readonly why: 'non-global'; readonly prefix: Nat64Prefix }

/** With no default prefix configured, destinations go through the well-known prefix. */
export const BUILTIN_PREFIX: Nat64Prefix = parsePrefix(WELL_KNOWN_PREFIX)

/** The configuration with its default prefix replaced (`tnat64 app --prefix`, $TNAT64_PREFIX). */
export function withDefaultPrefix(config: Config, prefix: Nat64Prefix): Config {
  return { ...config, defaultPrefix: { value: prefix, line: 0 } }
}

/**
 * Which rule a destination gets: the always-IPv4 networks (loopback, multicast, ...), then
 * `local`, then the most specific path, then the default prefix, else the well-known prefix; a
 * non-global destination never goes through the well-known prefix (gateways drop it), it goes
 * over IPv4.
 */
export function resolve(config: Config, ipv4: Uint8Array): Rule {
  const address = ipv4ToNumber(ipv4)
  const always = alwaysIPv4Net(address)
  if (always) return { kind: 'local', why: 'always', net: always }
  const local = config.locals.find((l) => netContains(l.value, address))
  if (local) return { kind: 'local', why: 'local', net: local.value, line: local.line }
  const rule = nat64Rule(config, address)
  if (isWellKnownPrefix(rule.prefix) && isNonGlobalIPv4(ipv4)) {
    return { kind: 'none', why: 'non-global', prefix: rule.prefix }
  }
  return rule
}

function nat64Rule(config: Config, address: number): Extract<Rule, { kind: 'nat64' }> {
  let best: { path: PathBlock; subnet: Located<Ipv4Net> } | undefined
  for (const path of config.paths) {
    for (const subnet of path.subnets) {
      if (netContains(subnet.value, address) && (!best || subnet.value.length > best.subnet.value.length)) {
        best = { path, subnet }
      }
    }
  }
  if (best) {
    const { path, subnet } = best
    return { kind: 'nat64', why: 'path', prefix: path.prefix.value, net: subnet.value, line: subnet.line }
  }
  if (config.defaultPrefix) {
    const { value, line } = config.defaultPrefix
    return { kind: 'nat64', why: 'default', prefix: value, line }
  }
  return { kind: 'nat64', why: 'builtin', prefix: BUILTIN_PREFIX }
}

export interface PrefixInUse {
  readonly prefix: Nat64Prefix
  /** The line that sets it; undefined for the built-in well-known prefix. */
  readonly line?: number
}

/** The prefixes destinations are reached through: every path's, and the default (else the well-known) one. */
export function prefixesInUse(config: Config): PrefixInUse[] {
  const inUse = ({ value, line }: Located<Nat64Prefix>) => ({ prefix: value, line })
  const fallback = config.defaultPrefix ? inUse(config.defaultPrefix) : { prefix: BUILTIN_PREFIX }
  return [...config.paths.map((p) => inUse(p.prefix)), fallback]
}

/**
 * The prefix an IPv6 address was made in: the most specific (longest) candidate that holds it, as
 * config_extract (preload/config.c) picks it; nested prefixes (a /40 inside a /32) need this.
 */
export function mostSpecificPrefix<T extends { readonly prefix: Nat64Prefix }>(
  ipv6: Uint8Array,
  candidates: readonly T[],
): T | undefined {
  return candidates
    .filter((c) => isWithinPrefix(ipv6, c.prefix))
    .reduce<T | undefined>((best, c) => (best && best.prefix.length >= c.prefix.length ? best : c), undefined)
}

/** The configuration as tnat64.conf text, which parses back to the same rules. */
export function formatConfig(config: Config, heading = ''): string {
  const lines = heading ? [`# ${heading}`] : []
  if (config.defaultPrefix) lines.push(`nat64_prefix = ${config.defaultPrefix.value.text}`)
  for (const local of config.locals) lines.push(`local = ${local.value.text}`)
  for (const path of config.paths) {
    lines.push('path {')
    for (const subnet of path.subnets) lines.push(`  subnet = ${subnet.value.text}`)
    lines.push(`  nat64_prefix = ${path.prefix.value.text}`, '}')
  }
  return `${lines.join('\n')}\n`
}
