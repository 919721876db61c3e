// Directories of our own state (/run/tnat64, bpffs pins): private to root, removed when emptied.
import { chmodSync, mkdirSync, rmdirSync } from 'node:fs'

/** Creates the directory (and parents) with mode 0700, also when it already existed wider. */
export function privateDir(path: string): void {
  mkdirSync(path, { recursive: true, mode: 0o700 })
  chmodSync(path, 0o700)
}

/** Removes a directory that nothing is left in; one still in use stays. */
export function removeIfEmpty(dir: string): void {
  try {
    rmdirSync(dir)
  } catch {
    // not empty (another lab, kernel mode's state) or already gone
  }
}
