/**
 * What every part of a run shares: its options, its one seeded random source (every random choice
 * of the run is drawn from it, in a fixed order, so a seed reproduces the run), the clock (steps
 * and simulated time), the
 * peers, the counters, the violations, and the progress log.
 */

import { type ConsensusMode, Rng } from '@parsec-section/parsec-core'
import { Clock } from './clock.js'
import { Violations } from './invariants.js'
import type { SimulationOptions } from './options.js'
import { Peers } from './peers.js'
import { Statistics } from './statistics.js'

export class RunContext {
  readonly rng: Rng
  readonly mode: ConsensusMode
  readonly clock: Clock
  readonly peers: Peers
  readonly stats = new Statistics()
  readonly violations: Violations
  /** The last step at which anything happened (see `stallSteps`). */
  lastProgress = 0

  constructor(readonly options: SimulationOptions) {
    this.rng = new Rng(options.seed)
    this.clock = new Clock(options.stepMs)
    this.mode = options.consensusMode ?? 'supermajority'
    this.peers = new Peers(this.mode, options.coin ?? 'concrete')
    this.violations = new Violations(this.clock)
  }

  /** The step being run. */
  get step(): number {
    return this.clock.step
  }

  /** Something happened: a progress line (the run is not stalled). */
  log(line: string): void {
    this.lastProgress = this.step
    this.options.log?.(`step ${this.step}: ${line}`)
  }
}
