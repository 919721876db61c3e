import { BaseCommand, labNameFlag } from '../../lib/command.js'
import { Lab, type LabStatus } from '../../lib/lab.js'

export default class LabStatusCommand extends BaseCommand {
  static override summary = "Show whether the lab's namespaces, NAT64, server, DNS64 and advertiser are up"
  static override description =
    'Exits 0 when the lab is up (namespaces, NAT64, server), 1 otherwise; the DNS64 resolver and the PREF64 advertiser may be off by choice (lab up --dns64 none, --pref64 none).'
  static override flags = {
    name: labNameFlag,
  }

  async run(): Promise<LabStatus & { up: boolean }> {
    const { flags } = await this.parse(LabStatusCommand)
    const status = new Lab(flags.name).status()
    const up = Object.values(status.namespaces).every(Boolean) && status.tayga && status.server
    const mark = (b: boolean) => (b ? 'up' : 'down')
    this.log(`lab ${status.name}: ${up ? 'up' : 'not up'}`)
    for (const [role, present] of Object.entries(status.namespaces))
      this.log(`  namespace ${role}: ${mark(present)}`)
    this.log(`  tayga: ${mark(status.tayga)}, server: ${mark(status.server)}`)
    this.log(`  DNS64 resolver: ${mark(status.dns64)}, PREF64 advertiser: ${mark(status.pref64)}`)
    this.log(`  client routes: NAT64 ${mark(status.nat64Route)}, direct IPv4 ${mark(status.directIPv4)}`)
    if (!up) process.exitCode = 1
    return { ...status, up }
  }
}
