/**
 * The membership Step machine (spec §6): agreed blocks, decisions, others' votes, peers' messages,
 * our engine's news and the clock in; one `Step` out. Deterministic: the same inputs give the same
 * steps on every machine (time and randomness are inputs; maps are walked in insertion or id order).
 *
 * One instance serves one peer through its whole life with a section: outsider (asking for
 * JoinInfo, then requesting), candidate (admitted, replaying as an observer), ready (Ready sent),
 * member, leaving (our Remove voted), draining (removed, serving pulls for `lingerMs`), removed.
 */

import { type BudgetView, removeAllowed } from '../budget.js'
import type { MembershipConfig } from '../defaults.js'
import { NEVER, resolveConfig } from '../defaults.js'
import { ed25519PeerIds, mockPeerIds, type PeerIdDecoder } from '../encoding/peer-ids.js'
import {
  type Block,
  bytesEqual,
  encodeObservation,
  type Observation,
  type PublicId,
  type SecretId,
  sortIds,
  toHex,
} from '../engine-exports.js'
import { MembershipError } from '../errors.js'
import type { Admission } from '../join/admission.js'
import { capacityVerdict } from '../join/capacity.js'
import { type AdmissionPolicy, openWithWork } from '../join/policies.js'
import { solvePow } from '../join/pow.js'
import { admissionRecordOf, checkJoinRequest, checkRecord, checkTicket } from '../join/validate.js'
import { maxFaulty } from '../quorum.js'
import { changeOf } from '../state/change.js'
import type { GenesisRecord } from '../state/genesis-record.js'
import { type FoldResult, SectionState } from '../state/section-state.js'
import { verifyChain } from '../state/verify-chain.js'
import {
  type CandidateOutcome,
  decodeMessageOf,
  encodeMessage,
  type Invitation,
  type JoinInfo,
  type JoinRequest,
  type MembershipMessage,
  type Ready,
  type RejectReason,
  signAnnounce,
  signJoinRequest,
  signLeaveRequest,
  signReady,
  verifyLeaveRequest,
  verifyReady,
} from '../wire/messages.js'
import {
  type AdmissionRecord,
  decodeAdmissionRecord,
  decodeRemoveInfo,
  encodeAdmissionRecord,
  encodeRemoveInfo,
  ticketDigest,
} from '../wire/records.js'
import { Liveness } from './liveness.js'
import { addressPrefix, KeyedBuckets } from './rate-limit.js'
import { emptyStep, type FaultKind, type LeaveReason, type Step } from './step.js'

/** Our own place in the section's life. */
export type Role =
  | 'outsider'
  | 'requesting'
  | 'candidate'
  | 'ready'
  | 'member'
  | 'leaving'
  | 'draining'
  | 'removed'

/** Another peer's state as this machine sees it (spec §2). */
export type PeerState =
  | 'outsider'
  | 'candidate'
  | 'candidate-voted'
  | 'joining'
  | 'member'
  | 'leaving'
  | 'removed'
  | 'banned'

export type MembershipCommand =
  | { readonly kind: 'leave' }
  | { readonly kind: 'setPolicy'; readonly policy: AdmissionPolicy }
  /** Outsider: (re)start joining through these members (with an invitation, if the section asks). */
  | { readonly kind: 'join'; readonly contacts: readonly PublicId[]; readonly invitation?: Invitation }

/** One decided election: the deciding event's `lastAncestors` per voter name (spec §4). */
export interface Decision {
  readonly index: number
  readonly lastAncestors: ReadonlyMap<string, number>
}

export interface EngineSelfReport {
  readonly decidedAddUs?: boolean
  readonly decidedRemoveUs?: boolean
}

export interface MembershipInit {
  readonly us: SecretId
  /** The injected clock's reading at construction. */
  readonly now: number
  /** A seeded `[0, 1)` source (ticket nonces, announce jitter). */
  readonly rng: () => number
  readonly config?: Partial<MembershipConfig>
  readonly policy?: AdmissionPolicy
  readonly ids?: PeerIdDecoder
  /** Our own addresses, put in tickets and announcements. */
  readonly addrs?: readonly string[]
}

interface PendingVote {
  readonly kind: 'add' | 'remove'
  readonly peer: PublicId
  readonly observation: Observation
  readonly round?: number
  readonly record?: AdmissionRecord
}

interface Candidate {
  readonly request: JoinRequest
  readonly record: AdmissionRecord
  readonly digest: Uint8Array
  readonly admittedAt: number
  ready: boolean
}

interface Deferred {
  readonly request: JoinRequest
  readonly receivedAt: number
}

/** A joiner's progress. */
interface JoinAttempt {
  contacts: PublicId[]
  best?: { info: JoinInfo; verified: SectionState; from: PublicId }
  request?: JoinRequest
  record?: AdmissionRecord
  digest?: Uint8Array
  asked: PublicId[]
  refusedBy: Set<string>
  admitters: PublicId[]
  server?: PublicId
  serverAgreed: number
  lastProgressAt: number
  retryAt?: number
}

export class Membership {
  readonly us: SecretId
  readonly config: MembershipConfig
  readonly ids: PeerIdDecoder
  private policyValue: AdmissionPolicy
  private readonly rng: () => number
  private nowMs: number
  private readonly addrs: readonly string[]
  private roleValue: Role
  private stateValue: SectionState | undefined
  private sectionIdValue: Uint8Array

  // LocalView (spec §1): decides whether we vote, never SectionState.
  private readonly candidates = new Map<string, Candidate>()
  private readonly deferred = new Map<string, Deferred>()
  private readonly heldReady = new Map<string, Ready>()
  private readonly ourVotes = new Map<string, PendingVote>()
  private readonly observed = new Map<string, { vote: PendingVote; voters: Set<string> }>()
  private observedCount = 0
  private readonly leavers = new Set<string>()
  private readonly departedAt = new Map<string, number>()
  private readonly localBans = new Map<string, { until: number; strikes: number }>()
  private readonly liveness = new Liveness()
  private readonly lastDeferral = new Map<string, string>()
  private readonly joinBuckets: KeyedBuckets
  private readonly prefixBuckets: KeyedBuckets
  private readonly infoBuckets: KeyedBuckets
  private lastMembershipDecision: number | undefined
  private lingerUntil: number | undefined
  private removalReason: LeaveReason = 'removed'
  private nextAnnounceAt: number | undefined
  private wasFragile = false
  private joinAttempt: JoinAttempt | undefined
  private engineConstructed = false
  private invitationToken: Invitation | undefined

