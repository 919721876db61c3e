import { Command, Flags } from '@oclif/core'
import { Lab } from '../../lib/lab.js'

export default class LabStatus extends Command {
  static override summary = "Show whether the lab's namespaces, NAT64, server, DNS64 and advertiser are up"
  static override description =
    'Exits 0 when the lab is up (namespaces, NAT64, server), 1 otherwise; the DNS64 resolver and the PREF64 advertiser may be off by choice (lab up --dns64 none, --pref64 none).'
  static override flags = {
    name: Flags.string({ description: 'lab name', default: 'tnat64lab' }),
    json: Flags.boolean({ description: 'print the status as JSON' }),
  }

  async run(): Promise<void> {
    const { flags } = await this.parse(LabStatus)
    const status = new Lab(flags.name).status()
    const up = Object.values(status.namespaces).every(Boolean) && status.tayga && status.server
    if (flags.json) {
      this.log(JSON.stringify({ ...status, up }, null, 2))
    } else {
      const mark = (b: boolean) => (b ? 'up' : 'down')
      this.log(`lab ${status.name}: ${up ? 'up' : 'not up'}`)
      for (const [role, present] of Object.entries(status.namespaces))
        this.log(`  namespace ${role}: ${mark(present)}`)
      this.log(`  tayga: ${mark(status.tayga)}, server: ${mark(status.server)}`)
      this.log(`  DNS64 resolver: ${mark(status.dns64)}, PREF64 advertiser: ${mark(status.pref64)}`)
      this.log(`  client routes: NAT64 ${mark(status.nat64Route)}, direct IPv4 ${mark(status.directIPv4)}`)
    }
    if (!up) this.exit(1)
  }
}
