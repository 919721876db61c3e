// Directories of our own state (/run/tnat64, bpffs pins): private to root, removed when emptied.
// One that already exists is used only if it is safe as it is: never adopted, never chmod-ed.
import { lstatSync, mkdirSync, rmdirSync } from 'node:fs'
import { join } from 'node:path'
import { CommandFailure } from './errors.js'

/**
 * Creates root/parts[0]/parts[1]/... one level at a time with mode 0700, and checks every level
 * that already existed: a real directory (not a symlink), owned by us, writable by no one else.
 * Returns the full path.
 */
export function privateDir(root: string, ...parts: string[]): string {
  let path = root
  for (const part of parts) {
    path = join(path, part)
    try {
      mkdirSync(path, { mode: 0o700 })
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
    }
    checkPrivateDir(path)
  }
  return path
}

/** Refuses a directory someone else could have prepared or can change. */
export function checkPrivateDir(path: string): void {
  const stat = lstatSync(path)
  const refuse = (why: string) => {
    throw new CommandFailure(`${path} ${why}: refusing to use it (remove it, or fix it by hand)`)
  }
  if (stat.isSymbolicLink()) refuse('is a symbolic link')
  if (!stat.isDirectory()) refuse('is not a directory')
  if (stat.uid !== process.geteuid?.()) refuse(`is owned by uid ${stat.uid}, not by us`)
  if (stat.mode & 0o022) refuse(`is writable by others (mode ${(stat.mode & 0o7777).toString(8)})`)
}

/** Removes a directory that nothing is left in; one still in use stays. */
export function removeIfEmpty(dir: string): void {
  try {
    rmdirSync(dir)
  } catch {
    // not empty (another lab, kernel mode's state) or already gone
  }
}

/** The home of tnat64's run-time state: kernel mode's, the lab's, the bench's. */
export const RUN_DIR = '/run/tnat64'

/** A private directory under RUN_DIR (made, or checked, level by level). */
export function runDir(...parts: string[]): string {
  return privateDir('/run', 'tnat64', ...parts)
}
