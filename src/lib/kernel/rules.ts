// One cgroup's configuration compiled for the kernel: a longest-prefix-match table of IPv4
// networks whose lookup gives, for every address, exactly the rule that config.resolve() gives,
// with the operator's pins on top. And the writing of it into the shared maps, in an order that
// never lets connect6 see a rule whose prefix is not written yet, or is already reused.
//
// The table holds every network the configuration names (0.0.0.0/0, the always-IPv4 networks,
// locals, path subnets, the non-global ranges, pins). For an address, the longest entry N that
// holds it is nested inside every other named network that holds it, so the rule of N, decided
// from the networks that contain N as a whole, is the rule of the address.
import { formatIPv4, formatIPv6 } from '../address.js'
import {
  Action,
  decodePrefixValue,
  decodeRuleKey,
  decodeRuleValue,
  encodePrefixValue,
  encodeRuleKey,
  encodeRuleValue,
  LAYOUTS,
  MAPS,
  MAX_PREFIXES,
  RuleFlag,
} from '../bpf/layout.js'
import type { PinnedMap } from '../bpf/libbpf.js'
import { BUILTIN_PREFIX, type Config } from '../config.js'
import { CommandFailure } from '../errors.js'
import {
  ALWAYS_IPV4_NETS,
  type Ipv4Net,
  NON_GLOBAL_NETS,
  netContains,
  netWithin,
  networkAddress,
  numberToIPv4Bytes,
  parseIpv4Net,
} from '../ipv4net.js'
import { isWellKnownPrefix, type Nat64Prefix } from '../rfc6052.js'
import { indexKey, withMap } from './pins.js'
import { clearUnreachable } from './reachability.js'

export type PinMethod = 'ipv4' | 'nat64'

/** An operator's pin: one destination sent over IPv4 or through NAT64 whatever its rule. */
export interface Pin {
  readonly destination: string
  readonly method: PinMethod
}

export interface RuleEntry {
  readonly net: Ipv4Net
  readonly action: Action
  /** Index into `prefixes` for Action.Nat64; 0 otherwise. */
  readonly prefixId: number
  readonly pinned: boolean
}

export interface CompiledRules {
  readonly prefixes: Nat64Prefix[]
  readonly entries: RuleEntry[]
}

/** Networks by prefix length, so "which of them contain this network" costs one probe per length. */
class NetIndex<T> {
  private readonly byLength = new Map<number, Map<number, T>>()

  add(net: Ipv4Net, value: T): void {
    const nets = this.byLength.get(net.length) ?? new Map<number, T>()
    this.byLength.set(net.length, nets)
    if (!nets.has(net.address)) nets.set(net.address, value)
  }

  /** The value of the most specific indexed network that contains `net` whole. */
  mostSpecific(net: Ipv4Net): T | undefined {
    for (let length = net.length; length >= 0; length--) {
      const nets = this.byLength.get(length)
      const found = nets?.get(networkAddress(net.address, length))
      if (found !== undefined) return found
    }
    return undefined
  }
}

const isAlwaysIPv4 = (net: Ipv4Net) => ALWAYS_IPV4_NETS.some((n) => netWithin(net, n))
const isNonGlobal = (net: Ipv4Net) => NON_GLOBAL_NETS.some((n) => netWithin(net, n))

/** The rules of a configuration as compiled, before pins: used to vet a pin. */
class RuleMaker {
  private readonly locals = new NetIndex<true>()
  private readonly paths = new NetIndex<Nat64Prefix>()
  private readonly fallback?: Nat64Prefix

  constructor(config: Config) {
    for (const local of config.locals) this.locals.add(local.value, true)
    for (const path of config.paths)
      for (const subnet of path.subnets) this.paths.add(subnet.value, path.prefix.value)
    this.fallback = config.withdrawn ? undefined : (config.defaultPrefix?.value ?? BUILTIN_PREFIX)
  }

  /** The prefix that would carry `net` through NAT64, or why nothing can. */
  nat64For(net: Ipv4Net): Nat64Prefix | 'always-ipv4' | 'non-global' | 'withdrawn' {
    if (isAlwaysIPv4(net)) return 'always-ipv4'
    const prefix = this.paths.mostSpecific(net) ?? this.fallback
    if (!prefix) return 'withdrawn'
    return isWellKnownPrefix(prefix) && isNonGlobal(net) ? 'non-global' : prefix
  }

