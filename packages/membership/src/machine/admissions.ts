/**
 * A member's side of joining (spec §3.2-§3.4): serving JoinInfo, judging join requests (cheap
 * checks, then the ticket, the policy and capacity), keeping candidates and deferred requests,
 * taking Ready and voting Add, and seconding Adds vouched for by f+1 members. Local bans and token
 * buckets shed abusive non-members before any signature work.
 */
import { bytesEqual, type Observation, type PublicId } from '../engine-exports.js'
import type { Admission } from '../join/admission.js'
import { capacityVerdict } from '../join/capacity.js'
import {
  admissionRecordOf,
  checkJoinRequest,
  checkRecord,
  checkStanding,
  type JoinCheckContext,
} from '../join/validate.js'
import { maxFaulty } from '../quorum.js'
import type { CandidateOutcome, JoinInfo, JoinRequest, Ready, RejectReason } from '../wire/messages.js'
import { verifyReady } from '../wire/messages.js'
import { type AdmissionRecord, encodeAdmissionRecord, ticketDigest } from '../wire/records.js'
import { decodeFrom, fault, isServing, type MachineContext, requireState, send } from './context.js'
import type { Deferrals } from './deferrals.js'
import { addressPrefix, KeyedBuckets } from './rate-limit.js'
import type { Responsiveness } from './responsiveness.js'
import type { Step } from './step.js'
import { keyOf, type VoteBook } from './vote-book.js'

const MAX_LOCAL_BANS = 4096

/** The Add observation of an admitted ticket: identical bytes at every member. */
function addOf(record: AdmissionRecord): Observation & { kind: 'add' } {
  return { kind: 'add', peer: record.peer, relatedInfo: encodeAdmissionRecord(record) }
}

interface Candidate {
  readonly request: JoinRequest
  readonly record: AdmissionRecord
  readonly digest: Uint8Array
  admittedAt: number
  ready: boolean
}

export class Admissions {
  private readonly candidates = new Map<string, Candidate>()
  private readonly deferred = new Map<string, JoinRequest>()
  private readonly operatorAdds = new Map<string, PublicId>()
  private readonly heldReady = new Map<string, Ready>()
  private readonly localBans = new Map<string, { until: number; strikes: number }>()
  private readonly joinBuckets: KeyedBuckets
  private readonly prefixBuckets: KeyedBuckets
  private readonly infoBuckets: KeyedBuckets

  constructor(
    private readonly ctx: MachineContext,
    private readonly votes: VoteBook,
    private readonly responsiveness: Responsiveness,
    private readonly deferrals: Deferrals,
    /** Our local rejoin cooldown for a departed peer (when it may ask again). */
    private readonly rejoinAllowedAt: (peer: string) => number | undefined,
  ) {
    this.joinBuckets = new KeyedBuckets(ctx.config.joinRate)
    this.prefixBuckets = new KeyedBuckets(ctx.config.prefixRate)
    this.infoBuckets = new KeyedBuckets(ctx.config.joinInfoRate)
  }

  isCandidate(peer: string): boolean {
    return this.candidates.has(peer)
  }

  /** The candidates we admitted (not yet added). */
  candidateIds(): PublicId[] {
    return [...this.candidates.values()].map((c) => c.record.peer)
  }

  /** The peer joined (or left): nothing about it is pending here any more. */
  forget(peer: string): void {
    this.candidates.delete(peer)
    this.deferred.delete(peer)
    this.heldReady.delete(peer)
  }

  clear(): void {
    this.candidates.clear()
    this.deferred.clear()
    this.heldReady.clear()
  }

  /** Candidates that must send Ready by then. */
  deadlines(): number[] {
    const out: number[] = []
    for (const c of this.candidates.values())
      if (!c.ready) out.push(c.admittedAt + this.ctx.config.candidateTimeoutMs)
    return out
  }

  joinInfoRequest(from: PublicId, bytes: Uint8Array, step: Step): void {
    if (this.isLocallyBanned(from.name) || !this.infoBuckets.take(from.name, this.ctx.now)) return
    const message = this.decode(bytes, 'joinInfoRequest', from, step)
    if (message === undefined || !bytesEqual(message.sectionId, this.ctx.sectionId) || !isServing(this.ctx))
      return
    send(step, from, this.joinInfo())
  }

