// `tnat64 metrics`: kernel mode's status (stats.ts gathers it) as Prometheus' text exposition
// format 0.0.4, printed or served over HTTP at /metrics, read afresh for every scrape.
import { createServer } from 'node:http'
import { isIPv4, isIPv6 } from 'node:net'
import { COUNTERS, type CounterName } from './bpf/layout.js'
import { CommandFailure, UsageError } from './errors.js'
import type { Status } from './kernel/stats.js'
import type { EventLog } from './log.js'

export const METRICS_PATH = '/metrics'
export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

export interface Sample {
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

export interface Family {
  readonly name: string
  readonly type: 'counter' | 'gauge'
  readonly help: string
  readonly samples: Sample[]
}

/** Where each counter of bpf/tnat64.h's enum counter goes: one family per kind of event. */
const COUNTER_FAMILIES: Record<CounterName, { family: string; outcome?: string }> = {
  rewritten: { family: 'tnat64_connect_decisions_total', outcome: 'rewritten' },
  ipv4: { family: 'tnat64_connect_decisions_total', outcome: 'ipv4' },
  non_global: { family: 'tnat64_connect_decisions_total', outcome: 'non_global' },
  unreachable: { family: 'tnat64_connect_decisions_total', outcome: 'unreachable' },
  pinned_ipv4: { family: 'tnat64_connect_decisions_total', outcome: 'pinned_ipv4' },
  bound_ipv4: { family: 'tnat64_connect_decisions_total', outcome: 'bound_ipv4' },
  no_rules: { family: 'tnat64_connect_decisions_total', outcome: 'no_rules' },
  reversed: { family: 'tnat64_peer_addresses_restored_total' },
  reverse_lost: { family: 'tnat64_reverse_records_lost_total' },
}

const COUNTER_HELP: Record<string, string> = {
  tnat64_connect_decisions_total:
    'Connects to IPv4-mapped destinations seen by connect6, by outcome: rewritten to NAT64, or left on IPv4 and why.',
  tnat64_peer_addresses_restored_total:
    'Peer addresses getpeername6/recvmsg6 gave back as the IPv4-mapped address the program connected to.',
  tnat64_reverse_records_lost_total:
    'Rewrites that found no room to be recorded: their programs see the NAT64 peer address.',
}

/** The families of one reading. Without kernel mode loaded, the counters read 0 (the maps are
 * gone; the next attach starts them from 0) and nothing is attached. */
export function families(s: Status): Family[] {
  const out: Family[] = []
  const family = (name: string, type: Family['type'], help: string, samples: Sample[]) =>
    out.push({ name, type, help, samples })
  const cgroupLabels = (c: Status['attached'][number]) => ({ cgroup: c.path ?? '', cgroup_id: c.id })

  family('tnat64_kernel_loaded', 'gauge', 'Whether kernel mode is loaded (its maps pinned): 1 or 0.', [
    { labels: {}, value: s.loaded ? 1 : 0 },
  ])
  for (const name of COUNTERS) {
    const { family: familyName, outcome } = COUNTER_FAMILIES[name]
    const labels: Record<string, string> = outcome ? { outcome } : {}
    const sample = { labels, value: s.counters?.[name] ?? 0 }
    const existing = out.find((f) => f.name === familyName)
    if (existing) existing.samples.push(sample)
    else family(familyName, 'counter', COUNTER_HELP[familyName], [sample])
  }
  family('tnat64_attached_cgroups', 'gauge', 'Cgroups with kernel mode attached.', [
    { labels: {}, value: s.attached.length },
  ])
  family(
    'tnat64_cgroup_info',
    'gauge',
    'One per attached cgroup (1): its path, id, default prefix ("" when none) and whether it was removed while attached.',
    s.attached.map((c) => ({
      labels: {
        ...cgroupLabels(c),
        default_prefix: c.defaultPrefix ?? '',
        removed: String(c.removed),
      },
      value: 1,
    })),
  )
  family(
    'tnat64_cgroup_rules',
    'gauge',
    "Entries of each attached cgroup's rule table in the kernel, pins included.",
    s.attached.map((c) => ({ labels: cgroupLabels(c), value: c.rules.length })),
  )
  family(
    'tnat64_cache_entries',
    'gauge',
    "Destinations pinned by tnat64 cache set, per cgroup and method (the cache's entries).",
    s.attached.flatMap((c) =>
      (['ipv4', 'nat64'] as const).map((method) => ({
        labels: { ...cgroupLabels(c), method },
        value: c.rules.filter((r) => r.pinned && r.action === method).length,
      })),
    ),
  )
  const programs = s.attached.flatMap((c) => c.programs.map((p) => ({ c, p })))
  family(
    'tnat64_program_runs_total',
    'counter',
    'Runs of each BPF program per attached cgroup (counted while kernel.bpf_stats_enabled=1).',
    programs.map(({ c, p }) => ({ labels: { ...cgroupLabels(c), program: p.program }, value: p.runCount })),
  )
  family(
    'tnat64_program_run_seconds_total',
    'counter',
    'Time spent in each BPF program per attached cgroup (counted while kernel.bpf_stats_enabled=1).',
    programs.map(({ c, p }) => ({
      labels: { ...cgroupLabels(c), program: p.program },
      value: p.runTimeNs / 1e9,
    })),
  )
  family(
    'tnat64_bpf_stats_enabled',
    'gauge',
    'Whether kernel.bpf_stats_enabled is on (program runs and times are counted): 1 or 0.',
    [{ labels: {}, value: s.bpfStatsEnabled ? 1 : 0 }],
  )
  family(
    'tnat64_prefix_reachable',
    'gauge',
    'Whether this network namespace reaches each NAT64 prefix of the rules (1) or not (0), by where the prefix came from: config, pref64, dns64, well-known (unknown: the saved configuration of its cgroup is gone).',
    s.prefixes.flatMap((p) =>
      p.origins.map((source) => ({ labels: { prefix: p.prefix, source }, value: p.reachable ? 1 : 0 })),
    ),
  )
  family(
    'tnat64_netns_unreachable_prefixes',
    'gauge',
    'Prefixes each refreshed network namespace (by cookie) cannot reach.',
    s.namespaces.map((n) => ({ labels: { netns: n.netns }, value: n.unreachable.length })),
  )
  family(
    'tnat64_orphaned_rule_sets',
    'gauge',
    'Rule sets left without programs by an attach that was killed (tnat64 status names the command that clears each).',
    [{ labels: {}, value: s.orphans.length }],
  )
  return out
}

const escapeHelp = (text: string) => text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')
const escapeLabel = (text: string) => text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')

/** The text exposition format: HELP and TYPE, then one line per sample. */
export function exposition(list: readonly Family[]): string {
  const lines: string[] = []
  for (const f of list) {
    lines.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`)
    for (const { labels, value } of f.samples) {
      const pairs = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`)
      lines.push(`${f.name}${pairs.length > 0 ? `{${pairs.join(',')}}` : ''} ${value}`)
    }
  }
  return `${lines.join('\n')}\n`
}