  private constructor(
    init: MembershipInit,
    sectionId: Uint8Array,
    role: Role,
    state: SectionState | undefined,
  ) {
    this.us = init.us
    this.config = resolveConfig(init.config)
    this.policyValue = init.policy ?? openWithWork()
    this.rng = init.rng
    this.nowMs = init.now
    this.addrs = init.addrs ?? []
    this.ids = init.ids ?? (init.us.publicId.encoded.length === 32 ? ed25519PeerIds : mockPeerIds)
    this.sectionIdValue = sectionId
    this.roleValue = role
    this.stateValue = state
    this.joinBuckets = new KeyedBuckets(this.config.joinRate)
    this.prefixBuckets = new KeyedBuckets(this.config.prefixRate)
    this.infoBuckets = new KeyedBuckets(this.config.joinInfoRate)
  }

  /** A founder: one of `record.group`. Its engine starts from genesis; feed it the genesis block. */
  static found(init: MembershipInit & { readonly record: GenesisRecord }): Membership {
    if (!init.record.group.some((id) => id.name === init.us.publicId.name)) {
      throw new MembershipError('InvalidArgument', 'a founder must be in the genesis group')
    }
    const config = resolveConfig(init.config)
    const state = new SectionState(init.record, config.historyWindow, init.ids ?? idsFor(init.us))
    return new Membership(init, state.sectionId, 'member', state)
  }

  /** An outsider that will join `sectionId` through `contacts` (call `start()`). */
  static join(
    init: MembershipInit & {
      readonly sectionId: Uint8Array
      readonly contacts: readonly PublicId[]
      /** A member's invitation, for sections under the invitation policy. */
      readonly invitation?: Invitation
    },
  ): Membership {
    const machine = new Membership(init, init.sectionId, 'outsider', undefined)
    machine.invitationToken = init.invitation
    machine.joinAttempt = machine.newAttempt(init.contacts)
    return machine
  }

  // --- read-only view ----------------------------------------------------------------------------

  get role(): Role {
    return this.roleValue
  }

  get sectionId(): Uint8Array {
    return this.sectionIdValue
  }

  /** The agreed state this peer folded (undefined for an outsider without JoinInfo). */
  get state(): SectionState | undefined {
    return this.stateValue
  }

  get policy(): AdmissionPolicy {
    return this.policyValue
  }

  get now(): number {
    return this.nowMs
  }

  peerState(peer: string): PeerState {
    const state = this.stateValue
    if (state?.isBanned(peer)) return 'banned'
    if (state?.isMember(peer)) {
      if (this.leavers.has(peer) || this.removalTargets().has(peer)) return 'leaving'
      return this.liveness.isActive(peer) || peer === this.us.publicId.name ? 'member' : 'joining'
    }
    if (this.pendingAddPeers().has(peer)) return 'candidate-voted'
    if (this.candidates.has(peer)) return 'candidate'
    if (this.departedAt.has(peer)) return 'removed'
    return 'outsider'
  }

  /** Our undecided membership votes that still count (fresh Adds, Removes of this round). */
  pendingVotes(): number {
    let count = 0
    for (const vote of this.ourVotes.values()) if (this.isLive(vote)) count++
    return count
  }

  /** The budget rule's inputs as we see them now (P and J). */
  budgetView(excludeAdd?: string): BudgetView {
    const state = this.requireState()
    return {
      voters: state.size,
      silent: this.silent(),
      pendingAdds: [...this.pendingAddPeers()].filter((p) => p !== excludeAdd).length,
      minSize: this.config.minSize,
    }
  }

  // --- inputs ------------------------------------------------------------------------------------

  /** First step: a founder provides and announces; an outsider asks its contacts for JoinInfo. */
  start(): Step {
    const step = emptyStep()
    if (this.roleValue === 'member') {
      step.discovery.push({ kind: 'provide' })
      this.nextAnnounceAt = this.nowMs
    } else if (this.roleValue === 'outsider') {
      this.askJoinInfo(step)
    }
    return this.finish(step)
  }

  /**
   * Agreed blocks from the engine's `poll()`, `list[0]` at `position` (0 = genesis). Blocks already
   * folded are skipped. `decision` (the election index, if the host knows it) marks blocks decided
   * together, so a joiner checks their proofs against the same voters.
   */
  blocks(list: readonly Block[], position: number, decision?: number): Step {
    const step = emptyStep()
    const state = this.stateValue
    if (state === undefined) {
      step.warnings.push({ kind: 'Dropped', detail: 'blocks before a genesis record is known' })
      return this.finish(step)
    }
    if (position > state.agreedBlocks) {
      throw new MembershipError('InvalidArgument', `blocks from ${position}, we hold ${state.agreedBlocks}`)
    }
    const wasMember = this.isVoterRole()
    let membershipChanged = false
    list.forEach((block, i) => {
      const at = position + i
      if (at < state.agreedBlocks) return
      const isChange = changeOf(block.payload) !== undefined
      const batched = isChange && decision !== undefined && decision === this.lastMembershipDecision
      const result = state.applyBlock(block, at, batched)
      if (isChange) {
        if (decision !== undefined) this.lastMembershipDecision = decision
        membershipChanged = true
        this.forgetDecided(block.payload)
        this.onFold(result, at, step)
      }
    })
    if (this.isVoterRole()) {
      if (membershipChanged && wasMember) this.announce(step)
      this.checkFragile(step, membershipChanged)
      this.reconsider(step)
    } else if (this.roleValue === 'candidate' || this.roleValue === 'ready') {
      this.joinerProgress(step)
    }
    return this.finish(step)
  }

  /** A decided election's `lastAncestors`: voters whose entry grew progressed. */
  decision(decision: Decision): Step {
    const step = emptyStep()
    for (const name of this.liveness.decision(decision.lastAncestors, this.nowMs)) this.activated(name, step)
    if (this.isVoterRole()) this.reconsider(step)
    return this.finish(step)
  }

  /** An event created by `peer` reached our engine: it is responsive (resets both suspicion counters). */
  activity(peer: PublicId): Step {
    const step = emptyStep()
    if (this.liveness.heard(peer.name, this.nowMs)) this.activated(peer.name, step)
    return this.finish(step)
  }

