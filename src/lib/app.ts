// `tnat64 app`: run a program with libtnat64.so preloaded, its configuration checked first.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { constants } from 'node:os'
import { resolve as resolvePath } from 'node:path'
import { loadConfig } from './config.js'
import { CommandFailure } from './errors.js'
import { PRELOAD_LIBRARY } from './paths.js'
import { prefixArgument } from './translate.js'

export interface AppOptions {
  readonly config?: string
  readonly prefix?: string
  readonly debug?: boolean
}

/**
 * The variables that put a program under tnat64. The configuration (and --prefix) are validated
 * here, so a broken file is refused up front with its lines rather than silently ignored.
 */
export function appEnvironment(
  options: AppOptions,
  env: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  if (options.prefix !== undefined) prefixArgument(options.prefix)
  const config = options.config === undefined ? undefined : resolvePath(options.config)
  loadConfig(config, env)
  if (!existsSync(PRELOAD_LIBRARY)) {
    throw new CommandFailure(`${PRELOAD_LIBRARY} is not built (run: npm run build)`)
  }
  const preload = (env.LD_PRELOAD ?? '').split(/[:\s]+/).filter((p) => p !== '' && p !== PRELOAD_LIBRARY)
  const vars: Record<string, string> = { LD_PRELOAD: [PRELOAD_LIBRARY, ...preload].join(' ') }
  if (config !== undefined) vars.TNAT64_CONF_FILE = config
  if (options.prefix !== undefined) vars.TNAT64_PREFIX = options.prefix
  if (options.debug && !Number(env.TNAT64_DEBUG)) vars.TNAT64_DEBUG = '1'
  return vars
}

/** A word as a POSIX shell reads it back: quoted only when it has to be. */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`
}

/** `export NAME='value'` lines for `eval "$(tnat64 app --env)"`. */
export function shellExports(vars: Record<string, string>): string {
  return Object.entries(vars)
    .map(([name, value]) => `export ${name}=${shellQuote(value)}\n`)
    .join('')
}

/**
 * Splits `[FLAGS] [--] CMD [ARGS...]` at the command: the first word that is neither one of our
 * flags nor the value of one, or whatever follows `--`. So `tnat64 app curl -v URL` works as
 * `tnat64 app -- curl -v URL` does.
 */
export function splitCommand(
  argv: string[],
  flagsWithValues: Set<string>,
): { own: string[]; command: string[] } {
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]
    if (word === '--') return { own: argv.slice(0, i), command: argv.slice(i + 1) }
    if (!word.startsWith('-') || word === '-') return { own: argv.slice(0, i), command: argv.slice(i) }
    if (flagsWithValues.has(word)) i++
  }
  return { own: argv, command: [] }
}

/** The words that name our flags taking a value (`--config`, `-c`, ...), for splitCommand. */
export function valueFlags(flags: Record<string, { type: string; char?: string }>): Set<string> {
  return new Set(
    Object.entries(flags)
      .filter(([, flag]) => flag.type === 'option')
      .flatMap(([name, flag]) => [`--${name}`, ...(flag.char ? [`-${flag.char}`] : [])]),
  )
}

const FORWARDED: NodeJS.Signals[] = ['SIGTERM', 'SIGHUP', 'SIGUSR1', 'SIGUSR2']
// The terminal sends these to the whole process group, the program included: not sent twice.
const LEFT_TO_THE_TERMINAL: NodeJS.Signals[] = ['SIGINT', 'SIGQUIT']

export interface Ending {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

/**
 * Runs a program with `vars` added to the environment, forwarding signals, until it ends. Start
 * failures are reported as a shell would (127 not found, 126 not executable).
 */
export function runCommand(command: string[], vars: Record<string, string>): Promise<Ending> {
  const [file, ...args] = command
  const child = spawn(file, args, { stdio: 'inherit', env: { ...process.env, ...vars } })
  const forward = (signal: NodeJS.Signals) => child.kill(signal)
  const ignore = () => {}
  for (const signal of FORWARDED) process.on(signal, forward)
  for (const signal of LEFT_TO_THE_TERMINAL) process.on(signal, ignore)
  const stopForwarding = () => {
    for (const signal of FORWARDED) process.off(signal, forward)
    for (const signal of LEFT_TO_THE_TERMINAL) process.off(signal, ignore)
  }
  return new Promise((resolve, reject) => {
    child.on('error', (error: NodeJS.ErrnoException) => {
      stopForwarding()
      const exitCode = error.code === 'ENOENT' ? 127 : 126
      const why = error.code === 'ENOENT' ? 'command not found' : error.message
      reject(new CommandFailure(`${file}: ${why}`, exitCode))
    })
    child.on('exit', (code, signal) => {
      stopForwarding()
      resolve({ code, signal })
    })
  })
}

/** Ends this process the way the program ended: with its exit status, or by the same signal. */
export function exitAs(ending: Ending): never {
  if (ending.signal) process.kill(process.pid, ending.signal)
  process.exit(ending.code ?? 128 + (ending.signal ? constants.signals[ending.signal] : 0))
}
