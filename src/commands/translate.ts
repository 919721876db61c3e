import { Args } from '@oclif/core'
import { BaseCommand, configFlags } from '../lib/command.js'
import { WELL_KNOWN_PREFIX } from '../lib/defaults.js'
import { type Translation, translateCommand } from '../lib/translate.js'

export default class Translate extends BaseCommand {
  static override summary = 'Translate an IPv4 address to its NAT64 address, or a NAT64 address back to IPv4'
  static override description =
    `An IPv4 address is embedded in the prefix (RFC 6052); an IPv6 address inside the prefix gives back the IPv4 address it carries.
The prefix is --prefix, else the one the configuration gives the destination, else ${WELL_KNOWN_PREFIX}.`
  static override examples = [
    '<%= config.bin %> translate 192.0.2.33 --prefix 2001:db8:100::/40',
    '<%= config.bin %> translate 2001:db8:1c0:2:21:: --prefix 2001:db8:100::/40',
    '<%= config.bin %> translate 8.8.8.8 --json',
  ]
  static override args = {
    address: Args.string({
      required: true,
      description: 'an IPv4 address, or an IPv6 address inside the prefix',
    }),
  }
  static override flags = configFlags

  async run(): Promise<Translation> {
    const { args, flags } = await this.parse(Translate)
    return translateCommand(args.address, flags, this)
  }
}
