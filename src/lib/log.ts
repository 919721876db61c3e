// Lines of long-running commands (`--watch`, `--listen`): one per event, stamped with the time it
// happened, written at once (a service manager's journal sees each as it comes).
import { writeSync } from 'node:fs'
import { Flags } from '@oclif/core'

/** The time now, to the second, in UTC: `2026-11-27T04:40:00Z`. */
export function timestamp(date = new Date()): string {
  return `${date.toISOString().slice(0, 19)}Z`
}

export const LOG_FORMATS = ['text', 'json'] as const
export type LogFormat = (typeof LOG_FORMATS)[number]

/** `--log-format`, for every command that runs until stopped. */
export const logFormatFlag = Flags.string({
  options: [...LOG_FORMATS],
  default: 'text',
  description: 'event lines as "TIME MESSAGE" text, or as one JSON object a line ({"time", "message", ...})',
})

/** What a long-running command calls for each event: `fields` only show in the JSON form. */
export type EventLog = (message: string, fields?: Record<string, unknown>) => void

/** An event log on stdout in `format`; each line in one write, synchronously. */
export function eventLog(format: string, fd = 1): EventLog {
  return (message, fields = {}) => {
    const time = timestamp()
    const line = format === 'json' ? JSON.stringify({ time, message, ...fields }) : `${time} ${message}`
    writeSync(fd, `${line}\n`)
  }
}

/** Resolves on SIGTERM or SIGINT: a command running until stopped ends cleanly, exit 0. */
export function untilStopped(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.off('SIGTERM', stop)
      process.off('SIGINT', stop)
      resolve(signal)
    }
    process.on('SIGTERM', stop)
    process.on('SIGINT', stop)
  })
}