  /** Another voter's unconsensused Add or Remove vote seen in the graph (seconding; J and P). */
  observedVote(voter: PublicId, observation: Observation): Step {
    const step = emptyStep()
    const state = this.stateValue
    if (state === undefined || !state.isMember(voter.name)) return this.finish(step)
    if (observation.kind !== 'add' && observation.kind !== 'remove') return this.finish(step)
    const key = keyOf(observation)
    let entry = this.observed.get(key)
    if (entry === undefined) {
      if (this.observedCount >= this.config.maxObservedVotes) {
        step.warnings.push({ kind: 'Dropped', detail: 'observed votes at their bound' })
        return this.finish(step)
      }
      const vote = this.pendingVoteOf(observation)
      if (vote === undefined) return this.finish(step)
      entry = { vote, voters: new Set() }
      this.observed.set(key, entry)
    }
    if (!entry.voters.has(voter.name)) {
      entry.voters.add(voter.name)
      this.observedCount++
    }
    if (this.isVoterRole()) this.considerSeconding(key, step)
    return this.finish(step)
  }

  /** A JoinInfoRequest from `from` (rate-limited; answered by members only). */
  joinInfoRequest(from: PublicId, bytes: Uint8Array): Step {
    const step = emptyStep()
    if (this.isLocallyBanned(from.name)) return this.finish(step)
    if (!this.infoBuckets.take(from.name, this.nowMs)) return this.finish(step)
    const message = this.decode(bytes, 'joinInfoRequest', from, step)
    if (message === undefined) return this.finish(step)
    if (!bytesEqual(message.sectionId, this.sectionIdValue) || !this.serving()) return this.finish(step)
    this.send(step, from, this.joinInfoMessage())
    return this.finish(step)
  }

  /** A JoinRequest from `from` (the transport-authenticated sender); `remoteAddr` feeds the per-prefix bucket. */
  joinRequest(from: PublicId, bytes: Uint8Array, remoteAddr?: string): Step {
    const step = emptyStep()
    if (this.isLocallyBanned(from.name)) return this.finish(step)
    const prefixOk =
      remoteAddr === undefined || this.prefixBuckets.take(addressPrefix(remoteAddr), this.nowMs)
    if (!prefixOk || !this.joinBuckets.take(from.name, this.nowMs)) {
      const retry = this.joinBuckets.retryAfter(from.name, this.nowMs)
      this.reply(step, from, new Uint8Array(0), {
        kind: 'reject',
        reason: 'RateLimited',
        retryAfterMs: retry,
      })
      return this.finish(step)
    }
    const request = this.decode(bytes, 'joinRequest', from, step)
    if (request === undefined) return this.finish(step)
    const digest = ticketDigest(admissionRecordOf(request))
    if (!this.serving()) {
      this.reply(step, from, digest, { kind: 'reject', reason: 'NotAMember', retryAfterMs: 0 })
      return this.finish(step)
    }
    const known = this.candidates.get(from.name)
    if (known !== undefined && bytesEqual(known.digest, digest)) {
      this.reply(step, from, digest, { kind: 'admit', agreedBlocks: this.requireState().agreedBlocks })
      return this.finish(step)
    }
    const verdict = checkJoinRequest(request, from.name, this.checkContext(from.name))
    if (verdict.kind === 'reject') {
      if (
        verdict.reason === 'BadSignature' ||
        verdict.reason === 'PeerMismatch' ||
        verdict.reason === 'InsufficientWork'
      ) {
        this.fault(step, from, verdict.reason, `join request refused: ${verdict.reason}`)
        this.strike(from, step)
      }
      this.refuse(step, request, digest, verdict.reason, verdict.retryAfterMs)
      return this.finish(step)
    }
    this.judgeCapacity(request, digest, step)
    return this.finish(step)
  }

  /** A candidate's Ready: vote its Add if our history agrees and the rules allow. */
  ready(from: PublicId, bytes: Uint8Array): Step {
    const step = emptyStep()
    const ready = this.decode(bytes, 'ready', from, step)
    if (ready === undefined || !this.isVoterRole()) return this.finish(step)
    if (ready.peer.name !== from.name || !bytesEqual(ready.sectionId, this.sectionIdValue)) {
      this.fault(step, from, 'InvalidReady', 'Ready for another peer or section')
      return this.finish(step)
    }
    if (!verifyReady(ready)) {
      this.fault(step, from, 'BadSignature', 'Ready signature')
      return this.finish(step)
    }
    this.takeReady(ready, step)
    return this.finish(step)
  }

  /** A member's signed LeaveRequest: vote its Remove (graceful budget). */
  leaveRequest(from: PublicId, bytes: Uint8Array): Step {
    const step = emptyStep()
    const leave = this.decode(bytes, 'leaveRequest', from, step)
    if (leave === undefined || !this.isVoterRole()) return this.finish(step)
    const member = this.requireState().member(leave.peer.name)
    if (
      leave.peer.name !== from.name ||
      !bytesEqual(leave.sectionId, this.sectionIdValue) ||
      member === undefined ||
      !bytesEqual(member.addHash, leave.addHash)
    ) {
      this.fault(step, from, 'InvalidLeave', 'LeaveRequest for another peer, section or incarnation')
      return this.finish(step)
    }
    if (!verifyLeaveRequest(leave)) {
      this.fault(step, from, 'BadSignature', 'LeaveRequest signature')
      return this.finish(step)
    }
    this.leavers.add(leave.peer.name)
    this.liveness.heard(leave.peer.name, this.nowMs)
    this.reconsider(step)
    return this.finish(step)
  }

  /** Joiner: a member's JoinInfo. The chain is verified; the longest valid one is kept. */
  joinInfo(from: PublicId, bytes: Uint8Array): Step {
    const step = emptyStep()
    const attempt = this.joinAttempt
    if (attempt === undefined || this.isVoterRole()) return this.finish(step)
    const info = this.decode(bytes, 'joinInfo', from, step)
    if (info === undefined) return this.finish(step)
    if (!bytesEqual(info.sectionId, this.sectionIdValue)) {
      this.fault(step, from, 'WrongSection', 'JoinInfo for another section')
      return this.finish(step)
    }
    let verified: SectionState
    try {
      verified = verifyChain(this.sectionIdValue, info.record, info.chain, {
        ids: this.ids,
        ...(attempt.best === undefined ? {} : { minSeq: attempt.best.verified.seq }),
      })
    } catch (error) {
      if (!(error instanceof MembershipError)) throw error
      this.fault(
        step,
        from,
        error.code === 'StaleChain' ? 'StaleChain' : 'ForgedChain',
        `${error.code}: ${error.detail}`,
      )
      return this.finish(step)
    }
    if (attempt.best !== undefined && verified.seq === attempt.best.verified.seq) return this.finish(step)
    attempt.best = { info, verified, from }
    attempt.lastProgressAt = this.nowMs
    if (this.stateValue === undefined) {
      this.stateValue = new SectionState(info.record, this.config.historyWindow, this.ids)
    }
    if (this.roleValue === 'outsider') this.sendJoinRequest(step)
    return this.finish(step)
  }

