import { Args, Flags } from '@oclif/core'
import { AddressError, parseIPv4 } from '../../lib/address.js'
import { UsageError } from '../../lib/errors.js'
import { setPins } from '../../lib/kernel/cache.js'
import { KernelCommand, targetFlags } from '../../lib/kernel/command.js'
import type { PinMethod } from '../../lib/kernel/rules.js'

export default class CacheSet extends KernelCommand {
  static override summary = 'Pin destinations to IPv4 or to NAT64 in kernel mode, whatever their rule (root)'
  static override description =
    'ipv4: the destination stays on IPv4. nat64: it goes through the NAT64 prefix its path or the default gives it, even if a local rule covers it; refused for destinations that never go through NAT64 (loopback, multicast, reserved) and for non-global ones under the well-known prefix. Pins are kept apart from anything that evicts, until cache flush or detach.'
  static override examples = ['<%= config.bin %> cache set 198.51.100.10 --method ipv4 --cgroup tnat64-apps']
  static override strict = false
  static override args = {
    destination: Args.string({ required: true, description: 'IPv4 destination (several may follow)' }),
  }
  static override flags = {
    ...targetFlags,
    method: Flags.string({
      char: 'm',
      required: true,
      options: ['ipv4', 'nat64'],
      description: 'how it is reached',
    }),
  }

  async run(): Promise<{ destinations: string[]; method: string }> {
    const { argv, flags } = await this.parse(CacheSet)
    const destinations = (argv as string[]).map((d) => {
      try {
        parseIPv4(d)
        return d
      } catch (e) {
        if (e instanceof AddressError) throw new UsageError(e.message)
        throw e
      }
    })
    setPins(flags, destinations, flags.method as PinMethod)
    this.log(`${destinations.join(', ')} -> ${flags.method}`)
    return { destinations, method: flags.method }
  }
}
