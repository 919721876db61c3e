import { Args } from '@oclif/core'
import { BaseCommand, configFlags } from '../lib/command.js'
import { loadConfig } from '../lib/config.js'
import { WELL_KNOWN_PREFIX } from '../lib/defaults.js'
import { prefixArgument, type Translation, translate } from '../lib/translate.js'

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
    const explicit = flags.prefix === undefined ? undefined : prefixArgument(flags.prefix)
    const { config } = loadConfig(flags.config)
    const result = translate(args.address, config, explicit)
    for (const warning of result.warnings) this.logToStderr(`warning: ${warning}`)
    this.log(result.output)
    return result
  }
}