  /** Joiner: a member's answer to our JoinRequest. */
  candidateReply(from: PublicId, bytes: Uint8Array): Step {
    const step = emptyStep()
    const attempt = this.joinAttempt
    const reply = this.decode(bytes, 'candidateReply', from, step)
    if (reply === undefined || attempt === undefined || attempt.digest === undefined) return this.finish(step)
    if (!bytesEqual(reply.ticketDigest, attempt.digest) && reply.ticketDigest.length > 0)
      return this.finish(step)
    const outcome = reply.outcome
    if (outcome.kind === 'admit') {
      attempt.lastProgressAt = this.nowMs
      const newAdmitter = !attempt.admitters.some((p) => p.name === from.name)
      if (newAdmitter) attempt.admitters.push(from)
      attempt.serverAgreed = Math.max(attempt.serverAgreed, outcome.agreedBlocks)
      // A member that admitted us late (it had deferred us) needs our Ready too.
      if (newAdmitter && this.roleValue === 'ready') this.sendReady(step, [from])
      if (this.roleValue === 'requesting') {
        this.roleValue = 'candidate'
        const verified = attempt.best!.verified
        if (!this.engineConstructed) {
          this.engineConstructed = true
          step.engine.push({
            kind: 'construct',
            genesis: verified.record.group,
            section: verified.memberIds(),
          })
        }
        attempt.server = from
        step.engine.push({ kind: 'catchUp', from })
        this.joinerProgress(step)
      }
    } else if (outcome.kind === 'reject') {
      attempt.refusedBy.add(from.name)
      step.events.push({
        type: 'join:rejected',
        peer: this.us.publicId,
        by: from,
        reason: outcome.reason,
        retryAfterMs: outcome.retryAfterMs,
      })
      const allRefused = attempt.asked.every((p) => attempt.refusedBy.has(p.name))
      if (this.roleValue === 'requesting' && allRefused) {
        this.roleValue = 'outsider'
        if (outcome.retryAfterMs < NEVER) attempt.retryAt = this.nowMs + outcome.retryAfterMs
      }
    }
    return this.finish(step)
  }

  /** What our own engine decided about us (the same news also arrives as blocks; idempotent). */
  engineSelf(report: EngineSelfReport): Step {
    const step = emptyStep()
    if (report.decidedRemoveUs && (this.roleValue === 'member' || this.roleValue === 'leaving')) {
      this.beginDrain(this.roleValue === 'leaving' ? 'left' : 'removed', step)
    }
    return this.finish(step)
  }

  /** A transport outcome: failures steer partner choice and the catch-up server, never votes. */
  transportHint(peer: PublicId, ok: boolean, _rttMs?: number): Step {
    const step = emptyStep()
    const attempt = this.joinAttempt
    if (
      !ok &&
      attempt?.server?.name === peer.name &&
      (this.roleValue === 'candidate' || this.roleValue === 'ready')
    ) {
      const next = attempt.admitters.find((p) => p.name !== peer.name)
      if (next !== undefined) {
        attempt.server = next
        step.engine.push({ kind: 'catchUp', from: next })
      }
    }
    if (this.stateValue?.isMember(peer.name) && peer.name !== this.us.publicId.name) {
      step.peers.push({ kind: 'partnerWeight', peer, weight: ok ? 1 : 0.5 })
    }
    return this.finish(step)
  }

  /** The clock moved: timers (drain, suspicion by clock, join grace, timeouts, announcements). */
  tick(now: number): Step {
    const step = emptyStep()
    if (now > this.nowMs) this.nowMs = now
    if (this.roleValue === 'draining' && this.lingerUntil !== undefined && this.nowMs >= this.lingerUntil) {
      this.endDrain(step)
      return this.finish(step)
    }
    if (this.isVoterRole()) {
      this.reconsider(step)
      if (this.nextAnnounceAt !== undefined && this.nowMs >= this.nextAnnounceAt) this.announce(step)
    } else if (
      this.joinAttempt !== undefined &&
      this.roleValue !== 'draining' &&
      this.roleValue !== 'removed'
    ) {
      const attempt = this.joinAttempt
      if (this.nowMs - attempt.lastProgressAt >= this.config.candidateTimeoutMs) {
        this.restartJoin(step)
      } else if (
        this.roleValue === 'outsider' &&
        attempt.retryAt !== undefined &&
        this.nowMs >= attempt.retryAt
      ) {
        this.restartJoin(step)
      }
    }
    return this.finish(step)
  }

  command(command: MembershipCommand): Step {
    const step = emptyStep()
    switch (command.kind) {
      case 'setPolicy':
        this.policyValue = command.policy
        break
      case 'leave':
        this.startLeaving(step)
        break
      case 'join': {
        if (this.isVoterRole() || this.roleValue === 'draining') {
          throw new MembershipError('InvalidArgument', `cannot join while ${this.roleValue}`)
        }
        const allowedAt = this.departedAt.get(this.us.publicId.name)
        if (allowedAt !== undefined && this.nowMs < allowedAt + this.config.rejoinCooldownMs) {
          throw new MembershipError('InvalidArgument', 'rejoin cooldown has not elapsed')
        }
        this.joinAttempt = this.newAttempt(command.contacts)
        if (command.invitation !== undefined) this.invitationToken = command.invitation
        this.roleValue = 'outsider'
        this.askJoinInfo(step)
        break
      }
    }
    return this.finish(step)
  }

  // --- folding -----------------------------------------------------------------------------------

