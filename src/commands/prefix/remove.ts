import { Args, Command } from '@oclif/core'
import { CommandFailure } from '../../lib/errors.js'
import { removePrefix } from '../../lib/kernel.js'
import { prefixArgument } from '../../lib/translate.js'

export default class PrefixRemove extends Command {
  static override summary = 'Remove every kernel-mode rule that uses a NAT64 prefix (root)'
  static override args = { prefix: Args.string({ required: true, description: 'NAT64 prefix' }) }

  async run(): Promise<void> {
    const { args } = await this.parse(PrefixRemove)
    const prefix = prefixArgument(args.prefix, 'PREFIX')
    if (!removePrefix(prefix)) throw new CommandFailure(`no rule uses ${prefix.text}`)
    this.log(`removed ${prefix.text}`)
  }
}
