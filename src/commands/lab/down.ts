import { Flags } from '@oclif/core'
import { BaseCommand, labNameFlag } from '../../lib/command.js'
import { Lab } from '../../lib/lab.js'

export default class LabDown extends BaseCommand {
  static override root = 'lab' as const
  static override enableJsonFlag = false
  static override summary = 'Take the lab down: stop its processes, delete its namespaces and state'
  static override examples = ['<%= config.bin %> lab down', '<%= config.bin %> lab down --all']
  static override flags = {
    name: { ...labNameFlag, exclusive: ['all'] },
    all: Flags.boolean({ description: 'every lab found on this host' }),
  }

  async run(): Promise<void> {
    const { flags } = await this.parse(LabDown)
    const names = flags.all ? Lab.list() : [flags.name]
    for (const name of names) {
      new Lab(name).down()
      this.log(`lab ${name} is down`)
    }
  }
}
