// The base of commands whose run() returns the data `--json` prints (oclif's enableJsonFlag).
import { Command } from '@oclif/core'
import { reportError } from './errors.js'

export abstract class JsonCommand extends Command {
  static override enableJsonFlag = true

  /** With --json a failure is also one small object on stdout (oclif would serialise its whole
   * parse state), beside the usual line on stderr and the usual exit code. */
  protected override async catch(error: Error): Promise<void> {
    if (!this.jsonEnabled()) throw error
    const { lines, exitCode } = reportError(error)
    for (const line of lines) process.stderr.write(`${line}\n`)
    this.logJson({ error: { message: lines.join('\n').replace(/^tnat64: /, ''), exitCode } })
    process.exitCode = exitCode
  }
}
