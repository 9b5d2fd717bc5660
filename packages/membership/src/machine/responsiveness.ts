/**
 * Who counts as responsive for the budget rule (spec §1): P is the voters added but not heard from
 * yet, the suspects, and the targets of Removes for silence (live ones, and those of a lapsed round
 * not heard from since); graceful leavers stay responsive until their Remove is decided. We never
 * count ourselves silent.
 */
import type { BudgetView } from '../budget.js'
import { type MachineContext, requireState } from './context.js'
import type { Liveness } from './liveness.js'
import type { VoteBook } from './vote-book.js'

export class Responsiveness {
  /** Members whose LeaveRequest we validated (and ourselves when leaving). */
  readonly leavers = new Set<string>()

  constructor(
    private readonly ctx: MachineContext,
    readonly liveness: Liveness,
    private readonly votes: VoteBook,
  ) {}

  isSuspected(name: string): boolean {
    const state = requireState(this.ctx)
    return this.liveness.suspected(name, this.ctx.now, state.agreedBlocks, this.ctx.config)
  }

  /** P. */
  silent(): Set<string> {
    const state = requireState(this.ctx)
    const ourName = this.ctx.us.publicId.name
    const silent = new Set<string>()
    for (const member of state.members()) {
      const name = member.id.name
      if (name !== ourName && (!this.liveness.isActive(name) || this.isSuspected(name))) silent.add(name)
    }
    for (const target of this.votes.removalTargets()) {
      if (target !== ourName && !this.leavers.has(target)) silent.add(target)
    }
    // A target whose Remove round lapsed is still silent until we hear from it.
    for (const [target, since] of this.votes.targets()) {
      if (target === ourName || this.leavers.has(target)) continue
      if ((this.liveness.lastHeardAt(target) ?? Number.NEGATIVE_INFINITY) <= since) silent.add(target)
    }
    return silent
  }

  /**
   * The budget rule's inputs now; `excludeAdd`'s own pending Add is not counted in J. With
   * `aheadOf` (the key of the Add we are about to vote) J counts only the pending Adds before it.
   */
  budgetView(excludeAdd?: string, aheadOf?: string): BudgetView {
    const pending =
      excludeAdd !== undefined && aheadOf !== undefined
        ? this.votes.pendingAddsAhead(excludeAdd, aheadOf)
        : [...this.votes.pendingAddPeers()].filter((p) => p !== excludeAdd)
    return {
      voters: requireState(this.ctx).size,
      silent: this.silent(),
      pendingAdds: [...pending].length,
      minSize: this.ctx.config.minSize,
    }
  }
}
