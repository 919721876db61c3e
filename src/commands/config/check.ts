import { Args } from '@oclif/core'
import { BaseCommand } from '../../lib/command.js'
import { configFileInForce, NO_CONFIG_FILE } from '../../lib/config.js'
import { type CheckReport, checkConfigFile } from '../../lib/config-report.js'
import { CONFIG_FLAG_HELP } from '../../lib/defaults.js'

export default class ConfigCheck extends BaseCommand {
  static override summary = 'Check a configuration file and list every problem with its line'
  static override description =
    'Exits 0 when the file is valid (warnings go to stderr) or when no file is in force (then the defaults are), 1 when it has errors, each printed as file:line: problem; a file named that does not exist is an error.'
  static override examples = [
    '<%= config.bin %> config check',
    '<%= config.bin %> config check ./tnat64.conf --json',
  ]
  static override args = {
    file: Args.string({
      description: CONFIG_FLAG_HELP,
    }),
  }
  async run(): Promise<CheckReport> {
    const { args } = await this.parse(ConfigCheck)
    const report = checkConfigFile(configFileInForce(args.file))
    for (const error of report.errors) this.logToStderr(error)
    for (const warning of report.warnings)
      this.logToStderr(warning.replace(/^([^:]*:\d+): /, '$1: warning: '))
    if (report.file === null) this.log(`configuration file: ${NO_CONFIG_FILE}`)
    else if (report.summary) {
      const { defaultPrefix, locals, paths } = report.summary
      this.log(
        `${report.file}: OK (default prefix ${defaultPrefix ?? 'none'}, ${locals} local network${locals === 1 ? '' : 's'}, ${paths} path${paths === 1 ? '' : 's'})`,
      )
    }
    if (!report.valid) process.exitCode = 1
    return report
  }
}
