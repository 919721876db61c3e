// Operator pins (`tnat64 cache`): one destination sent over IPv4 or through NAT64 whatever its
// rule, per cgroup. They are /32 entries of the cgroup's rule table, flagged as pins: nothing
// evicts them, and connect6 pays no extra lookup for them.
import { parseIPv4 } from '../address.js'
import { CommandFailure } from '../errors.js'
import { parseIpv4Net } from '../ipv4net.js'
import { savedConfig, type Target, targetCgroups } from './attach.js'
import { requireLoaded, withLock } from './pins.js'
import { writeReachability } from './reachability.js'
import { compileRules, type Pin, type PinMethod, pinRefusal, readPins, writeRules } from './rules.js'

/** Rewrites one cgroup's rules: its saved configuration with the given pins on top. */
function recompile(cgroupId: bigint, pins: Pin[]): void {
  writeRules(cgroupId, compileRules(savedConfig(cgroupId).config, pins))
}

export function listPins(target: Target): { id: bigint; pins: Pin[] }[] {
  return withLock(false, () => {
    requireLoaded()
    return targetCgroups(target).map((id) => ({ id, pins: readPins(id) }))
  })
}

/** Pins destinations in each cgroup; refuses, before changing anything, what cannot be honoured. */
export function setPins(target: Target, destinations: string[], method: PinMethod): void {
  withLock(true, () => {
    requireLoaded()
    const plans = targetCgroups(target).map((id) => {
      const { config } = savedConfig(id)
      if (method === 'nat64')
        for (const destination of destinations) {
          const refusal = pinRefusal(config, parseIpv4Net(`${destination}/32`))
          if (refusal)
            throw new CommandFailure(`cannot pin ${destination} to nat64: ${refusal.replace(/^\S+ /, 'it ')}`)
        }
      const others = readPins(id).filter((p) => !destinations.includes(p.destination))
      return { id, pins: [...others, ...destinations.map((destination) => ({ destination, method }))] }
    })
    for (const plan of plans) recompile(plan.id, plan.pins)
    writeReachability()
  })
}

/** Removes pins (all of them when `destinations` is empty); returns how many went. */
export function clearPins(target: Target, destinations: string[] = []): number {
  for (const d of destinations) parseIPv4(d)
  return withLock(true, () => {
    requireLoaded()
    let removed = 0
    for (const id of targetCgroups(target)) {
      const pins = readPins(id)
      const kept = pins.filter((p) => destinations.length > 0 && !destinations.includes(p.destination))
      if (kept.length === pins.length) continue
      recompile(id, kept)
      removed += pins.length - kept.length
    }
    return removed
  })
}
