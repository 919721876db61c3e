import { Flags } from '@oclif/core'
import { BaseCommand, labNameFlag } from '../../lib/command.js'
import { LAB, Lab, type LabStatus } from '../../lib/lab.js'

/** A --pref64 or --dns64 value: a prefix, `none` for the service off, absent for the lab's default. */
const prefixOrNone = (value: string | undefined) => (value === 'none' ? false : value)

export default class LabUp extends BaseCommand {
  static override root = 'lab' as const
  static override summary =
    'Bring the lab up: an IPv6-only client, a tayga NAT64 router and an IPv4-only server'
  static override description =
    `Network namespaces NAME-cli, NAME-nat and NAME-srv (root). The router also runs a DNS64 resolver and sends router advertisements with the NAT64 prefix (PREF64), as an IPv6-only network does. Idempotent: a healthy lab is kept and set to the options given, a broken one is rebuilt.
Run a program in the client with nsenter --net=/run/netns/NAME-cli PROGRAM (ip netns exec works too, but hides the cgroup2 mount and bpffs).`
  static override examples = [
    '<%= config.bin %> lab up',
    '<%= config.bin %> lab up --pref64 none --dns64 64:ff9b::/96',
    `nsenter --net=/run/netns/tnat64lab-cli curl -g http://[${LAB.serverNat64}]:${LAB.httpPort}/`,
  ]
  static override flags = {
    name: labNameFlag,
    'direct-ipv4': Flags.boolean({
      description: 'also give the client a direct IPv4 path to the server',
      allowNo: true,
    }),
    pref64: Flags.string({
      description: `the prefix the router advertises (PREF64, RFC 8781), or none [default: ${LAB.nat64Prefix}]`,
      helpValue: 'PREFIX|none',
    }),
    dns64: Flags.string({
      description: `the prefix the DNS64 resolver synthesizes with, or none [default: ${LAB.nat64Prefix}]`,
      helpValue: 'PREFIX|none',
    }),
  }

  async run(): Promise<LabStatus> {
    const { flags } = await this.parse(LabUp)
    const pref64 = prefixOrNone(flags.pref64)
    const dns64 = prefixOrNone(flags.dns64)
    const status = await new Lab(flags.name).up({ directIPv4: flags['direct-ipv4'], pref64, dns64 })
    this.log(
      `lab ${status.name} is up: client ${LAB.clientIPv6} -> NAT64 ${LAB.nat64Prefix} -> server ${LAB.serverIPv4}`,
    )
    this.log(
      `  http://${LAB.serverIPv4}:${LAB.httpPort}/ = http://[${LAB.serverNat64}]:${LAB.httpPort}/, echo on port ${LAB.echoPort}`,
    )
    this.log(`  direct IPv4 path: ${status.directIPv4 ? 'on' : 'off'}`)
    this.log(
      `  DNS64 resolver ${LAB.dns64Resolver}: ${dns64 === false ? 'off' : `prefix ${dns64 ?? LAB.nat64Prefix}`}`,
    )
    this.log(
      `  router advertisements on ${LAB.ra.interface}: ${pref64 === false ? 'off' : `PREF64 ${pref64 ?? LAB.nat64Prefix}`}`,
    )
    return status
  }
}
