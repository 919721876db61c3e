// Entry point behind bin/tnat64: the read commands that need no oclif run directly (direct.ts), the
// rest through oclif, loaded only then; one error policy (src/lib/errors.ts) for both.
import { fileURLToPath } from 'node:url'
import { runDirect } from './direct.js'
import { reportFailure } from './lib/errors.js'

export async function main(argv: string[], root: string, options: { direct?: boolean } = {}): Promise<void> {
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
