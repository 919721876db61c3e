import { clearPins } from '../../lib/kernel/cache.js'
import { KernelCommand, targetFlags } from '../../lib/kernel/command.js'

export default class CacheFlush extends KernelCommand {
  static override summary = "Remove the operator's pins of an attached cgroup, or of every cgroup (root)"
  static override flags = targetFlags

  async run(): Promise<{ removed: number }> {
    const { flags } = await this.parse(CacheFlush)
    const removed = clearPins(flags)
    this.log(`removed ${removed} pin${removed === 1 ? '' : 's'}`)
    return { removed }
  }
}
