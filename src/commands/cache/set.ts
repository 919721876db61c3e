import { Args, Command, Flags } from '@oclif/core'
import { AddressError, parseIPv4 } from '../../lib/address.js'
import { UsageError } from '../../lib/errors.js'
import { requireKernelPrivilege, setCache } from '../../lib/kernel.js'

export default class CacheSet extends Command {
  static override summary =
    'Send one destination over IPv4 or through NAT64 in kernel mode, whatever its rule (root)'
  static override examples = ['<%= config.bin %> cache set 198.51.100.10 --method ipv4']
  static override args = { destination: Args.string({ required: true, description: 'IPv4 destination' }) }
  static override flags = {
    method: Flags.string({
      char: 'm',
      required: true,
      options: ['ipv4', 'nat64'],
      description: 'how it is reached',
    }),
  }

  async run(): Promise<void> {
    const { args, flags } = await this.parse(CacheSet)
    try {
      parseIPv4(args.destination)
    } catch (e) {
      if (e instanceof AddressError) throw new UsageError(e.message)
      throw e
    }
    requireKernelPrivilege()
    setCache([args.destination], flags.method as 'ipv4' | 'nat64')
    this.log(`${args.destination} -> ${flags.method}`)
  }
}
