// The CLI's error policy: bad input exits 2 with one line naming the problem, a failure exits 1.
import { ConfigError, formatIssue } from './config.js'

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
  // oclif's own parse errors (unknown flag, missing argument, a flag without its value) and an unknown
  // command are usage errors; the last two carry no `parse` field, only their message tells.
  if (e?.parse !== undefined || /^(command .* not found|Flag --\S+ expects a value)/.test(message)) {
    return { lines: [`tnat64: ${message} (see --help)`], exitCode: 2 }
  }
  return { lines: [`tnat64: error: ${message}`], exitCode: 1 }
}

/** oclif spreads a parse error over lines ("Missing 1 required arg:", the argument, "See more help"). */
function oneLine(text: string): string {
  return text
    .split('\n')
    .map((l) => l.replace(/\s+/g, ' ').trim())
    .filter((l) => l !== '' && !l.startsWith('See more help'))
    .join(' ')
}
