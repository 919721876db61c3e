// The base of every command: `--json` through oclif's enableJsonFlag (run() returns the data it
// prints), root checked once before run() for the commands that declare it, the one error policy
// of errors.ts also under --json, and the flags several commands share, defined once.
import { Command, Flags, type Interfaces } from '@oclif/core'
import { CONFIG_FLAG_HELP } from './defaults.js'
import { reportFailure } from './errors.js'
import { LOG_FORMATS } from './log.js'
import { type RootNeed, requireRoot } from './privilege.js'

type FlagOutput = Interfaces.OutputFlags<Interfaces.FlagInput>
type ArgOutput = Interfaces.OutputArgs<Interfaces.ArgInput>

export abstract class BaseCommand extends Command {
  static override enableJsonFlag = true
  /** Set by a command that cannot run without root: checked before run(), one line if not. */
  static root: RootNeed | undefined

  /** Root is checked once the arguments are known good: a usage error is told first (exit 2). */
  protected override async parse<F extends FlagOutput, B extends FlagOutput, A extends ArgOutput>(
    options?: Interfaces.Input<F, B, A>,
    argv?: string[],
  ): Promise<Interfaces.ParserOutput<F, B, A>> {
    const parsed = await super.parse(options, argv)
    const { root } = this.constructor as typeof BaseCommand
    if (root) requireRoot(root)
    return parsed
  }

  /** Under --json a failure is reported here, in its JSON form too; otherwise by main(). */
  protected override async catch(error: Error): Promise<void> {
    if (!this.jsonEnabled()) throw error
    reportFailure(error, true)
  }
}

/** `--config` and `--prefix`, as every command that reads the configuration takes them. */
export const configFlags = {
  config: Flags.string({ char: 'c', description: CONFIG_FLAG_HELP }),
  prefix: Flags.string({
    char: 'p',
    description:
      "the default NAT64 prefix (e.g. 2001:db8:64::/96), over the configuration's and any discovered",
  }),
}

/** `--name` of the lab a command works on. */
export const labNameFlag = Flags.string({
  description: 'lab name, the prefix of its namespaces',
  default: 'tnat64lab',
})

/** `--log-format`, for every command that runs until stopped. */
export const logFormatFlag = Flags.string({
  options: [...LOG_FORMATS],
  default: 'text',
  description: 'event lines as "TIME MESSAGE" text, or as one JSON object a line ({"time", "message", ...})',
})
