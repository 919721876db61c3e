// The TypeScript mirror of bpf/tnat64.h against the built object's BTF (every struct's size and
// offsets, every map's type, sizes, entries and flags, the read-only variable) and against the
// header's own text (every constant and enum user space copies).
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import * as layout from '../src/lib/bpf/layout.js'
import { BPF_OBJECT } from '../src/lib/paths.js'
import { cDefineNumber, ROOT } from './helpers.js'

interface BtfType {
  id: number
  kind: string
  name: string
  size?: number
  type_id?: number
  nr_elems?: number
  members?: { name: string; type_id: number; bits_offset: number }[]
  vars?: { type_id: number; offset: number; size: number }[]
}

const OBJECT = BPF_OBJECT
const HEADER = readFileSync(join(ROOT, 'bpf', 'tnat64.h'), 'utf8')

function btf(object = OBJECT): BtfType[] {
  const r = spawnSync('bpftool', ['-j', 'btf', 'dump', 'file', object], { encoding: 'utf8' })
  assert.equal(r.status, 0, `bpftool btf dump: ${r.stderr}`)
  return (JSON.parse(r.stdout) as { types: BtfType[] }).types
}

/** The BTF of the header alone, one global of each struct, compiled as bpf/Makefile compiles the
 * programs: a ring buffer record (struct connect_event) is in no map's declaration, so the
 * object's own BTF does not carry it. */
function headerBtf(structs: string[]): BtfType[] {
  const dir = mkdtempSync(join(tmpdir(), 'tnat64-btf-'))
  try {
    const source = join(dir, 'layout.c')
    writeFileSync(
      source,
      `#include "tnat64.h"\n${structs.map((name) => `struct ${name} layout_${name};`).join('\n')}\n`,
    )
    const multiarch = spawnSync('gcc', ['-print-multiarch'], { encoding: 'utf8' }).stdout.trim()
    const r = spawnSync(
      'clang',
      [
        '-g',
        '-O2',
        '-target',
        'bpf',
        `-I${join(ROOT, 'bpf')}`,
        `-I/usr/include/${multiarch}`,
        '-c',
        source,
        '-o',
        join(dir, 'layout.o'),
      ],
      { encoding: 'utf8' },
    )
    assert.equal(r.status, 0, `clang: ${r.stderr}`)
    return btf(join(dir, 'layout.o'))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const define = (name: string) => cDefineNumber(HEADER, name)

/** `enum NAME { A = 1, ... }` of the header. */
function enumValues(name: string): Record<string, number> {
  const body = new RegExp(`enum ${name} \\{([^}]*)\\}`).exec(HEADER)?.[1] ?? ''
  return Object.fromEntries([...body.matchAll(/(\w+) = (\d+)/g)].map((m) => [m[1], Number(m[2])]))
}

describe('BPF contract (bpf/tnat64.h) and its TypeScript mirror', () => {
  const types = btf()
  const byId = new Map(types.map((t) => [t.id, t]))
  const sizeOf = (id: number): number => {
    const t = byId.get(id) as BtfType
    return t.size ?? sizeOf(t.type_id as number) // typedefs, const, volatile
  }

  const header = headerBtf(Object.keys(layout.LAYOUTS))

  for (const [name, struct] of Object.entries(layout.LAYOUTS)) {
    it(`struct ${name} has the size and offsets user space writes`, () => {
      const isIt = (t: BtfType) => t.kind === 'STRUCT' && t.name === name
      const found = types.find(isIt) ?? header.find(isIt)
      assert.ok(found, `struct ${name} is in the BTF`)
      assert.equal(found.size, struct.size)
      const offsets = Object.fromEntries((found.members ?? []).map((m) => [m.name, m.bits_offset / 8]))
      assert.deepEqual(offsets, struct.fields)
    })
  }

  it('declares every map as user space checks it: type, key and value size, entries, flags', () => {
    const maps = types.find((t) => t.kind === 'DATASEC' && t.name === '.maps')
    const declared = (maps?.vars ?? []).map((v) => byId.get(v.type_id) as BtfType)
    assert.deepEqual(
      declared.map((v) => v.name).sort(),
      Object.values(layout.MAPS)
        .map((m) => m.name)
        .sort(),
    )
    for (const variable of declared) {
      const spec = Object.values(layout.MAPS).find((m) => m.name === variable.name) as layout.MapSpec
      const fields = Object.fromEntries(
        ((byId.get(variable.type_id as number) as BtfType).members ?? []).map((m) => {
          const pointee = byId.get((byId.get(m.type_id) as BtfType).type_id as number) as BtfType
          return [m.name, pointee.kind === 'ARRAY' ? pointee.nr_elems : sizeOf(pointee.id)]
        }),
      )
      assert.equal(fields.type, spec.type, `${spec.name} type`)
      assert.equal(fields.key ?? 0, spec.keySize, `${spec.name} key`) // a ring buffer has neither
      assert.equal(fields.value ?? 0, spec.valueSize, `${spec.name} value`)
      assert.equal(fields.max_entries, spec.maxEntries, `${spec.name} entries`)
      assert.equal(fields.map_flags ?? 0, spec.flags, `${spec.name} flags`)
    }
  })

  it('has the one read-only variable user space sets, and every program it attaches', () => {
    const rodata = types.find((t) => t.kind === 'DATASEC' && t.name === '.rodata')
    const vars = (rodata?.vars ?? []).map((v) => ({ ...v, name: (byId.get(v.type_id) as BtfType).name }))
    assert.deepEqual(
      vars.map((v) => [v.name, v.offset, v.size]),
      [[layout.CGROUP_VARIABLE, 0, 8]],
    )
    const names = new Set(types.map((t) => t.name))
    for (const program of Object.values(layout.PROGRAMS)) assert.ok(names.has(program), program)
  })

  it('copies every constant the header defines for user space', () => {
    assert.equal(define('TNAT64_MAX_PREFIXES'), layout.MAX_PREFIXES)
    assert.equal(define('TNAT64_MAX_RULES'), layout.MAX_RULES)
    assert.equal(define('TNAT64_MAX_NETNS'), layout.MAX_NETNS)
    assert.equal(define('TNAT64_REVERSE_SLOTS'), layout.REVERSE_SLOTS)
    assert.equal(define('TNAT64_MAX_REVERSE_OVERFLOW'), layout.MAX_REVERSE_OVERFLOW)
    assert.equal(define('TNAT64_EVENT_RING_BYTES'), layout.EVENT_RING_BYTES)
    const table = /#define TNAT64_ALWAYS_IPV4_NETS([\s\S]*?)\n\n/.exec(HEADER)?.[1] ?? ''
    const nets = [...table.matchAll(/\{\s*(0x[0-9a-f]+), (\d+)\s*\}/g)].map((m) => [
      Number(m[1]),
      Number(m[2]),
    ])
    assert.deepEqual(nets, layout.ALWAYS_IPV4_NETS)
  })

  it('copies every enum: actions, rule flags, counters in index order', () => {
    assert.deepEqual(enumValues('rule_action'), {
      ACTION_IPV4: layout.Action.IPv4,
      ACTION_NAT64: layout.Action.Nat64,
      ACTION_NONE: layout.Action.None,
    })
    assert.deepEqual(enumValues('rule_flag'), { RULE_PINNED: layout.RuleFlag.Pinned })
    const counters = enumValues('counter')
    assert.equal(counters.COUNT_MAX, layout.COUNTERS.length)
    layout.COUNTERS.forEach((name, index) => {
      assert.equal(counters[`COUNT_${name.toUpperCase()}`], index, name)
    })
  })
})