  ruleFor(net: Ipv4Net): { action: Action; prefix?: Nat64Prefix } {
    if (this.locals.mostSpecific(net)) return { action: Action.IPv4 }
    const prefix = this.nat64For(net)
    if (prefix === 'always-ipv4') return { action: Action.IPv4 }
    if (prefix === 'non-global' || prefix === 'withdrawn') return { action: Action.None }
    return { action: Action.Nat64, prefix }
  }
}

/** Why a pin through NAT64 is refused, or undefined when it can be honoured. */
export function pinRefusal(config: Config, destination: Ipv4Net): string | undefined {
  const prefix = new RuleMaker(config).nat64For(destination)
  if (prefix === 'always-ipv4')
    return `${formatIPv4(numberToIPv4Bytes(destination.address))} never goes through NAT64 (loopback, multicast, reserved)`
  if (prefix === 'non-global')
    return `${formatIPv4(numberToIPv4Bytes(destination.address))} is not global: the well-known prefix must not carry it (RFC 6052 §3.1); configure a network-specific prefix for it`
  if (prefix === 'withdrawn')
    return `no prefix is in force for ${formatIPv4(numberToIPv4Bytes(destination.address))}: the discovered one was withdrawn`
  return undefined
}

export function compileRules(config: Config, pins: readonly Pin[] = []): CompiledRules {
  const nets = new Map<string, Ipv4Net>()
  const add = (net: Ipv4Net) => nets.set(net.text, net)
  add(parseIpv4Net('0.0.0.0/0'))
  for (const net of ALWAYS_IPV4_NETS) add(net)
  for (const local of config.locals) add(local.value)
  for (const path of config.paths) for (const subnet of path.subnets) add(subnet.value)
  for (const net of NON_GLOBAL_NETS) add(net)

  const prefixes: Nat64Prefix[] = []
  const idOf = (prefix: Nat64Prefix) => {
    let id = prefixes.findIndex((p) => p.text === prefix.text)
    if (id < 0) id = prefixes.push(prefix) - 1
    return id
  }
  const maker = new RuleMaker(config)
  const entries: RuleEntry[] = []
  const pinned = new Map(pins.map((pin) => [parseIpv4Net(`${pin.destination}/32`).text, pin]))
  for (const net of nets.values()) {
    if (pinned.has(net.text)) continue
    const { action, prefix } = maker.ruleFor(net)
    entries.push({ net, action, prefixId: prefix ? idOf(prefix) : 0, pinned: false })
  }
  for (const [text, pin] of pinned) {
    const net = parseIpv4Net(text)
    const prefix = pin.method === 'nat64' ? maker.nat64For(net) : undefined
    if (typeof prefix === 'string') throw new CommandFailure(pinRefusal(config, net) as string)
    entries.push({
      net,
      action: prefix ? Action.Nat64 : Action.IPv4,
      prefixId: prefix ? idOf(prefix) : 0,
      pinned: true,
    })
  }
  return { prefixes, entries }
}

/** What the kernel's LPM lookup returns for an address, computed here (for tests). */
export function lookupRule(rules: CompiledRules, address: number): RuleEntry | undefined {
  let best: RuleEntry | undefined
  for (const entry of rules.entries) {
    if (netContains(entry.net, address) && (!best || entry.net.length > best.net.length)) best = entry
  }
  return best
}

export interface PrefixEntry {
  readonly id: number
  readonly prefix: string
}

/** The prefixes the kernel holds, by id. */
export function prefixTable(): PrefixEntry[] {
  return withMap(MAPS.prefixes, (map) => {
    const table: PrefixEntry[] = []
    for (let id = 0; id < MAX_PREFIXES; id++) {
      const value = map.lookup(indexKey(id))
      if (!value) continue
      const { address, length } = decodePrefixValue(value)
      if (length > 0) table.push({ id, prefix: `${formatIPv6(address)}/${length}` })
    }
    return table
  })
}

/** One entry of a cgroup's rule table, as read back from the kernel. */
export interface KernelRule {
  readonly net: string
  readonly action: 'ipv4' | 'nat64' | 'none'
  readonly prefix?: string
  readonly pinned: boolean
}

const ACTION_NAMES: Record<number, KernelRule['action']> = {
  [Action.IPv4]: 'ipv4',
  [Action.Nat64]: 'nat64',
  [Action.None]: 'none',
}

/** Every rule entry of the shared table, grouped by cgroup id. */
function allRules(map: PinnedMap): Map<bigint, { key: Buffer; net: Ipv4Net; value: Buffer }[]> {
  const byCgroup = new Map<bigint, { key: Buffer; net: Ipv4Net; value: Buffer }[]>()
  for (const key of map.keys()) {
    const value = map.lookup(key)
    if (!value) continue
    const { cgroup, address, length } = decodeRuleKey(key)
    const list = byCgroup.get(cgroup) ?? []
    byCgroup.set(cgroup, list)
    list.push({ key, net: parseIpv4Net(`${formatIPv4(address)}/${length}`), value })
  }
  return byCgroup
}