  joinRequest(from: PublicId, bytes: Uint8Array, remoteAddr: string | undefined, step: Step): void {
    const now = this.ctx.now
    if (this.isLocallyBanned(from.name)) return
    const prefixOk = remoteAddr === undefined || this.prefixBuckets.take(addressPrefix(remoteAddr), now)
    if (!prefixOk || !this.joinBuckets.take(from.name, now)) {
      const retryAfterMs = this.joinBuckets.retryAfter(from.name, now)
      this.reply(step, from, new Uint8Array(0), { kind: 'reject', reason: 'RateLimited', retryAfterMs })
      return
    }
    const request = this.decode(bytes, 'joinRequest', from, step)
    if (request === undefined) return
    const digest = ticketDigest(admissionRecordOf(request))
    if (!isServing(this.ctx)) {
      this.reply(step, from, digest, { kind: 'reject', reason: 'NotAMember', retryAfterMs: 0 })
      return
    }
    if (this.lapsed(request)) {
      this.candidates.delete(from.name)
      this.refuse(step, request, digest, 'StaleTicket', 0)
      return
    }
    const known = this.candidates.get(from.name)
    if (known !== undefined && bytesEqual(known.digest, digest)) {
      // Presented again by a candidate still replaying: its time to send Ready restarts, as if we
      // had forgotten it and admitted it again (which we would).
      known.admittedAt = now
      this.reply(step, from, digest, { kind: 'admit', agreedBlocks: requireState(this.ctx).agreedBlocks })
      return
    }
    const verdict = checkJoinRequest(request, from.name, this.checkContext(from.name))
    if (verdict.kind === 'reject') {
      const reason = verdict.reason
      if (reason === 'BadSignature' || reason === 'PeerMismatch' || reason === 'InsufficientWork') {
        fault(step, from, reason, `join request refused: ${reason}`)
        this.strike(from, step)
      }
      this.refuse(step, request, digest, reason, verdict.retryAfterMs)
      return
    }
    this.judgeCapacity(request, digest, step, false)
  }

  ready(from: PublicId, bytes: Uint8Array, step: Step): void {
    const ready = this.decode(bytes, 'ready', from, step)
    if (ready === undefined) return
    if (ready.peer.name !== from.name || !bytesEqual(ready.sectionId, this.ctx.sectionId)) {
      fault(step, from, 'InvalidReady', 'Ready for another peer or section')
      return
    }
    if (!verifyReady(ready)) {
      fault(step, from, 'BadSignature', 'Ready signature')
      return
    }
    this.takeReady(ready, step)
  }

  /** After blocks, decisions and ticks: held Readies, ready candidates, deferred requests, seconding. */
  reconsider(step: Step): void {
    this.forgetStaleCandidates(step)
    const state = requireState(this.ctx)
    for (const ready of [...this.heldReady.values()]) {
      if (ready.k <= state.agreedBlocks) {
        this.heldReady.delete(ready.peer.name)
        this.takeReady(ready, step)
      }
    }
    // Ready candidates in key order, so members holding several vote the same one first.
    const ready: { key: string; record: AdmissionRecord }[] = []
    for (const candidate of this.candidates.values()) {
      if (candidate.ready) ready.push({ key: keyOf(addOf(candidate.record)), record: candidate.record })
    }
    ready.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    for (const { record } of ready) this.voteAdd(record, step)
    for (const [name, request] of [...this.deferred]) {
      this.deferred.delete(name)
      const digest = ticketDigest(admissionRecordOf(request))
      if (this.lapsed(request)) {
        this.refuse(step, request, digest, 'StaleTicket', 0)
        continue
      }
      const verdict = checkStanding(request, this.checkContext(name))
      if (verdict.kind === 'reject') this.refuse(step, request, digest, verdict.reason, verdict.retryAfterMs)
      else this.judgeCapacity(request, digest, step, true)
    }
    for (const key of this.votes.observedKeys()) this.considerSeconding(key, step)
    this.voteOperatorAdds(step)
  }

  /** Seconding (spec §3.4): f+1 members' identical Add votes vouch for a record we did not admit. */
  considerSeconding(key: string, step: Step): void {
    const vouched = this.votes.vouched(key)
    if (vouched === undefined || vouched.vote.kind !== 'add' || vouched.vote.record === undefined) return
    if (vouched.vouchers < maxFaulty(requireState(this.ctx).size) + 1) return
    this.voteAdd(vouched.vote.record, step)
  }

