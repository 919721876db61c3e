// `tnat64 translate`: one address either way across RFC 6052, with the prefix chosen as the config says.
import {
  AddressError,
  formatIPv4,
  formatIPv6,
  isIPv4Text,
  isIPv6Text,
  parseIPv4,
  parseIPv6,
} from './address.js'
import {
  BUILTIN_PREFIX,
  type Config,
  loadConfig,
  mostSpecificPrefix,
  prefixesInUse,
  resolve,
} from './config.js'
import { UsageError } from './errors.js'
import type { Output } from './output.js'
import { extract, type Nat64Prefix, parsePrefix, synthesize, wellKnownPrefixWarning } from './rfc6052.js'

export interface Translation {
  readonly input: string
  readonly output: string
  readonly direction: 'embed' | 'extract'
  readonly prefix: string
  /** Where the prefix came from: `--prefix`, a config line, or the built-in well-known prefix. */
  readonly prefixSource: string
  readonly warnings: string[]
}

/** Parses a prefix given on the command line, turning a rejection into a usage error. */
export function prefixArgument(text: string, flag = '--prefix'): Nat64Prefix {
  try {
    return parsePrefix(text)
  } catch (e) {
    if (e instanceof AddressError) throw new UsageError(`${flag}: ${e.message}`)
    throw e
  }
}

interface Choice {
  prefix: Nat64Prefix
  source: string
}

const BUILT_IN: Choice = { prefix: BUILTIN_PREFIX, source: 'built-in default' }

/** The prefix the configuration gives a destination; a local one still gets a translation, with a note. */
function configChoice(config: Config, ipv4: Uint8Array, input: string, warnings: string[]): Choice {
  const rule = resolve(config, ipv4)
  const where = (line: number) => `${config.file}:${line}`
  if (rule.kind === 'nat64') {
    return rule.why === 'builtin' ? BUILT_IN : { prefix: rule.prefix, source: where(rule.line) }
  }
  if (rule.kind === 'none') return { prefix: rule.prefix, source: 'the only prefix that applies' }
  const why =
    rule.why === 'always' ? `${rule.net.text} never goes through NAT64` : `${where(rule.line)} makes it local`
  warnings.push(`${input} is reached directly over IPv4, not through NAT64 (${why})`)
  return config.defaultPrefix
    ? { prefix: config.defaultPrefix.value, source: where(config.defaultPrefix.line) }
    : BUILT_IN
}

function embed(ipv4: Uint8Array, input: string, config: Config, explicit?: Nat64Prefix): Translation {
  const warnings: string[] = []
  const choice = explicit
    ? { prefix: explicit, source: '--prefix' }
    : configChoice(config, ipv4, input, warnings)
  const warning = wellKnownPrefixWarning(ipv4, choice.prefix)
  if (warning) warnings.push(warning)
  return {
    input,
    output: formatIPv6(synthesize(ipv4, choice.prefix)),
    direction: 'embed',
    prefix: choice.prefix.text,
    prefixSource: choice.source,
    warnings,
  }
}

function extractFrom(ipv6: Uint8Array, input: string, config: Config, explicit?: Nat64Prefix): Translation {
  const candidates: Choice[] = explicit
    ? [{ prefix: explicit, source: '--prefix' }]
    : prefixesInUse(config).map(({ prefix, line }) =>
        line === undefined ? BUILT_IN : { prefix, source: `${config.file}:${line}` },
      )
  const inside = mostSpecificPrefix(ipv6, candidates)
  if (!inside) {
    const tried = [...new Set(candidates.map((c) => c.prefix.text))].join(', ')
    throw new UsageError(`${input} is not inside the NAT64 prefix (${tried})`)
  }
  return {
    input,
    output: formatIPv4(extract(ipv6, inside.prefix)),
    direction: 'extract',
    prefix: inside.prefix.text,
    prefixSource: inside.source,
    warnings: [],
  }
}

export function translate(address: string, config: Config, explicit?: Nat64Prefix): Translation {
  try {
    if (isIPv4Text(address)) return embed(parseIPv4(address), address, config, explicit)
    if (isIPv6Text(address)) return extractFrom(parseIPv6(address), address, config, explicit)
  } catch (e) {
    if (e instanceof AddressError) throw new UsageError(e.message)
    throw e
  }
  throw new UsageError(`'${address}' is neither an IPv4 address (a.b.c.d) nor an IPv6 address`)
}

/** `tnat64 translate ADDRESS`: the result printed, its warnings on stderr. */
export function translateCommand(
  address: string,
  flags: { prefix?: string; config?: string },
  out: Output,
): Translation {
  const explicit = flags.prefix === undefined ? undefined : prefixArgument(flags.prefix)
  const { config } = loadConfig(flags.config)
  const result = translate(address, config, explicit)
  for (const warning of result.warnings) out.logToStderr(`warning: ${warning}`)
  out.log(result.output)
  return result
}
