/**
 * Leaving and removal (spec §4): graceful leaves (ours and others'), Remove votes for suspects and
 * leavers keyed by `addHash` and round and cast again each round while the cause persists, within
 * the budget rule; and our own drain after our Remove is agreed.
 */
import { removeAllowed } from '../budget.js'
import { bytesEqual, type Observation, type PublicId } from '../engine-exports.js'
import { signLeaveRequest, verifyLeaveRequest } from '../wire/messages.js'
import { encodeRemoveInfo } from '../wire/records.js'
import { currentRound, decodeFrom, fault, type MachineContext, requireState, send } from './context.js'
import type { Deferrals } from './deferrals.js'
import type { Responsiveness } from './responsiveness.js'
import type { LeaveReason, Step } from './step.js'
import type { VoteBook } from './vote-book.js'

export class Departures {
  /** Members an operator asked to remove (judged as silent: they may stop at once, #313). */
  private readonly operatorRemoves = new Set<string>()
  private lingerUntil: number | undefined
  private reason: LeaveReason = 'removed'

  constructor(
    private readonly ctx: MachineContext,
    private readonly votes: VoteBook,
    private readonly responsiveness: Responsiveness,
    private readonly deferrals: Deferrals,
  ) {}

  /** When the drain ends, while draining. */
  get drainEndsAt(): number | undefined {
    return this.lingerUntil
  }

  /** `command({ kind: 'leave' })`: vote our own Remove and tell the members. */
  leave(step: Step): void {
    if (this.ctx.role !== 'member') {
      step.warnings.push({ kind: 'LeaveRefused', detail: `cannot leave while ${this.ctx.role}` })
      return
    }
    const state = requireState(this.ctx)
    if (!state.isMember(this.ctx.us.publicId.name) || state.size <= 1) {
      step.warnings.push({ kind: 'LeaveRefused', detail: 'the last member cannot leave its section' })
      return
    }
    this.ctx.role = 'leaving'
    this.considerRemovals(step)
  }

  /** A member's LeaveRequest: after checking sender, section, incarnation and signature, it is a leaver. */
  leaveRequest(from: PublicId, bytes: Uint8Array, step: Step): boolean {
    const leave = decodeFrom(this.ctx, bytes, 'leaveRequest', from, step)
    if (leave === undefined) return false
    const member = requireState(this.ctx).member(leave.peer.name)
    if (
      leave.peer.name !== from.name ||
      !bytesEqual(leave.sectionId, this.ctx.sectionId) ||
      member === undefined ||
      !bytesEqual(member.addHash, leave.addHash)
    ) {
      fault(step, from, 'InvalidLeave', 'LeaveRequest for another peer, section or incarnation')
      return false
    }
    if (!verifyLeaveRequest(leave)) {
      fault(step, from, 'BadSignature', 'LeaveRequest signature')
      return false
    }
    this.responsiveness.leavers.add(leave.peer.name)
    this.responsiveness.liveness.heard(leave.peer.name, this.ctx.now)
    return true
  }

  /** Remove votes for graceful leavers and suspects (and ourselves when leaving), once per round. */
  considerRemovals(step: Step): void {
    const state = requireState(this.ctx)
    const round = currentRound(this.ctx)
    const ourName = this.ctx.us.publicId.name
    for (const member of state.members()) {
      const name = member.id.name
      const graceful =
        this.responsiveness.leavers.has(name) || (name === ourName && this.ctx.role === 'leaving')
      const suspected =
        name !== ourName && (this.operatorRemoves.has(name) || this.responsiveness.isSuspected(name))
      if (!graceful && !suspected) continue
      const observation: Observation = {
        kind: 'remove',
        peer: member.id,
        relatedInfo: encodeRemoveInfo({ addHash: member.addHash, round }),
      }
      if (this.votes.hasOurs(observation)) continue
      if (!removeAllowed(this.responsiveness.budgetView(), name, graceful)) {
        this.deferrals.report(step, 'remove', member.id, 'Budget')
        continue
      }
      if (this.votes.liveOurs() >= this.ctx.config.maxPendingVotes) {
        this.deferrals.report(step, 'remove', member.id, 'maxPendingVotes')
        continue
      }
      this.deferrals.clear('remove', name)
      this.votes.cast(step, { kind: 'remove', peer: member.id, observation, round, since: this.ctx.now })
      // With each of our own Remove votes, so a lost request is made good.
      if (name === ourName) this.sendLeaveRequest(step)
    }
  }

  /** An operator's removal of `peer`, voted by round within the budget rule until it is decided. */
  proposeRemove(peer: string, step: Step): void {
    if (!requireState(this.ctx).isMember(peer) || peer === this.ctx.us.publicId.name) return
    this.operatorRemoves.add(peer)
    this.considerRemovals(step)
  }

  /** The peer left the section: nothing about it is pending here any more. */
  forget(peer: string): void {
    this.operatorRemoves.delete(peer)
  }

  /** Our Remove is agreed: serve pulls (the final syncs of the drain) for `lingerMs`. */
  beginDrain(reason: LeaveReason, step: Step): void {
    if (this.ctx.role === 'draining' || this.ctx.role === 'removed') return
    this.ctx.role = 'draining'
    this.reason = reason
    this.lingerUntil = this.ctx.now + this.ctx.config.lingerMs
    this.votes.clearOurs()
    step.engine.push({ kind: 'serveOnly' })
  }

  /** At `drainEndsAt`: stop, withdraw from discovery and the members, report `self:removed`. */
  endDrain(step: Step): void {
    this.ctx.role = 'removed'
    this.lingerUntil = undefined
    step.engine.push({ kind: 'stop' })
    step.discovery.push({ kind: 'cancelProvide' })
    for (const member of requireState(this.ctx).members()) {
      if (member.id.name !== this.ctx.us.publicId.name)
        step.peers.push({ kind: 'keepAlive', peer: member.id, on: false })
    }
    step.events.push({ type: 'self:removed', reason: this.reason })
  }

  private sendLeaveRequest(step: Step): void {
    const state = requireState(this.ctx)
    const us = state.member(this.ctx.us.publicId.name)
    if (us === undefined) return
    const leave = signLeaveRequest(this.ctx.us, { sectionId: this.ctx.sectionId, addHash: us.addHash })
    for (const member of state.members()) {
      if (member.id.name !== this.ctx.us.publicId.name) send(step, member.id, leave)
    }
  }
}
