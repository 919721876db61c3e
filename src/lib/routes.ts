// Reachability of NAT64 prefixes from the routing table of the network namespace we run in: the
// kernel program cannot see a failed route lookup, so user space tells it, per prefix.
import { spawn, spawnSync } from 'node:child_process'
import { formatIPv6 } from './address.js'
import type { Nat64Prefix } from './rfc6052.js'

/** A route that delivers packets (not unreachable, blackhole or prohibit) covers the prefix. */
export function prefixReachable(prefix: Nat64Prefix): boolean {
  const probe = Uint8Array.from(prefix.bytes)
  probe[15] |= 1 // an address inside the prefix (its host part is all zero)
  const r = spawnSync('ip', ['-6', '-j', 'route', 'get', formatIPv6(probe)], {
    encoding: 'utf8',
    timeout: 5000,
  })
  if (r.status !== 0) return false
  try {
    const [route] = JSON.parse(r.stdout) as { type?: string }[]
    return (
      route !== undefined &&
      !['unreachable', 'blackhole', 'prohibit', 'throw'].includes(route.type ?? 'unicast')
    )
  } catch {
    return false
  }
}

/**
 * Calls `onChange` after every IPv6 route change (netlink, through `ip -6 monitor route`), a burst
 * of changes once. Returns a function that stops watching.
 */
export function watchRoutes(onChange: () => void, settleMs = 100): () => void {
  const monitor = spawn('ip', ['-6', 'monitor', 'route'], { stdio: ['ignore', 'pipe', 'inherit'] })
  let timer: NodeJS.Timeout | undefined
  monitor.stdout.on('data', () => {
    clearTimeout(timer)
    timer = setTimeout(onChange, settleMs)
  })
  return () => {
    clearTimeout(timer)
    monitor.kill()
  }
}
