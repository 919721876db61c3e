// The base of every kernel-mode command: root, and `--debug` (libbpf's own messages, the
// verifier's among them, as they come).
import { Flags } from '@oclif/core'
import { showLibbpfMessages } from '../bpf/libbpf.js'
import { BaseCommand } from '../command.js'

export abstract class KernelCommand extends BaseCommand {
  static override root = 'kernel' as const
  static override baseFlags = {
    debug: Flags.boolean({ description: "print libbpf's messages (the verifier's among them) on stderr" }),
  }

  protected override async init(): Promise<void> {
    await super.init()
    const end = this.argv.indexOf('--')
    const own = end < 0 ? this.argv : this.argv.slice(0, end)
    if (own.includes('--debug')) showLibbpfMessages((line) => process.stderr.write(`${line}\n`))
  }
}

/** `--cgroup PATH | --all`, for the commands that change some attached cgroups' rules. */
export const targetFlags = {
  cgroup: Flags.string({
    char: 'g',
    description: 'the attached cgroup to change: absolute, or relative to the cgroup2 mount',
    exactlyOne: ['cgroup', 'all'],
  }),
  all: Flags.boolean({ description: 'every attached cgroup', exactlyOne: ['cgroup', 'all'] }),
}
