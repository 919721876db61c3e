// Command lines: where our flags end and the command begins, and running that command as a
// wrapper should (signals forwarded, its ending passed on).
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { constants } from 'node:os'
import { CommandFailure } from './errors.js'

/** A word as a POSIX shell reads it back: quoted only when it has to be. */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`
}

/**
 * Splits `[FLAGS] [--] CMD [ARGS...]` at the command: the first word that is neither one of our
 * flags nor the value of one, or whatever follows `--`. So `tnat64 run java -jar x.jar` works as
 * `tnat64 run -- java -jar x.jar` does.
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

/** What /proc/PID/stat says of a process: its name, its state letter, when it started. */
export interface ProcStat {
  readonly comm: string
  /** R, S, D, Z (a zombie: ended, not reaped), ... */
  readonly state: string
  /** Field 22, in clock ticks since boot: with the pid, it names one process for good. */
  readonly start: string
}

/** A process's /proc/PID/stat; undefined once it is gone. */
export function procStat(pid: number): ProcStat | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The name is in parentheses and may hold any character: the fields follow the last ')'.
    const end = stat.lastIndexOf(')')
    const fields = stat.slice(end + 2).split(' ')
    return { comm: stat.slice(stat.indexOf('(') + 1, end), state: fields[0], start: fields[19] }
  } catch {
    return undefined
  }
}

/** When a process started: a pid alone may be reused once it has ended. */
export function processStart(pid: number): string | undefined {
  return procStat(pid)?.start
}
