/**
 * The simulation's clock: the step being run, and the simulated time it stands for. One step is
 * `stepMs` milliseconds of simulated time (default 10), so whatever runs in the simulation reads
 * `now` as a host on the wire reads its clock; no wall clock is ever read, and the step length
 * changes no outcome of a run.
 */

/** Simulated milliseconds per step by default. */
export const DEFAULT_STEP_MS = 10

export class Clock {
  /** The current step (0 at the start of a run). */
  step = 0

  constructor(readonly stepMs: number = DEFAULT_STEP_MS) {
    if (!Number.isFinite(stepMs) || stepMs <= 0) throw new RangeError('stepMs must be a positive number')
  }

  /** The simulated time, in milliseconds since the start of the run (0 at step 0). */
  get now(): number {
    return this.step * this.stepMs
  }
}
