import { Command, Flags } from '@oclif/core'
import { Lab, requireRoot } from '../../lib/lab.js'

export default class LabDown extends Command {
  static override summary = 'Take the lab down: stop its processes, delete its namespaces and state'
  static override examples = ['<%= config.bin %> lab down', '<%= config.bin %> lab down --all']
  static override flags = {
    name: Flags.string({ description: 'lab name', default: 'tnat64lab', exclusive: ['all'] }),
    all: Flags.boolean({ description: 'every lab found on this host' }),
  }

  async run(): Promise<void> {
    const { flags } = await this.parse(LabDown)
    requireRoot('the lab')
    const names = flags.all ? Lab.list() : [flags.name]
    for (const name of names) {
      new Lab(name).down()
      this.log(`lab ${name} is down`)
    }
  }
}
