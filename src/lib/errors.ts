// The CLI's error policy: bad input exits 2 with one line naming the problem, a failure exits 1.
import { ENV_DEBUG } from './defaults.js'

/** A problem of a configuration file, at its line (0: the file as a whole). */
export interface ConfigIssue {
  readonly file: string
  readonly line: number
  readonly message: string
}

/** `file:line: problem`, or `file: problem` for the file as a whole (line 0). */
export function formatIssue(issue: ConfigIssue): string {
  return issue.line > 0 ? `${issue.file}:${issue.line}: ${issue.message}` : `${issue.file}: ${issue.message}`
}

/** Every error of a configuration file at once: exit 2, one `file:line: problem` line each. */
export class ConfigError extends Error {
  constructor(readonly issues: ConfigIssue[]) {
    super(issues.map(formatIssue).join('\n'))
  }
}

/** Bad input that the user can fix: a malformed argument, an address outside the prefix, ... */
export class UsageError extends Error {}

/**
 * A failure with its own exit code and no stack: missing privilege, a lab that would not start.
 * `details` (libbpf's messages, the verifier's reason) follow the one line, indented.
 */
export class CommandFailure extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
    readonly details: readonly string[] = [],
  ) {
    super(message)
  }
}

export interface Report {
  readonly lines: string[]
  readonly exitCode: number
}

interface OclifError extends Error {
  oclif?: { exit?: number }
  parse?: unknown
  code?: string
}

/** Turns whatever a command threw into the lines to print and the exit code. */
export function reportError(error: unknown): Report {
  const e = error as OclifError
  if (e?.code === 'EEXIT') return { lines: [], exitCode: e.oclif?.exit ?? 0 }
  if (error instanceof ConfigError) return { lines: error.issues.map(formatIssue), exitCode: 2 }
  if (error instanceof UsageError) return { lines: [`tnat64: ${error.message}`], exitCode: 2 }
  if (error instanceof CommandFailure)
    return {
      lines: [`tnat64: ${error.message}`, ...error.details.map((d) => `  ${d}`)],
      exitCode: error.exitCode,
    }
  const message = oneLine(e?.message ?? String(error))
  // oclif's own parse errors (unknown flag, missing argument, a flag without its value, given twice
  // or with a value outside its set) and an unknown command are usage errors; all but the first two
  // carry no `parse` field (oclif's parser throws them as plain CLIErrors): only their message tells.
  if (
    e?.parse !== undefined ||
    /^(command .* not found|Flag --\S+ (expects a value|expects one of these values|can only be specified once|can only be read from stdin)|Unexpected flag )/.test(
      message,
    )
  ) {
    return { lines: [`tnat64: ${message} (see --help)`], exitCode: 2 }
  }
  return { lines: [`tnat64: error: ${message}`], exitCode: 1 }
}

/**
 * Says what went wrong, by the policy above: its lines on stderr, and under --json also one small
 * object on stdout (oclif would serialise its whole parse state); with $TNAT64_DEBUG the stack of
 * an unexpected failure. Sets the exit code.
 */
export function reportFailure(error: unknown, json: boolean): void {
  const { lines, exitCode } = reportError(error)
  for (const line of lines) process.stderr.write(`${line}\n`)
  if (json) {
    const message = lines.join('\n').replace(/^tnat64: /, '')
    process.stdout.write(`${JSON.stringify({ error: { message, exitCode } }, null, 2)}\n`)
  }
  if (process.env[ENV_DEBUG] && error instanceof Error && exitCode === 1)
    process.stderr.write(`${error.stack}\n`)
  process.exitCode = exitCode
}

/** oclif spreads a parse error over lines ("Missing 1 required arg:", the argument, "See more help"). */
function oneLine(text: string): string {
  return text
    .split('\n')
    .map((l) => l.replace(/\s+/g, ' ').trim())
    .filter((l) => l !== '' && !l.startsWith('See more help'))
    .join(' ')
}
