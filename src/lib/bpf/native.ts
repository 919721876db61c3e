// koffi and the libc calls node has no API for (flock, a socket's network-namespace cookie).
// Loaded on first use, so commands that touch neither never pay for it.
import { closeSync, openSync } from 'node:fs'
import { createRequire } from 'node:module'

export type Koffi = typeof import('koffi')

let koffiModule: Koffi | undefined

export function koffi(): Koffi {
  if (!koffiModule) koffiModule = createRequire(import.meta.url)('koffi') as Koffi
  return koffiModule
}

function bindLibc(k: Koffi) {
  const lib = k.load('libc.so.6')
  return {
    flock: lib.func('int flock(int fd, int operation)'),
    setns: lib.func('int setns(int fd, int nstype)'),
    socket: lib.func('int socket(int domain, int type, int protocol)'),
    getsockopt: lib.func(
      'int getsockopt(int fd, int level, int name, _Out_ uint8_t *value, _Inout_ uint32_t *len)',
    ),
    vsnprintf: lib.func('int vsnprintf(_Out_ uint8_t *buf, size_t size, const char *fmt, void *args)'),
  }
}

let libcBound: ReturnType<typeof bindLibc> | undefined

export function libc(): ReturnType<typeof bindLibc> {
  if (!libcBound) libcBound = bindLibc(koffi())
  return libcBound
}

export function errno(): number {
  return koffi().errno()
}

const LOCK_SH = 1
const LOCK_EX = 2
const LOCK_NB = 4
const EWOULDBLOCK = 11

/**
 * Locks the descriptor's file (shared or exclusive; released when it closes). When someone else
 * holds it, `waiting` is called once, then this blocks until the lock is ours.
 */
export function flock(fd: number, exclusive: boolean, waiting: () => void): void {
  const operation = exclusive ? LOCK_EX : LOCK_SH
  if ((libc().flock(fd, operation | LOCK_NB) as number) === 0) return
  if (errno() !== EWOULDBLOCK) throw new Error(`flock: errno ${errno()}`)
  waiting()
  if ((libc().flock(fd, operation) as number) < 0) throw new Error(`flock: errno ${errno()}`)
}

const AF_INET6 = 10
const SOCK_DGRAM = 2
const SOL_SOCKET = 1
const SO_NETNS_COOKIE = 71

const CLONE_NEWNET = 0x40000000

/**
 * The cookie of each network namespace, given as the files that hold it (any one will do: the
 * next is tried when one has gone), read by entering it with this thread only and coming back.
 * Undefined for a namespace none of whose files could be entered.
 */
export function netnsCookiesOf(holders: string[][]): (bigint | undefined)[] {
  const home = openSync('/proc/thread-self/ns/net', 'r')
  try {
    return holders.map((files) => {
      for (const file of files) {
        let fd: number
        try {
          fd = openSync(file, 'r')
        } catch {
          continue
        }
        let cookie: bigint | undefined
        let back = 0
        try {
          if ((libc().setns(fd, CLONE_NEWNET) as number) === 0) cookie = netnsCookie()
        } finally {
          closeSync(fd)
          back = libc().setns(home, CLONE_NEWNET) as number
        }
        if (back < 0) throw new Error(`setns back to our own namespace: errno ${errno()}`)
        if (cookie !== undefined) return cookie
      }
      return undefined
    })
  } finally {
    closeSync(home)
  }
}

/** The cookie of the network namespace this process is in: what bpf_get_netns_cookie() returns. */
export function netnsCookie(): bigint {
  const fd = libc().socket(AF_INET6, SOCK_DGRAM, 0) as number
  if (fd < 0) throw new Error(`socket: errno ${errno()}`)
  try {
    const value = Buffer.alloc(8)
    const length = [8]
    if ((libc().getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, value, length) as number) < 0)
      throw new Error(`getsockopt(SO_NETNS_COOKIE): errno ${errno()}`)
    return value.readBigUInt64LE()
  } finally {
    closeSync(fd)
  }
}
