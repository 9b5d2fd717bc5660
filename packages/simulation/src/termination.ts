/**
 * When a run is over: done (every requested change happened and every honest peer holds the same
 * blocks, every required one included), unschedulable (the `schedule` invariant: the settings
 * cannot be met), or stalled (`termination`: `stallSteps` without progress, or the step bound).
 */

import type { ByzantineHosting } from './byzantine-hosting.js'
import type { RunContext } from './context.js'
import type { Failures } from './failures.js'
import { blockKeyOfPayload } from './keys.js'
import type { MembershipHosting } from './membership-host.js'
import type { Votes } from './votes.js'
import type { Workload } from './workload.js'

export class Termination {
  readonly maxSteps: number
  readonly stallSteps: number

  constructor(
    private readonly ctx: RunContext,
    private readonly workload: Workload,
    private readonly votes: Votes,
    private readonly failures: Failures,
    private readonly byzantine: ByzantineHosting,
    private readonly membership?: MembershipHosting,
  ) {
    this.maxSteps = ctx.options.maxSteps ?? 3000
    this.stallSteps = ctx.options.stallSteps ?? 400
  }

  /** Nothing happened for `stallSteps` steps. */
  stalled(): boolean {
    return this.ctx.step - this.ctx.lastProgress >= this.stallSteps
  }

  isDone(): boolean {
    const w = this.workload
    if (w.scheduledOpaque < w.opaqueCount || w.added.length < w.toAdd) return false
    if (w.removed.length < w.toRemove || w.transitions.length > 0 || this.failures.pending > 0) {
      return false
    }
    if (this.votes.pending()) return false
    if (this.byzantine.awaitedAccusations().length > 0) return false
    if (this.membership !== undefined && (!this.membership.settled() || !this.membership.membersAgree())) {
      return false
    }
    const honest = this.ctx.peers.honest()
    const required = this.requiredKeys()
    const length = honest[0]?.keys.length
    return honest.every((p) => p.keys.length === length && required.every((k) => p.keySet.has(k)))
  }

  /**
   * Why the remaining adds or removes can never be scheduled, if so: nothing is in transition or
   * waiting to be voted, and the safety rules forbid the next one (only crashes could change the
   * counts, and they only make it worse).
   */
  unschedulable(): string | undefined {
    const w = this.workload
    const { peers } = this.ctx
    if (w.transitions.length > 0) return undefined
    if (this.votes.pending()) return undefined
    // A Byzantine member that misbehaves provably will be accused and removed, which may make room.
    if (this.byzantine.awaitedAccusations().length > 0) return undefined
    if (peers.byzantineMembers().some((p) => p.byzantine?.provable)) return undefined
    if (w.added.length < w.toAdd && !w.addIsAllowed()) {
      return `cannot add ${w.toAdd - w.added.length} more peers to ${peers.members.size} members (${w.counts().crashedMembers} crashed)`
    }
    if (w.removed.length < w.toRemove && w.added.length === w.toAdd) {
      const candidates = [...peers.members].filter((p) => !p.leaving && p.status !== 'removed')
      if (!candidates.some((p) => w.removeIsAllowed(p))) {
        return `cannot remove ${w.toRemove - w.removed.length} more peers from ${peers.members.size} members (${w.counts().crashedMembers} crashed)`
      }
    }
    return undefined
  }

  /** The blocks every honest peer must hold. */
  private requiredKeys(): string[] {
    const w = this.workload
    const keys = [blockKeyOfPayload('genesis', this.ctx.peers.genesisIds)]
    for (const payload of w.opaquePayloads) {
      if (this.ctx.mode === 'supermajority') keys.push(`opaque:${payload}`)
    }
    for (const { key, voter } of this.votes.single) {
      if (voter.status === 'active' && !voter.leaving) keys.push(key)
    }
    for (const name of w.added) keys.push(`add:${name}`)
    for (const name of w.removed) keys.push(`remove:${name}`)
    return keys
  }

  /** What the run still lacks, for the `termination` violation. */
  missingSummary(): string {
    const w = this.workload
    const { peers } = this.ctx
    const parts: string[] = []
    for (const name of this.byzantine.awaitedAccusations()) parts.push(`accusation of ${name} not agreed`)
    const unsettled = this.membership?.report().unsettled ?? []
    if (unsettled.length > 0) parts.push(`membership changes not settled: ${unsettled.join(', ')}`)
    if (this.membership !== undefined && !this.membership.membersAgree()) parts.push('members differ')
    if (w.scheduledOpaque < w.opaqueCount) {
      parts.push(`${w.opaqueCount - w.scheduledOpaque} opaque not scheduled`)
    }
    if (w.added.length < w.toAdd) parts.push(`${w.toAdd - w.added.length} adds not scheduled`)
    if (w.removed.length < w.toRemove) {
      parts.push(`${w.toRemove - w.removed.length} removes not scheduled`)
    }
    for (const t of w.transitions) parts.push(`${t.kind}(${t.peer.name}) in progress`)
    const required = this.requiredKeys()
    for (const peer of peers.honest()) {
      const missing = required.filter((k) => !peer.keySet.has(k))
      if (missing.length > 0) parts.push(`${peer.name} lacks ${missing.join(' ')}`)
    }
    const lengths = new Set(peers.honest().map((p) => p.keys.length))
    if (lengths.size > 1) parts.push(`block counts differ (${[...lengths].join('/')})`)
    return parts.join('; ') || 'nothing missing'
  }
}
