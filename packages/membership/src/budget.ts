/**
 * The budget rule (spec §1): vote a membership change only if the voters that stay responsive
 * until it is decided are a supermajority of the voters that must decide it. A change failing it is
 * deferred: it could not be decided, and its vote could never be withdrawn (the parsec#313 stall).
 */
import { supermajority } from './quorum.js'

export interface BudgetView {
  /** Voters now (N). */
  readonly voters: number
  /** Voters not counted as responsive (P): joiners not active yet, suspects, targets of pending
   * removals for silence, leavers done draining. Names, so a target is not counted twice. */
  readonly silent: ReadonlySet<string>
  /** Pending Adds (J): ours and those seen in the graph, undecided. */
  readonly pendingAdds: number
  /** Below this size the fragile-phase rule applies to Adds. */
  readonly minSize: number
}

export type BudgetCase = 'add' | 'remove-silent' | 'remove-graceful'

/** Add: `3(N−|P|) > 2(N+J+1)`; in the fragile phase (`N < minSize`) only with `J = 0` and `P = ∅`. */
export function addAllowed(view: BudgetView): boolean {
  const { voters, silent, pendingAdds, minSize } = view
  if (voters < minSize) return pendingAdds === 0 && silent.size === 0
  return supermajority(voters + pendingAdds + 1, voters - silent.size)
}

/**
 * Remove(x): x silent, `3(N−|P∪{x}|) > 2N`; x a graceful leaver (responsive while it drains),
 * `3(N−|P|) > 2N` with x not counted silent. Never the last voter.
 */
export function removeAllowed(view: BudgetView, target: string, graceful: boolean): boolean {
  const { voters, silent } = view
  if (voters <= 1) return false
  const unresponsive = new Set(silent)
  if (graceful) unresponsive.delete(target)
  else unresponsive.add(target)
  return supermajority(voters, voters - unresponsive.size)
}
