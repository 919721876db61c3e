// `tnat64 prefix`: the NAT64 prefixes of some attached cgroups' rules, changed one cgroup at a time.
import type { Config } from '../config.js'
import { CommandFailure } from '../errors.js'
import type { Ipv4Net } from '../ipv4net.js'
import type { Nat64Prefix } from '../rfc6052.js'
import { attachedIds, describeCgroup, saveConfig, savedConfig, type Target, targetCgroups } from './attach.js'
import { requireLoaded, withLock } from './pins.js'
import { prefixStates, writeReachability } from './reachability.js'
import { compileRules, readPins, readRules, writeRules } from './rules.js'

/** Applies `edit` to the saved configuration of each cgroup named, and recompiles it (pins kept). */
function editConfigs(flags: Target, edit: (config: Config) => Config | undefined): string[] {
  return withLock(true, () => {
    requireLoaded()
    const changed: string[] = []
    for (const id of targetCgroups(flags)) {
      const { config, path } = savedConfig(id)
      const updated = edit(config)
      if (!updated) continue
      writeRules(id, compileRules(updated, readPins(id)))
      const where = describeCgroup(id).path ?? path ?? `cgroup ${id}`
      saveConfig({ id, path: where }, updated)
      changed.push(where)
    }
    writeReachability()
    return changed
  })
}

/** With subnets, a path to the prefix (the subnets leave any other path); without, the default. */
export function addPrefix(flags: Target, prefix: Nat64Prefix, subnets: Ipv4Net[]): string[] {
  return editConfigs(flags, (config) =>
    subnets.length === 0
      ? { ...config, defaultPrefix: { value: prefix, line: 0 }, discovered: undefined }
      : {
          ...config,
          paths: [
            ...config.paths
              .map((p) => ({
                ...p,
                subnets: p.subnets.filter((s) => !subnets.some((n) => n.text === s.value.text)),
              }))
              .filter((p) => p.subnets.length > 0),
            {
              line: 0,
              prefix: { value: prefix, line: 0 },
              subnets: subnets.map((value) => ({ value, line: 0 })),
            },
          ],
        },
  )
}

/** Removes every rule that uses the prefix (the default, paths) from the cgroups named. */
export function removePrefix(flags: Target, prefix: Nat64Prefix): string[] {
  const changed = editConfigs(flags, (config) => {
    const paths = config.paths.filter((p) => p.prefix.value.text !== prefix.text)
    const isDefault = config.defaultPrefix?.value.text === prefix.text
    if (!isDefault && paths.length === config.paths.length) return undefined
    return isDefault
      ? { ...config, paths, defaultPrefix: undefined, discovered: undefined }
      : { ...config, paths }
  })
  if (changed.length === 0) throw new CommandFailure(`no rule of the cgroups named uses ${prefix.text}`)
  return changed
}

export interface PrefixUse {
  readonly id: number
  readonly prefix: string
  readonly reachable: boolean
  /** Per cgroup: what the prefix serves there ("default", or the networks). */
  readonly uses: { cgroup: string; serves: string[] }[]
}

export function listPrefixes(): PrefixUse[] {
  return withLock(false, () => {
    requireLoaded()
    const rules = attachedIds().map((id) => ({
      cgroup: describeCgroup(id).path ?? `cgroup ${id}`,
      rules: readRules(id).filter((r) => r.action === 'nat64'),
    }))
    return prefixStates().map((state) => ({
      ...state,
      uses: rules.flatMap(({ cgroup, rules }) => {
        const serves = rules
          .filter((r) => r.prefix === state.prefix)
          .map((r) => (r.net === '0.0.0.0/0' ? 'default' : r.pinned ? `${r.net} (pinned)` : r.net))
        return serves.length > 0 ? [{ cgroup, serves }] : []
      }),
    }))
  })
}