  private onFold(result: FoldResult, position: number, step: Step): void {
    const ourName = this.us.publicId.name
    const state = this.requireState()
    for (const warning of result.warnings) step.warnings.push({ kind: 'fold', warning })
    const voter = this.isVoterRole()
    for (const member of result.added) {
      const name = member.id.name
      this.candidates.delete(name)
      this.deferred.delete(name)
      this.heldReady.delete(name)
      this.departedAt.delete(name)
      this.dropVotesAbout(name)
      if (name === ourName) {
        if (!voter) this.becomeMember(position, step)
        continue
      }
      // A joiner replaying as an observer tracks nobody: it starts tracking at its own Add.
      if (!voter) continue
      this.liveness.track(name, this.nowMs, member.founder, position)
      if (!member.founder) step.events.push({ type: 'member:joined', peer: member.id, position })
      step.peers.push({ kind: 'keepAlive', peer: member.id, on: true })
      step.peers.push({ kind: 'acceptSync', peer: member.id, accept: true })
      if (!member.founder) {
        step.peers.push({ kind: 'partnerWeight', peer: member.id, weight: this.config.joiningPartnerWeight })
      }
    }
    for (const id of result.banned) {
      if (id.name === ourName) {
        this.removalReason = 'banned'
        continue
      }
      if (voter) {
        step.events.push({ type: 'member:banned', peer: id, position })
        step.peers.push({ kind: 'ban', peer: id, untilMs: NEVER, agreed: true })
      }
    }
    for (const member of result.removed) {
      const name = member.id.name
      const reason: LeaveReason = state.isBanned(name)
        ? 'banned'
        : this.leavers.has(name)
          ? 'left'
          : 'removed'
      this.liveness.untrack(name)
      this.leavers.delete(name)
      this.departedAt.set(name, this.nowMs)
      this.dropVotesAbout(name)
      if (name === ourName) {
        if (voter)
          this.beginDrain(
            this.removalReason === 'banned' ? 'banned' : this.roleValue === 'leaving' ? 'left' : reason,
            step,
          )
        continue
      }
      if (!voter) continue
      step.events.push({ type: 'member:left', peer: member.id, position, reason })
      step.peers.push({ kind: 'keepAlive', peer: member.id, on: false })
      step.peers.push({ kind: 'acceptSync', peer: member.id, accept: false })
    }
  }

  /** Joiner: our own engine decided Add(us). Our state must equal the verified chain's there. */
  private becomeMember(position: number, step: Step): void {
    const state = this.requireState()
    const verified = this.joinAttempt?.best?.verified
    const expected = verified?.headAt(state.seq)
    if (verified !== undefined && expected !== undefined && !bytesEqual(expected, state.head)) {
      this.fault(
        step,
        this.us.publicId,
        'StateMismatch',
        'replayed state differs from the verified chain at our Add',
      )
      step.engine.push({ kind: 'stop' })
      this.roleValue = 'removed'
      return
    }
    this.roleValue = 'member'
    this.joinAttempt = undefined
    step.events.push({ type: 'self:joined', position, seq: state.seq })
    step.discovery.push({ kind: 'provide' })
    for (const member of state.members()) {
      if (member.id.name === this.us.publicId.name) continue
      this.liveness.track(member.id.name, this.nowMs, true, member.addedAtBlock)
      step.peers.push({ kind: 'keepAlive', peer: member.id, on: true })
      step.peers.push({ kind: 'acceptSync', peer: member.id, accept: true })
    }
    this.nextAnnounceAt = this.nowMs
  }

  private activated(name: string, step: Step): void {
    const member = this.stateValue?.member(name)
    if (member !== undefined && this.isVoterRole()) {
      step.peers.push({ kind: 'partnerWeight', peer: member.id, weight: 1 })
    }
  }

  private checkFragile(step: Step, changed: boolean): void {
    const size = this.requireState().size
    const fragile = size < this.config.minSize
    if (fragile && (changed || !this.wasFragile)) step.events.push({ type: 'section:fragile', members: size })
    this.wasFragile = fragile
  }

  // --- votes -------------------------------------------------------------------------------------

  /** Everything that may make us vote, in a fixed order: held Readies, candidates, deferred requests, removals. */
  private reconsider(step: Step): void {
    if (!this.isVoterRole()) return
    this.forgetStaleCandidates(step)
    this.pruneLapsedVotes()
    for (const ready of [...this.heldReady.values()]) {
      if (ready.k <= this.requireState().agreedBlocks) {
        this.heldReady.delete(ready.peer.name)
        this.takeReady(ready, step)
      }
    }
    for (const candidate of this.candidates.values()) if (candidate.ready) this.tryVoteAdd(candidate, step)
    for (const [name, deferred] of [...this.deferred]) {
      this.deferred.delete(name)
      const request = deferred.request
      const digest = ticketDigest(admissionRecordOf(request))
      const verdict = checkTicket(request, this.checkContext(name))
      if (verdict.kind === 'reject') this.refuse(step, request, digest, verdict.reason, verdict.retryAfterMs)
      else this.judgeCapacity(request, digest, step, true)
    }
    for (const key of [...this.observed.keys()]) this.considerSeconding(key, step)
    this.considerRemovals(step)
  }

  private judgeCapacity(request: JoinRequest, digest: Uint8Array, step: Step, quietDefer = false): void {
    const name = request.peer.name
    const capacity = this.capacity(name)
    if (capacity.kind === 'reject') {
      this.refuse(step, request, digest, capacity.reason, capacity.retryAfterMs)
    } else if (capacity.kind === 'defer') {
      if (this.deferred.size >= this.config.maxDeferred) {
        const oldest = this.deferred.keys().next().value as string
        this.deferred.delete(oldest)
      }
      this.deferred.set(name, { request, receivedAt: this.nowMs })
      if (!quietDefer) this.reply(step, request.peer, digest, capacity)
      this.deferral(step, 'add', request.peer, capacity.reason)
    } else {
      this.candidates.set(name, {
        request,
        record: admissionRecordOf(request),
        digest,
        admittedAt: this.nowMs,
        ready: false,
      })
      this.reply(step, request.peer, digest, {
        kind: 'admit',
        agreedBlocks: this.requireState().agreedBlocks,
      })
      step.peers.push({ kind: 'acceptSync', peer: request.peer, accept: true })
    }
  }

