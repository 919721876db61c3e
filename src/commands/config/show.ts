import { Flags } from '@oclif/core'
import { BaseCommand, configFlags } from '../../lib/command.js'
import { type ConfigSummary, type HostReport, showConfig } from '../../lib/config-report.js'

export default class ConfigShow extends BaseCommand {
  static override summary =
    'Show the configuration in force, or which rule and NAT64 address a destination gets'
  static override examples = [
    '<%= config.bin %> config show',
    '<%= config.bin %> config show --host 198.51.100.10:80',
    '<%= config.bin %> config show --host 10.1.2.3 --config ./tnat64.conf --json',
  ]
  static override flags = {
    host: Flags.string({ char: 'H', description: 'destination IPv4[:port] to resolve' }),
    config: configFlags.config,
  }

  async run(): Promise<ConfigSummary | HostReport> {
    const { flags } = await this.parse(ConfigShow)
    return showConfig(flags, this)
  }
}
