// Entry point behind bin/tnat64: the read commands that need no oclif run directly (direct.ts), the
// rest through oclif, loaded only then; one error policy (src/lib/errors.ts) for both.
import { fileURLToPath } from 'node:url'
import { runDirect } from './direct.js'
import { reportFailure } from './lib/errors.js'

export async function main(argv: string[], root: string, options: { direct?: boolean } = {}): Promise<void> {
  // A reader that stops early (`tnat64 status | head -3`): the rest of the output has nowhere to
  // go, which is no failure of ours; the same end whichever way the command ran.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error
    process.exit(0)
  })
  if (options.direct !== false && (await runDirect(argv))) return
  try {
    const { flush, run } = await import('@oclif/core')
    // No user or dev plugins: nothing is read from the caller's home, and start-up stays short.
    await run(argv, { root: fileURLToPath(root), userPlugins: false, devPlugins: false })
    await flush()
  } catch (error) {
    reportFailure(error, false)
  }
}