/** A cgroup's rules as the kernel holds them, most general first. */
export function readRules(cgroup: bigint): KernelRule[] {
  const prefixes = new Map(prefixTable().map((p) => [p.id, p.prefix]))
  return withMap(MAPS.rules, (map) =>
    (allRules(map).get(cgroup) ?? [])
      .sort((a, b) => a.net.length - b.net.length || a.net.address - b.net.address)
      .map(({ net, value }) => {
        const rule = decodeRuleValue(value)
        return {
          net: net.text,
          action: ACTION_NAMES[rule.action] ?? 'none',
          prefix:
            rule.action === Action.Nat64 ? (prefixes.get(rule.prefixId) ?? `#${rule.prefixId}`) : undefined,
          pinned: (rule.flags & RuleFlag.Pinned) !== 0,
        }
      }),
  )
}

/** The operator's pins of a cgroup, read back from its rule table. */
export function readPins(cgroup: bigint): Pin[] {
  return readRules(cgroup)
    .filter((r) => r.pinned)
    .map((r) => ({
      destination: r.net.replace(/\/32$/, ''),
      method: r.action === 'nat64' ? 'nat64' : 'ipv4',
    }))
}

/**
 * Writes a cgroup's compiled rules: its prefixes first (a free id for each new one), then its
 * entries, then the removal of its stale entries, then the release of prefixes no rule of any
 * cgroup uses any more. Returns the ids of prefixes that were new.
 */
export function writeRules(cgroup: bigint, compiled: CompiledRules): number[] {
  const fresh: number[] = []
  const ids = withMap(MAPS.prefixes, (prefixes) => {
    const held = new Map(prefixTable().map((p) => [p.prefix, p.id]))
    const used = new Set(held.values())
    return compiled.prefixes.map((prefix) => {
      const known = held.get(prefix.text)
      if (known !== undefined) return known
      let id = 0
      while (used.has(id)) id++
      if (id >= MAX_PREFIXES)
        throw new CommandFailure(`more than ${MAX_PREFIXES} distinct NAT64 prefixes in use`)
      used.add(id)
      fresh.push(id)
      // No namespace has judged this prefix yet: it starts reachable everywhere, as the header says.
      clearUnreachable(id)
      prefixes.update(
        indexKey(id),
        encodePrefixValue({ address: prefix.bytes, length: prefix.length, unreachableSomewhere: false }),
      )
      return id
    })
  })
  withMap(MAPS.rules, (rules) => {
    const wanted = new Set<string>()
    for (const entry of compiled.entries) {
      const key = encodeRuleKey(cgroup, numberToIPv4Bytes(entry.net.address), entry.net.length)
      wanted.add(key.toString('hex'))
      rules.update(
        key,
        encodeRuleValue({
          action: entry.action,
          prefixId: entry.action === Action.Nat64 ? ids[entry.prefixId] : 0,
          flags: entry.pinned ? RuleFlag.Pinned : 0,
        }),
      )
    }
    for (const { key } of allRules(rules).get(cgroup) ?? [])
      if (!wanted.has(key.toString('hex'))) rules.delete(key)
  })
  releaseUnusedPrefixes()
  return fresh
}

/** Removes every rule of a cgroup (it is being detached), then the prefixes nothing uses. */
export function removeRules(cgroup: bigint): void {
  withMap(MAPS.rules, (rules) => {
    for (const { key } of allRules(rules).get(cgroup) ?? []) rules.delete(key)
  })
  releaseUnusedPrefixes()
}

/** Frees the prefix ids no rule names: only after the rules that named them are gone. */
function releaseUnusedPrefixes(): void {
  const named = new Set<number>()
  withMap(MAPS.rules, (rules) => {
    for (const list of allRules(rules).values())
      for (const { value } of list) {
        const rule = decodeRuleValue(value)
        if (rule.action === Action.Nat64) named.add(rule.prefixId)
      }
  })
  withMap(MAPS.prefixes, (prefixes) => {
    for (const { id } of prefixTable())
      if (!named.has(id)) prefixes.update(indexKey(id), Buffer.alloc(LAYOUTS.prefix_value.size))
  })
}

/** The cgroups that have rules in the kernel. */
export function cgroupsWithRules(): bigint[] {
  return withMap(MAPS.rules, (map) => [...allRules(map).keys()])
}
