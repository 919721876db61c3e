// libbpf (the system's libbpf.so.1) through koffi. Loaded on first use, so commands that do not
// touch BPF never pay for it. libbpf reports failure with NULL or a negative return and errno.
import { closeSync } from 'node:fs'
import { createRequire } from 'node:module'
import { constants } from 'node:os'
import { CommandFailure } from '../errors.js'

type Pointer = object
type Koffi = typeof import('koffi')

export class BpfError extends CommandFailure {
  constructor(
    what: string,
    readonly errno: number,
  ) {
    super(`${what}: ${errnoText(errno)}`)
  }
}

function errnoText(errno: number): string {
  const name = Object.entries(constants.errno).find(([, n]) => n === errno)?.[0]
  if (errno === constants.errno.EPERM || errno === constants.errno.EACCES) {
    return `${name}: needs root (CAP_BPF and CAP_NET_ADMIN)`
  }
  return name ?? `errno ${errno}`
}

function bind(koffi: Koffi) {
  const lib = koffi.load('libbpf.so.1')
  const f = (signature: string) => lib.func(signature)
  const api = {
    setPrint: f('void *libbpf_set_print(void *fn)'),
    openFile: f('void *bpf_object__open_file(const char *path, void *opts)'),
    load: f('int bpf_object__load(void *obj)'),
    close: f('void bpf_object__close(void *obj)'),
    findMap: f('void *bpf_object__find_map_by_name(void *obj, const char *name)'),
    findProgram: f('void *bpf_object__find_program_by_name(void *obj, const char *name)'),
    setPinPath: f('int bpf_map__set_pin_path(void *map, const char *path)'),
    attachCgroup: f('void *bpf_program__attach_cgroup(void *prog, int cgroup_fd)'),
    pinLink: f('int bpf_link__pin(void *link, const char *path)'),
    destroyLink: f('int bpf_link__destroy(void *link)'),
    objGet: f('int bpf_obj_get(const char *path)'),
    update: f('int bpf_map_update_elem(int fd, const void *key, const void *value, uint64_t flags)'),
    lookup: f('int bpf_map_lookup_elem(int fd, const void *key, void *value)'),
    remove: f('int bpf_map_delete_elem(int fd, const void *key)'),
    nextKey: f('int bpf_map_get_next_key(int fd, const void *key, void *next_key)'),
    possibleCpus: f('int libbpf_num_possible_cpus()'),
  }
  // libbpf prints to stderr by default; its failures reach the user as our own errors instead.
  api.setPrint(null)
  return { koffi, api }
}

let bound: ReturnType<typeof bind> | undefined

function libbpf() {
  if (!bound) {
    const require = createRequire(import.meta.url)
    bound = bind(require('koffi') as Koffi)
  }
  return bound
}

function errno(): number {
  return libbpf().koffi.errno()
}

/** bpf(2)'s map update flag: create or replace. */
const BPF_ANY = 0

/** A map opened from its pin: key and value sizes come from the layout mirror. */
export class PinnedMap {
  private constructor(
    readonly path: string,
    readonly fd: number,
    readonly keySize: number,
    readonly valueSize: number,
  ) {}

  static open(path: string, keySize: number, valueSize: number): PinnedMap {
    const fd = libbpf().api.objGet(path) as number
    if (fd < 0) throw new BpfError(`open ${path}`, errno())
    return new PinnedMap(path, fd, keySize, valueSize)
  }

  update(key: Buffer, value: Buffer, flags = BPF_ANY): void {
    if ((libbpf().api.update(this.fd, key, value, flags) as number) < 0) {
      throw new BpfError(`update ${this.path}`, errno())
    }
  }

  lookup(key: Buffer): Buffer | undefined {
    const value = Buffer.alloc(this.valueSize)
    if ((libbpf().api.lookup(this.fd, key, value) as number) === 0) return value
    const e = errno()
    if (e === constants.errno.ENOENT) return undefined
    throw new BpfError(`lookup ${this.path}`, e)
  }

  delete(key: Buffer): boolean {
    if ((libbpf().api.remove(this.fd, key) as number) === 0) return true
    const e = errno()
    if (e === constants.errno.ENOENT) return false
    throw new BpfError(`delete from ${this.path}`, e)
  }

  /** Every key, in the map's order. */
  keys(): Buffer[] {
    const keys: Buffer[] = []
    let previous: Buffer | null = null
    for (;;) {
      const next = Buffer.alloc(this.keySize)
      if ((libbpf().api.nextKey(this.fd, previous, next) as number) < 0) {
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

export function possibleCpus(): number {
  return libbpf().api.possibleCpus() as number
}

/**
 * Opens the object, pins (or reuses) its maps under `mapDir`, loads it, attaches the named
 * programs to the cgroup with bpf_links and pins each link. The pins keep everything alive after
 * this process ends; nothing stays open here.
 */
export function loadAndAttach(
  objectPath: string,
  maps: string[],
  mapDir: string,
  programs: string[],
  cgroupFd: number,
  linkPath: (program: string) => string,
): void {
  const { api } = libbpf()
  const obj = api.openFile(objectPath, null) as Pointer | null
  if (!obj) throw new BpfError(`open ${objectPath}`, errno())
  try {
    for (const name of maps) {
      const map = api.findMap(obj, name) as Pointer | null
      if (!map) throw new CommandFailure(`${objectPath} has no map ${name}`)
      if ((api.setPinPath(map, `${mapDir}/${name}`) as number) < 0)
        throw new BpfError(`pin path of ${name}`, errno())
    }
    if ((api.load(obj) as number) < 0) throw new BpfError(`load ${objectPath}`, errno())
    for (const name of programs) {
      const program = api.findProgram(obj, name) as Pointer | null
      if (!program) throw new CommandFailure(`${objectPath} has no program ${name}`)
      const link = api.attachCgroup(program, cgroupFd) as Pointer | null
      if (!link) throw new BpfError(`attach ${name}`, errno())
      const pinned = api.pinLink(link, linkPath(name)) as number
      const pinErrno = errno()
      // With its pin in place the link outlives this handle; without one, destroying it detaches.
      api.destroyLink(link)
      if (pinned < 0) throw new BpfError(`pin ${linkPath(name)}`, pinErrno)
    }
  } finally {
    api.close(obj)
  }
}
