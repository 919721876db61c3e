// One notion of root for every command: the effective uid, which is what the kernel checks.
import { CommandFailure } from './errors.js'

/** What needs root, and why: the one line a user without it gets (exit 1). */
export const NEEDS_ROOT = {
  kernel: 'kernel mode needs root (CAP_BPF, CAP_NET_ADMIN, cgroup writes)',
  lab: 'the lab needs root (network namespaces, tayga)',
  demo: 'the demo needs root (network namespaces, tayga)',
} as const
export type RootNeed = keyof typeof NEEDS_ROOT

export function isRoot(): boolean {
  return process.geteuid?.() === 0
}

export function requireRoot(need: RootNeed): void {
  if (!isRoot()) throw new CommandFailure(NEEDS_ROOT[need])
}