  private judgeCapacity(request: JoinRequest, digest: Uint8Array, step: Step, quiet: boolean): void {
    const name = request.peer.name
    const capacity = this.capacity(name)
    if (capacity.kind === 'reject') {
      this.refuse(step, request, digest, capacity.reason, capacity.retryAfterMs)
    } else if (capacity.kind === 'defer') {
      if (this.deferred.size >= this.ctx.config.maxDeferred) {
        this.deferred.delete(this.deferred.keys().next().value as string)
      }
      this.deferred.set(name, request)
      if (!quiet) this.reply(step, request.peer, digest, capacity)
      this.deferrals.report(step, 'add', request.peer, capacity.reason)
    } else {
      const record = admissionRecordOf(request)
      this.candidates.set(name, { request, record, digest, admittedAt: this.ctx.now, ready: false })
      this.reply(step, request.peer, digest, {
        kind: 'admit',
        agreedBlocks: requireState(this.ctx).agreedBlocks,
      })
      step.peers.push({ kind: 'acceptSync', peer: request.peer, accept: true })
    }
  }

  private takeReady(ready: Ready, step: Step): void {
    const state = requireState(this.ctx)
    const candidate = this.candidates.get(ready.peer.name)
    if (candidate === undefined || !bytesEqual(candidate.digest, ready.ticketDigest)) return
    if (ready.k > state.agreedBlocks) {
      if (this.heldReady.size < this.ctx.config.maxHeldReady || this.heldReady.has(ready.peer.name)) {
        this.heldReady.set(ready.peer.name, ready)
      }
      return
    }
    const ours = state.historyDigest(ready.k)
    if (ours === undefined) {
      step.warnings.push({ kind: 'Dropped', detail: `Ready at ${ready.k} is outside our history window` })
      return
    }
    if (!bytesEqual(ours, ready.historyDigest)) {
      fault(step, ready.peer, 'InvalidReady', `history digest at ${ready.k} differs from ours`)
      return
    }
    candidate.ready = true
    this.voteAdd(candidate.record, step)
  }

  /** Votes `Add{peer, record}` after re-checking the ticket, capacity and `maxPendingVotes`. */
  private voteAdd(record: AdmissionRecord, step: Step): void {
    const observation = addOf(record)
    if (this.votes.hasOurs(observation) || !this.votes.mayVoteAdd(observation)) return
    const state = requireState(this.ctx)
    if (checkRecord(record, state, this.ctx.config.ticketMaxAge).kind !== 'admit') return
    this.voteAddWithinRules(observation, record, step)
  }

  /** The capacity rules (budget, size, young cap, spacing) and `maxPendingVotes`, then the vote. */
  private voteAddWithinRules(
    observation: Observation & { kind: 'add' },
    record: AdmissionRecord | undefined,
    step: Step,
  ): void {
    const peer = observation.peer
    const capacity = this.capacity(peer.name, keyOf(observation))
    if (capacity.kind !== 'admit') {
      this.deferrals.report(step, 'add', peer, capacity.reason)
      return
    }
    if (this.votes.liveOurs() >= this.ctx.config.maxPendingVotes) {
      this.deferrals.report(step, 'add', peer, 'maxPendingVotes')
      return
    }
    this.deferrals.clear('add', peer.name)
    const since = this.ctx.now
    this.votes.cast(step, {
      kind: 'add',
      peer,
      observation,
      since,
      ...(record === undefined ? {} : { record }),
    })
  }

  /**
   * An operator's Add (no ticket; `relatedInfo` empty so every member votes the same key), judged by
   * the same capacity rules and retried on every block and tick until voted or moot.
   */
  proposeAdd(peer: PublicId, step: Step): void {
    this.operatorAdds.set(peer.name, peer)
    this.voteOperatorAdds(step)
  }

  private voteOperatorAdds(step: Step): void {
    const state = requireState(this.ctx)
    for (const [name, peer] of [...this.operatorAdds]) {
      const observation: Observation = { kind: 'add', peer, relatedInfo: new Uint8Array(0) }
      const moot = state.isMember(name) || state.isBanned(name) || state.wasRemoved(name)
      if (moot || this.votes.hasOurs(observation)) {
        if (moot) this.operatorAdds.delete(name)
        continue
      }
      this.voteAddWithinRules(observation, undefined, step)
    }
  }

  /**
   * Capacity for `peer`: when admitting, every other pending Add counts in J; when voting the Add
   * with key `voteKey`, only those ordered before it (see `VoteBook.pendingAddsAhead`). The
   * candidate limit bounds admissions only: candidates admitted before the section turned fragile
   * would otherwise hold each other's Adds back for ever (J keeps the votes one at a time).
   */
  private capacity(peer: string, voteKey?: string): Admission {
    let candidates = 0
    if (voteKey === undefined) for (const name of this.candidates.keys()) if (name !== peer) candidates++
    const view = this.responsiveness.budgetView(peer, voteKey)
    const state = requireState(this.ctx)
    const departing = new Set([...this.responsiveness.leavers, ...this.votes.removalTargets()])
    // In the fragile phase, one Add at a time: ours count even when ordered after this one.
    const fragilePending =
      voteKey === undefined
        ? view.pendingAdds
        : new Set([...this.votes.pendingAddsAhead(peer, voteKey), ...this.votes.ourPendingAdds(peer)]).size
    return capacityVerdict({
      state,
      config: this.ctx.config,
      silent: view.silent,
      pendingAdds: view.pendingAdds,
      candidates,
      departing: [...departing].filter((name) => name !== peer && state.isMember(name)).length,
      fragilePendingAdds: fragilePending,
    })
  }

