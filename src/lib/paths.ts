// Where the package's built parts are. This module lies two levels below the package root both
// as src/lib/paths.ts (tests) and as dist/lib/paths.js (the CLI).
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

/** This machine's architecture as `uname -m` names it. */
const MACHINE = ({ x64: 'x86_64', arm64: 'aarch64' } as Record<string, string>)[process.arch] ?? process.arch

/** A C part built here (`dir/file`), or the one for this machine's architecture that the package
 * carries in `dir/ARCH/` beside the build machine's (make cross); bin/tnat64 chooses the same way. */
function builtFor(dir: string, file: string): string {
  const own = join(PACKAGE_ROOT, dir, MACHINE, file)
  return existsSync(own) ? own : join(PACKAGE_ROOT, dir, file)
}
/** The commands' definitions as the build records them (scripts/manifest.mjs): oclif's, and src/direct.ts's. */
export const MANIFEST = join(PACKAGE_ROOT, 'oclif.manifest.json')
/** The CLI's entry point, what a user runs as `tnat64`. */
export const TNAT64_CLI = join(PACKAGE_ROOT, 'bin', 'tnat64')
/** libtnat64.so, always by absolute path: nothing is ever loaded from the current directory. */
export const PRELOAD_LIBRARY = builtFor('preload', 'libtnat64.so')
/** The demo's IPv4-only Java client (`java Client.java URL`), which the tests run too. */
export const DEMO_JAVA_CLIENT = join(PACKAGE_ROOT, 'demo', 'Client.java')
/** Kernel mode's BPF object (bpf/tnat64.bpf.c). */
export const BPF_OBJECT = join(PACKAGE_ROOT, 'bpf', 'tnat64.bpf.o')
export const LAB_SERVER_SCRIPT = join(PACKAGE_ROOT, 'dist', 'lab', 'server.js')
/** The launcher behind `tnat64 app` (preload/tnat64-app.c). */
export const APP_LAUNCHER = builtFor('preload', 'tnat64-app')
/** The router advertisement tool (ra/tnat64-ra.c): sends and receives PREF64 options (RFC 8781). */
export const RA_TOOL = builtFor('ra', 'tnat64-ra')
/** The lab router's mend of tayga's zero UDP checksums (bpf/lab-udp6-checksum.bpf.c). */
export const LAB_CHECKSUM_MEND = join(PACKAGE_ROOT, 'bpf', 'lab-udp6-checksum.bpf.o')
