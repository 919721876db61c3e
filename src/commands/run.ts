import { BaseCommand, configFlags } from '../lib/command.js'
import { exitAs, splitCommand, valueFlags } from '../lib/command-line.js'
import { kernelConfig } from '../lib/discovery/discover.js'
import { UsageError } from '../lib/errors.js'
import { configFromFlags } from '../lib/kernel/attach.js'
import { runInCgroup } from '../lib/kernel/run.js'

export default class Run extends BaseCommand {
  static override root = 'kernel' as const
  static override enableJsonFlag = false
  static override summary =
    'Run one command in a fresh cgroup served by kernel mode, and clean up after it (root)'
  static override description =
    'No LD_PRELOAD: for programs whose dual-stack AF_INET6 sockets connect to IPv4-mapped addresses (Java, .NET, getaddrinfo with AI_V4MAPPED), static binaries included. The cgroup gets its own rules; other attached cgroups are not touched. With no --prefix and no nat64_prefix in the configuration, the prefix is discovered (tnat64 discover).'
  static override usage = ['run [--config FILE] [--prefix PREFIX] [--] CMD [ARGS...]']
  static override examples = ['<%= config.bin %> run --prefix 2001:db8:64::/96 -- java Client']
  static override strict = false
  static override flags = configFlags

  async run(): Promise<void> {
    const { own, command } = splitCommand(this.argv, valueFlags(Run.flags))
    const { flags } = await this.parse(Run, own)
    const configured = configFromFlags(flags)
    if (command.length === 0) throw new UsageError('run: no command given (tnat64 run -- CMD [ARGS...])')
    const { config } = await kernelConfig(configured, flags.prefix !== undefined)
    exitAs(await runInCgroup(command, config, (line) => process.stderr.write(`tnat64: ${line}\n`)))
  }
}
