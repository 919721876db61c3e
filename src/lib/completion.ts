// Shell completion scripts, made at run time from the loaded commands' own definitions (their
// ids, flags, options and arguments), so they never drift from the CLI. Values that depend on the
// host (cgroups, prefixes in force) are asked of `tnat64 completion --values KIND` when completing.
import { type Dirent, readdirSync } from 'node:fs'
import { join, relative } from 'node:path'
import { WELL_KNOWN_PREFIX } from './defaults.js'
import { readHostState } from './discovery/state.js'
import { UsageError } from './errors.js'
import { cgroup2Mount } from './kernel/cgroup.js'
import { isRoot } from './privilege.js'

export const SHELLS = ['bash', 'zsh', 'fish'] as const
export type Shell = (typeof SHELLS)[number]
export const VALUE_KINDS = ['cgroup', 'prefix'] as const
export type ValueKind = (typeof VALUE_KINDS)[number]

/** What oclif knows of a command, as much as completion needs (Command.Loadable fits). */
export interface CommandSpec {
  readonly id: string
  readonly hidden?: boolean
  readonly summary?: string
  readonly description?: string
  readonly strict?: boolean
  readonly flags: Record<
    string,
    { type: string; char?: string; hidden?: boolean; options?: readonly string[]; description?: string }
  >
  readonly args: Record<string, { options?: readonly string[]; description?: string }>
}

export interface TopicSpec {
  readonly name: string
  readonly description?: string
  readonly hidden?: boolean
}

/** The candidates of one value: a fixed list, a host's kind, files, or nothing to offer. */
type Values = { words: readonly string[] } | { kind: ValueKind } | 'file' | 'none'

interface Flag {
  readonly words: string[] // --name and -c
  readonly description: string
  readonly values?: Values // absent: a boolean
}

interface Entry {
  readonly id: string // 'cache:set'
  readonly description: string
  readonly flags: Flag[]
  readonly arg?: Values // the first positional argument's
  readonly takesCommand: boolean // `run [--] CMD`: the rest is a command line
}

/** A flag's or an argument's candidates, by its options, else by what its name means here. */
function valuesOf(name: string, options: readonly string[] | undefined): Values {
  if (options && options.length > 0) return { words: options }
  if (name === 'cgroup') return { kind: 'cgroup' }
  if (name === 'prefix') return { kind: 'prefix' }
  if (name === 'config' || name === 'file') return 'file'
  return 'none'
}

function model(commands: readonly CommandSpec[], topics: readonly TopicSpec[]) {
  const entries: Entry[] = commands
    .filter((c) => !c.hidden)
    .map((c) => {
      const flags = Object.entries(c.flags)
        .filter(([, f]) => !f.hidden)
        .map(([name, f]) => ({
          words: [`--${name}`, ...(f.char ? [`-${f.char}`] : [])],
          description: f.description ?? '',
          values: f.type === 'option' ? valuesOf(name, f.options) : undefined,
        }))
      flags.push({ words: ['--help'], description: 'show help', values: undefined })
      const [first] = Object.entries(c.args)
      return {
        id: c.id,
        description: c.summary ?? c.description?.split('\n')[0] ?? '',
        flags,
        arg: first && valuesOf(first[0], first[1].options),
        takesCommand: c.strict === false && !first,
      }
    })
    .sort((a, b) => a.id.localeCompare(b.id))
  // Every prefix of a command id is a topic, described or not.
  const described = new Map(topics.filter((t) => !t.hidden).map((t) => [t.name, t.description ?? '']))
  const topicNames = new Set(
    entries.flatMap((e) =>
      e.id
        .split(':')
        .slice(0, -1)
        .map((_, i, parts) => parts.slice(0, i + 1).join(':')),
    ),
  )
  const children = (parent: string) => {
    const depth = parent === '' ? 0 : parent.split(':').length
    const names = new Map<string, string>()
    for (const e of entries) {
      if (parent !== '' && !e.id.startsWith(`${parent}:`)) continue
      const name = e.id.split(':')[depth]
      if (name === undefined) continue
      const id = e.id
        .split(':')
        .slice(0, depth + 1)
        .join(':')
      names.set(name, id === e.id ? e.description : (described.get(id) ?? ''))
    }
    return [...names].map(([name, description]) => ({ name, description }))
  }
  return { entries, topics: [...topicNames].sort(), children }
}

/** A word in single quotes for bash and zsh. */
const sq = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`
/** A word in single quotes for fish, which also reads backslashes there. */
const fq = (text: string) => `'${text.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`
/** One line of a description, as a completion menu shows it. */
const brief = (text: string) => text.split('\n')[0].replace(/\s+/g, ' ').trim()

