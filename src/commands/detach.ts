import { Flags } from '@oclif/core'
import { UsageError } from '../lib/errors.js'
import { detachAll, detachNamed } from '../lib/kernel/attach.js'
import { KernelCommand } from '../lib/kernel/command.js'

export default class Detach extends KernelCommand {
  static override summary = 'Detach tnat64 from a cgroup, or from every cgroup (root)'
  static override description =
    'Open connections keep working. A cgroup removed while attached is named by the path it had, or by its id (--id, as status shows it). When no cgroup is left attached, the maps and the pin directory are removed too: nothing of tnat64 stays in the kernel or in bpffs.'
  static override examples = [
    '<%= config.bin %> detach --cgroup tnat64-apps',
    '<%= config.bin %> detach --all',
  ]
  static override flags = {
    cgroup: Flags.string({
      char: 'g',
      description: 'cgroup: absolute, or relative to the cgroup2 mount',
      exactlyOne: ['cgroup', 'id', 'all'],
    }),
    id: Flags.string({
      description: 'cgroup id, as status shows it: for a cgroup removed while attached',
      exactlyOne: ['cgroup', 'id', 'all'],
    }),
    all: Flags.boolean({
      description: 'every attached cgroup, and every pin',
      exactlyOne: ['cgroup', 'id', 'all'],
    }),
  }

  async run(): Promise<{ detached: number }> {
    const { flags } = await this.parse(Detach)
    if (flags.all) {
      const n = detachAll()
      this.log(`detached from ${n} cgroup${n === 1 ? '' : 's'}; nothing of tnat64 is left in the kernel`)
      return { detached: n }
    }
    if (flags.id !== undefined && !/^\d+$/.test(flags.id))
      throw new UsageError(`--id ${flags.id}: not a cgroup id`)
    this.log(`detached from ${detachNamed(flags)}`)
    return { detached: 1 }
  }
}
