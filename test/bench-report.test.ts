// The benchmark's arithmetic and reports (the benchmark itself runs with npm run bench, as root).
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { failed, median, renderMarkdown, renderSvg, summarize } from '../src/bench/report.js'

describe('benchmark report', () => {
  it('takes medians of odd and even counts', () => {
    assert.equal(median([3, 1, 2]), 2)
    assert.equal(median([4, 1, 3, 2]), 2.5)
  })

  it('pairs rounds for ratios, and judges targets in the right direction', () => {
    const slower = summarize('x', 'µs', [11, 22, 33], [10, 20, 30], {
      group: 'connect',
      paired: true,
      target: { ratio: 1.05, what: '' },
    })
    assert.equal(slower.ratio?.toFixed(3), '1.100')
    assert.equal(slower.met, false)
    const faster = summarize('y', 'Gbit/s', [9.9, 10], [10, 10], {
      group: 'throughput',
      paired: true,
      higherIsBetter: true,
      target: { ratio: 0.98, what: '' },
    })
    assert.equal(faster.met, true)
    assert.equal(
      summarize('z', 'ns', [250], undefined, { group: 'bpf', target: { absolute: 300, what: '' } }).met,
      true,
    )
  })

  it('renders every group as a Markdown table and the chart as SVG', () => {
    const m = [
      summarize('connect+close, native', 'µs', [10, 12], [10, 12], {
        group: 'connect',
        mode: 'native',
        paired: true,
      }),
      summarize('one TCP stream, app', 'Gbit/s', [30], [31], {
        group: 'throughput',
        mode: 'app',
        higherIsBetter: true,
        target: { ratio: 0.98, what: 'within 2%' },
      }),
    ]
    const md = renderMarkdown(m, {
      date: 'd',
      command: 'npm run bench',
      mode: 'full',
      seconds: 1,
      cpus: 2,
      cpu: 'c',
      kernel: 'k',
      node: 'n',
    })
    assert.match(md, /\| connect\+close, native \| 11\.0 µs \| 10\.0–12\.0 \| 1\.00× \|/)
    assert.match(md, /within 2%: \*\*missed\*\*/)
    const svg = renderSvg(m)
    assert.match(svg, /^<svg [^>]*>/)
    assert.equal((svg.match(/<rect /g) ?? []).length, 3)
  })

  it('renders a failed measurement as its reason, in place of a figure', () => {
    const md = renderMarkdown(
      [failed('getaddrinfo, app', 'no answer | none', { group: 'lookup', mode: 'app' })],
      {
        date: 'd',
        command: 'c',
        mode: 'quick',
        seconds: 1,
        cpus: 1,
        cpu: 'c',
        kernel: 'k',
        node: 'n',
      },
    )
    assert.ok(md.includes('| getaddrinfo, app | **failed**: no answer \\| none |  |  |  |'))
  })
})
