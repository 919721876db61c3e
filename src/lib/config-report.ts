// What `tnat64 config check` and `tnat64 config show` report, as data that the commands print or emit as JSON.
import { AddressError, formatIPv6, parseIPv4 } from './address.js'
import {
  type Config,
  EMPTY_CONFIG,
  loadConfig,
  NO_CONFIG_FILE,
  type Rule,
  readConfigFile,
  resolve,
} from './config.js'
import { ENV_PREFIX } from './defaults.js'
import { type ConfigIssue, formatIssue, UsageError } from './errors.js'
import { ALWAYS_IPV4_NETS } from './ipv4net.js'
import type { Output } from './output.js'
import { synthesize } from './rfc6052.js'

export interface CheckReport {
  /** null when no file is in force: the defaults are, and they are valid. */
  readonly file: string | null
  readonly valid: boolean
  readonly errors: string[]
  readonly warnings: string[]
  readonly summary?: { defaultPrefix?: string; locals: number; paths: number }
}

export function checkConfigFile(file: string | undefined): CheckReport {
  const { config, errors, warnings } =
    file === undefined ? { config: EMPTY_CONFIG, errors: [], warnings: [] } : readConfigFile(file)
  const lines = (issues: ConfigIssue[]) => issues.map(formatIssue)
  return {
    file: file ?? null,
    valid: errors.length === 0,
    errors: lines(errors),
    warnings: lines(warnings),
    summary:
      errors.length === 0
        ? {
            defaultPrefix: config.defaultPrefix?.value.text,
            locals: config.locals.length,
            paths: config.paths.length,
          }
        : undefined,
  }
}

export interface Destination {
  readonly address: string
  readonly port?: number
}

/** Parses `a.b.c.d` or `a.b.c.d:port` as given to --host. */
export function parseDestination(text: string): Destination {
  const match = /^([0-9.]+)(?::(\d+))?$/.exec(text)
  if (!match) throw new UsageError(`--host: '${text}' is not IPv4[:port]`)
  try {
    parseIPv4(match[1])
  } catch (e) {
    if (e instanceof AddressError) throw new UsageError(`--host: ${e.message}`)
    throw e
  }
  const port = match[2] === undefined ? undefined : Number(match[2])
  if (port !== undefined && (port < 1 || port > 65535))
    throw new UsageError(`--host: port ${port} is not 1-65535`)
  return { address: match[1], port }
}

export interface HostReport {
  readonly destination: string
  readonly method: 'ipv4' | 'nat64'
  /** The address tnat64 connects to: the NAT64 address, or the IPv4 address itself. */
  readonly connectTo: string
  readonly rule: string
  readonly prefix?: string
  readonly warnings: string[]
}

function describeRule(config: Config, rule: Rule): string {
  const at = (line: number) => (line > 0 ? `${config.file}:${line}` : `--prefix or $${ENV_PREFIX}`)
  switch (rule.kind) {
    case 'local':
      return rule.why === 'always'
        ? `${rule.net.text} never goes through NAT64 (loopback, multicast, reserved)`
        : `local ${rule.net.text} (${at(rule.line)})`
    case 'nat64':
      if (rule.why === 'path') return `path subnet ${rule.net.text} (${at(rule.line)})`
      if (rule.why === 'default') return `default nat64_prefix (${at(rule.line)})`
      return `built-in default ${rule.prefix.text} (no nat64_prefix configured)`
    case 'none':
      return `not global: the well-known prefix ${rule.prefix.text} must not carry it (RFC 6052 §3.1)`
  }
}

export function showHost(config: Config, destination: Destination): HostReport {
  const ipv4 = parseIPv4(destination.address)
  const rule = resolve(config, ipv4)
  const text =
    destination.port === undefined ? destination.address : `${destination.address}:${destination.port}`
  const withPort = (address: string) =>
    destination.port === undefined ? address : `[${address}]:${destination.port}`
  if (rule.kind !== 'nat64') {
    return {
      destination: text,
      method: 'ipv4',
      connectTo: text,
      rule: describeRule(config, rule),
      warnings: [],
    }
  }
  return {
    destination: text,
    method: 'nat64',
    connectTo: withPort(formatIPv6(synthesize(ipv4, rule.prefix))),
    rule: describeRule(config, rule),
    prefix: rule.prefix.text,
    warnings: [],
  }
}

export interface ConfigSummary {
  readonly file?: string
  readonly defaultPrefix?: string
  readonly local: string[]
  readonly paths: { subnets: string[]; prefix: string; line: number }[]
}

export function summarize(config: Config): ConfigSummary {
  return {
    file: config.file,
    defaultPrefix: config.defaultPrefix?.value.text,
    local: [...ALWAYS_IPV4_NETS.map((n) => n.text), ...config.locals.map((l) => l.value.text)],
    paths: config.paths.map((p) => ({
      subnets: p.subnets.map((s) => s.value.text),
      prefix: p.prefix.value.text,
      line: p.line,
    })),
  }
}

/** `tnat64 config show [--host]`: the configuration in force, or one destination's rule, printed. */
export function showConfig(
  flags: { host?: string; config?: string },
  out: Output,
): ConfigSummary | HostReport {
  const destination = flags.host === undefined ? undefined : parseDestination(flags.host)
  const { config, warnings } = loadConfig(flags.config)
  if (destination) {
    const report = showHost(config, destination)
    for (const warning of report.warnings) out.logToStderr(`warning: ${warning}`)
    out.log(`destination: ${report.destination}`)
    out.log(`rule:        ${report.rule}`)
    out.log(`method:      ${report.method === 'nat64' ? `NAT64 through ${report.prefix}` : 'IPv4, directly'}`)
    out.log(`connect to:  ${report.connectTo}`)
    return report
  }
  const summary = summarize(config)
  for (const warning of warnings)
    out.logToStderr(`${warning.file}:${warning.line}: warning: ${warning.message}`)
  out.log(`file:           ${summary.file ?? NO_CONFIG_FILE}`)
  out.log(`default prefix: ${summary.defaultPrefix ?? 'none'}`)
  out.log(`local:          ${summary.local.join(', ')}`)
  for (const path of summary.paths)
    out.log(`path (line ${path.line}): ${path.subnets.join(', ')} -> ${path.prefix}`)
  return summary
}
