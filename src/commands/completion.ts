import { Args, Flags } from '@oclif/core'
import { BaseCommand } from '../lib/command.js'
import { completionScript, completionValues, SHELLS, VALUE_KINDS, type ValueKind } from '../lib/completion.js'
import { UsageError } from '../lib/errors.js'

export default class Completion extends BaseCommand {
  static override enableJsonFlag = false
  static override summary = 'Print a shell completion script: commands, flags and their values'
  static override description =
    "The script is made from the commands this tnat64 has, so it never lags behind them. It completes commands and topics (cache list), flags, the options of flags that have them, configuration files, cgroups under the cgroup2 mount for --cgroup, and the prefixes in force for --prefix (kernel mode's as root, the discovered ones, the well-known one), which it asks of tnat64 as it completes."
  static override examples = [
    'source <(<%= config.bin %> completion bash)',
    '<%= config.bin %> completion bash > /usr/share/bash-completion/completions/<%= config.bin %>',
    `<%= config.bin %> completion zsh > "\${fpath[1]}/_<%= config.bin %>"`,
    '<%= config.bin %> completion fish > ~/.config/fish/completions/<%= config.bin %>.fish',
  ]
  static override args = {
    shell: Args.string({ description: `the shell: ${SHELLS.join(', ')}` }),
  }
  static override flags = {
    // What the scripts call while completing: one candidate a line, silent on any error.
    values: Flags.string({ options: [...VALUE_KINDS], hidden: true }),
  }

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Completion)
    if (flags.values !== undefined) {
      const values = await completionValues(flags.values as ValueKind).catch(() => [])
      if (values.length > 0) process.stdout.write(`${values.join('\n')}\n`)
      return
    }
    if (args.shell === undefined) throw new UsageError(`completion: give a shell: ${SHELLS.join(', ')}`)
    process.stdout.write(
      completionScript(args.shell, this.config.commands, this.config.topics, this.config.bin),
    )
  }
}
