import { Flags } from '@oclif/core'
import { logFormatFlag } from '../lib/command.js'
import { KernelCommand } from '../lib/kernel/command.js'
import { status } from '../lib/kernel/stats.js'
import { eventLog, untilStopped } from '../lib/log.js'
import { exposition, type Family, families, parseListen, serveMetrics } from '../lib/metrics.js'

export default class Metrics extends KernelCommand {
  static override summary =
    "Kernel mode's counters, programs, cgroups, prefixes and pins for Prometheus (root)"
  static override description =
    'Prints the Prometheus text exposition format (0.0.4), read from the kernel as tnat64 status reads it; without kernel mode loaded it still answers (nothing attached). --listen serves the same at GET /metrics, read afresh at every scrape, until SIGTERM or SIGINT (exit 0), logging one line per event.'
  static override examples = [
    '<%= config.bin %> metrics',
    '<%= config.bin %> metrics --listen 9464',
    '<%= config.bin %> metrics --listen [::1]:9464 --log-format json',
  ]
  static override flags = {
    listen: Flags.string({
      description:
        'serve at http://[ADDR:]PORT/metrics until stopped (ADDR: 127.0.0.1 unless given; [::1]:PORT for IPv6)',
      exclusive: ['json'],
    }),
    'log-format': logFormatFlag,
  }

  async run(): Promise<Family[]> {
    const { flags } = await this.parse(Metrics)
    if (flags.listen === undefined) {
      const list = families(status())
      this.log(exposition(list).trimEnd())
      return list
    }
    const at = parseListen(flags.listen)
    const stopped = untilStopped()
    const log = eventLog(flags['log-format'])
    const server = await serveMetrics(at, () => exposition(families(status())), log)
    log(`listening on ${server.url}`, { event: 'listening', url: server.url })
    const signal = await stopped
    log(`stopping on ${signal}`, { event: 'stopping', signal })
    await server.close()
    return []
  }
}
