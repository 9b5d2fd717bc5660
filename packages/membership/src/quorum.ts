/**
 * Quorum arithmetic. `supermajority(n, x)` (`3x > 2n`) is parsec-core's, the project's one copy,
 * re-exported here; membership adds the fault bound it needs for seconding.
 */
export { supermajority } from '@parsec-section/parsec-core'

/** The most faulty voters `n` voters tolerate: the largest `f` with `3f < n`. */
export function maxFaulty(n: number): number {
  return Math.max(0, Math.floor((n - 1) / 3))
}
