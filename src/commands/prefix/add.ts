import { Args, Flags } from '@oclif/core'
import { AddressError } from '../../lib/address.js'
import { UsageError } from '../../lib/errors.js'
import { ALWAYS_IPV4_NETS, netWithin, parseIpv4Net } from '../../lib/ipv4net.js'
import { KernelCommand, targetFlags } from '../../lib/kernel/command.js'
import { addPrefix } from '../../lib/kernel/prefixes.js'
import { prefixArgument } from '../../lib/translate.js'

export default class PrefixAdd extends KernelCommand {
  static override summary = "Add a NAT64 prefix to an attached cgroup's rules, or every cgroup's (root)"
  static override description =
    'With --subnet, destinations in those IPv4 networks go through PREFIX (a path; a subnet moves here from any other path); without, PREFIX becomes the default. Only the cgroups named change.'
  static override examples = [
    '<%= config.bin %> prefix add 2001:db8:64::/96 --cgroup tnat64-apps',
    '<%= config.bin %> prefix add 2001:db8:100::/40 --subnet 10.0.0.0/8 --subnet 150.0.0.0/16 --all',
  ]
  static override args = {
    prefix: Args.string({ required: true, description: 'NAT64 prefix (RFC 6052 length)' }),
  }
  static override flags = {
    ...targetFlags,
    subnet: Flags.string({
      char: 's',
      multiple: true,
      description: 'IPv4 network reached through the prefix',
    }),
  }

  async run(): Promise<{ prefix: string; subnets: string[]; cgroups: string[] }> {
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
    for (const subnet of subnets)
      if (ALWAYS_IPV4_NETS.some((net) => netWithin(subnet, net)))
        throw new UsageError(
          `--subnet ${subnet.text}: never goes through NAT64 (loopback, multicast, reserved)`,
        )
    const cgroups = addPrefix(flags, prefix, subnets)
    this.log(
      `${subnets.length === 0 ? `default prefix is ${prefix.text}` : `${subnets.map((s) => s.text).join(', ')} -> ${prefix.text}`} in ${cgroups.join(', ')}`,
    )
    return { prefix: prefix.text, subnets: subnets.map((s) => s.text), cgroups }
  }
}
