// Pictures of the soaks for BENCHMARKS.md: one panel per quantity, one line per peer, against the
// events created, drawn as SVG by Vega-Lite (a development dependency of the repository).
import * as vega from 'vega'
import * as vegaLite from 'vega-lite'

/**
 * The SVG of `samples` (`{ events, ... }`) titled `title`; each of `series` is
 * `{ title, unit, values: (sample) => number[] (one per peer), divisor }`.
 */
export async function chartSvg(samples, title, series) {
  const values = samples.flatMap((sample) =>
    series.flatMap((one) =>
      one.values(sample).map((value, peer) => ({
        events: sample.events,
        peer: `peer ${peer}`,
        what: `${one.title} (${one.unit})`,
        value: value / one.divisor,
      })),
    ),
  )
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    data: { values },
    facet: { column: { field: 'what', type: 'nominal', title: null } },
    spec: {
      width: 360,
      height: 220,
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'events', type: 'quantitative', title: 'events created' },
        y: { field: 'value', type: 'quantitative', title: null, scale: { zero: true } },
        color: { field: 'peer', type: 'nominal', title: null },
      },
    },
    resolve: { scale: { y: 'independent' } },
  }
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: 'none' })
  try {
    return await view.toSVG()
  } finally {
    view.finalize()
  }
}

/** A `soak-live --json` report's samples: every peer's RSS and data directory, in MB. */
export function soakChartSvg(samples, title) {
  return chartSvg(samples, title, [
    { title: 'RSS', unit: 'MB', values: (s) => s.rssBytes, divisor: 1e6 },
    { title: 'data directory', unit: 'MB', values: (s) => s.diskBytes, divisor: 1e6 },
  ])
}
