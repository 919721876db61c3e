// tnat64(1) in roff (man(7) macros), made at build time (scripts/man.mjs) from oclif.manifest.json,
// which holds every command's own summary, description, arguments, flags and examples: the page
// cannot drift from the CLI. The environment and files come from the constants the code uses.
import {
  DEFAULT_CONFIG_FILE,
  DISCOVERY_STATE_FILE,
  ENV_CONF_FILE,
  ENV_DEBUG,
  ENV_DEBUG_FILE,
  ENV_PREFIX,
  USER_CACHE_NAME,
  WELL_KNOWN_PREFIX,
} from './defaults.js'
import { RUN_DIR } from './dirs.js'
import { PIN_DIR } from './kernel/pins.js'

interface ManifestFlag {
  readonly name: string
  readonly type: string
  readonly char?: string
  readonly description?: string
  readonly options?: readonly string[]
  readonly default?: unknown
  readonly required?: boolean
  readonly multiple?: boolean
  readonly allowNo?: boolean
  readonly hidden?: boolean
}

interface ManifestArg {
  readonly description?: string
  readonly required?: boolean
  readonly options?: readonly string[]
}

export interface ManifestCommand {
  readonly id: string
  readonly hidden?: boolean
  readonly summary?: string
  readonly description?: string
  readonly strict?: boolean
  readonly usage?: string | readonly string[]
  readonly examples?: readonly (string | { command: string; description?: string })[]
  readonly flags: Record<string, ManifestFlag>
  readonly args: Record<string, ManifestArg>
}

export interface Manifest {
  readonly commands: Record<string, ManifestCommand>
}

/**
 * Text for roff: backslashes as \e, every hyphen as \- (options copy and paste as typed), non-ASCII
 * as \[uXXXX] (no input encoding to guess), and a line starting with '.' or "'" made text with \&.
 */
