// `tnat64 run`: one command in a fresh cgroup with kernel mode attached, cleaned up after it.
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { type Ending, runCommand } from '../command-line.js'
import type { Config } from '../config.js'
import { attach, detach } from './attach.js'
import { createCgroup, removeCgroup } from './cgroup.js'

/** Runs the command; `warn` hears of a cgroup that could not be removed (processes left in it). */
export async function runInCgroup(
  command: string[],
  config: Config,
  warn: (line: string) => void,
): Promise<Ending> {
  // The pid alone is not unique: other pid namespaces, and runs killed before they cleaned up.
  const cgroup = createCgroup(`tnat64-run-${process.pid}-${randomBytes(4).toString('hex')}`)
  try {
    attach(cgroup, config)
    // The shell joins the cgroup first, then becomes the command: nothing runs outside it.
    const enter = `echo $$ > ${join(cgroup.path, 'cgroup.procs')} && exec "$@"`
    return await runCommand(['sh', '-c', enter, 'sh', ...command], {})
  } finally {
    detach(cgroup.id)
    if (!removeCgroup(cgroup))
      warn(
        `could not remove ${cgroup.path}: processes the command left behind are still in it (rmdir it once they end)`,
      )
  }
}
