import { Command, Flags } from '@oclif/core'
import { cacheEntries, requireKernelPrivilege } from '../../lib/kernel.js'

export default class CacheList extends Command {
  static override summary =
    'List the destinations kernel mode has seen or was told, and the method each uses (root)'
  static override flags = { json: Flags.boolean({ description: 'print the list as JSON' }) }

  async run(): Promise<void> {
    const { flags } = await this.parse(CacheList)
    requireKernelPrivilege()
    const entries = cacheEntries()
    if (flags.json) return this.log(JSON.stringify(entries, null, 2))
    for (const e of entries) this.log(`${e.destination}  ${e.method}  (${e.source})`)
  }
}
