import { upgrade } from '../lib/kernel/attach.js'
import { KernelCommand } from '../lib/kernel/command.js'

export default class Upgrade extends KernelCommand {
  static override summary = "Swap every attached cgroup's programs for this build's, in place (root)"
  static override description =
    'For after installing a new version: each bpf_link gets the new program without ever being detached, and the maps (rules, prefixes, records of open sockets) are kept. When the new version changed a map, this says so and names the command that migrates (tnat64 detach --all, then attach again).'

  async run(): Promise<{ upgraded: string[] }> {
    await this.parse(Upgrade)
    const upgraded = upgrade()
    this.log(upgraded.length === 0 ? 'nothing is attached' : `upgraded ${upgraded.join(', ')}`)
    return { upgraded }
  }
}
