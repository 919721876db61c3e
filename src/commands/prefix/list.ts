import { KernelCommand } from '../../lib/kernel/command.js'
import { listPrefixes, type PrefixUse } from '../../lib/kernel/prefixes.js'

export default class PrefixList extends KernelCommand {
  static override summary =
    'List the NAT64 prefixes of kernel mode: which cgroups use them for what, and their reachability here (root)'

  async run(): Promise<PrefixUse[]> {
    await this.parse(PrefixList)
    const list = listPrefixes()
    for (const p of list) {
      const uses = p.uses.map((u) => `${u.cgroup}: ${u.serves.join(', ')}`).join('; ')
      this.log(`${p.prefix}  ${p.reachable ? 'reachable' : 'unreachable'}  ${uses}`)
    }
    return list
  }
}
