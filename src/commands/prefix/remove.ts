import { Args } from '@oclif/core'
import { KernelCommand, targetFlags } from '../../lib/kernel/command.js'
import { removePrefix } from '../../lib/kernel/prefixes.js'
import { prefixArgument } from '../../lib/translate.js'

export default class PrefixRemove extends KernelCommand {
  static override summary =
    'Remove every rule that uses a NAT64 prefix from an attached cgroup, or every cgroup (root)'
  static override args = { prefix: Args.string({ required: true, description: 'NAT64 prefix' }) }
  static override flags = targetFlags

  async run(): Promise<{ prefix: string; cgroups: string[] }> {
    const { args, flags } = await this.parse(PrefixRemove)
    const prefix = prefixArgument(args.prefix, 'PREFIX')
    const cgroups = removePrefix(flags, prefix)
    this.log(`removed ${prefix.text} from ${cgroups.join(', ')}`)
    return { prefix: prefix.text, cgroups }
  }
}
