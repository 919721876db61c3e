import { Command, Flags } from '@oclif/core'
import { kernelConfig, prefixStates, requireKernelPrivilege } from '../../lib/kernel.js'
import { compileRules } from '../../lib/rules.js'

export default class PrefixList extends Command {
  static override summary =
    'List the NAT64 prefixes of kernel mode, the subnets they serve and their reachability (root)'
  static override flags = { json: Flags.boolean({ description: 'print the list as JSON' }) }

  async run(): Promise<void> {
    const { flags } = await this.parse(PrefixList)
    requireKernelPrivilege()
    const config = kernelConfig()
    const list = prefixStates(compileRules(config)).map((state) => ({
      ...state,
      default:
        config.defaultPrefix?.value.text === state.prefix ||
        (!config.defaultPrefix && state.prefix === '64:ff9b::/96'),
      subnets: config.paths
        .filter((p) => p.prefix.value.text === state.prefix)
        .flatMap((p) => p.subnets.map((s) => s.value.text)),
    }))
    if (flags.json) return this.log(JSON.stringify(list, null, 2))
    for (const p of list) {
      const serves = [...(p.default ? ['default'] : []), ...p.subnets].join(', ')
      this.log(`${p.prefix}  ${p.reachable ? 'reachable' : 'unreachable'}  ${serves}`)
    }
  }
}
