/**
 * `parsec-peer bench`: replays the benchmark graphs (benches/*, bench_section_size_*) several times
 * in-process and compares the median replay time (same scope as `replayMs`) with the reference's
 * figures in shared/BASELINES.md as a speed ratio (reference / ours; above 1 is faster).
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseRecording, play } from '@parsec-section/parsec-core/dot'
import { intOption, parse, UsageError } from '../args.js'
import { sharedPath } from '../shared-files.js'

const HELP = `usage: parsec-peer bench [--runs N] [--filter TEXT] [--vectors DIR] [--malice | --detection-cost]
                         [--json | --markdown]

Replays each benchmark graph --runs times (default 11, after at least 2 warm-up runs
and 300 ms of warm-up) and prints per graph:
events, peers, median replay time, events/s and the speed ratio to the reference.
--malice replays with malice detection on (report mode: every detector runs, nothing changes).
--detection-cost replays each graph both ways and prints detection off, on and the overhead.`

const WARMUP_RUNS = 2
const WARMUP_MS = 300

export interface BenchRow {
  graph: string
  mode: string
  events: number
  peers: number
  medianMs: number
  eventsPerSecond: number
  referenceMs: number | null
  ratio: number | null
}

/** Reference medians from BASELINES.md, keyed like `bench_section_size_evt8/a_node4`. */
function loadBaselines(file: string | undefined): Map<string, number> {
  const out = new Map<string, number>()
  if (file === undefined) return out
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const cells = line.split('|').map((c) => c.trim())
    if (cells.length < 9 || !/^[a-z_0-9]+\/[a-z_0-9]+/.test(cells[1])) continue
    const name = cells[1].replace(/\s*\*$/, '')
    const ms = Number(cells[7].replace(/,/g, ''))
    if (Number.isFinite(ms)) out.set(name, ms)
  }
  return out
}

