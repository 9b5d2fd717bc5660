/**
 * Which gossip partner an exchange goes to: chosen at random, in proportion to the membership
 * machine's `partnerWeight` for it (MEMBERSHIP.md §3.5, §4). The machine weighs a member added
 * but not heard from yet at `joiningPartnerWeight` (0.25: gossiped to sparingly until its first
 * event reaches us), one we failed to reach at 0.5, and the others at 1 (the default, for a
 * member it never weighed: the founders). A weight steers the choice, never excludes: a partner
 * of weight 0 is chosen only when every candidate weighs 0 (then uniformly), so nobody is starved.
 *
 * Nothing more is needed for spread in O(log N): with (near) uniform random partners and push-pull
 * exchanges, the peers holding a new event about double each round of gossip, so every peer has it
 * after O(log N) rounds. What a larger section changes is how often each peer gossips (the pace
 * scales with the section's size, see `paceScale` in scheduler.ts), not whom it gossips with.
 */

/** A candidate partner with its weight (non-negative; anything else counts as 0). */
export interface Weighted {
  readonly weight: number
}

/**
 * One of `candidates`, each with probability weight / total weight (uniform when the total is
 * 0); `random` returns a number in [0, 1). Undefined when there is no candidate.
 */
export function choosePartner<T extends Weighted>(
  candidates: readonly T[],
  random: () => number = Math.random,
): T | undefined {
  if (candidates.length === 0) return undefined
  const weightOf = (candidate: T): number =>
    Number.isFinite(candidate.weight) && candidate.weight > 0 ? candidate.weight : 0
  const total = candidates.reduce((sum, candidate) => sum + weightOf(candidate), 0)
  if (total <= 0) return candidates[Math.min(candidates.length - 1, Math.floor(random() * candidates.length))]
  let point = random() * total
  for (const candidate of candidates) {
    const weight = weightOf(candidate)
    if (point < weight) return candidate
    point -= weight
  }
  // Rounding left `point` at the very end: the last candidate with any weight.
  for (let i = candidates.length - 1; i >= 0; i--) if (weightOf(candidates[i]) > 0) return candidates[i]
  return undefined
}
