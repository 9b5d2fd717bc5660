/**
 * `parsec-peer bench-join` (`pnpm bench:join`): join latency against the history a joiner replays,
 * in the seeded simulation. Per history length H and seed, a section agrees on H opaque blocks, then
 * one outsider joins through the membership protocol; reports the simulated steps (and simulated
 * ms) from its join request to its `self:joined`, the events it ingested as an observer, and the
 * wall time of the run, as median and maximum over the seeds.
 */
import { performance } from 'node:perf_hooks'
import { type JoinLatencyRun, medianAndMax, runJoinLatency } from '@parsec-section/simulation'
import { intOption, parse, UsageError } from '../args.js'

const DEFAULTS = { peers: 4, history: [100, 1000, 10_000], seeds: 3, seed: 1, stepMs: 10 } as const
const MAX_HISTORY = 1_000_000

const HELP = `usage: parsec-peer bench-join [--peers N] [--history LIST] [--seeds N] [--seed S] [--paced]
                              [--live-membership] [--step-ms MS] [--json]

Join latency against history, in the deterministic simulation. For each history length H of LIST
(comma-separated) and each of N consecutive seeds from S: a section of N founding members (mock ids,
the simulation's membership defaults, see 'simulate --help') agrees on H opaque blocks (all voted at
step 0, the cheapest history to build; --paced: one voted per step, a denser history of more gossip
events per block that takes about H steps to build), then one outsider asks to join and goes
through the membership protocol: admission, catch-up as an observer (pages of 256 events pulled
from one member and ingested), Ready, the Add, self:joined.
Reports per H, median and maximum over the seeds: the simulated steps from the join request to
self:joined and the same in simulated ms (steps × MS); the median steps of its phases: admission
(request to engine built), catch-up (to its first short page: it held what its server held), and
on to self:joined (Ready and its Add agreed); the events the joiner ingested before self:joined
(the history it replayed); and the wall time of the whole run (history included).
--live-membership uses MEMBERSHIP.md §8's live defaults (proof of work of 20 bits, readyLag 5, ...)
instead of the simulation's shortened ones.
Defaults: --peers ${DEFAULTS.peers} --history ${DEFAULTS.history.join(',')} --seeds ${DEFAULTS.seeds} --seed ${DEFAULTS.seed} --step-ms ${DEFAULTS.stepMs}.
Progress goes to stderr; --json prints one object on stdout.
Exit status: 0 when every run joined and kept its invariants, 1 otherwise, 2 on bad arguments.`

/** One run, with its wall time. */
export interface BenchJoinRun extends Omit<JoinLatencyRun, 'violations'> {
  readonly wallMs: number
  /** The first violated invariants, if any. */
  readonly violations: string[]
}

type Spread = { readonly median: number; readonly max: number } | null

/** The figures of one history length. */
export interface BenchJoinRow {
  readonly history: number
  /** Every seed joined and kept its invariants. */
  readonly ok: boolean
  readonly joinSteps: Spread
  readonly joinMs: Spread
  readonly ingestedEvents: Spread
  readonly pages: Spread
  readonly wallMs: Spread
  /** Median steps of each phase of the join (see `JoinLatencyRun.phases`). */
  readonly phases: { readonly admission: Spread; readonly catchUp: Spread; readonly toJoined: Spread }
  readonly runs: BenchJoinRun[]
}

export interface BenchJoinReport {
  readonly peers: number
  readonly stepMs: number
  readonly paced: boolean
  readonly live: boolean
  readonly seeds: number[]
  readonly ok: boolean
  readonly rows: BenchJoinRow[]
}

function historyList(raw: unknown): number[] {
  if (raw === undefined) return [...DEFAULTS.history]
  const parts = typeof raw === 'string' ? raw.split(',').map((p) => p.trim()) : []
  if (parts.length === 0 || parts.some((p) => !/^\d+$/.test(p) || Number(p) > MAX_HISTORY)) {
    throw new UsageError(
      `--history takes comma-separated integers from 0 to ${MAX_HISTORY}, not '${String(raw)}'`,
    )
  }
  return parts.map(Number)
}

function spread(values: readonly (number | undefined)[]): Spread {
  const defined = values.filter((v): v is number => v !== undefined)
  return defined.length === values.length ? (medianAndMax(defined) ?? null) : null
}

