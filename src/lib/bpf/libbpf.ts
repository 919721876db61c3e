// libbpf (the system's libbpf.so.1) through koffi. Loaded on first use, so commands that do not
// touch BPF never pay for it. libbpf reports failure with NULL or a negative return and errno.
import { closeSync } from 'node:fs'
import { constants } from 'node:os'
import { CommandFailure } from '../errors.js'
import type { MapSpec } from './layout.js'
import { errno, type Koffi, koffi, libc } from './native.js'

type Pointer = object

export class BpfError extends CommandFailure {
  constructor(
    what: string,
    readonly errno: number,
    hint?: string,
    details: string[] = [],
  ) {
    super(`${what}: ${errnoName(errno)}${hint ? `: ${hint}` : ''}`, 1, details)
  }
}

function errnoName(errno: number): string {
  return Object.entries(constants.errno).find(([, n]) => n === errno)?.[0] ?? `errno ${errno}`
}

/** libbpf's own messages: kept for the error of a failed call, and printed as they come with --debug. */
const log: string[] = []
let echo: ((line: string) => void) | undefined

export function showLibbpfMessages(write: (line: string) => void): void {
  echo = write
}

/** The messages since the last call, for the details of an error (the verifier's reason is there). */
function takeLog(): string[] {
  return log.splice(0)
}

const LIBBPF_DEBUG = 2

function bind() {
  const k = koffi()
  const lib = k.load('libbpf.so.1')
  const f = (signature: string) => lib.func(signature)
  const api = {
    setPrint: f('void *libbpf_set_print(void *fn)'),
    openFile: f('void *bpf_object__open_file(const char *path, void *opts)'),
    load: f('int bpf_object__load(void *obj)'),
    close: f('void bpf_object__close(void *obj)'),
    findMap: f('void *bpf_object__find_map_by_name(void *obj, const char *name)'),
    findProgram: f('void *bpf_object__find_program_by_name(void *obj, const char *name)'),
    setPinPath: f('int bpf_map__set_pin_path(void *map, const char *path)'),
    valueSize: f('uint32_t bpf_map__value_size(void *map)'),
    setInitialValue: f('int bpf_map__set_initial_value(void *map, const void *data, size_t size)'),
    attachCgroup: f('void *bpf_program__attach_cgroup(void *prog, int cgroup_fd)'),
    openLink: f('void *bpf_link__open(const char *path)'),
    updateProgram: f('int bpf_link__update_program(void *link, void *prog)'),
    pinLink: f('int bpf_link__pin(void *link, const char *path)'),
    destroyLink: f('int bpf_link__destroy(void *link)'),
    objGet: f('int bpf_obj_get(const char *path)'),
    objInfo: f('int bpf_obj_get_info_by_fd(int fd, _Inout_ uint8_t *info, _Inout_ uint32_t *len)'),
    update: f('int bpf_map_update_elem(int fd, const void *key, const void *value, uint64_t flags)'),
    lookup: f('int bpf_map_lookup_elem(int fd, const void *key, _Out_ uint8_t *value)'),
    remove: f('int bpf_map_delete_elem(int fd, const void *key)'),
    nextKey: f('int bpf_map_get_next_key(int fd, const void *key, _Out_ uint8_t *next_key)'),
    possibleCpus: f('int libbpf_num_possible_cpus()'),
    ringNew: f('void *ring_buffer__new(int map_fd, void *sample_cb, void *ctx, void *opts)'),
    ringConsume: f('int ring_buffer__consume(void *rb)'),
    ringFree: f('void ring_buffer__free(void *rb)'),
  }
  /** ring_buffer_sample_fn, which RingReader registers a callback of. */
  const ringSample = k.pointer(k.proto('int tnat64_ring_sample(void *ctx, void *data, size_t size)'))
  // libbpf would print to stderr; its messages reach the user through our errors and --debug.
  const printFn = k.proto('int tnat64_libbpf_print(int level, const char *fmt, void *args)')
  const print = k.register((level: number, fmt: string, args: unknown) => {
    const buffer = Buffer.alloc(4096)
    const n = libc().vsnprintf(buffer, buffer.length, fmt, args) as number
    const text = buffer.subarray(0, Math.max(0, Math.min(n, buffer.length - 1))).toString('utf8')
    for (const line of text.split('\n').filter((l) => l.trim() !== '')) {
      if (level < LIBBPF_DEBUG) log.push(line)
      echo?.(`libbpf: ${line}`)
    }
    if (log.length > 200) log.splice(0, log.length - 200)
    return 0
  }, k.pointer(printFn))
  api.setPrint(print)
  return { ...api, ringSample }
}

