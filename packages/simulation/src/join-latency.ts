/**
 * The join-latency benchmark (`parsec-peer bench-join`): a section agrees on a history of H opaque
 * blocks, then one outsider joins through the membership protocol (request, admission, catch-up as
 * an observer by pages of `exportEvents` → `ingest`, Ready, Add, `self:joined`). Measured in
 * simulated steps from its join request to its `self:joined`, against H.
 *
 * By default the history is built as cheaply as the simulation allows: every payload is voted at
 * step 0 (`votesBeforeGossip`), so the members agree on all of it within a few dozen steps (about
 * four vote events per block plus the gossip). `paced` votes one payload per step instead: a
 * history of H blocks takes about H steps and holds more gossip events per block. Pure like the
 * rest of the simulation: the caller measures wall time.
 */

import type { SimulationOptions } from './options.js'
import type { Violation } from './result.js'
import { simulate } from './simulation.js'

export interface JoinLatencyOptions {
  readonly seed: number
  /** Opaque blocks agreed before the outsider asks to join (genesis not counted). */
  readonly history: number
  /** Founding members (default 4). */
  readonly peers?: number
  /** One payload voted per step instead of all at step 0 (a denser history). */
  readonly paced?: boolean
  /** MEMBERSHIP.md §8's live defaults instead of the simulation's shortened ones. */
  readonly live?: boolean
  /** Simulated milliseconds per step (default 10). */
  readonly stepMs?: number
  /** Step bound of the run (default: 20,000 steps after the history). */
  readonly maxSteps?: number
  readonly log?: (line: string) => void
}

/** One run: the join's figures, and whether the run itself was sound. */
export interface JoinLatencyRun {
  readonly seed: number
  readonly history: number
  /** No invariant violated, every honest peer holds the same blocks and members. */
  readonly agreed: boolean
  /** The outsider emitted `self:joined`. */
  readonly joined: boolean
  /** Blocks agreed when it asked (genesis included). */
  readonly historyBlocks: number
  /** Steps from its join request to its `self:joined` (undefined if it never joined). */
  readonly joinSteps: number | undefined
  /** The same in simulated milliseconds. */
  readonly joinMs: number | undefined
  /**
   * Its phases, in steps: request to admission (its engine built), admission to caught up (its
   * first short page: it held what its server held), caught up to `self:joined` (it follows the
   * section's growth while Ready and its Add are agreed). Undefined where a phase did not end.
   */
  readonly phases: {
    readonly admission: number | undefined
    readonly catchUp: number | undefined
    readonly toJoined: number | undefined
  }
  /** Events it took in as an observer before `self:joined` (the history it replayed), and in how many pages. */
  readonly ingestedEvents: number
  readonly pages: number
  /** Step of the join request (how long the history took to build), and steps of the whole run. */
  readonly requestedAt: number | undefined
  readonly runSteps: number
  /** The largest honest graph at the end. */
  readonly graphEvents: number
  readonly violations: Violation[]
}

const DEFAULT_STEP_BOUND_AFTER_HISTORY = 20_000

/** The simulation options of one run. */
export function joinLatencyOptions(options: JoinLatencyOptions): SimulationOptions {
  if (!Number.isInteger(options.history) || options.history < 0) {
    throw new RangeError('history must be an integer ≥ 0')
  }
  return {
    seed: options.seed,
    genesisSize: options.peers ?? 4,
    opaque: options.history,
    ...(options.paced === true ? { probOpaque: 1 } : { votesBeforeGossip: true }),
    stepMs: options.stepMs ?? 10,
    maxSteps: options.maxSteps ?? DEFAULT_STEP_BOUND_AFTER_HISTORY + 2 * options.history,
    log: options.log,
    // The outsider asks one step after every member holds the history (genesis + H blocks).
    membership: {
      joins: 1,
      window: 1,
      afterBlocks: options.history + 1,
      ...(options.live === true ? { profile: 'live' as const } : {}),
    },
  }
}

/** Runs one seed. */
export function runJoinLatency(options: JoinLatencyOptions): JoinLatencyRun {
  const result = simulate(joinLatencyOptions(options))
  const timing = result.membership?.joins[0]
  const joinSteps = timing?.joinedAt === undefined ? undefined : timing.joinedAt - timing.requestedAt
  return {
    seed: options.seed,
    history: options.history,
    agreed: result.agreed,
    joined: joinSteps !== undefined,
    historyBlocks: timing?.historyBlocks ?? 0,
    joinSteps,
    joinMs: joinSteps === undefined ? undefined : joinSteps * (options.stepMs ?? 10),
    phases: {
      admission: between(timing?.requestedAt, timing?.admittedAt),
      catchUp: between(timing?.admittedAt, timing?.caughtUpAt),
      toJoined: between(timing?.caughtUpAt, timing?.joinedAt),
    },
    ingestedEvents: timing?.ingested ?? 0,
    pages: timing?.pages ?? 0,
    requestedAt: timing?.requestedAt,
    runSteps: result.steps,
    graphEvents: result.events,
    violations: result.violations,
  }
}

function between(from: number | undefined, to: number | undefined): number | undefined {
  return from === undefined || to === undefined ? undefined : to - from
}

/** Median (the lower of the two middle values for an even count) and maximum. */
export function medianAndMax(values: readonly number[]): { median: number; max: number } | undefined {
  if (values.length === 0) return undefined
  const sorted = [...values].sort((a, b) => a - b)
  return { median: sorted[Math.floor((sorted.length - 1) / 2)], max: sorted[sorted.length - 1] }
}
