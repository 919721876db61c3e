import { Flags } from '@oclif/core'
import { BaseCommand, labNameFlag } from '../lib/command.js'
import { shellQuote } from '../lib/command-line.js'
import { runDemo } from '../lib/demo.js'
import { CommandFailure } from '../lib/errors.js'
import { Lab } from '../lib/lab.js'

export default class Demo extends BaseCommand {
  static override root = 'demo' as const
  static override enableJsonFlag = false
  static override summary = 'Show tnat64 at work in the built-in lab (root)'
  static override description =
    'Brings the lab up, runs each step in its IPv6-only client and prints what happened; takes the lab down afterwards unless --keep.'
  static override flags = {
    keep: Flags.boolean({ description: 'leave the lab up afterwards' }),
    name: labNameFlag,
  }

  async run(): Promise<void> {
    const { flags } = await this.parse(Demo)
    const lab = new Lab(flags.name)
    try {
      const steps = await runDemo(lab, (step) => {
        this.log(`\n== ${step.title}`)
        this.log(`$ ${step.command.map(shellQuote).join(' ')}`)
        this.log(step.output || '(no output)')
        this.log(step.ok ? '-> succeeded' : '-> failed')
      })
      const wrong = steps.filter((s) => s.ok !== s.expectOk)
      if (wrong.length > 0) throw new CommandFailure(`demo step did not go as expected: ${wrong[0].title}`)
    } finally {
      if (!flags.keep) lab.down()
    }
  }
}