let bound: ReturnType<typeof bind> | undefined

function libbpf(): ReturnType<typeof bind> {
  if (!bound) bound = bind()
  return bound
}

/** bpf(2)'s map update flags. */
const BPF_ANY = 0

/** struct bpf_map_info's first fields (uapi). */
const MAP_INFO = { type: 0, keySize: 8, valueSize: 12, maxEntries: 16, flags: 20, size: 80 }

/** A map opened from its pin, after checking it is the map this version of tnat64 made. */
export class PinnedMap {
  private constructor(
    readonly path: string,
    readonly fd: number,
    readonly spec: MapSpec,
    readonly valueSize: number,
  ) {}

  static open(path: string, spec: MapSpec, valueSize = spec.valueSize): PinnedMap {
    const fd = libbpf().objGet(path) as number
    if (fd < 0) throw new BpfError(`open ${path}`, errno())
    try {
      checkMap(fd, path, spec)
    } catch (e) {
      closeSync(fd)
      throw e
    }
    return new PinnedMap(path, fd, spec, valueSize)
  }

  update(key: Buffer, value: Buffer, flags = BPF_ANY): void {
    if ((libbpf().update(this.fd, key, value, flags) as number) < 0) {
      throw new BpfError(`update ${this.path}`, errno())
    }
  }

  lookup(key: Buffer): Buffer | undefined {
    const value = Buffer.alloc(this.valueSize)
    if ((libbpf().lookup(this.fd, key, value) as number) === 0) return value
    const e = errno()
    if (e === constants.errno.ENOENT) return undefined
    throw new BpfError(`lookup ${this.path}`, e)
  }

  delete(key: Buffer): boolean {
    if ((libbpf().remove(this.fd, key) as number) === 0) return true
    const e = errno()
    if (e === constants.errno.ENOENT) return false
    throw new BpfError(`delete from ${this.path}`, e)
  }

  /** Every key, in the map's order. */
  keys(): Buffer[] {
    const keys: Buffer[] = []
    let previous: Buffer | null = null
    for (;;) {
      const next = Buffer.alloc(this.spec.keySize)
      if ((libbpf().nextKey(this.fd, previous, next) as number) < 0) {
        const e = errno()
        if (e === constants.errno.ENOENT) return keys
        throw new BpfError(`iterate ${this.path}`, e)
      }
      keys.push(next)
      previous = next
    }
  }

  close(): void {
    closeSync(this.fd)
  }
}

/** A pinned map left by another version (or made by someone else) is refused, never read into a
 * buffer of the wrong size. */
function checkMap(fd: number, path: string, spec: MapSpec): void {
  const info = Buffer.alloc(MAP_INFO.size)
  if ((libbpf().objInfo(fd, info, [info.length]) as number) < 0)
    throw new BpfError(`inspect ${path}`, errno())
  const found = {
    type: info.readUInt32LE(MAP_INFO.type),
    keySize: info.readUInt32LE(MAP_INFO.keySize),
    valueSize: info.readUInt32LE(MAP_INFO.valueSize),
    maxEntries: info.readUInt32LE(MAP_INFO.maxEntries),
    flags: info.readUInt32LE(MAP_INFO.flags),
  }
  const wrong = (['type', 'keySize', 'valueSize', 'maxEntries', 'flags'] as const).filter(
    (field) => found[field] !== spec[field],
  )
  if (wrong.length > 0) {
    const what = wrong.map((field) => `${field} ${found[field]}, expected ${spec[field]}`).join('; ')
    throw new CommandFailure(
      `${path} is not the map this version of tnat64 uses (${what}): run tnat64 detach --all, then attach again`,
    )
  }
}

export function possibleCpus(): number {
  return libbpf().possibleCpus() as number
}

/**
 * The reader of a BPF ring buffer map: `consume()` hands every record waiting to `onRecord`, a copy
 * each, without blocking (libbpf calls back on this thread, inside the call).
 */
export class RingReader {
  private constructor(
    private ring: Pointer | undefined,
    private callback: ReturnType<Koffi['register']> | undefined,
  ) {}