  private takeReady(ready: Ready, step: Step): void {
    const state = this.requireState()
    const candidate = this.candidates.get(ready.peer.name)
    if (candidate === undefined || !bytesEqual(candidate.digest, ready.ticketDigest)) return
    if (ready.k > state.agreedBlocks) {
      if (this.heldReady.size < this.config.maxHeldReady || this.heldReady.has(ready.peer.name)) {
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
      this.fault(step, ready.peer, 'InvalidReady', `history digest at ${ready.k} differs from ours`)
      return
    }
    candidate.ready = true
    this.tryVoteAdd(candidate, step)
  }

  /** Vote Add for a candidate that sent a valid Ready, re-checking ticket, rules and limits. */
  private tryVoteAdd(candidate: Candidate, step: Step): void {
    const observation: Observation = {
      kind: 'add',
      peer: candidate.record.peer,
      relatedInfo: encodeAdmissionRecord(candidate.record),
    }
    if (this.ourVotes.has(keyOf(observation))) return
    this.voteAddIfAllowed(observation, candidate.record, step)
  }

  private voteAddIfAllowed(
    observation: Observation & { kind: 'add' },
    record: AdmissionRecord,
    step: Step,
  ): void {
    const state = this.requireState()
    const name = record.peer.name
    const ticket = checkRecord(record, state, this.config.ticketMaxAge)
    if (ticket.kind !== 'admit') return
    if (state.isBanned(name)) return
    const capacity = this.capacity(name)
    if (capacity.kind !== 'admit') {
      this.deferral(step, 'add', record.peer, capacity.reason)
      return
    }
    if (this.pendingVotes() >= this.config.maxPendingVotes) {
      this.deferral(step, 'add', record.peer, 'maxPendingVotes')
      return
    }
    this.castVote(step, { kind: 'add', peer: record.peer, observation, record })
  }

  /** Seconding (spec §3.4): f+1 identical Add votes in the graph vouch for a record we did not admit. */
  private considerSeconding(key: string, step: Step): void {
    const entry = this.observed.get(key)
    if (entry === undefined || entry.vote.kind !== 'add' || entry.vote.record === undefined) return
    if (this.ourVotes.has(key)) return
    const state = this.requireState()
    let vouchers = 0
    for (const voter of entry.voters) if (state.isMember(voter)) vouchers++
    if (vouchers < maxFaulty(state.size) + 1) return
    const observation = entry.vote.observation
    if (observation.kind !== 'add') return
    this.voteAddIfAllowed(observation, entry.vote.record, step)
  }

  /** Remove votes for graceful leavers and suspects (and ourselves when leaving), re-voted per round. */
  private considerRemovals(step: Step): void {
    const state = this.requireState()
    const round = this.round()
    const ourName = this.us.publicId.name
    for (const member of state.members()) {
      const name = member.id.name
      const graceful = this.leavers.has(name) || (name === ourName && this.roleValue === 'leaving')
      const suspected =
        name !== ourName && this.liveness.suspected(name, this.nowMs, state.agreedBlocks, this.config)
      if (!graceful && !suspected) continue
      const observation: Observation = {
        kind: 'remove',
        peer: member.id,
        relatedInfo: encodeRemoveInfo({ addHash: member.addHash, round }),
      }
      if (this.ourVotes.has(keyOf(observation))) continue
      if (!removeAllowed(this.budgetView(), name, graceful)) {
        this.deferral(step, 'remove', member.id, 'Budget')
        continue
      }
      if (this.pendingVotes() >= this.config.maxPendingVotes) {
        this.deferral(step, 'remove', member.id, 'maxPendingVotes')
        continue
      }
      this.castVote(step, { kind: 'remove', peer: member.id, observation, round })
      if (name === ourName) this.sendLeaveRequest(step)
    }
  }

  private castVote(step: Step, vote: PendingVote): void {
    this.ourVotes.set(keyOf(vote.observation), vote)
    this.lastDeferral.delete(`${vote.kind}:${vote.peer.name}`)
    step.votes.push(vote.observation)
  }

  /** A `change:deferred` event, once per change and reason until it changes. */
  private deferral(step: Step, change: 'add' | 'remove', peer: PublicId, reason: string): void {
    const key = `${change}:${peer.name}`
    if (this.lastDeferral.get(key) === reason) return
    this.lastDeferral.set(key, reason)
    step.events.push({ type: 'change:deferred', change, peer, reason })
  }

  private forgetDecided(payload: Observation): void {
    const key = keyOf(payload)
    this.ourVotes.delete(key)
    const entry = this.observed.get(key)
    if (entry !== undefined) {
      this.observedCount -= entry.voters.size
      this.observed.delete(key)
    }
  }

  /** Votes about a peer that left are moot (a Remove of a non-member decides nothing). */
  private dropVotesAbout(name: string): void {
    for (const [key, vote] of this.ourVotes) if (vote.peer.name === name) this.ourVotes.delete(key)
    for (const [key, entry] of this.observed) {
      if (entry.vote.peer.name === name) {
        this.observedCount -= entry.voters.size
        this.observed.delete(key)
      }
    }
    this.lastDeferral.delete(`add:${name}`)
    this.lastDeferral.delete(`remove:${name}`)
  }

  private pendingVoteOf(observation: Observation): PendingVote | undefined {
    if (observation.kind === 'add') {
      let record: AdmissionRecord | undefined
      try {
        record = decodeAdmissionRecord(observation.relatedInfo, this.ids)
        if (record.peer.name !== observation.peer.name) record = undefined
      } catch {
        record = undefined
      }
      return { kind: 'add', peer: observation.peer, observation, ...(record === undefined ? {} : { record }) }
    }
    if (observation.kind === 'remove') {
      let round: number | undefined
      try {
        round = decodeRemoveInfo(observation.relatedInfo).round
      } catch {
        round = undefined
      }
      return {
        kind: 'remove',
        peer: observation.peer,
        observation,
        ...(round === undefined ? {} : { round }),
      }
    }
    return undefined
  }

  /** A vote still counts: an Add while its ticket is fresh, a Remove during its round. */
  private isLive(vote: PendingVote): boolean {
    const state = this.requireState()
    if (vote.kind === 'add') {
      if (state.isMember(vote.peer.name)) return false
      return vote.record === undefined || state.isFreshHead(vote.record.head, this.config.ticketMaxAge)
    }
    if (!state.isMember(vote.peer.name)) return false
    return vote.round === undefined || vote.round === this.round()
  }

  private round(): number {
    return Math.floor(this.requireState().agreedBlocks / this.config.suspicionWindow)
  }

  /** J: peers with a live Add vote, ours or seen. */
  private pendingAddPeers(): Set<string> {
    const peers = new Set<string>()
    if (this.stateValue === undefined) return peers
    for (const vote of this.ourVotes.values())
      if (vote.kind === 'add' && this.isLive(vote)) peers.add(vote.peer.name)
    for (const { vote } of this.observed.values())
      if (vote.kind === 'add' && this.isLive(vote)) peers.add(vote.peer.name)
    return peers
  }

  /** Members with a live Remove vote, ours or seen. */
  private removalTargets(): Set<string> {
    const targets = new Set<string>()
    if (this.stateValue === undefined) return targets
    for (const vote of this.ourVotes.values())
      if (vote.kind === 'remove' && this.isLive(vote)) targets.add(vote.peer.name)
    for (const { vote } of this.observed.values())
      if (vote.kind === 'remove' && this.isLive(vote)) targets.add(vote.peer.name)
    return targets
  }

  /** P: voters not counted responsive (new voters not heard yet, suspects, targets of removals for silence). */
  private silent(): Set<string> {
    const state = this.requireState()
    const ourName = this.us.publicId.name
    const silent = new Set<string>()
    for (const member of state.members()) {
      const name = member.id.name
      if (name === ourName) continue
      if (
        !this.liveness.isActive(name) ||
        this.liveness.suspected(name, this.nowMs, state.agreedBlocks, this.config)
      ) {
        silent.add(name)
      }
    }
    for (const target of this.removalTargets())
      if (target !== ourName && !this.leavers.has(target)) silent.add(target)
    return silent
  }

  private capacity(excludeName: string): Admission {
    let candidates = 0
    for (const name of this.candidates.keys()) if (name !== excludeName) candidates++
    const view = this.budgetView(excludeName)
    return capacityVerdict({
      state: this.requireState(),
      config: this.config,
      silent: view.silent,
      pendingAdds: view.pendingAdds,
      candidates,
    })
  }

  private checkContext(name: string) {
    const departed = this.departedAt.get(name)
    return {
      state: this.requireState(),
      config: this.config,
      now: this.nowMs,
      policy: this.policyValue,
      ...(departed === undefined ? {} : { rejoinAllowedAt: departed + this.config.rejoinCooldownMs }),
    }
  }

  private forgetStaleCandidates(step: Step): void {
    const state = this.requireState()
    for (const [name, candidate] of [...this.candidates]) {
      const stale = !state.isFreshHead(candidate.record.head, this.config.ticketMaxAge)
      const timedOut = !candidate.ready && this.nowMs - candidate.admittedAt >= this.config.candidateTimeoutMs
      if (stale || timedOut) {
        this.candidates.delete(name)
        this.heldReady.delete(name)
        step.peers.push({ kind: 'acceptSync', peer: candidate.request.peer, accept: false })
      }
    }
  }
  /** Forgets votes that no longer count (lapsed rounds, stale tickets): memory stays bounded. */
  private pruneLapsedVotes(): void {
    for (const [key, vote] of this.ourVotes) if (!this.isLive(vote)) this.ourVotes.delete(key)
    for (const [key, entry] of this.observed) {
      if (!this.isLive(entry.vote)) {
        this.observedCount -= entry.voters.size
        this.observed.delete(key)
      }
    }
  }

  // --- leaving -----------------------------------------------------------------------------------

  private startLeaving(step: Step): void {
    if (this.roleValue !== 'member') {
      step.warnings.push({ kind: 'LeaveRefused', detail: `cannot leave while ${this.roleValue}` })
      return
    }
    const state = this.requireState()
    const us = state.member(this.us.publicId.name)
    if (us === undefined || state.size <= 1) {
      step.warnings.push({ kind: 'LeaveRefused', detail: 'the last member cannot leave its section' })
      return
    }
    this.roleValue = 'leaving'
    this.considerRemovals(step)
  }

  /** Sent with each of our Remove votes (one per round), so a lost request is made good. */
  private sendLeaveRequest(step: Step): void {
    const state = this.requireState()
    const us = state.member(this.us.publicId.name)
    if (us === undefined) return
    const leave = signLeaveRequest(this.us, { sectionId: this.sectionIdValue, addHash: us.addHash })
    for (const member of state.members()) {
      if (member.id.name !== this.us.publicId.name) this.send(step, member.id, leave)
    }
  }

  private beginDrain(reason: LeaveReason, step: Step): void {
    if (this.roleValue === 'draining' || this.roleValue === 'removed') return
    this.roleValue = 'draining'
    this.removalReason = reason
    this.lingerUntil = this.nowMs + this.config.lingerMs
    this.ourVotes.clear()
    this.candidates.clear()
    this.deferred.clear()
    step.engine.push({ kind: 'serveOnly' })
  }

  private endDrain(step: Step): void {
    this.roleValue = 'removed'
    this.lingerUntil = undefined
    this.engineConstructed = false
    this.departedAt.set(this.us.publicId.name, this.nowMs)
    step.engine.push({ kind: 'stop' })
    step.discovery.push({ kind: 'cancelProvide' })
    for (const member of this.requireState().members()) {
      if (member.id.name !== this.us.publicId.name)
        step.peers.push({ kind: 'keepAlive', peer: member.id, on: false })
    }
    step.events.push({ type: 'self:removed', reason: this.removalReason })
  }

  // --- joining -----------------------------------------------------------------------------------

  private newAttempt(contacts: readonly PublicId[]): JoinAttempt {
    return {
      contacts: [...contacts],
      asked: [],
      refusedBy: new Set(),
      admitters: [],
      serverAgreed: 0,
      lastProgressAt: this.nowMs,
    }
  }

  private askJoinInfo(step: Step): void {
    const attempt = this.joinAttempt!
    attempt.lastProgressAt = this.nowMs
    for (const contact of attempt.contacts) {
      this.send(step, contact, { kind: 'joinInfoRequest', sectionId: this.sectionIdValue })
    }
  }

  private restartJoin(step: Step): void {
    const previous = this.joinAttempt!
    const contacts = new Map<string, PublicId>()
    for (const c of previous.contacts) contacts.set(c.name, c)
    for (const m of previous.best?.verified.memberIds() ?? []) contacts.set(m.name, m)
    this.joinAttempt = this.newAttempt(sortIds(contacts.values()))
    this.roleValue = 'outsider'
    this.askJoinInfo(step)
  }

  private sendJoinRequest(step: Step): void {
    const attempt = this.joinAttempt!
    const { info, verified } = attempt.best!
    const nonce = new Uint8Array(16)
    for (let i = 0; i < nonce.length; i++) nonce[i] = Math.floor(this.rng() * 256)
    const ticket = { sectionId: this.sectionIdValue, peer: this.us.publicId, head: verified.head, nonce }
    const powNonce = solvePow(ticket, info.powBits)
    const request = signJoinRequest(this.us, {
      sectionId: this.sectionIdValue,
      addrs: this.addrs,
      head: verified.head,
      nonce,
      powNonce,
      ...(this.invitationToken === undefined ? {} : { invitation: this.invitationToken }),
    })
    attempt.request = request
    attempt.record = admissionRecordOf(request)
    attempt.digest = ticketDigest(attempt.record)
    attempt.asked = verified.memberIds()
    attempt.refusedBy = new Set()
    attempt.lastProgressAt = this.nowMs
    this.roleValue = 'requesting'
    for (const member of attempt.asked) this.send(step, member, request)
  }

  /** A candidate replaying: send Ready once within `readyLag` blocks of the server's count. */
  private joinerProgress(step: Step): void {
    const attempt = this.joinAttempt
    const state = this.stateValue
    if (attempt === undefined || state === undefined || attempt.digest === undefined) return
    // Our ticket went stale in our own replay before our Add: the candidacy is over (spec §2).
    if (attempt.record !== undefined && state.isStaleHead(attempt.record.head, this.config.ticketMaxAge)) {
      this.restartJoin(step)
      return
    }
    // Replaying is progress until Ready; after it only our Add is (timed from the Ready).
    if (this.roleValue !== 'candidate') return
    attempt.lastProgressAt = this.nowMs
    if (state.seq === 0 || state.agreedBlocks + this.config.readyLag < attempt.serverAgreed) return
    const to = new Map<string, PublicId>()
    for (const id of [...attempt.asked, ...state.memberIds()]) to.set(id.name, id)
    if (this.sendReady(step, sortIds(to.values()))) this.roleValue = 'ready'
  }

  /** Signs Ready for the blocks we replayed so far and sends it; false if we cannot yet. */
  private sendReady(step: Step, to: readonly PublicId[]): boolean {
    const state = this.stateValue
    const digest = this.joinAttempt?.digest
    if (state === undefined || digest === undefined) return false
    const k = state.agreedBlocks
    const historyDigest = state.historyDigest(k)
    if (historyDigest === undefined) return false
    const ready = signReady(this.us, {
      sectionId: this.sectionIdValue,
      ticketDigest: digest,
      k,
      historyDigest,
    })
    for (const id of to) this.send(step, id, ready)
    return true
  }

  // --- messages ----------------------------------------------------------------------------------

  private joinInfoMessage(): JoinInfo {
    const state = this.requireState()
    return {
      kind: 'joinInfo',
      sectionId: this.sectionIdValue,
      record: state.record,
      chain: state.chain,
      members: state.members().map((m) => ({ peer: m.id, addrs: m.addrs })),
      powBits: this.policyValue.requiredWork(this.config),
      agreedBlocks: state.agreedBlocks,
    }
  }

  private announce(step: Step): void {
    const state = this.requireState()
    const announce = signAnnounce(this.us, {
      sectionId: this.sectionIdValue,
      addrs: this.addrs,
      seq: state.seq,
      head: state.head,
    })
    step.discovery.push({ kind: 'announce', bytes: encodeMessage(announce) })
    const jitter = 1 + this.config.announceJitter * (2 * this.rng() - 1)
    this.nextAnnounceAt = this.nowMs + Math.max(1, Math.round(this.config.announceIntervalMs * jitter))
  }

  private send(step: Step, to: PublicId, message: MembershipMessage): void {
    step.messages.push({ to, kind: message.kind, bytes: encodeMessage(message) })
  }

  private reply(step: Step, to: PublicId, digest: Uint8Array, outcome: CandidateOutcome): void {
    this.send(step, to, {
      kind: 'candidateReply',
      sectionId: this.sectionIdValue,
      ticketDigest: digest,
      outcome,
    })
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

  private decode<K extends MembershipMessage['kind']>(
    bytes: Uint8Array,
    kind: K,
    from: PublicId,
    step: Step,
  ): Extract<MembershipMessage, { kind: K }> | undefined {
    try {
      return decodeMessageOf(bytes, kind, this.ids)
    } catch (error) {
      if (!(error instanceof MembershipError)) throw error
      this.fault(step, from, 'MalformedMessage', `${kind}: ${error.code}: ${error.detail}`)
      if (!this.stateValue?.isMember(from.name)) this.strike(from, step)
      return undefined
    }
  }

  private fault(step: Step, offender: PublicId, kind: FaultKind, detail: string): void {
    step.faults.push({ offender, kind, detail })
  }

  /** A local ban with exponential backoff for a non-member abusing join (never agreed, never voted). */
  private strike(peer: PublicId, step: Step): void {
    if (this.stateValue?.isMember(peer.name)) return
    const previous = this.localBans.get(peer.name)
    const strikes = (previous?.strikes ?? 0) + 1
    const length = Math.min(this.config.localBanMaxMs, this.config.localBanMs * 2 ** (strikes - 1))
    const until = this.nowMs + length
    this.localBans.set(peer.name, { until, strikes })
    step.peers.push({ kind: 'ban', peer, untilMs: until, agreed: false })
  }

  private isLocallyBanned(name: string): boolean {
    const ban = this.localBans.get(name)
    return ban !== undefined && this.nowMs < ban.until
  }

  // --- helpers -----------------------------------------------------------------------------------

  /** A voter that folded genesis: it may answer JoinInfo and judge join requests. */
  private serving(): boolean {
    return this.isVoterRole() && (this.stateValue?.seq ?? 0) > 0
  }

  private isVoterRole(): boolean {
    return this.roleValue === 'member' || this.roleValue === 'leaving'
  }

  private requireState(): SectionState {
    if (this.stateValue === undefined) throw new MembershipError('InvalidArgument', 'no section state yet')
    return this.stateValue
  }

  /** Sets `nextWakeupAt` to the earliest timer that matters in our role. */
  private finish(step: Step): Step {
    const times: number[] = []
    if (this.roleValue === 'draining' && this.lingerUntil !== undefined) times.push(this.lingerUntil)
    if (this.isVoterRole()) {
      const deadline = this.liveness.nextDeadline(this.nowMs, this.config)
      if (deadline !== undefined) times.push(deadline)
      if (this.nextAnnounceAt !== undefined) times.push(this.nextAnnounceAt)
      for (const candidate of this.candidates.values()) {
        if (!candidate.ready) times.push(candidate.admittedAt + this.config.candidateTimeoutMs)
      }
    }
    const attempt = this.joinAttempt
    if (attempt !== undefined && !this.isVoterRole()) {
      times.push(attempt.lastProgressAt + this.config.candidateTimeoutMs)
      if (this.roleValue === 'outsider' && attempt.retryAt !== undefined) times.push(attempt.retryAt)
    }
    const future = times.filter((t) => t > this.nowMs)
    step.nextWakeupAt = future.length === 0 ? undefined : Math.min(...future)
    return step
  }
}

function keyOf(observation: Observation): string {
  return toHex(encodeObservation(observation))
}

function idsFor(us: SecretId): PeerIdDecoder {
  return us.publicId.encoded.length === 32 ? ed25519PeerIds : mockPeerIds
}