export const benchJoinCommand = {
  summary: 'join latency against the history a joiner replays (simulation)',
  async run(args: string[]): Promise<number> {
    const { values } = parse(args, {
      peers: { type: 'string' },
      history: { type: 'string' },
      seeds: { type: 'string' },
      seed: { type: 'string' },
      'step-ms': { type: 'string' },
      paced: { type: 'boolean' },
      'live-membership': { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    })
    if (values.help) {
      console.log(HELP)
      return 0
    }
    const peers = intOption(values, 'peers', DEFAULTS.peers, 1, 64)
    const histories = historyList(values.history)
    const seedCount = intOption(values, 'seeds', DEFAULTS.seeds, 1, 1000)
    const firstSeed = intOption(values, 'seed', DEFAULTS.seed, 0, 2 ** 32 - 1 - seedCount)
    const stepMs = intOption(values, 'step-ms', DEFAULTS.stepMs, 1, 60_000)
    const paced = values.paced === true
    const live = values['live-membership'] === true
    const seeds = Array.from({ length: seedCount }, (_, i) => firstSeed + i)
    const progress = (line: string): void => console.error(line)

    progress(
      `bench-join: ${peers} founding members, history ${histories.join(', ')} blocks (${paced ? 'one payload voted per step' : 'all voted at step 0'}), ${live ? 'live' : 'simulation'} membership defaults, seeds ${seeds.join(', ')}, ${stepMs} ms a step`,
    )
    const rows: BenchJoinRow[] = []
    for (const history of histories) {
      const runs: BenchJoinRun[] = []
      for (const seed of seeds) {
        const started = performance.now()
        const run = runJoinLatency({ seed, history, peers, stepMs, paced, live })
        const wallMs = Math.round(performance.now() - started)
        const violations = run.violations
          .slice(0, 3)
          .map((v) => `${v.invariant} at step ${v.step}: ${v.detail}`)
        runs.push({ ...run, wallMs, violations })
        progress(
          `  H ${history} seed ${seed}: ${
            run.joinSteps === undefined
              ? 'did NOT join'
              : `self:joined ${run.joinSteps} steps after its request (${run.joinMs} ms simulated)`
          }, ${run.ingestedEvents} events ingested in ${run.pages} pages, ${run.agreed ? 'agreed' : 'NOT AGREED'}, wall ${(wallMs / 1000).toFixed(1)} s`,
        )
        for (const line of violations) progress(`    ${line}`)
      }
      rows.push({
        history,
        ok: runs.every((r) => r.agreed && r.joined),
        joinSteps: spread(runs.map((r) => r.joinSteps)),
        joinMs: spread(runs.map((r) => r.joinMs)),
        ingestedEvents: spread(runs.map((r) => r.ingestedEvents)),
        pages: spread(runs.map((r) => r.pages)),
        wallMs: spread(runs.map((r) => r.wallMs)),
        phases: {
          admission: spread(runs.map((r) => r.phases.admission)),
          catchUp: spread(runs.map((r) => r.phases.catchUp)),
          toJoined: spread(runs.map((r) => r.phases.toJoined)),
        },
        runs,
      })
    }
    const report: BenchJoinReport = { peers, stepMs, paced, live, seeds, ok: rows.every((r) => r.ok), rows }
    if (values.json === true) console.log(JSON.stringify(report))
    else printReport(report)
    return report.ok ? 0 : 1
  },
}

function printReport(report: BenchJoinReport): void {
  const pair = (s: Spread, format: (v: number) => string = String): string =>
    s === null ? '-' : `${format(s.median)} / ${format(s.max)}`
  const seconds = (ms: number): string => (ms / 1000).toFixed(1)
  const columns = [
    'history (blocks)',
    'join steps',
    'join ms (simulated)',
    'admission + catch-up + to joined',
    'events ingested',
    'wall s (run)',
    'ok',
  ]
  const lines = report.rows.map((r) => [
    String(r.history),
    pair(r.joinSteps),
    pair(r.joinMs),
    [r.phases.admission, r.phases.catchUp, r.phases.toJoined].map((p) => p?.median ?? '-').join(' + '),
    pair(r.ingestedEvents),
    pair(r.wallMs, seconds),
    r.ok ? 'yes' : 'NO',
  ])
  const widths = columns.map((c, i) => Math.max(c.length, ...lines.map((l) => l[i].length)))
  const format = (cells: string[]): string => cells.map((c, i) => c.padStart(widths[i])).join('  ')
  console.log(
    `join latency against history: ${report.peers} founding members, history ${report.paced ? 'voted one payload per step' : 'voted at step 0'}, ${report.live ? 'live' : 'simulation'} membership defaults, seeds ${report.seeds.join(', ')} (median / max; phases: median steps), ${report.stepMs} ms a step`,
  )
  console.log(format(columns))
  for (const line of lines) console.log(format(line))
}
