// Writes man/tnat64.1 at build time from oclif.manifest.json (src/lib/manpage.ts); after the manifest.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { manPage } from '../dist/lib/manpage.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const read = (name) => JSON.parse(readFileSync(join(root, name), 'utf8'))
mkdirSync(join(root, 'man'), { recursive: true })
writeFileSync(
  join(root, 'man', 'tnat64.1'),
  manPage(read('oclif.manifest.json'), read('package.json').version),
)
