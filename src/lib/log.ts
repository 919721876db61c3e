// Lines of long-running commands (`--watch`, `--listen`): one per event, stamped with the time it
// happened, written at once (a service manager's journal sees each as it comes).
import { writeSync } from 'node:fs'

/** The time now, to the second, in UTC: `2026-11-27T04:40:00Z`. */
export function timestamp(date = new Date()): string {
  return `${date.toISOString().slice(0, 19)}Z`
}

export const LOG_FORMATS = ['text', 'json'] as const
export type LogFormat = (typeof LOG_FORMATS)[number]

/** What a long-running command calls for each event: `fields` only show in the JSON form; `at`,
 * when the event happened earlier than it is written. */
export type EventLog = (message: string, fields?: Record<string, unknown>, at?: Date) => void

/** An event log on stdout in `format`; each line in one write, synchronously. */
export function eventLog(format: string, fd = 1): EventLog {
  return (message, fields = {}, at = new Date()) => {
    const time = timestamp(at)
    const line = format === 'json' ? JSON.stringify({ time, message, ...fields }) : `${time} ${message}`
    writeAll(fd, Buffer.from(`${line}\n`))
  }
}

const pause = new Int32Array(new SharedArrayBuffer(4))

/** The whole line, even to a non-blocking pipe that is full for a moment (node makes a pipe on
 * stdout non-blocking): a reader slower than the events holds the writer back, never cuts a line. */
function writeAll(fd: number, bytes: Buffer): void {
  let offset = 0
  while (offset < bytes.length) {
    try {
      offset += writeSync(fd, bytes, offset)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e
      Atomics.wait(pause, 0, 0, 1)
    }
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
