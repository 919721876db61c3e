// The configuration a kernel-mode command applies: --config (or the usual file) and --prefix.
import { type Config, loadConfig, withDefaultPrefix } from './config.js'
import { prefixArgument } from './translate.js'

export function configFromFlags(flags: { config?: string; prefix?: string }): Config {
  const prefix = flags.prefix === undefined ? undefined : prefixArgument(flags.prefix)
  const { config } = loadConfig(flags.config)
  return prefix ? withDefaultPrefix(config, prefix) : config
}
