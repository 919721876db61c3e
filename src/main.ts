// Entry point behind bin/tnat64: runs oclif and applies the one error policy of src/lib/errors.ts.
import { fileURLToPath } from 'node:url'
import { flush, run } from '@oclif/core'
import { ENV_DEBUG } from './lib/defaults.js'
import { reportError } from './lib/errors.js'

export async function main(argv: string[], root: string): Promise<void> {
  try {
    // No user or dev plugins: nothing is read from the caller's home, and start-up stays short.
    await run(argv, { root: fileURLToPath(root), userPlugins: false, devPlugins: false })
    await flush()
  } catch (error) {
    const { lines, exitCode } = reportError(error)
    for (const line of lines) process.stderr.write(`${line}\n`)
    if (process.env[ENV_DEBUG] && error instanceof Error && exitCode === 1) {
      process.stderr.write(`${error.stack}\n`)
    }
    process.exitCode = exitCode
  }
}
