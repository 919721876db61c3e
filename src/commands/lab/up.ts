import { Command, Flags } from '@oclif/core'
import { LAB, Lab } from '../../lib/lab.js'

export default class LabUp extends Command {
  static override summary =
    'Bring the lab up: an IPv6-only client, a tayga NAT64 router and an IPv4-only server'
  static override description =
    `Network namespaces NAME-cli, NAME-nat and NAME-srv (root). Idempotent: a healthy lab is left as it is, a broken one is rebuilt.
Run a program in the client with nsenter --net=/run/netns/NAME-cli PROGRAM (ip netns exec works too, but hides the cgroup2 mount and bpffs).`
  static override examples = [
    '<%= config.bin %> lab up',
    `nsenter --net=/run/netns/tnat64lab-cli curl -g http://[${LAB.serverNat64}]:${LAB.httpPort}/`,
  ]
  static override flags = {
    name: Flags.string({ description: 'lab name, the prefix of its namespaces', default: 'tnat64lab' }),
    'direct-ipv4': Flags.boolean({
      description: 'also give the client a direct IPv4 path to the server',
      allowNo: true,
    }),
    json: Flags.boolean({ description: 'print the status as JSON' }),
  }

  async run(): Promise<void> {
    const { flags } = await this.parse(LabUp)
    const status = await new Lab(flags.name).up({ directIPv4: flags['direct-ipv4'] })
    if (flags.json) return this.log(JSON.stringify(status, null, 2))
    this.log(
      `lab ${status.name} is up: client ${LAB.clientIPv6} -> NAT64 ${LAB.nat64Prefix} -> server ${LAB.serverIPv4}`,
    )
    this.log(
      `  http://${LAB.serverIPv4}:${LAB.httpPort}/ = http://[${LAB.serverNat64}]:${LAB.httpPort}/, echo on port ${LAB.echoPort}`,
    )
    this.log(`  direct IPv4 path: ${status.directIPv4 ? 'on' : 'off'}`)
  }
}
