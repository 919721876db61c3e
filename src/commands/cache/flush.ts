import { Command } from '@oclif/core'
import { flushCache, requireKernelPrivilege } from '../../lib/kernel.js'

export default class CacheFlush extends Command {
  static override summary = "Empty kernel mode's destination cache (root)"

  async run(): Promise<void> {
    await this.parse(CacheFlush)
    requireKernelPrivilege()
    const n = flushCache()
    this.log(`removed ${n} entr${n === 1 ? 'y' : 'ies'}`)
  }
}
