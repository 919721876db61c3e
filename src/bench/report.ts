// Figures of a benchmark run: median and spread over rounds, the ratio to the baseline of the same
// run, the target where there is one; rendered as Markdown and as an SVG bar chart.

export interface Target {
  /** Lower-is-better figures: ratio at most this; higher-is-better ones: at least this. */
  readonly ratio?: number
  /** The median at most this, in the figure's unit. */
  readonly absolute?: number
  readonly what: string
}

export interface Measure {
  readonly name: string
  readonly unit: string
  readonly group: string
  readonly mode?: string
  readonly values: number[]
  readonly median: number
  readonly min: number
  readonly max: number
  readonly ratio?: number
  readonly higherIsBetter?: boolean
  readonly target?: Target
  readonly met?: boolean
  /** Why there is no figure: the measurement could not be made. */
  readonly error?: string
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

export function summarize(
  name: string,
  unit: string,
  values: number[],
  baseline: number[] | undefined,
  options: { group: string; mode?: string; higherIsBetter?: boolean; target?: Target; paired?: boolean },
): Measure {
  const m = median(values)
  // Paired rounds (each mode measured once per round, in turn): the median of per-round ratios,
  // which a machine slowing down or speeding up during the run does not skew.
  const ratio = !baseline
    ? undefined
    : options.paired && baseline.length === values.length
      ? median(values.map((v, i) => v / baseline[i]))
      : m / median(baseline)
  const { target, higherIsBetter } = options
  let met: boolean | undefined
  if (target?.absolute !== undefined) met = m <= target.absolute
  else if (target?.ratio !== undefined && ratio !== undefined)
    met = higherIsBetter ? ratio >= target.ratio : ratio <= target.ratio
  return {
    name,
    unit,
    values,
    median: m,
    min: Math.min(...values),
    max: Math.max(...values),
    ratio,
    met,
    ...options,
  }
}

/** A row whose measurement failed: the reason in place of a figure. */
export function failed(name: string, error: string, options: { group: string; mode?: string }): Measure {
  return {
    name,
    unit: '',
    values: [],
    median: Number.NaN,
    min: Number.NaN,
    max: Number.NaN,
    error,
    ...options,
  }
}

const GROUPS: Record<string, string> = {
  connect: 'Connect + close, one connection at a time (baseline: native IPv6 client to the NAT64 address)',
  instructions: 'User-space instructions per call, valgrind callgrind (baseline: native IPv6 client)',
  bpf: 'Kernel time per BPF program call, kernel.bpf_stats_enabled',
  throughput: 'Bulk throughput, one TCP stream (baseline: native IPv6)',
  udp: 'UDP request/response, one socket, 32-byte datagrams, one in flight (baseline: native IPv6 client)',
  lookup:
    'getaddrinfo(AF_INET), one DNS server at the NAT64 address (baseline: named by that address, no tnat64)',
  fallback:
    'Fallback when NAT64 is unreachable, app mode (baseline: the same connects over IPv4 without tnat64)',
  start: 'Start-up, wall clock (baseline: node -e 0)',
  scale: 'Map scale',
}

function format(value: number): string {
  if (value >= 100) return value.toFixed(0)
  if (value >= 10) return value.toFixed(1)
  return value.toFixed(2)
}

export function renderMarkdown(measures: Measure[], machine: Record<string, string | number>): string {
  const lines = [
    `Run ${machine.date} with \`${machine.command}\` (${machine.mode}, ${machine.seconds} s): ${machine.cpus} x ${machine.cpu}, Linux ${machine.kernel}, Node ${machine.node}.`,
    '',
  ]
  for (const [group, title] of Object.entries(GROUPS)) {
    const rows = measures.filter((m) => m.group === group)
    if (rows.length === 0) continue
    lines.push(`**${title}**`, '', '| | median | spread | ratio | target |', '|---|---:|---:|---:|---|')
    for (const m of rows) {
      const target = m.target ? `${m.target.what}: ${m.met ? 'met' : '**missed**'}` : ''
      if (m.error !== undefined) {
        lines.push(`| ${m.name} | **failed**: ${m.error.replaceAll('|', '\\|')} |  |  | ${target} |`)
        continue
      }
      const spread = m.values.length > 1 ? `${format(m.min)}–${format(m.max)}` : ''
      const ratio = m.ratio === undefined ? '' : `${m.ratio.toFixed(2)}×`
      lines.push(`| ${m.name} | ${format(m.median)} ${m.unit} | ${spread} | ${ratio} | ${target} |`)
    }
    lines.push('')
  }
  return `${lines.join('\n')}\n`
}

/** Two bar panels, connect cost and throughput per mode: the median as a bar, the spread as a line. */
export function renderSvg(measures: Measure[]): string {
  const panels = [
    { group: 'connect', title: 'connect + close (µs, lower is better)' },
    { group: 'throughput', title: 'one TCP stream (Gbit/s, higher is better)' },
  ]
  const width = 720
  const label = 150 // room for the mode's name left of the bars
  const bar = 22
  const colour = (mode = '') => (mode.startsWith('native') ? '#888' : mode === 'clat' ? '#c66' : '#4a7')
  const parts: string[] = []
  let top = 0
  for (const panel of panels) {
    const rows = measures.filter((m) => m.group === panel.group)
    const max = Math.max(...rows.map((m) => m.max), 1e-9)
    const x = (v: number) => (label + (v / max) * (width - label - 110)).toFixed(1)
    parts.push(`<text x="10" y="${top + 24}" font-size="15" font-weight="bold">${panel.title}</text>`)
    rows.forEach((m, i) => {
      const y = top + 36 + i * (bar + 8)
      const ratio = m.ratio === undefined ? '' : ` (${m.ratio.toFixed(2)}×)`
      parts.push(
        `<text x="10" y="${y + 16}" font-size="13">${m.mode}</text>`,
        `<rect x="${label}" y="${y}" width="${(Number(x(m.median)) - label).toFixed(1)}" height="${bar}" fill="${colour(m.mode)}"/>`,
        `<line x1="${x(m.min)}" x2="${x(m.max)}" y1="${y + bar / 2}" y2="${y + bar / 2}" stroke="#000"/>`,
        `<text x="${Number(x(m.max)) + 8}" y="${y + 16}" font-size="12">${format(m.median)}${ratio}</text>`,
      )
    })
    top += 44 + rows.length * (bar + 8)
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${top}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="#fff"/>\n${parts.join('\n')}\n</svg>\n`
}
