/** The supermajority rule of PARSEC (spec §6): the one place the protocol's `3x > 2n` is written. */

/**
 * Whether `x` out of `n` (voters, live members, votes) is a supermajority: strictly more than two
 * thirds, `3x > 2n`. With `n` of which at most `f` are faulty, `supermajority(n, n - f)` holds iff
 * `3f < n`.
 */
export function supermajority(n: number, x: number): boolean {
  return 3 * x > 2 * n
}
