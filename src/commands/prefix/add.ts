import { Args, Command, Flags } from '@oclif/core'
import { AddressError } from '../../lib/address.js'
import { UsageError } from '../../lib/errors.js'
import { parseIpv4Net } from '../../lib/ipv4net.js'
import { addPrefix } from '../../lib/kernel.js'
import { prefixArgument } from '../../lib/translate.js'

export default class PrefixAdd extends Command {
  static override summary = 'Add a NAT64 prefix to the rules in force in kernel mode (root)'
  static override description =
    'With --subnet, destinations in those IPv4 networks go through PREFIX (a path; a subnet moves here from any other path); without, PREFIX becomes the default.'
  static override examples = [
    '<%= config.bin %> prefix add 2001:db8:64::/96',
    '<%= config.bin %> prefix add 2001:db8:100::/40 --subnet 10.0.0.0/8 --subnet 150.0.0.0/16',
  ]
  static override args = {
    prefix: Args.string({ required: true, description: 'NAT64 prefix (RFC 6052 length)' }),
  }
  static override flags = {
    subnet: Flags.string({
      char: 's',
      multiple: true,
      description: 'IPv4 network reached through the prefix',
    }),
  }

  async run(): Promise<void> {
    const { args, flags } = await this.parse(PrefixAdd)
    const prefix = prefixArgument(args.prefix, 'PREFIX')
    const subnets = (flags.subnet ?? []).map((text) => {
      try {
        return parseIpv4Net(text)
      } catch (e) {
        if (e instanceof AddressError) throw new UsageError(`--subnet: ${e.message}`)
        throw e
      }
    })
    addPrefix(prefix, subnets)
    this.log(
      subnets.length === 0
        ? `default prefix is ${prefix.text}`
        : `${subnets.map((s) => s.text).join(', ')} -> ${prefix.text}`,
    )
  }
}
