import { Flags } from '@oclif/core'
import { BaseCommand, configFlags } from '../lib/command.js'
import { loadConfig } from '../lib/config.js'
import { ENV_PREFIX } from '../lib/defaults.js'
import { DEFAULT_WAIT_MS, givenPrefix } from '../lib/discovery/discover.js'
import { type DoctorReport, doctor, formatCheck, parseProbe, verdict } from '../lib/doctor.js'

export default class Doctor extends BaseCommand {
  static override summary = 'Check whether tnat64 can serve this host, and say what to fix'
  static override description =
    `One line per check: IPv6 and IPv4 default routes, the NAT64 prefix in force and each source of it (--prefix or $${ENV_PREFIX}, configuration, PREF64, DNS64) and whether they agree, a route to each prefix in use, the nameservers of /etc/resolv.conf, an optional live connect (--probe), what kernel mode needs (cgroup2, bpffs, BTF, root) and what it has attached, and whether the app-mode library loads. A warning or failure names its fix.
Exits 0 when tnat64 can serve this host, 1 when a check fails. As root it listens ${DEFAULT_WAIT_MS / 1000} s for router advertisements, unless \`tnat64 discover --watch\` keeps what it heard.`
  static override examples = [
    '<%= config.bin %> doctor',
    '<%= config.bin %> doctor --probe 192.0.2.80:443',
    '<%= config.bin %> doctor --json',
  ]
  static override flags = {
    probe: Flags.string({
      description: 'connect to this IPv4 ADDR:PORT through NAT64 (3 s timeout)',
      helpValue: 'ADDR:PORT',
    }),
    ...configFlags,
  }

  async run(): Promise<DoctorReport> {
    const { flags } = await this.parse(Doctor)
    const probe = flags.probe === undefined ? undefined : parseProbe(flags.probe)
    const { config } = loadConfig(flags.config)
    const report = await doctor({ config, given: givenPrefix(flags.prefix), probe })
    for (const check of report.checks) this.log(formatCheck(check))
    this.log(verdict(report))
    if (!report.ok) process.exitCode = 1
    return report
  }
}