function baselineKey(graph: string): string {
  // bench_section_size_evt8/a_node4_opaque_evt8.dot -> bench_section_size_evt8/a_node4
  const [dir, file] = graph.replace(/\.dot$/, '').split('/')
  const m = /^(a_node\d+)_/.exec(file)
  return `${dir}/${m ? m[1] : file}`
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

export function benchGraphs(vectors: string, filter?: string): string[] {
  const out: string[] = []
  for (const dir of readdirSync(vectors, { withFileTypes: true })) {
    if (!dir.isDirectory() || !(dir.name === 'benches' || dir.name.startsWith('bench_section_size_')))
      continue
    for (const file of readdirSync(join(vectors, dir.name))) {
      const graph = `${dir.name}/${file}`
      if (file.endsWith('.dot') && (filter === undefined || graph.includes(filter))) out.push(graph)
    }
  }
  const peers = (g: string) => Number(/a_node(\d+)/.exec(g)?.[1] ?? 0)
  return out.sort(
    (a, b) => a.split('/')[0].localeCompare(b.split('/')[0]) || peers(a) - peers(b) || a.localeCompare(b),
  )
}

export function benchGraph(
  vectors: string,
  graph: string,
  runs: number,
  baselines: Map<string, number>,
  malice = false,
): BenchRow {
  const { graph: dot, record } = parseRecording(readFileSync(join(vectors, graph), 'utf8'))
  const once = (): [number, number] => {
    const start = performance.now()
    const parsec = play(record, { maliceDetection: malice ? 'report' : 'off' })
    while (parsec.poll() !== undefined) {}
    return [performance.now() - start, parsec.graphSize]
  }
  // Warm up until the JIT has seen enough work (small graphs need many runs), then time.
  const warmupStart = performance.now()
  for (let i = 0; i < WARMUP_RUNS || performance.now() - warmupStart < WARMUP_MS; i++) once()
  const times: number[] = []
  let events = 0
  for (let i = 0; i < runs; i++) {
    const [elapsed, size] = once()
    times.push(elapsed)
    events = size
  }
  const medianMs = median(times)
  const referenceMs = baselines.get(baselineKey(graph)) ?? null
  return {
    graph,
    mode: record.consensusMode,
    events,
    peers: dot.peerList.length,
    medianMs,
    eventsPerSecond: Math.round(events / (medianMs / 1000)),
    referenceMs,
    ratio: referenceMs === null ? null : referenceMs / medianMs,
  }
}

export const benchCommand = {
  summary: 'replay the benchmark graphs and compare with the reference',
  async run(args: string[]): Promise<number> {
    const { values } = parse(args, {
      runs: { type: 'string' },
      filter: { type: 'string' },
      vectors: { type: 'string' },
      json: { type: 'boolean' },
      markdown: { type: 'boolean' },
      malice: { type: 'boolean' },
      'detection-cost': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    })
    if (values.help) {
      console.log(HELP)
      return 0
    }
    const runs = intOption(values, 'runs', 11, 1, 1000)
    const vectors = (values.vectors as string | undefined) ?? sharedPath('vectors', 'parsec')
    if (vectors === undefined) throw new UsageError('shared vectors not found; pass --vectors DIR')
    const baselines = loadBaselines(sharedPath('BASELINES.md'))
    const graphs = benchGraphs(vectors, values.filter as string | undefined)
    if (graphs.length === 0) throw new UsageError('no benchmark graph matches')
    if (values['detection-cost']) return detectionCost(vectors, graphs, runs, baselines, values.json === true)
    const rows: BenchRow[] = []
    const human = !values.json && !values.markdown
    if (human) {
      console.log(
        `replaying ${graphs.length} graphs, median of ${runs} runs each (after >= 2 warm-up runs and 300 ms)\n`,
      )
      console.log(header())
    }
    for (const graph of graphs) {
      const row = benchGraph(vectors, graph, runs, baselines, values.malice === true)
      rows.push(row)
      if (human) console.log(formatRow(row))
      else if (!values.json) process.stderr.write(`  ${graph}: ${row.medianMs.toFixed(2)} ms\n`)
    }
    if (values.json) console.log(JSON.stringify({ runs, node: process.version, rows }))
    else if (values.markdown) console.log(markdown(rows))
    return 0
  },
}

/** Each graph replayed with detection off and on (interleaved per graph, so drift hits both). */
function detectionCost(
  vectors: string,
  graphs: string[],
  runs: number,
  baselines: Map<string, number>,
  json: boolean,
): number {
  const rows: {
    graph: string
    events: number
    referenceMs: number | null
    offMs: number
    onMs: number
    overhead: number
  }[] = []
  if (!json) {
    console.log('| graph | events | reference (ms) | detection off (ms) | detection on (ms) | overhead |')
    console.log('|---|---:|---:|---:|---:|---:|')
  }
  for (const graph of graphs) {
    const off = benchGraph(vectors, graph, runs, baselines, false)
    const on = benchGraph(vectors, graph, runs, baselines, true)
    const row = {
      graph: graph.replace(/\.dot$/, ''),
      events: off.events,
      referenceMs: off.referenceMs,
      offMs: off.medianMs,
      onMs: on.medianMs,
      overhead: on.medianMs / off.medianMs - 1,
    }
    rows.push(row)
    if (!json) {
      console.log(
        `| ${row.graph} | ${row.events.toLocaleString('en-US')} | ${row.referenceMs ?? '-'} | ${row.offMs.toFixed(2)} | ${row.onMs.toFixed(2)} | ${(100 * row.overhead).toFixed(1)}% |`,
      )
    }
  }
  if (json) console.log(JSON.stringify({ runs, node: process.version, rows }))
  return 0
}

function header(): string {
  return `${'graph'.padEnd(52)} ${'mode'.padEnd(13)} ${'events'.padStart(6)} ${'peers'.padStart(5)} ${'median ms'.padStart(10)} ${'events/s'.padStart(10)} ${'ref ms'.padStart(8)} ${'ratio'.padStart(6)}`
}

function formatRow(r: BenchRow): string {
  return `${r.graph.padEnd(52)} ${r.mode.padEnd(13)} ${String(r.events).padStart(6)} ${String(r.peers).padStart(5)} ${r.medianMs.toFixed(2).padStart(10)} ${r.eventsPerSecond.toLocaleString('en-US').padStart(10)} ${(r.referenceMs?.toFixed(2) ?? '-').padStart(8)} ${(r.ratio?.toFixed(2) ?? '-').padStart(6)}`
}

function markdown(rows: BenchRow[]): string {
  const lines = [
    '| graph | mode | events | peers | median replay (ms) | events/s | reference (ms) | speed ratio |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
  ]
  for (const r of rows) {
    lines.push(
      `| ${r.graph.replace(/\.dot$/, '')} | ${r.mode} | ${r.events.toLocaleString('en-US')} | ${r.peers} | ${r.medianMs.toFixed(2)} | ${r.eventsPerSecond.toLocaleString('en-US')} | ${r.referenceMs ?? '-'} | ${r.ratio?.toFixed(2) ?? '-'} |`,
    )
  }
  return lines.join('\n')
}
