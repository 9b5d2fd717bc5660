/**
 * The capacity rules every Add passes, at admission and again before the vote (spec §3.4, §5):
 * `maxSize`, the budget rule, the candidate limit (one below `minSize`), the young cap
 * `3·(young+1) < N+1` and `minBlocksBetweenAdds` (both lifted in the fragile phase).
 */
import { addAllowed } from '../budget.js'
import type { MembershipConfig } from '../defaults.js'
import type { SectionState } from '../state/section-state.js'
import { ADMIT, type Admission, defer, reject } from './admission.js'

export interface CapacityView {
  readonly state: SectionState
  readonly config: MembershipConfig
  /** P of the budget rule. */
  readonly silent: ReadonlySet<string>
  /** J of the budget rule: pending Adds, ours and seen, the judged peer's excluded. */
  readonly pendingAdds: number
  /** Other candidates we admitted whose Add is not decided (the judged peer's excluded). */
  readonly candidates: number
  /**
   * Members whose Remove is pending (leavers, removal targets): the section may shrink by them
   * before the Add is decided, so the fragile phase and the young cap are judged without them.
   */
  readonly departing?: number
  /** J in the fragile phase: the pending Adds counted, with our own whatever their key order. */
  readonly fragilePendingAdds?: number
}

export function capacityVerdict(view: CapacityView): Admission {
  const { state, config, silent, pendingAdds, candidates } = view
  const n = state.size
  if (n + pendingAdds >= config.maxSize) return reject('SectionFull', config.fullRetryAfterMs)
  const staying = n - (view.departing ?? 0)
  const fragile = staying < config.minSize
  const limit = fragile ? 1 : config.maxCandidates
  if (candidates >= limit || (fragile && (view.fragilePendingAdds ?? pendingAdds) > 0)) {
    return defer('TooManyCandidates', config.deferRetryAfterMs)
  }
  if (!fragile) {
    const young = state.youngCount(config.probationBlocks) + pendingAdds
    if (!(3 * (young + 1) < staying + 1)) return defer('YoungCap', config.deferRetryAfterMs)
    if (
      state.lastAddAtBlock >= 0 &&
      state.agreedBlocks - 1 - state.lastAddAtBlock < config.minBlocksBetweenAdds
    ) {
      return defer('TooSoon', config.deferRetryAfterMs)
    }
  }
  if (!addAllowed({ voters: n, silent, pendingAdds, minSize: config.minSize })) {
    return defer('Budget', config.deferRetryAfterMs)
  }
  return ADMIT
}