export interface ListenAddress {
  readonly host: string
  readonly port: number
}

/** `PORT`, `ADDR:PORT` or `[IPV6]:PORT`; the address is loopback unless given. */
export function parseListen(value: string): ListenAddress {
  const match = /^(?:(?:\[([^\]]*)\]|([^:[\]]*)):)?(\d{1,5})$/.exec(value)
  const host = match?.[1] ?? match?.[2] ?? '127.0.0.1'
  const port = Number(match?.[3])
  const hostOk = match?.[1] !== undefined ? isIPv6(host) : isIPv4(host)
  if (!match || !hostOk || port > 65_535)
    throw new UsageError(
      `--listen ${JSON.stringify(value)}: expected [ADDR:]PORT, ADDR an IPv4 address or a bracketed IPv6 one ([::1]:9464), PORT 0..65535`,
    )
  return { host, port }
}

const hostPort = (host: string, port: number) => (isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`)

export interface MetricsServer {
  /** Where it listens, the port chosen when 0 was asked for. */
  readonly url: string
  close(): Promise<void>
}

/** Serves `read()` at GET/HEAD /metrics; a failed read answers 500 and is logged. */
export async function serveMetrics(
  at: ListenAddress,
  read: () => string,
  log: EventLog,
): Promise<MetricsServer> {
  const server = createServer((request, response) => {
    const plain = { 'content-type': 'text/plain; charset=utf-8' }
    // A request target that is no URL at all (`GET http://[`) is the client's fault, not a crash.
    if (!URL.canParse(request.url ?? '/', 'http://host')) {
      response.writeHead(400, plain).end('bad request: the request target is no URL\n')
      return
    }
    if (new URL(request.url ?? '/', 'http://host').pathname !== METRICS_PATH) {
      response.writeHead(404, plain).end(`not found: the metrics are at ${METRICS_PATH}\n`)
      return
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { ...plain, allow: 'GET, HEAD' }).end('method not allowed: GET or HEAD\n')
      return
    }
    let body: string
    try {
      body = read()
    } catch (e) {
      const message = (e as Error).message
      log(`scrape failed: ${message}`, { event: 'scrape-failed', error: message })
      response.writeHead(500, plain).end(`scrape failed: ${message}\n`)
      return
    }
    response
      .writeHead(200, { 'content-type': CONTENT_TYPE, 'content-length': Buffer.byteLength(body) })
      .end(body)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        new CommandFailure(
          `cannot listen on ${hostPort(at.host, at.port)}: ${e.code === 'EADDRINUSE' ? 'the port is in use' : e.code === 'EADDRNOTAVAIL' ? 'no such address on this host' : e.message}`,
        ),
      ),
    )
    server.listen(at.port, at.host, resolve)
  })
  const { port } = server.address() as { port: number }
  return {
    url: `http://${hostPort(at.host, port)}${METRICS_PATH}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
