import { Command, Flags } from '@oclif/core'
import { appEnvironment, exitAs, runCommand, shellExports, splitCommand, valueFlags } from '../lib/app.js'
import { UsageError } from '../lib/errors.js'

export default class App extends Command {
  static override summary =
    'Run an IPv4-only program so that it reaches IPv4 destinations through NAT64 (no privilege)'
  static override description =
    `Loads libtnat64.so into CMD with LD_PRELOAD (keeping what LD_PRELOAD already holds). Its AF_INET TCP sockets become AF_INET6 ones that connect through NAT64, fall back to IPv4 when NAT64 is unreachable, and still look like IPv4 to the program. The exit status and signals of CMD are passed through.
The configuration is --config, else $TNAT64_CONF_FILE, else /etc/tnat64.conf; a broken one is refused before CMD starts.`
  static override usage = [
    'app [--config FILE] [--prefix PREFIX] [--debug] [--] CMD [ARGS...]',
    'app --env [--config FILE] [--prefix PREFIX]',
  ]
  static override examples = [
    '<%= config.bin %> app -- curl http://198.51.100.10:8000/',
    '<%= config.bin %> app --prefix 2001:db8:64::/96 python3 client.py',
    'eval "$(<%= config.bin %> app --env)"',
  ]
  static override strict = false
  static override flags = {
    config: Flags.string({ char: 'c', description: 'configuration file' }),
    prefix: Flags.string({
      char: 'p',
      description: "default NAT64 prefix, replacing the configuration's (e.g. 2001:db8:64::/96)",
    }),
    debug: Flags.boolean({
      char: 'd',
      description: 'log each connection decision on stderr (TNAT64_DEBUG=1; 2 for more)',
    }),
    env: Flags.boolean({
      description: 'print the environment as shell exports, for eval, instead of running CMD',
    }),
  }

  async run(): Promise<void> {
    const { own, command } = splitCommand(this.argv, valueFlags(App.flags))
    const { flags } = await this.parse(App, own)
    const vars = appEnvironment(flags)
    if (flags.env) {
      if (command.length > 0) throw new UsageError('--env prints the environment; it takes no command')
      process.stdout.write(shellExports(vars))
      return
    }
    if (command.length === 0) throw new UsageError('app: no command given (tnat64 app -- CMD [ARGS...])')
    exitAs(await runCommand(command, vars))
  }
}