/** The completion script of `shell` for the commands and topics oclif loaded. */
export function completionScript(
  shell: string,
  commands: readonly CommandSpec[],
  topics: readonly TopicSpec[],
  bin: string,
): string {
  if (!(SHELLS as readonly string[]).includes(shell))
    throw new UsageError(`completion ${shell}: unknown shell; give one of ${SHELLS.join(', ')}`)
  const m = model(commands, topics)
  return shell === 'fish' ? fishScript(m, bin) : posixScript(shell as 'bash' | 'zsh', m, bin)
}

/** The shared part of bash and zsh: which command the words name, and what the current word can be. */
function decider(m: ReturnType<typeof model>, fn: string): string {
  const ids = [...m.topics, ...m.entries.map((e) => e.id)].join(' ')
  const spec = (v: Values | undefined) =>
    v === undefined
      ? undefined
      : v === 'file' || v === 'none'
        ? `@${v}`
        : 'kind' in v
          ? `@${v.kind}`
          : v.words.join(' ')
  const flagCases = m.entries.flatMap((e) =>
    e.flags
      .filter((f) => f.values !== undefined)
      .map(
        (f) =>
          `    ${f.words.map((w) => sq(`${e.id} ${w}`)).join('|')}) REPLY=${sq(spec(f.values) as string)} ;;`,
      ),
  )
  const flagLists = m.entries.map(
    (e) => `    ${sq(e.id)}) REPLY=${sq(e.flags.map((f) => f.words[0]).join(' '))} ;;`,
  )
  const argCases = m.entries
    .filter((e) => e.arg !== undefined && e.arg !== 'none')
    .map((e) => `    ${sq(e.id)}) REPLY=${sq(spec(e.arg) as string)} ;;`)
  const childCases = ['', ...m.topics].map(
    (t) =>
      `    ${sq(t)}) REPLY=${sq(
        m
          .children(t)
          .map((c) => c.name)
          .join(' '),
      )} ;;`,
  )
  return `# ${fn} CUR WORD...: the candidates for CUR after WORDs (those after the program's name), in
# REPLY: words, or @cgroup, @prefix (asked of ${'`'}tnat64 completion --values${'`'}), @file, @none.
${fn}() {
  local cur=$1 cmd='' next word prev=''
  shift
  REPLY=''
  # After '--' the words are a command line of its own (tnat64 run -- CMD ...): not ours.
  for word in "$@"; do [[ $word == -- ]] && return; done
  for word in "$@"; do
    next=\${cmd:+$cmd:}$word
    case ' ${ids} ' in *" $next "*) cmd=$next ;; *) break ;; esac
  done
  for word in "$@"; do prev=$word; done
  case "$cmd $prev" in
${flagCases.join('\n')}
  esac
  [[ -n $REPLY ]] && return
  if [[ $cur == -* ]]; then
    case $cmd in
${flagLists.join('\n')}
    esac
    return
  fi
  case $cmd in
${childCases.join('\n')}
  esac
  [[ -n $REPLY ]] && return
  # A command's first argument, once no other word follows its name.
  [[ $prev == "\${cmd##*:}" ]] || return
  case $cmd in
${argCases.join('\n')}
  esac
}`
}

function posixScript(shell: 'bash' | 'zsh', m: ReturnType<typeof model>, bin: string): string {
  const head = `# ${shell} completion for ${bin}, made by \`${bin} completion ${shell}\` from the commands' own definitions.`
  const shared = decider(m, '_tnat64_candidates')
  if (shell === 'bash')
    return `${head}
# Load it with: source <(${bin} completion bash)  (or save it as a file bash-completion loads)
${shared}

_tnat64() {
  local cur=\${COMP_WORDS[COMP_CWORD]} words=() i REPLY
  # COMP_WORDBREAKS splits --flag=value at '=': the '=' is not a word of ours.
  [[ $cur == = ]] && cur=''
  for ((i = 1; i < COMP_CWORD; i++)); do
    [[ \${COMP_WORDS[i]} == = ]] || words+=("\${COMP_WORDS[i]}")
  done
  _tnat64_candidates "$cur" "\${words[@]}"
  case $REPLY in
    @cgroup | @prefix) mapfile -t COMPREPLY < <(compgen -W "$("\${COMP_WORDS[0]}" completion --values "\${REPLY#@}" 2>/dev/null)" -- "$cur") ;;
    @file) mapfile -t COMPREPLY < <(compgen -f -- "$cur") && compopt -o filenames 2>/dev/null ;;
    @none) COMPREPLY=() ;;
    *) mapfile -t COMPREPLY < <(compgen -W "$REPLY" -- "$cur") ;;
  esac
  return 0
}
complete -F _tnat64 -o bashdefault -o default ${bin}
`
  return `#compdef ${bin}
${head}
# Load it with: source <(${bin} completion zsh)  (after compinit), or save it as _${bin} in $fpath.
${shared}

_tnat64() {
  local REPLY
  _tnat64_candidates "\${words[CURRENT]}" "\${(@)words[2,CURRENT-1]}"
  case $REPLY in
    @cgroup | @prefix) compadd -- \${(f)"$(\${words[1]} completion --values \${REPLY#@} 2>/dev/null)"} ;;
    @file) _files ;;
    @none) return 1 ;;
    '') _default ;;
    *) compadd -- \${=REPLY} ;;
  esac
}

if [[ \${zsh_eval_context[-1]} == loadautofunc ]]; then
  _tnat64 "$@"
else
  compdef _tnat64 ${bin}
fi
`
}