  private checkContext(peer: string): JoinCheckContext {
    const allowedAt = this.rejoinAllowedAt(peer)
    return {
      state: requireState(this.ctx),
      config: this.ctx.config,
      now: this.ctx.now,
      policy: this.ctx.policy,
      ...(allowedAt === undefined ? {} : { rejoinAllowedAt: allowedAt }),
    }
  }

  /** Candidates whose ticket went stale or whose Add lapsed here, or that sent no Ready in time. */
  private forgetStaleCandidates(step: Step): void {
    const state = requireState(this.ctx)
    for (const [name, candidate] of [...this.candidates]) {
      const stale = !state.isFreshHead(candidate.record.head, this.ctx.config.ticketMaxAge)
      const lapsed = this.lapsed(candidate.request)
      const timedOut =
        !candidate.ready && this.ctx.now - candidate.admittedAt >= this.ctx.config.candidateTimeoutMs
      if (stale || lapsed || timedOut) {
        this.candidates.delete(name)
        this.heldReady.delete(name)
        step.peers.push({ kind: 'acceptSync', peer: candidate.request.peer, accept: false })
        // A stale ticket the joiner sees in its own replay; a lapsed Add only we know of.
        if (lapsed && !stale) this.refuse(step, candidate.request, candidate.digest, 'StaleTicket', 0)
      }
    }
  }

  /**
   * Whether the request's Add lapsed here (see `VoteBook.mayVoteAdd`): we would never vote it, so
   * its joiner needs a fresh ticket, and is told so as `StaleTicket`.
   */
  private lapsed(request: JoinRequest): boolean {
    return !this.votes.mayVoteAdd(addOf(admissionRecordOf(request)))
  }

  private joinInfo(): JoinInfo {
    const state = requireState(this.ctx)
    return {
      kind: 'joinInfo',
      sectionId: this.ctx.sectionId,
      record: state.record,
      chain: state.chain,
      members: state.members().map((m) => ({ peer: m.id, addrs: m.addrs })),
      powBits: this.ctx.policy.requiredWork(this.ctx.config),
      agreedBlocks: state.agreedBlocks,
    }
  }

  private reply(step: Step, to: PublicId, ticketDigest: Uint8Array, outcome: CandidateOutcome): void {
    send(step, to, { kind: 'candidateReply', sectionId: this.ctx.sectionId, ticketDigest, outcome })
  }

  private refuse(
    step: Step,
    request: JoinRequest,
    digest: Uint8Array,
    reason: RejectReason,
    retryAfterMs: number,
  ): void {
    this.reply(step, request.peer, digest, { kind: 'reject', reason, retryAfterMs })
    step.events.push({ type: 'join:rejected', peer: request.peer, reason, retryAfterMs })
  }

  private decode<K extends 'joinInfoRequest' | 'joinRequest' | 'ready'>(
    bytes: Uint8Array,
    kind: K,
    from: PublicId,
    step: Step,
  ) {
    const message = decodeFrom(this.ctx, bytes, kind, from, step)
    if (message === undefined) this.strike(from, step)
    return message
  }

  /** A local ban with exponential backoff for a non-member abusing join (never agreed, never voted). */
  private strike(peer: PublicId, step: Step): void {
    if (this.ctx.state?.isMember(peer.name)) return
    const strikes = (this.localBans.get(peer.name)?.strikes ?? 0) + 1
    const length = Math.min(this.ctx.config.localBanMaxMs, this.ctx.config.localBanMs * 2 ** (strikes - 1))
    const until = this.ctx.now + length
    this.localBans.delete(peer.name)
    // Bounded against floods of fresh identities: the oldest entry goes first.
    if (this.localBans.size >= MAX_LOCAL_BANS)
      this.localBans.delete(this.localBans.keys().next().value as string)
    this.localBans.set(peer.name, { until, strikes })
    step.peers.push({ kind: 'ban', peer, untilMs: until, agreed: false })
  }

  private isLocallyBanned(peer: string): boolean {
    const ban = this.localBans.get(peer)
    return ban !== undefined && this.ctx.now < ban.until
  }
}
