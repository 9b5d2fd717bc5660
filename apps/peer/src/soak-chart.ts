/**
 * A soak's samples as a picture: every peer's RSS and data-directory size against the events
 * created, as an SVG drawn by Vega-Lite (`soak-live --svg FILE`, and `chart` for a saved JSON line;
 * the pictures in BENCHMARKS.md). Vega is a development dependency of this repository, loaded only
 * here: an installed `parsec-peer` without it says so.
 */
import { UsageError } from './args.js'

export interface ChartSample {
  readonly events: number
  readonly rssBytes: readonly number[]
  readonly diskBytes: readonly number[]
}

/** One quantity drawn per peer: where its values are in a sample, and how they are shown. */
export interface ChartSeries<S> {
  readonly title: string
  readonly unit: string
  readonly values: (sample: S) => readonly number[]
  /** Each value is divided by this for the picture (bytes → MB: 1e6). */
  readonly divisor: number
}

/** The SVG of `samples` (one line per peer, RSS and disk side by side), titled `title`. */
export function soakChartSvg(samples: readonly ChartSample[], title: string): Promise<string> {
  return chartSvg(samples, title, [
    { title: 'RSS', unit: 'MB', values: (s) => s.rssBytes, divisor: 1e6 },
    { title: 'data directory', unit: 'MB', values: (s) => s.diskBytes, divisor: 1e6 },
  ])
}

/** The SVG of `samples`: one panel per series, one line per peer, against the events created. */
export async function chartSvg<S extends { readonly events: number }>(
  samples: readonly S[],
  title: string,
  series: readonly ChartSeries<S>[],
): Promise<string> {
  let vega: typeof import('vega')
  let vegaLite: typeof import('vega-lite')
  try {
    vega = await import('vega')
    vegaLite = await import('vega-lite')
  } catch {
    throw new UsageError(
      '--svg needs the vega and vega-lite packages (a development install of this repository)',
    )
  }
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
  const compiled = vegaLite.compile(spec as unknown as Parameters<typeof vegaLite.compile>[0]).spec
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' })
  try {
    return await view.toSVG()
  } finally {
    view.finalize()
  }
}