function fishScript(m: ReturnType<typeof model>, bin: string): string {
  const ids = [...m.topics, ...m.entries.map((e) => e.id)]
  const lines = [
    `# fish completion for ${bin}, made by \`${bin} completion fish\` from the commands' own definitions.`,
    `# Load it with: ${bin} completion fish | source  (or save it as ~/.config/fish/completions/${bin}.fish)`,
    `set -g __tnat64_ids ${ids.map(fq).join(' ')}`,
    "# The command the words so far name (cache:set), nothing yet, or '--' once the words after it",
    '# are a command line of its own (tnat64 run -- CMD ...).',
    'function __tnat64_command',
    '    if contains -- -- (commandline -opc)',
    '        echo --',
    '        return',
    '    end',
    "    set -l cmd ''",
    '    for word in (commandline -opc)[2..-1]',
    '        set -l next $word',
    '        test -n "$cmd"; and set next $cmd:$word',
    '        contains -- $next $__tnat64_ids; or break',
    '        set cmd $next',
    '    end',
    '    echo $cmd',
    'end',
    'function __tnat64_is',
    '    set -l cmd (__tnat64_command)',
    '    test "$cmd" = "$argv[1]"',
    'end',
    `complete -c ${bin} -f`,
    `complete -c ${bin} -n '__tnat64_is --' -F`,
  ]
  for (const t of ['', ...m.topics])
    for (const c of m.children(t))
      lines.push(
        `complete -c ${bin} -n ${fq(`__tnat64_is ${fq(t)}`)} -a ${fq(c.name)} -d ${fq(brief(c.description))}`,
      )
  const values = (v: Values | undefined) => {
    if (v === undefined) return ''
    if (v === 'file') return ' -r -F'
    if (v === 'none') return ' -x'
    if ('kind' in v) return ` -x -a ${fq(`(${bin} completion --values ${v.kind} 2>/dev/null)`)}`
    return ` -x -a ${fq(v.words.join(' '))}`
  }
  for (const e of m.entries) {
    const when = `-n ${fq(`__tnat64_is ${e.id}`)}`
    for (const f of e.flags) {
      const [long, short] = f.words
      lines.push(
        `complete -c ${bin} ${when} -l ${long.slice(2)}${short ? ` -s ${short.slice(1)}` : ''}${values(f.values)} -d ${fq(brief(f.description))}`,
      )
    }
    if (e.arg === 'file' || e.takesCommand) lines.push(`complete -c ${bin} ${when} -F`)
    else if (e.arg !== undefined && e.arg !== 'none') lines.push(`complete -c ${bin} ${when}${values(e.arg)}`)
  }
  return `${lines.join('\n')}\n`
}

/** What `completion --values KIND` prints: one candidate a line; nothing it cannot read. */
export async function completionValues(kind: ValueKind): Promise<string[]> {
  return kind === 'cgroup' ? cgroupNames() : prefixesInForce()
}

/** Every cgroup, relative to the cgroup2 mount as --cgroup takes it. */
function cgroupNames(): string[] {
  const mount = cgroup2Mount()
  const names: string[] = []
  const stack = [mount]
  while (stack.length > 0) {
    const dir = stack.pop() as string
    let entries: Dirent[] = []
    try {
      entries = readdirSync(dir, { withFileTypes: true })
    } catch {
      continue // removed as we walk
    }
    for (const entry of entries)
      if (entry.isDirectory()) {
        stack.push(join(dir, entry.name))
        names.push(relative(mount, join(dir, entry.name)))
      }
  }
  return names.sort()
}

/** The prefixes in force: kernel mode's (as root, when attached), discovered ones, the well-known one. */
async function prefixesInForce(): Promise<string[]> {
  const found = new Set<string>()
  if (isRoot()) {
    try {
      // Loaded only here: it brings libbpf, which only root's completion can use.
      const { isLoaded } = await import('./kernel/pins.js')
      if (isLoaded())
        for (const p of (await import('./kernel/prefixes.js')).listPrefixes()) found.add(p.prefix)
    } catch {
      // completion stays silent: what could not be read is not offered
    }
  }
  for (const f of readHostState()?.found ?? []) found.add(f.prefix)
  found.add(WELL_KNOWN_PREFIX)
  return [...found]
}
