// The read commands that scripts and prompts run often — translate, config show, status — run here
// without oclif, whose loading alone costs more than node's own start-up: their flags and arguments
// as the build's manifest records the commands' definitions, parsed by node's parseArgs, and the
// same body (src/lib), output and error policy as their oclif commands. Whatever this runner is
// not sure of — help, a flag it does not know or that comes twice, an argument too many or
// missing, a flag with a relationship or a fixed set of values, --debug — goes to oclif, which
// says what is wrong the usual way.
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { reportFailure } from './lib/errors.js'
import type { Output } from './lib/output.js'
import { MANIFEST } from './lib/paths.js'
import type { RootNeed } from './lib/privilege.js'

type Flags = Record<string, string | boolean | undefined>
type Body = (args: Record<string, string>, flags: Flags, out: Output) => unknown

/** Each direct command: its body, and the root its oclif command asks for (test/cli.test.ts holds
 * the two equal). */
export const DIRECT: Record<string, { root?: RootNeed; body: () => Promise<Body> }> = {
  translate: {
    body: async () => {
      const { translateCommand } = await import('./lib/translate.js')
      return (args, flags, out) =>
        translateCommand(args.address, flags as { prefix?: string; config?: string }, out)
    },
  },
  'config:show': {
    body: async () => {
      const { showConfig } = await import('./lib/config-report.js')
      return (_args, flags, out) => showConfig(flags as { host?: string; config?: string }, out)
    },
  },
  status: {
    root: 'kernel',
    body: async () => {
      const { showStatus } = await import('./lib/kernel/stats.js')
      return (_args, _flags, out) => showStatus(out)
    },
  },
}

interface ManifestFlag {
  type: 'boolean' | 'option'
  char?: string
  multiple?: boolean
  allowNo?: boolean
  options?: string[]
  default?: unknown
  exclusive?: string[]
  dependsOn?: string[]
  exactlyOne?: string[]
  relationships?: unknown[]
}
interface ManifestCommand {
  flags: Record<string, ManifestFlag>
  args: Record<string, { required?: boolean }>
}

/** Runs argv here when it is one of the direct commands, plainly given; false: oclif must. */
export async function runDirect(argv: string[]): Promise<boolean> {
  // `config show`, or oclif's other spelling `config:show`: the words the command's name took.
  const topic = argv.length > 1 ? `${argv[0]}:${argv[1]}` : ''
  const [id, words] = DIRECT[topic] ? [topic, 2] : DIRECT[argv[0]] ? [argv[0], 1] : [undefined, 0]
  if (!id || process.env.TNAT64_CONTENT_TYPE !== undefined) return false
  const rest = argv.slice(words)
  if (rest.some((a) => a === '--help' || a === '-h' || a === '--')) return false
  const command = readManifest()?.commands?.[id]
  const parsed = command && parse(command, rest)
  if (!parsed) return false
  const { args, flags } = parsed
  const json = flags.json === true
  const out: Output = {
    log: (line) => json || process.stdout.write(`${line}\n`),
    logToStderr: (line) => json || process.stderr.write(`${line}\n`),
  }
  try {
    const { root, body } = DIRECT[id]
    if (root) (await import('./lib/privilege.js')).requireRoot(root)
    const data = await (await body())(args, flags, out)
    if (json) process.stdout.write(`${JSON.stringify(data, null, 2)}\n`)
  } catch (error) {
    reportFailure(error, json)
  }
  return true
}

function readManifest(): { commands?: Record<string, ManifestCommand> } | undefined {
  try {
    return JSON.parse(readFileSync(MANIFEST, 'utf8'))
  } catch {
    return undefined
  }
}

/** The arguments and flags, when nothing in them needs oclif's judgement. */
function parse(
  command: ManifestCommand,
  argv: string[],
): { args: Record<string, string>; flags: Flags } | undefined {
  const options: Record<string, { type: 'boolean' | 'string'; short?: string }> = {}
  for (const [name, flag] of Object.entries(command.flags)) {
    const plain =
      !flag.multiple &&
      !flag.allowNo &&
      !flag.options &&
      flag.default === undefined &&
      !flag.exclusive?.length &&
      !flag.dependsOn?.length &&
      !flag.exactlyOne?.length &&
      !flag.relationships?.length &&
      name !== 'debug'
    if (!plain) continue
    options[name] = {
      type: flag.type === 'boolean' ? 'boolean' : 'string',
      ...(flag.char ? { short: flag.char } : {}),
    }
  }
  let result: ReturnType<typeof parseArgs>
  try {
    result = parseArgs({ args: argv, options, allowPositionals: true, strict: true, tokens: true })
  } catch {
    return undefined
  }
  const given = result.tokens?.filter((t) => t.kind === 'option') ?? []
  if (new Set(given.map((t) => t.name)).size !== given.length) return undefined
  // `-p=VALUE`: oclif takes VALUE, parseArgs `=VALUE`.
  if (given.some((t) => t.rawName.length === 2 && t.inlineValue && t.value?.startsWith('='))) return undefined
  const names = Object.keys(command.args)
  if (result.positionals.length > names.length) return undefined
  const args: Record<string, string> = {}
  for (const [i, name] of names.entries()) {
    if (i < result.positionals.length) args[name] = result.positionals[i]
    else if (command.args[name].required) return undefined
  }
  return { args, flags: result.values as Flags }
}
