/** The simulation's clock: the step being run. Every part of a run reads the time here. */
export class Clock {
  /** The current step (0 at the start of a run). */
  step = 0
}
