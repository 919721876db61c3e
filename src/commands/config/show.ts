import { Flags } from '@oclif/core'
import { BaseCommand, configFlags } from '../../lib/command.js'
import { loadConfig, NO_CONFIG_FILE } from '../../lib/config.js'
import {
  type ConfigSummary,
  type HostReport,
  parseDestination,
  showHost,
  summarize,
} from '../../lib/config-report.js'

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
    const destination = flags.host === undefined ? undefined : parseDestination(flags.host)
    const { config, warnings } = loadConfig(flags.config)
    if (destination) {
      const report = showHost(config, destination)
      for (const warning of report.warnings) this.logToStderr(`warning: ${warning}`)
      this.log(`destination: ${report.destination}`)
      this.log(`rule:        ${report.rule}`)
      this.log(
        `method:      ${report.method === 'nat64' ? `NAT64 through ${report.prefix}` : 'IPv4, directly'}`,
      )
      this.log(`connect to:  ${report.connectTo}`)
      return report
    }
    const summary = summarize(config)
    for (const warning of warnings)
      this.logToStderr(`${warning.file}:${warning.line}: warning: ${warning.message}`)
    this.log(`file:           ${summary.file ?? NO_CONFIG_FILE}`)
    this.log(`default prefix: ${summary.defaultPrefix ?? 'none'}`)
    this.log(`local:          ${summary.local.join(', ')}`)
    for (const path of summary.paths) {
      this.log(`path (line ${path.line}): ${path.subnets.join(', ')} -> ${path.prefix}`)
    }
    return summary
  }
}