export function roff(text: string): string {
  let out = ''
  for (const ch of text) {
    const code = ch.codePointAt(0) as number
    if (ch === '\\') out += '\\e'
    else if (ch === '-') out += '\\-'
    else if (code > 0x7e || (code < 0x20 && ch !== '\n'))
      out += `\\[u${code.toString(16).toUpperCase().padStart(4, '0')}]`
    else out += ch
  }
  return out.replace(/^([.'])/gm, '\\&$1')
}

/** Prose: `code` in bold, the rest escaped. */
function prose(text: string): string {
  return roff(text.replace(/\s*\n\s*/g, ' ').trim()).replace(/`([^`]+)`/g, '\\fB$1\\fR')
}

/** Paragraphs of a description, each its own .PP. */
function paragraphs(text: string | undefined): string[] {
  return (text ?? '')
    .split('\n')
    .filter((p) => p.trim() !== '')
    .flatMap((p) => ['.PP', prose(p)])
}

const BIN = 'tnat64'
const words = (id: string) => id.split(':').join(' ')
const expand = (text: string) => text.replaceAll('<%= config.bin %>', BIN)

function flagName(flag: ManifestFlag): string {
  const long = `\\fB\\-\\-${flag.allowNo ? '[no\\-]' : ''}${roff(flag.name)}\\fR`
  const short = flag.char ? `\\fB\\-${roff(flag.char)}\\fR, ` : ''
  return `${short}${long}${flag.type === 'option' ? ` \\fI${flagValue(flag)}\\fR` : ''}`
}

function flagValue(flag: ManifestFlag): string {
  return flag.options ? flag.options.map(roff).join('|') : roff(flag.name.toUpperCase())
}

/** The synopsis line: the command's own usage when it states one, else its arguments and flags. */
function synopsis(command: ManifestCommand): string[] {
  if (command.usage !== undefined) {
    const usages = typeof command.usage === 'string' ? [command.usage] : command.usage
    return usages.flatMap((u, i) => [...(i > 0 ? ['.br'] : []), `\\fB${BIN}\\fR ${roff(u)}`])
  }
  const parts = [`\\fB${BIN} ${roff(words(command.id))}\\fR`]
  for (const [name, arg] of Object.entries(command.args)) {
    const word = `\\fI${roff(name.toUpperCase())}\\fR${command.strict === false ? '...' : ''}`
    parts.push(arg.required ? word : `[${word}]`)
  }
  for (const flag of visibleFlags(command)) {
    const value = flag.type === 'option' ? ` \\fI${flagValue(flag)}\\fR` : ''
    const word = `\\fB\\-\\-${roff(flag.name)}\\fR${value}`
    parts.push(flag.required ? word : `[${word}]`)
  }
  return [parts.join(' ')]
}

const visibleFlags = (command: ManifestCommand) => Object.values(command.flags).filter((f) => !f.hidden)

function flagItem(flag: ManifestFlag): string[] {
  const notes: string[] = []
  if (flag.required) notes.push('Required.')
  if (flag.options) notes.push(`One of: ${flag.options.join(', ')}.`)
  if (flag.default !== undefined && flag.default !== false) notes.push(`Default: ${String(flag.default)}.`)
  if (flag.multiple) notes.push('May be given more than once.')
  const description = (flag.description ?? '').trim()
  const sentence = description === '' ? '' : `${description.charAt(0).toUpperCase()}${description.slice(1)}`
  return ['.TP', flagName(flag), prose([sentence.replace(/([^.])$/, '$1.'), ...notes].join(' ').trim())]
}

function commandSection(command: ManifestCommand): string[] {
  const summary = (command.summary ?? '').replace(/([^.])$/, '$1.')
  const lines = [`.SS "${BIN} ${roff(words(command.id))}"`, prose(summary)]
  lines.push('.PP', ...synopsis(command))
  lines.push(...paragraphs(command.description))
  for (const [name, arg] of Object.entries(command.args)) {
    const options = arg.options ? ` One of: ${arg.options.join(', ')}.` : ''
    lines.push('.TP', `\\fI${roff(name.toUpperCase())}\\fR`, prose(`${arg.description ?? ''}.${options}`))
  }
  for (const flag of visibleFlags(command)) lines.push(...flagItem(flag))
  const examples = command.examples ?? []
  if (examples.length > 0) {
    lines.push('.PP', 'Examples:', '.RS', '.nf')
    for (const e of examples) lines.push(roff(expand(typeof e === 'string' ? e : e.command)))
    lines.push('.fi', '.RE')
  }
  return lines
}

const item = (term: string, text: string) => ['.TP', `\\fB${roff(term)}\\fR`, prose(text)]

/** The whole of tnat64(1). */
export function manPage(manifest: Manifest, version: string): string {
  const commands = Object.values(manifest.commands)
    .filter((c) => !c.hidden)
    .sort((a, b) => a.id.localeCompare(b.id))
  const lines = [
    `.\\" tnat64(1), made by scripts/man.mjs from the commands' own definitions: edit those, not this.`,
    `.TH TNAT64 1 "" "${BIN} ${roff(version)}" "User Commands"`,
    '.SH NAME',
    `${BIN} \\- run IPv4\\-only programs on IPv6\\-only hosts through NAT64, unchanged`,
    '.SH SYNOPSIS',
    `\\fB${BIN}\\fR \\fICOMMAND\\fR [\\fIARGUMENTS\\fR] [\\fIFLAGS\\fR]`,
    '.br',
    `\\fB${BIN}\\fR \\fICOMMAND\\fR \\fB\\-\\-help\\fR`,
    '.SH DESCRIPTION',
    prose(
      'An IPv6-only host reaches IPv4 destinations through a NAT64 gateway: the IPv4 address is embedded in an IPv6 prefix (RFC 6052). tnat64 lets programs that only speak IPv4 use it, unchanged and not recompiled, three ways that share one configuration (tnat64.conf(5)):',
    ),
    ...item(
      'app mode',
      '`tnat64 app -- CMD` (no privilege) loads libtnat64.so into CMD with LD_PRELOAD, or serves a static or Go program from outside through seccomp user notification.',
    ),
    ...item(
      'kernel mode',
      '`tnat64 attach --cgroup PATH` (root) attaches cgroup BPF programs that rewrite the IPv4-mapped destinations of every process in the cgroup to their NAT64 addresses. Each cgroup keeps its own rules.',
    ),
    ...item(
      'prefix discovery',
      '`tnat64 discover` finds the NAT64 prefix from router advertisements (PREF64, RFC 8781) and DNS64 (RFC 7050).',
    ),
    ...paragraphs(
      'Bad input exits 2 with one line naming the problem; a configuration error names file:line. Read commands take --json. Shell completion: `tnat64 completion bash|zsh|fish`.',
    ),
    '.SH COMMANDS',
    ...commands.flatMap(commandSection),
    '.SH ENVIRONMENT',
    ...item(
      ENV_CONF_FILE,
      `The configuration file, when --config names none. Unset or empty: ${DEFAULT_CONFIG_FILE} if it exists, else none (the defaults). Read by the commands, the launcher and the library (only through secure_getenv: a set-id program ignores it).`,
    ),
    ...item(
      ENV_PREFIX,
      `The default NAT64 prefix, as --prefix gives it, for tnat64 app (the launcher and the library), discover and doctor; it wins over the configuration's nat64_prefix and over discovery. translate, config show and kernel mode read only their --prefix.`,
    ),
    ...item(
      ENV_DEBUG,
      `The library's log level: 0 warnings only (the default), 1 each connection decision, 2 every step (tnat64 app --debug sets 1).`,
    ),
    ...item(
      ENV_DEBUG_FILE,
      `The library's log file (appended, created 0600, the user's own regular file only), instead of standard error.`,
    ),
    ...item(
      'XDG_CACHE_HOME, HOME',
      `Where each user's cached DNS64 answer is kept: $XDG_CACHE_HOME/${USER_CACHE_NAME}, else $HOME/.cache/${USER_CACHE_NAME} (each only when absolute).`,
    ),
    ...item('LD_PRELOAD', 'tnat64 app puts libtnat64.so first in it and keeps what it held.'),
    '.SH FILES',
    ...item(
      DEFAULT_CONFIG_FILE,
      `The configuration read when neither --config nor $${ENV_CONF_FILE} names one: tnat64.conf(5).`,
    ),
    ...item(
      DISCOVERY_STATE_FILE,
      `The host's discovered NAT64 prefixes, kept by root's \`tnat64 discover --watch\` (mode 0644) and read by every user's tnat64 app; removed when the watcher stops.`,
    ),
    ...item(`~/.cache/${USER_CACHE_NAME}`, "Each user's cached DNS64 answer (mode 0600), held for its TTL."),
    ...item(
      PIN_DIR,
      "Kernel mode's pinned maps, and one bpf_link per program and cgroup under links/: pins 0600, directories 0700.",
    ),
    ...item(
      RUN_DIR,
      `Kernel mode's state (0700): each attached cgroup's configuration (cgID.conf) and the lock every command that changes kernel state holds.`,
    ),
    '.SH EXIT STATUS',
    ...item('0', 'Success.'),
    ...item(
      '1',
      'A failure: missing privilege, a configuration with errors (config check), a host tnat64 cannot serve (doctor).',
    ),
    ...item('2', 'Bad input: a malformed argument, an unknown flag, a configuration that does not parse.'),
    ...paragraphs('tnat64 app and tnat64 run exit as their command does.'),
    '.SH NOTES',
    ...paragraphs(
      `Without configuration, destinations go through the well-known prefix ${WELL_KNOWN_PREFIX}, except non-global ones (RFC 6052 section 3.1), which go over IPv4.`,
    ),
    '.SH SEE ALSO',
    '.BR tnat64.conf (5),',
    '.BR systemctl (1),',
    '.BR ip (8)',
  ]
  return `${lines.join('\n')}\n`
}
