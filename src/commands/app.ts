import { Flags } from '@oclif/core'
import { BaseCommand, configFlags } from '../lib/command.js'
import { exitAs, runCommand } from '../lib/command-line.js'
import { DEFAULT_CONFIG_FILE, DISCOVERY_STATE_FILE, ENV_CONF_FILE, ENV_PREFIX } from '../lib/defaults.js'
import { APP_LAUNCHER } from '../lib/paths.js'

export default class App extends BaseCommand {
  static override enableJsonFlag = false
  static override summary =
    'Run an IPv4-only program so that it reaches IPv4 destinations through NAT64 (no privilege)'
  static override description =
    `Loads libtnat64.so into CMD with LD_PRELOAD (keeping what LD_PRELOAD already holds). Its AF_INET TCP sockets become AF_INET6 ones that connect through NAT64, fall back to IPv4 when NAT64 is unreachable, and still look like IPv4 to the program. The exit status and signals of CMD are passed through.
The configuration is --config, else $${ENV_CONF_FILE}, else ${DEFAULT_CONFIG_FILE} if it exists; a named file that is missing or broken is refused before CMD starts.
A static program (no ELF interpreter) or a Go one (its dialer makes raw system calls) never calls libc's socket functions: it is served by a supervisor instead, which receives its AF_INET socket calls (TCP and UDP: socket, connect, bind, the sends and receives that carry an address, the names) through seccomp user notification (Linux 5.14+, no privilege) and does the same from outside. When the kernel does not let the supervisor take the program's sockets (Yama's ptrace_scope), it says why and exits 2.
With no --prefix, no $${ENV_PREFIX} and no nat64_prefix in the configuration, the prefix is the discovered one (tnat64 discover): kept by root's \`discover --watch\` in ${DISCOVERY_STATE_FILE}, else your cached DNS64 answer, else a DNS64 lookup now; else the well-known prefix.`
  static override usage = [
    'app [--config FILE] [--prefix PREFIX] [--debug] [--supervise] [--] CMD [ARGS...]',
    'app --env [--config FILE] [--prefix PREFIX]',
  ]
  static override examples = [
    '<%= config.bin %> app -- curl http://198.51.100.10:8000/',
    '<%= config.bin %> app --prefix 2001:db8:64::/96 python3 client.py',
    'eval "$(<%= config.bin %> app --env)"',
  ]
  static override strict = false
  static override flags = {
    ...configFlags,
    debug: Flags.boolean({
      char: 'd',
      description: 'log each connection decision on stderr (TNAT64_DEBUG=1; 2 for more)',
    }),
    env: Flags.boolean({
      description: 'print the environment as shell exports, for eval, instead of running CMD',
    }),
    supervise: Flags.boolean({
      description:
        'serve CMD and its whole process tree from outside too (seccomp user notification), as is done by itself for static and Go programs',
    }),
  }

  // `tnat64 app` is served by the C launcher (bin/tnat64 execs it directly); this class gives it
  // its help, and serves `node bin/tnat64.js app ...` by handing over to the launcher.
  async run(): Promise<void> {
    exitAs(await runCommand([APP_LAUNCHER, ...this.argv], {}))
  }
}
