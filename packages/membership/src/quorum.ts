/**
 * The one supermajority test of the project (spec §1: `SM(x)` ⇔ `3x > 2N`). Every quorum check in
 * membership goes through here, so the arithmetic is written once.
 */

/** True when `x` of `n` voters are a supermajority: strictly more than two thirds. */
export function supermajority(n: number, x: number): boolean {
  return 3 * x > 2 * n
}

/** The most faulty voters `n` voters tolerate: the largest `f` with `3f < n`. */
export function maxFaulty(n: number): number {
  return Math.max(0, Math.floor((n - 1) / 3))
}
