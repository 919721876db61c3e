// The TypeScript mirror of bpf/tnat64.h against the BTF of the built object: sizes and offsets.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { COUNTERS, LAYOUTS, MAPS, PROGRAMS } from '../src/lib/bpf/layout.js'
import { ROOT } from './helpers.js'

interface BtfType {
  id: number
  kind: string
  name: string
  size?: number
  members?: { name: string; bits_offset: number }[]
}

const OBJECT = join(ROOT, 'bpf', 'tnat64.bpf.o')

function btf(): BtfType[] {
  const r = spawnSync('bpftool', ['-j', 'btf', 'dump', 'file', OBJECT], { encoding: 'utf8' })
  assert.equal(r.status, 0, `bpftool btf dump: ${r.stderr}`)
  return (JSON.parse(r.stdout) as { types: BtfType[] }).types
}

describe('BPF map layouts', () => {
  const types = btf()

  for (const [name, layout] of Object.entries(LAYOUTS)) {
    it(`struct ${name} has the size and offsets user space writes`, () => {
      const struct = types.find((t) => t.kind === 'STRUCT' && t.name === name)
      assert.ok(struct, `struct ${name} is in the BTF`)
      assert.equal(struct.size, layout.size)
      const offsets = Object.fromEntries((struct.members ?? []).map((m) => [m.name, m.bits_offset / 8]))
      assert.deepEqual(offsets, layout.fields)
    })
  }

  it('has every map and program the loader names', () => {
    const names = new Set(types.map((t) => t.name))
    for (const map of Object.values(MAPS)) assert.ok(names.has(map), map)
    for (const program of Object.values(PROGRAMS)) assert.ok(names.has(program), program)
  })

  it('counts the counters the header declares, in its order', () => {
    // Enums used only as arguments of inlined helpers leave no BTF: read the header itself.
    const header = readFileSync(join(ROOT, 'bpf', 'tnat64.h'), 'utf8')
    const body = /enum counter \{([^}]*)\}/.exec(header)?.[1] ?? ''
    const values = Object.fromEntries(
      [...body.matchAll(/(COUNT_\w+) = (\d+)/g)].map((m) => [m[1], Number(m[2])]),
    )
    assert.equal(values.COUNT_MAX, COUNTERS.length)
    COUNTERS.forEach((name, index) => {
      assert.equal(values[`COUNT_${name.toUpperCase()}`], index, name)
    })
  })
})
