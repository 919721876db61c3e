// The configuration compiled for the kernel: a longest-prefix-match table of IPv4 networks whose
// lookup gives, for every address, exactly the rule that config.resolve() gives.
//
// The table holds every network the configuration names (0.0.0.0/0, 127/8, locals, path subnets,
// the non-global ranges). For an address, the longest entry N that holds it is nested inside
// every other named network that holds it, so the rule of N, decided from the networks that
// contain N as a whole, is the rule of the address.

import { Action, MAX_PREFIXES } from './bpf/layout.js'
import { BUILTIN_PREFIX, type Config } from './config.js'
import { CommandFailure } from './errors.js'
import {
  type Ipv4Net,
  LOOPBACK_NET,
  NON_GLOBAL_NETS,
  netContains,
  netWithin,
  networkAddress,
  parseIpv4Net,
} from './ipv4net.js'
import { isWellKnownPrefix, type Nat64Prefix } from './rfc6052.js'

export interface RuleEntry {
  readonly net: Ipv4Net
  readonly action: Action
  /** Index into `prefixes` for Action.Nat64; 0 otherwise. */
  readonly prefixId: number
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

function ruleFor(
  net: Ipv4Net,
  locals: NetIndex<true>,
  paths: NetIndex<Nat64Prefix>,
  fallback: Nat64Prefix,
): { action: Action; prefix?: Nat64Prefix } {
  if (netWithin(net, LOOPBACK_NET) || locals.mostSpecific(net)) return { action: Action.Local }
  const prefix = paths.mostSpecific(net) ?? fallback
  if (isWellKnownPrefix(prefix) && NON_GLOBAL_NETS.some((ng) => netWithin(net, ng)))
    return { action: Action.None }
  return { action: Action.Nat64, prefix }
}

export function compileRules(config: Config): CompiledRules {
  const nets = new Map<string, Ipv4Net>()
  const add = (net: Ipv4Net) => nets.set(net.text, net)
  add(parseIpv4Net('0.0.0.0/0'))
  add(LOOPBACK_NET)
  for (const local of config.locals) add(local.value)
  for (const path of config.paths) for (const subnet of path.subnets) add(subnet.value)
  for (const net of NON_GLOBAL_NETS) add(net)

  const prefixes: Nat64Prefix[] = []
  const idOf = (prefix: Nat64Prefix) => {
    let id = prefixes.findIndex((p) => p.text === prefix.text)
    if (id < 0) id = prefixes.push(prefix) - 1
    if (id >= MAX_PREFIXES) throw new CommandFailure(`more than ${MAX_PREFIXES} distinct NAT64 prefixes`)
    return id
  }
  const locals = new NetIndex<true>()
  for (const local of config.locals) locals.add(local.value, true)
  const paths = new NetIndex<Nat64Prefix>()
  for (const path of config.paths)
    for (const subnet of path.subnets) paths.add(subnet.value, path.prefix.value)
  const fallback = config.defaultPrefix?.value ?? BUILTIN_PREFIX
  const entries = [...nets.values()].map((net) => {
    const { action, prefix } = ruleFor(net, locals, paths, fallback)
    return { net, action, prefixId: prefix ? idOf(prefix) : 0 }
  })
  return { prefixes, entries }
}

/** What the kernel's LPM lookup returns for an address, computed here (for tests and `status`). */
export function lookupRule(rules: CompiledRules, address: number): RuleEntry | undefined {
  let best: RuleEntry | undefined
  for (const entry of rules.entries) {
    if (netContains(entry.net, address) && (!best || entry.net.length > best.net.length)) best = entry
  }
  return best
}
