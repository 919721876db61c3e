import { Flags } from '@oclif/core'
import { describeCgroup } from '../../lib/kernel/attach.js'
import { listPins } from '../../lib/kernel/cache.js'
import { KernelCommand } from '../../lib/kernel/command.js'

export default class CacheList extends KernelCommand {
  static override summary = 'List the destinations an operator pinned to IPv4 or NAT64, per cgroup (root)'
  static override flags = {
    cgroup: Flags.string({ char: 'g', description: 'only this attached cgroup' }),
  }

  async run(): Promise<{ cgroup: string; destination: string; method: string }[]> {
    const { flags } = await this.parse(CacheList)
    const list = listPins({ cgroup: flags.cgroup }).flatMap(({ id, pins }) => {
      const cgroup = describeCgroup(id).path ?? `cgroup ${id}`
      return pins.map((p) => ({ cgroup, ...p }))
    })
    for (const e of list) this.log(`${e.destination}  ${e.method}  ${e.cgroup}`)
    return list
  }
}