  static open(map: PinnedMap, onRecord: (record: Buffer) => void): RingReader {
    const k = koffi()
    const api = libbpf()
    const callback = k.register((_ctx: unknown, data: unknown, size: number) => {
      onRecord(Buffer.from(new Uint8Array(k.view(data, size)))) // the ring's memory is reused after
      return 0
    }, api.ringSample)
    const ring = api.ringNew(map.fd, callback, null, null) as Pointer | null
    if (!ring) {
      const e = errno()
      k.unregister(callback)
      throw new BpfError(`read the ring buffer ${map.path}`, e)
    }
    return new RingReader(ring, callback)
  }

  /** The number of records handed over. */
  consume(): number {
    if (!this.ring) return 0
    const n = libbpf().ringConsume(this.ring) as number
    if (n < 0) throw new BpfError('read the ring buffer', -n)
    return n
  }

  close(): void {
    if (this.ring) libbpf().ringFree(this.ring)
    if (this.callback) koffi().unregister(this.callback)
    this.ring = undefined
    this.callback = undefined
  }
}

export interface LoadOptions {
  /** Read-only variable to set before load, and its value. */
  readonly variable: { readonly name: string; readonly value: bigint }
  /** Maps to pin (or reuse) under this directory. */
  readonly mapDir: string
  readonly maps: readonly string[]
}

/** A loaded copy of the object, its maps pinned: attach its programs, or swap them into links. */
export class LoadedObject {
  private constructor(
    private readonly obj: Pointer,
    readonly path: string,
  ) {}

  static load(path: string, options: LoadOptions): LoadedObject {
    const api = libbpf()
    takeLog()
    const obj = api.openFile(path, null) as Pointer | null
    if (!obj) throw new BpfError(`open ${path}`, errno(), undefined, takeLog())
    const loaded = new LoadedObject(obj, path)
    try {
      const rodata = api.findMap(obj, '.rodata') as Pointer | null
      if (!rodata || (api.valueSize(rodata) as number) !== 8)
        throw new CommandFailure(
          `${path}: its read-only data is not the ${options.variable.name} this CLI sets`,
        )
      const value = Buffer.alloc(8)
      value.writeBigUInt64LE(options.variable.value)
      if ((api.setInitialValue(rodata, value, 8) as number) < 0)
        throw new BpfError(`set ${options.variable.name}`, errno())
      for (const name of options.maps) {
        const map = api.findMap(obj, name) as Pointer | null
        if (!map) throw new CommandFailure(`${path} has no map ${name}`)
        if ((api.setPinPath(map, `${options.mapDir}/${name}`) as number) < 0)
          throw new BpfError(`pin path of ${name}`, errno())
      }
      if ((api.load(obj) as number) < 0) {
        const e = errno()
        throw new BpfError(`load ${path}`, e, 'the kernel refused the programs', takeLog())
      }
    } catch (e) {
      loaded.close()
      throw e
    }
    return loaded
  }

  private program(name: string): Pointer {
    const program = libbpf().findProgram(this.obj, name) as Pointer | null
    if (!program) throw new CommandFailure(`${this.path} has no program ${name}`)
    return program
  }

  /** Attaches a program to the cgroup with a bpf_link, pinned at `pin`: the pin keeps it attached. */
  attach(name: string, cgroupFd: number, pin: string): void {
    const api = libbpf()
    const link = api.attachCgroup(this.program(name), cgroupFd) as Pointer | null
    if (!link) {
      const e = errno()
      const hint =
        e === constants.errno.EPERM
          ? 'another program holds this hook of the cgroup exclusively (bpftool cgroup show PATH)'
          : undefined
      throw new BpfError(`attach ${name}`, e, hint)
    }
    const pinned = api.pinLink(link, pin) as number
    const pinErrno = errno()
    // With its pin in place the link outlives this handle; without one, destroying it detaches.
    api.destroyLink(link)
    if (pinned < 0) throw new BpfError(`pin ${pin}`, pinErrno)
  }

  /** Puts this copy's program into the pinned link in place: the attachment never lapses. */
  replace(name: string, pin: string): void {
    const api = libbpf()
    const link = api.openLink(pin) as Pointer | null
    if (!link) throw new BpfError(`open ${pin}`, errno())
    try {
      if ((api.updateProgram(link, this.program(name)) as number) < 0)
        throw new BpfError(`replace the program of ${pin}`, errno(), undefined, takeLog())
    } finally {
      api.destroyLink(link)
    }
  }

  close(): void {
    libbpf().close(this.obj)
  }
}
