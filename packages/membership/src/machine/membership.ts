/**
 * The membership Step machine (spec §6): agreed blocks, decisions, others' votes, peers' messages,
 * our engine's news and the clock in; one `Step` out. Deterministic: the same inputs give the same
 * steps on every machine (time and randomness are inputs; maps are walked in insertion or id order).
 *
 * This class routes inputs and folds blocks; its parts hold the concerns: `Admissions` (a member
 * judging joiners), `Joiner` (our own join), `Departures` (leaves, removals, the drain),
 * `VoteBook` (pending votes), `Responsiveness` and `Liveness` (P of the budget rule, suspicion).
 */

import type { BudgetView } from '../budget.js'
import type { MembershipConfig } from '../defaults.js'
import { checkpointRuleOf, NEVER, resolveConfig } from '../defaults.js'
import { ed25519PeerIds, mockPeerIds, type PeerIdDecoder } from '../encoding/peer-ids.js'
import type { Block, Observation, PublicId, SecretId } from '../engine-exports.js'
import { bytesEqual, checkpoint, sortIds } from '../engine-exports.js'
import { MembershipError } from '../errors.js'
import { type AdmissionPolicy, openWithWork } from '../join/policies.js'
import { maxFaulty } from '../quorum.js'
import { changeOf } from '../state/change.js'
import type { GenesisRecord } from '../state/genesis-record.js'
import { type ChainEntry, type FoldResult, SectionState } from '../state/section-state.js'
import { verifyChain } from '../state/verify-chain.js'
import { encodeMessage, type Invitation, type JoinInfo, KIND_NAMES, signAnnounce } from '../wire/messages.js'
import { encodeCheckpoint } from '../wire/records.js'
import { Admissions } from './admissions.js'
import {
  decodeFrom,
  epochStartOf,
  fault,
  isVoter,
  type MachineContext,
  type Role,
  requireState,
  send,
  stateAtLastCheckpoint,
} from './context.js'
import { Deferrals } from './deferrals.js'
import { Departures } from './departures.js'
import { Joiner } from './joiner.js'
import { Liveness } from './liveness.js'
import { Responsiveness } from './responsiveness.js'
import { emptyStep, type LeaveReason, type Step } from './step.js'
import { VoteBook } from './vote-book.js'

export type { Role } from './context.js'

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
  /** Operator (the simulation's `--add`): vote `Add(peer)` with empty related info, within the rules. */
  | { readonly kind: 'proposeAdd'; readonly peer: PublicId }
  /** Operator: vote `Remove(peer)` by round, judged as a silent peer's removal. */
  | { readonly kind: 'proposeRemove'; readonly peer: PublicId }
  /** Outsider: (re)start joining through these members (with an invitation, if the section asks). */
  | { readonly kind: 'join'; readonly contacts: readonly PublicId[]; readonly invitation?: Invitation }

/** One decided election: the deciding event's `lastAncestors` per voter name (spec §4). */
export interface Decision {
  readonly index: number
  readonly lastAncestors: ReadonlyMap<string, number>
}

/** What our own engine decided about us; the agreed blocks carry the same news. */
export interface EngineSelfReport {
  /** Accepted for the interface of spec §6; `Add(us)` takes effect through `blocks`. */
  readonly decidedAddUs?: boolean
  readonly decidedRemoveUs?: boolean
  /**
   * A member's engine refused our gossip as from a non-member (`InvalidPeerState`): perhaps we were
   * removed without deciding it ourselves (a partition). After f+1 such members we ask them for
   * JoinInfo and trust only a verified chain (spec §4, "the removed peer").
   */
  readonly refusedBy?: PublicId
  /**
   * A member answered that it holds no engine of our epoch and is in `epoch`, a later one: the
   * section may have moved on by whole epochs while we were away (their graphs are gone). We ask it
   * for JoinInfo and, on a verified chain with a later checkpoint that still lists us, start again
   * from that checkpoint (the `rebase` directive; docs/epochs.md §4).
   */
  readonly aheadEpoch?: { readonly peer: PublicId; readonly epoch: number }
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

/**
 * What a host persisted of a member that joined (`Membership.resume`): the genesis record and the
 * agreed blocks it folded, from genesis on.
 */
export interface ResumeInit extends MembershipInit {
  readonly record: GenesisRecord
  /**
   * Every agreed block from position 0 (genesis), in order, with the proofs it was delivered with;
   * with `chain`, those from the last checkpoint's epoch start on.
   */
  readonly blocks: readonly Block[]
  /**
   * The membership chain up to and including the last checkpoint (what the host stored at its
   * last epoch switch, docs/epochs.md §5): the state starts there, as a joiner's does, and `blocks`
   * are folded from that epoch's first position.
   */
  readonly chain?: readonly ChainEntry[]
  /** The election that decided each block (what `blocks(...)` was given), if the host kept them. */
  readonly elections?: readonly (number | undefined)[]
}

export class Membership {
  private readonly ctx: MachineContext
  private readonly liveness = new Liveness()
  private readonly votes: VoteBook
  private readonly responsiveness: Responsiveness
  private readonly deferrals = new Deferrals()
  private readonly admissions: Admissions
  private readonly departures: Departures
  private readonly joiner: Joiner
  /** When we folded each departed peer's removal (local rejoin cooldown). */
  private readonly departedAt = new Map<string, number>()
  private lastMembershipDecision: number | undefined
  private nextAnnounceAt: number | undefined
  private wasFragile = false
  private bannedUs = false
  /** Members whose engines refused our gossip as from a non-member (reset by any block we fold). */
  private readonly refusedBy = new Map<string, PublicId>()
  /** Members we asked for JoinInfo because they are epochs ahead of us (a rebase). */
  private readonly aheadAsked = new Set<string>()

  private constructor(
    init: MembershipInit,
    sectionId: Uint8Array,
    role: Role,
    state: SectionState | undefined,
    invitation?: Invitation,
  ) {
    this.ctx = {
      us: init.us,
      config: resolveConfig(init.config),
      ids: init.ids ?? idsFor(init.us),
      rng: init.rng,
      sectionId,
      addrs: init.addrs ?? [],
      now: init.now,
      role,
      state,
      policy: init.policy ?? openWithWork(),
    }
    this.votes = new VoteBook(this.ctx)
    this.responsiveness = new Responsiveness(this.ctx, this.liveness, this.votes)
    this.admissions = new Admissions(this.ctx, this.votes, this.responsiveness, this.deferrals, (peer) => {
      const at = this.departedAt.get(peer)
      return at === undefined ? undefined : at + this.ctx.config.rejoinCooldownMs
    })
    this.departures = new Departures(this.ctx, this.votes, this.responsiveness, this.deferrals)
    this.joiner = new Joiner(this.ctx, invitation)
  }

  /** A founder: one of `record.group`. Its engine starts from genesis; feed it the genesis block. */
  static found(init: MembershipInit & { readonly record: GenesisRecord }): Membership {
    if (!init.record.group.some((id) => id.name === init.us.publicId.name)) {
      throw new MembershipError('InvalidArgument', 'a founder must be in the genesis group')
    }
    const config = resolveConfig(init.config)
    const state = new SectionState(
      init.record,
      config.historyWindow,
      init.ids ?? idsFor(init.us),
      checkpointRuleOf(config),
    )
    return new Membership(init, state.sectionId, 'member', state)
  }

  /**
   * A member restarting from what its host persisted: folds `blocks` quietly (no events, no votes),
   * checks their membership chain as a joiner would (a `MembershipError` naming what failed:
   * `GenesisMismatch`, `ForgedSignature`, `NotAVoter`, `NoSupermajority`, `InconsistentEntry`), and
   * comes back as a `member` tracking every other member from `now` (a fresh grace: our clock and
   * our view of who progressed restarted, not theirs), or `draining` when the blocks removed us
   * (`start()` then serves pulls for `lingerMs` and stops, as after a removal). Feed it the blocks
   * agreed since from position `blocks.length` on. `InvalidArgument` if we never joined in them.
   */
  static resume(init: ResumeInit): Membership {
    const config = resolveConfig(init.config)
    const ids = init.ids ?? idsFor(init.us)
    if (init.elections !== undefined && init.elections.length !== init.blocks.length) {
      throw new MembershipError('InvalidArgument', 'one election per block, or none')
    }
    let state = new SectionState(init.record, config.historyWindow, ids, checkpointRuleOf(config))
    if (init.chain !== undefined) {
      verifyChain(state.sectionId, init.record, init.chain, { ids })
      const start = SectionState.atLastCheckpoint(
        init.record,
        init.chain,
        config.historyWindow,
        ids,
        checkpointRuleOf(config),
      )
      if (start === undefined) throw new MembershipError('InvalidArgument', 'the chain holds no checkpoint')
      state = start
    }
    const first = state.agreedBlocks
    // As `blocks(...)` folds them, so the chain (batch flags included) is an uninterrupted peer's.
    let lastDecision: number | undefined
    init.blocks.forEach((block, i) => {
      const election = init.elections?.[i]
      const isChange = changeOf(block.payload) !== undefined
      state.applyBlock(
        block,
        first + i,
        election === undefined ? undefined : isChange && election === lastDecision,
      )
      if (isChange && election !== undefined) lastDecision = election
    })
    // From the host's disk: we serve this chain to joiners, so it must verify as they will check it.
    verifyChain(state.sectionId, init.record, state.chain, { ids })
    const ourName = init.us.publicId.name
    const removed = state.wasRemoved(ourName)
    if (!state.isMember(ourName) && !removed) {
      throw new MembershipError('InvalidArgument', 'not a member in these blocks: join instead')
    }
    const machine = new Membership(init, state.sectionId, 'member', state)
    machine.lastMembershipDecision = lastDecision
    machine.resumed = true
    if (removed) {
      machine.bannedUs = state.isBanned(ourName)
      // Our own vote among the proofs of our Remove: we left.
      const ours = [...state.chain]
        .reverse()
        .find((e) => e.change.kind === 'remove' && e.change.peer.name === ourName)
      const left = ours?.proofs.some((p) => p.publicId.name === ourName) ?? false
      machine.departures.beginDrain(machine.bannedUs ? 'banned' : left ? 'left' : 'removed', emptyStep())
    } else {
      for (const member of state.members()) {
        if (member.id.name !== ourName)
          machine.liveness.track(member.id.name, init.now, true, member.addedAtBlock)
      }
    }
    return machine
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
    const machine = new Membership(init, init.sectionId, 'outsider', undefined, init.invitation)
    machine.pendingContacts = init.contacts
    return machine
  }

  private pendingContacts: readonly PublicId[] | undefined
  /** The epoch whose checkpoint we voted. */
  private checkpointVoted: number | undefined
  /** Built by `resume`: `start()` re-establishes what a restart lost (links, serve-only engine). */
  private resumed = false

  // --- read-only view ----------------------------------------------------------------------------

  get role(): Role {
    return this.ctx.role
  }

  get sectionId(): Uint8Array {
    return this.ctx.sectionId
  }

  /** The agreed state this peer folded (undefined for an outsider without JoinInfo). */
  get state(): SectionState | undefined {
    return this.ctx.state
  }

  /**
   * A joiner's longest verified membership chain (from JoinInfo) folded into a state: the members
   * it asks and their agreed addresses. Undefined before any JoinInfo verified, and once joined.
   */
  get verifiedState(): SectionState | undefined {
    return this.joiner.verified
  }

  get policy(): AdmissionPolicy {
    return this.ctx.policy
  }

  get config(): MembershipConfig {
    return this.ctx.config
  }

  get us(): SecretId {
    return this.ctx.us
  }

  get ids(): PeerIdDecoder {
    return this.ctx.ids
  }

  get now(): number {
    return this.ctx.now
  }

  peerState(peer: string): PeerState {
    const state = this.ctx.state
    if (state?.isBanned(peer)) return 'banned'
    if (state?.isMember(peer)) {
      if (this.responsiveness.leavers.has(peer) || this.votes.removalTargets().has(peer)) return 'leaving'
      return this.liveness.isActive(peer) || peer === this.ctx.us.publicId.name ? 'member' : 'joining'
    }
    if (this.votes.pendingAddPeers().has(peer)) return 'candidate-voted'
    if (this.admissions.isCandidate(peer)) return 'candidate'
    if (this.departedAt.has(peer) || state?.wasRemoved(peer)) return 'removed'
    return 'outsider'
  }

  /**
   * Peers on their way in as we see them, in id order: the candidates we admitted and the peers of
   * live Add votes, ours or seen (`peerState` `candidate` or `candidate-voted`).
   */
  candidates(): PublicId[] {
    const ids = new Map<string, PublicId>()
    for (const id of [...this.admissions.candidateIds(), ...this.votes.pendingAddIds()]) {
      if (!this.ctx.state?.isMember(id.name)) ids.set(id.name, id)
    }
    return sortIds([...ids.values()])
  }

  /**
   * The members we suspect of silence now, in id order (spec §4): no progress for
   * `unresponsiveDecisions` decisions and `unresponsiveMs`, or a new voter past its join grace.
   */
  suspects(): PublicId[] {
    const state = this.ctx.state
    if (state === undefined || this.ctx.role === 'outsider' || this.ctx.role === 'requesting') return []
    return state
      .memberIds()
      .filter((id) => id.name !== this.ctx.us.publicId.name && this.responsiveness.isSuspected(id.name))
  }

  /** Our undecided membership votes that still count (fresh Adds, Removes of this round). */
  pendingVotes(): number {
    return this.votes.liveOurs()
  }

  /** The budget rule's inputs as we see them now (P and J). */
  budgetView(excludeAdd?: string): BudgetView {
    return this.responsiveness.budgetView(excludeAdd)
  }

  // --- inputs ------------------------------------------------------------------------------------

  /** First step: a founder provides and announces; an outsider asks its contacts for JoinInfo. */
  start(): Step {
    const step = emptyStep()
    if (this.ctx.role === 'member') {
      step.discovery.push({ kind: 'provide' })
      this.nextAnnounceAt = this.ctx.now
      if (this.resumed) this.relink(step)
    } else if (this.ctx.role === 'draining' && this.resumed) {
      step.engine.push({ kind: 'serveOnly' })
    } else if (this.pendingContacts !== undefined) {
      this.joiner.begin(step, this.pendingContacts)
      this.pendingContacts = undefined
    }
    return this.finish(step)
  }

  /**
   * Agreed blocks from the engine's `poll()`, `list[0]` at `position` (0 = genesis). Blocks already
   * folded are skipped. `decision` (the election index, if the host knows it) marks blocks decided
   * together, so a joiner checks their proofs against the same voters.
   *
   * Positions are global across epochs (docs/epochs.md §2). A Checkpoint block that starts a new
   * epoch ends the list: what follows it came from the old engine after the epoch's end, is never
   * part of the agreed sequence, and is dropped with a warning. Deliver the new engine's blocks in
   * later calls, after applying this step's `newEpoch` (or, for a joiner, `construct`).
   */
  blocks(list: readonly Block[], position: number, decision?: number): Step {
    const step = emptyStep()
    const state = this.ctx.state
    if (state === undefined) {
      step.warnings.push({ kind: 'Dropped', detail: 'blocks before a genesis record is known' })
      return this.finish(step)
    }
    if (position > state.agreedBlocks) {
      throw new MembershipError('InvalidArgument', `blocks from ${position}, we hold ${state.agreedBlocks}`)
    }
    const wasVoter = isVoter(this.ctx)
    let membershipChanged = false
    for (const [i, block] of list.entries()) {
      const at = position + i
      if (at < state.agreedBlocks) continue
      const isChange = changeOf(block.payload) !== undefined
      const batched =
        decision === undefined ? undefined : isChange && decision === this.lastMembershipDecision
      const epoch = state.epoch
      const result = state.applyBlock(block, at, batched)
      if (!isChange) continue
      this.refusedBy.clear()
      if (decision !== undefined) this.lastMembershipDecision = decision
      membershipChanged = true
      this.votes.forgetDecided(block.payload)
      this.onFold(result, at, step)
      if (state.epoch === epoch) continue
      if (this.onNewEpoch(step)) this.votes.recast(step)
      if (i + 1 < list.length) {
        const detail = `OldEpochBlocks: ${list.length - i - 1} after the checkpoint at ${at}`
        step.warnings.push({ kind: 'Dropped', detail })
      }
      break
    }
    if (isVoter(this.ctx)) {
      if (membershipChanged && wasVoter) this.announce(step)
      this.checkFragile(step, membershipChanged)
      this.reconsider(step)
    } else if (this.ctx.role === 'candidate' || this.ctx.role === 'ready') {
      this.joiner.progress(step)
    }
    return this.finish(step)
  }

  /** A decided election's `lastAncestors`: voters whose entry grew progressed. */
  decision(decision: Decision): Step {
    const step = emptyStep()
    for (const name of this.liveness.decision(decision.lastAncestors, this.ctx.now))
      this.activated(name, step)
    this.reconsider(step)
    return this.finish(step)
  }

  /** An event created by `peer` reached our engine: it is responsive (resets both suspicion counters). */
  activity(peer: PublicId): Step {
    const step = emptyStep()
    if (this.liveness.heard(peer.name, this.ctx.now)) this.activated(peer.name, step)
    return this.finish(step)
  }

  /** Another voter's unconsensused Add or Remove vote seen in the graph (seconding; J and P). */
  observedVote(voter: PublicId, observation: Observation): Step {
    const step = emptyStep()
    const state = this.ctx.state
    if (state === undefined || !state.isMember(voter.name)) return this.finish(step)
    if (observation.kind !== 'add' && observation.kind !== 'remove') return this.finish(step)
    const { key, full } = this.votes.observe(voter.name, observation)
    if (full) step.warnings.push({ kind: 'Dropped', detail: 'observed votes at their bound' })
    if (key !== undefined && isVoter(this.ctx)) this.admissions.considerSeconding(key, step)
    return this.finish(step)
  }

  /**
   * Any membership message from `from`, routed by its kind byte (a host reading one join stream).
   * Bytes too short to name a kind are a fault, never a throw.
   */
  receive(from: PublicId, bytes: Uint8Array, remoteAddr?: string): Step {
    switch (bytes.length >= 2 ? KIND_NAMES.get(bytes[1]) : undefined) {
      case 'joinInfoRequest':
        return this.joinInfoRequest(from, bytes)
      case 'joinInfo':
        return this.joinInfo(from, bytes)
      case 'joinRequest':
        return this.joinRequest(from, bytes, remoteAddr)
      case 'candidateReply':
        return this.candidateReply(from, bytes)
      case 'ready':
        return this.ready(from, bytes)
      case 'leaveRequest':
        return this.leaveRequest(from, bytes)
      default: {
        const step = emptyStep()
        step.faults.push({
          offender: from,
          kind: 'MalformedMessage',
          detail: 'no membership message kind to route',
        })
        return this.finish(step)
      }
    }
  }

  /** A JoinInfoRequest from `from` (rate-limited; answered by members only). */
  joinInfoRequest(from: PublicId, bytes: Uint8Array): Step {
    const step = emptyStep()
    this.admissions.joinInfoRequest(from, bytes, step)
    return this.finish(step)
  }

  /** A JoinRequest from `from` (the transport-authenticated sender); `remoteAddr` feeds the per-prefix bucket. */
  joinRequest(from: PublicId, bytes: Uint8Array, remoteAddr?: string): Step {
    const step = emptyStep()
    this.admissions.joinRequest(from, bytes, remoteAddr, step)
    return this.finish(step)
  }

  /** A candidate's Ready: vote its Add if our history agrees and the rules allow. */
  ready(from: PublicId, bytes: Uint8Array): Step {
    const step = emptyStep()
    if (isVoter(this.ctx)) this.admissions.ready(from, bytes, step)
    return this.finish(step)
  }

  /** A member's signed LeaveRequest: vote its Remove (graceful budget). */
  leaveRequest(from: PublicId, bytes: Uint8Array): Step {
    const step = emptyStep()
    if (isVoter(this.ctx) && this.departures.leaveRequest(from, bytes, step)) this.reconsider(step)
    return this.finish(step)
  }

  /**
   * Joiner: a member's JoinInfo (the chain is verified; the longest valid one is kept). Member:
   * the answer to our confirmation of a suspected removal.
   */
  joinInfo(from: PublicId, bytes: Uint8Array): Step {
    const step = emptyStep()
    if (!isVoter(this.ctx)) {
      this.joiner.joinInfo(from, bytes, step)
      this.joinedByChain(from, step)
    } else if (this.aheadAsked.has(from.name)) this.rebase(from, bytes, step)
    else if (this.refusedBy.size > 0) this.confirmRemoval(from, bytes, step)
    return this.finish(step)
  }

  /** Joiner: contacts found by discovery (answers `findMembers`); asked for JoinInfo at once. */
  addContacts(peers: readonly PublicId[]): Step {
    const step = emptyStep()
    if (!isVoter(this.ctx)) this.joiner.addContacts(peers, step)
    return this.finish(step)
  }

  /** Joiner: a member's answer to our JoinRequest. */
  candidateReply(from: PublicId, bytes: Uint8Array): Step {
    const step = emptyStep()
    if (!isVoter(this.ctx)) this.joiner.candidateReply(from, bytes, step)
    return this.finish(step)
  }

  /** What our own engine decided about us (the same news also arrives as blocks; idempotent). */
  engineSelf(report: EngineSelfReport): Step {
    const step = emptyStep()
    if (report.decidedRemoveUs && isVoter(this.ctx)) {
      this.departures.beginDrain(this.ctx.role === 'leaving' ? 'left' : 'removed', step)
    }
    const ahead = report.aheadEpoch
    if (ahead !== undefined && (this.ctx.role === 'candidate' || this.ctx.role === 'ready')) {
      this.joiner.aheadEpoch(ahead.peer, step)
    }
    if (
      ahead !== undefined &&
      isVoter(this.ctx) &&
      ahead.epoch > (this.ctx.state?.epoch ?? 0) &&
      this.ctx.state?.isMember(ahead.peer.name) === true &&
      !this.aheadAsked.has(ahead.peer.name)
    ) {
      this.aheadAsked.add(ahead.peer.name)
      send(step, ahead.peer, { kind: 'joinInfoRequest', sectionId: this.ctx.sectionId })
    }
    const refuser = report.refusedBy
    const state = this.ctx.state
    if (
      refuser !== undefined &&
      isVoter(this.ctx) &&
      state?.isMember(refuser.name) &&
      !this.refusedBy.has(refuser.name)
    ) {
      this.refusedBy.set(refuser.name, refuser)
      if (this.refusedBy.size === maxFaulty(state.size) + 1) {
        for (const peer of this.refusedBy.values())
          send(step, peer, { kind: 'joinInfoRequest', sectionId: this.ctx.sectionId })
      }
    }
    return this.finish(step)
  }

  /**
   * Epochs ahead (`aheadEpoch`): a verified chain that extends ours with a later checkpoint. Still a
   * member there: our state starts again at its last checkpoint, and the host rebuilds our engine in
   * that epoch (`rebase`), delivering from its start (the blocks in between are not ours to see).
   * No longer a member: we were removed meanwhile, and drain.
   */
  private rebase(from: PublicId, bytes: Uint8Array, step: Step): void {
    this.aheadAsked.delete(from.name)
    const extension = this.chainExtension(from, bytes, step)
    if (extension === undefined) return
    const { info, verified } = extension
    const state = requireState(this.ctx)
    const ourName = this.ctx.us.publicId.name
    if (!verified.isMember(ourName)) {
      this.confirmRemoval(from, bytes, step)
      return
    }
    const start = stateAtLastCheckpoint(this.ctx, info.record, verified.chain)
    if (start === undefined || start.epoch <= state.epoch || !start.isMember(ourName)) return
    this.ctx.state = start
    this.aheadAsked.clear()
    this.refusedBy.clear()
    this.admissions.clear()
    this.liveness.newEpoch()
    for (const member of start.members()) {
      if (member.id.name !== ourName)
        this.liveness.track(member.id.name, this.ctx.now, true, member.addedAtBlock)
    }
    step.engine.push({ kind: 'rebase', ...epochStartOf(start) })
  }

  /**
   * A member's JoinInfo whose chain verifies from the section id and extends ours (more membership
   * blocks, or as many and a later checkpoint; and our head at our `seq`): what both a removal and a
   * rebase are confirmed by. A chain no newer than ours proves nothing; a bad one is the sender's fault.
   */
  private chainExtension(
    from: PublicId,
    bytes: Uint8Array,
    step: Step,
  ): { info: JoinInfo; verified: SectionState } | undefined {
    const info = decodeFrom(this.ctx, bytes, 'joinInfo', from, step)
    const state = requireState(this.ctx)
    if (info === undefined || !bytesEqual(info.sectionId, this.ctx.sectionId)) return undefined
    let verified: SectionState
    try {
      verified = verifyChain(this.ctx.sectionId, info.record, info.chain, {
        ids: this.ctx.ids,
        minSeq: state.seq,
      })
    } catch (error) {
      if (!(error instanceof MembershipError)) throw error
      if (error.code !== 'StaleChain') fault(step, from, 'ForgedChain', `${error.code}: ${error.detail}`)
      return undefined
    }
    // Checkpoints are not counted in `seq` (the chain keeps the last one only): same seq, later epoch.
    if (verified.seq === state.seq && verified.epoch <= state.epoch) return undefined
    if (!bytesEqual(verified.headAt(state.seq) ?? new Uint8Array(0), state.head)) return undefined
    return { info, verified }
  }

  /** A verified chain longer than ours that no longer lists us: we were removed; drain and leave. */
  private confirmRemoval(from: PublicId, bytes: Uint8Array, step: Step): void {
    const verified = this.chainExtension(from, bytes, step)?.verified
    const ourName = this.ctx.us.publicId.name
    if (verified === undefined || verified.isMember(ourName)) return
    this.refusedBy.clear()
    const reason: LeaveReason = verified.isBanned(ourName)
      ? 'banned'
      : this.ctx.role === 'leaving'
        ? 'left'
        : 'removed'
    this.departures.beginDrain(reason, step)
    this.admissions.clear()
  }

  /** A transport outcome: failures steer partner choice and the catch-up server, never votes. */
  transportHint(peer: PublicId, ok: boolean, _rttMs?: number): Step {
    const step = emptyStep()
    if (!ok) this.joiner.transportFailed(peer, step)
    if (isVoter(this.ctx) && this.ctx.state?.isMember(peer.name) && peer.name !== this.ctx.us.publicId.name) {
      step.peers.push({ kind: 'partnerWeight', peer, weight: ok ? 1 : 0.5 })
    }
    return this.finish(step)
  }

  /** The clock moved: timers (drain, suspicion by clock, join grace, timeouts, announcements). */
  tick(now: number): Step {
    const step = emptyStep()
    if (now > this.ctx.now) this.ctx.now = now
    const drainEnds = this.departures.drainEndsAt
    if (this.ctx.role === 'draining' && drainEnds !== undefined && this.ctx.now >= drainEnds) {
      this.departures.endDrain(step)
      this.joiner.engineStopped()
      this.departedAt.set(this.ctx.us.publicId.name, this.ctx.now)
    } else if (isVoter(this.ctx)) {
      this.reconsider(step)
      if (this.nextAnnounceAt !== undefined && this.ctx.now >= this.nextAnnounceAt) this.announce(step)
    } else if (this.ctx.role !== 'draining' && this.ctx.role !== 'removed') {
      this.joiner.tick(step)
    }
    return this.finish(step)
  }

  command(command: MembershipCommand): Step {
    const step = emptyStep()
    switch (command.kind) {
      case 'setPolicy':
        this.ctx.policy = command.policy
        break
      case 'leave':
        this.departures.leave(step)
        break
      case 'proposeAdd':
        if (isVoter(this.ctx)) this.admissions.proposeAdd(command.peer, step)
        break
      case 'proposeRemove':
        if (isVoter(this.ctx)) this.departures.proposeRemove(command.peer.name, step)
        break
      case 'join': {
        if (isVoter(this.ctx) || this.ctx.role === 'draining') {
          throw new MembershipError('InvalidArgument', `cannot join while ${this.ctx.role}`)
        }
        const departed = this.departedAt.get(this.ctx.us.publicId.name)
        if (departed !== undefined && this.ctx.now < departed + this.ctx.config.rejoinCooldownMs) {
          throw new MembershipError('InvalidArgument', 'rejoin cooldown has not elapsed')
        }
        if (this.bannedUs) throw new MembershipError('InvalidArgument', 'banned from this section')
        // The engine never re-adds a removed id: rejoining takes a new key (a new machine).
        if (this.ctx.state?.wasRemoved(this.ctx.us.publicId.name)) {
          throw new MembershipError('InvalidArgument', 'a removed id never rejoins: join under a new key')
        }
        this.joiner.begin(step, command.contacts, command.invitation)
        break
      }
    }
    return this.finish(step)
  }

  // --- folding -----------------------------------------------------------------------------------

  private onFold(result: FoldResult, position: number, step: Step): void {
    const ourName = this.ctx.us.publicId.name
    const state = requireState(this.ctx)
    for (const warning of result.warnings) step.warnings.push({ kind: 'fold', warning })
    const voter = isVoter(this.ctx)
    for (const member of result.added) {
      const name = member.id.name
      this.admissions.forget(name)
      this.departedAt.delete(name)
      this.votes.dropAbout(name)
      this.deferrals.clearPeer(name)
      if (name === ourName) {
        if (!voter) this.becomeMember(position, step)
        continue
      }
      // A joiner replaying as an observer tracks nobody: it starts tracking at its own Add.
      if (!voter) continue
      this.liveness.track(name, this.ctx.now, member.founder, position)
      if (!member.founder) step.events.push({ type: 'member:joined', peer: member.id, position })
      step.peers.push({ kind: 'keepAlive', peer: member.id, on: true })
      step.peers.push({ kind: 'acceptSync', peer: member.id, accept: true })
      if (!member.founder) {
        step.peers.push({
          kind: 'partnerWeight',
          peer: member.id,
          weight: this.ctx.config.joiningPartnerWeight,
        })
      }
    }
    for (const id of result.banned) {
      if (id.name === ourName) {
        this.bannedUs = true
        continue
      }
      if (!voter) continue
      step.events.push({ type: 'member:banned', peer: id, position })
      step.peers.push({ kind: 'ban', peer: id, untilMs: NEVER, agreed: true })
    }
    for (const member of result.removed) {
      const name = member.id.name
      const leaver = this.responsiveness.leavers.has(name)
      const reason: LeaveReason = state.isBanned(name) ? 'banned' : leaver ? 'left' : 'removed'
      this.liveness.untrack(name)
      this.responsiveness.leavers.delete(name)
      this.departures.forget(name)
      this.departedAt.set(name, this.ctx.now)
      this.votes.dropAbout(name)
      this.deferrals.clearPeer(name)
      if (name === ourName) {
        const ours: LeaveReason = this.bannedUs ? 'banned' : this.ctx.role === 'leaving' ? 'left' : reason
        if (voter) this.departures.beginDrain(ours, step)
        if (voter) this.admissions.clear()
        continue
      }
      if (!voter) continue
      step.events.push({ type: 'member:left', peer: member.id, position, reason })
      step.peers.push({ kind: 'keepAlive', peer: member.id, on: false })
      step.peers.push({ kind: 'acceptSync', peer: member.id, accept: false })
    }
  }

  /**
   * The Checkpoint block just folded started a new epoch (docs/epochs.md §2, §4). A voter tells
   * its host to switch engines (true: its undecided votes are then re-cast in the step); a
   * joiner still replaying as an observer rebuilds its observer engine in the new epoch and pulls
   * from its server again. A removed peer does neither: its old engine drains.
   */
  private onNewEpoch(step: Step): boolean {
    const state = requireState(this.ctx)
    if (isVoter(this.ctx)) {
      // Decisions of the old engine after this switch must not reach `decision()` either.
      this.liveness.newEpoch()
      // The checkpoint folded set the state's epoch start to the position after it.
      step.engine.push({ kind: 'newEpoch', ...epochStartOf(state) })
      return true
    }
    if (this.ctx.role !== 'draining' && this.ctx.role !== 'removed') this.joiner.crossedCheckpoint(step)
    return false
  }

  /**
   * Joiner: the chain a member just proved lists us (our Add was agreed while our replay lagged,
   * perhaps in an epoch whose graph is gone everywhere by now). Added before its last checkpoint,
   * we are one of that epoch's genesis voters: our state starts at the checkpoint and the host
   * rebuilds our engine as a voter there (`rebase`), delivering from the epoch's start. We made no
   * event as a member in any epoch, so there is nothing to fork. Added after it, the current
   * epoch's graph has our Add: we replay it (`Joiner.replayOurAdd`).
   */
  private joinedByChain(from: PublicId, step: Step): void {
    const verified = this.joiner.verified
    const ourName = this.ctx.us.publicId.name
    const role = this.ctx.role
    const joining = role === 'outsider' || role === 'requesting' || role === 'candidate' || role === 'ready'
    if (verified === undefined || !joining || !verified.isMember(ourName)) return
    const start = stateAtLastCheckpoint(this.ctx, verified.record, verified.chain)
    const member = start?.member(ourName)
    if (start === undefined || member === undefined) {
      this.joiner.replayOurAdd(from, step)
      return
    }
    this.ctx.state = start
    step.engine.push({ kind: 'rebase', ...epochStartOf(start) })
    this.becomeMember(member.addedAtBlock, step)
  }

  /** Joiner: our own engine decided Add(us). Our state must equal the verified chain's there. */
  private becomeMember(position: number, step: Step): void {
    const state = requireState(this.ctx)
    if (!this.joiner.agreesWithVerifiedChain(state)) {
      const detail = 'replayed state differs from the verified chain at our Add'
      step.faults.push({ offender: this.ctx.us.publicId, kind: 'StateMismatch', detail })
      step.engine.push({ kind: 'stop' })
      this.joiner.engineStopped()
      this.ctx.role = 'removed'
      return
    }
    this.ctx.role = 'member'
    this.joiner.finished()
    step.events.push({ type: 'self:joined', position, seq: state.seq })
    step.discovery.push({ kind: 'provide' })
    for (const member of state.members()) {
      if (member.id.name === this.ctx.us.publicId.name) continue
      this.liveness.track(member.id.name, this.ctx.now, true, member.addedAtBlock)
      step.peers.push({ kind: 'keepAlive', peer: member.id, on: true })
      step.peers.push({ kind: 'acceptSync', peer: member.id, accept: true })
    }
    this.nextAnnounceAt = this.ctx.now
  }

  /** A resumed member: links to the members again (a founder's come with the genesis block). */
  private relink(step: Step): void {
    const state = requireState(this.ctx)
    for (const member of state.members()) {
      if (member.id.name === this.ctx.us.publicId.name) continue
      step.peers.push({ kind: 'keepAlive', peer: member.id, on: true })
      step.peers.push({ kind: 'acceptSync', peer: member.id, accept: true })
    }
    this.checkFragile(step, false)
  }

  private activated(name: string, step: Step): void {
    const member = this.ctx.state?.member(name)
    if (member !== undefined && isVoter(this.ctx))
      step.peers.push({ kind: 'partnerWeight', peer: member.id, weight: 1 })
  }

  private checkFragile(step: Step, changed: boolean): void {
    const size = requireState(this.ctx).size
    const fragile = size < this.ctx.config.minSize
    if (fragile && (changed || !this.wasFragile)) step.events.push({ type: 'section:fragile', members: size })
    this.wasFragile = fragile
  }

  /** Everything that may make a voter vote, in a fixed order: joiners first, then removals. */
  private reconsider(step: Step): void {
    if (!isVoter(this.ctx)) return
    this.votes.pruneLapsed()
    this.admissions.reconsider(step)
    this.departures.considerRemovals(step)
  }

  private announce(step: Step): void {
    const state = requireState(this.ctx)
    const announce = signAnnounce(this.ctx.us, {
      sectionId: this.ctx.sectionId,
      addrs: this.ctx.addrs,
      seq: state.seq,
      head: state.head,
    })
    step.discovery.push({ kind: 'announce', bytes: encodeMessage(announce) })
    const jitter = 1 + this.ctx.config.announceJitter * (2 * this.ctx.rng() - 1)
    this.nextAnnounceAt = this.ctx.now + Math.max(1, Math.round(this.ctx.config.announceIntervalMs * jitter))
  }

  /** Sets `nextWakeupAt` to the earliest timer that matters in our role. */
  /**
   * A voter votes its epoch's due Checkpoint once (docs/epochs.md §1): its bytes follow from the
   * agreed sequence alone, so every honest member's vote is the same Supermajority key. A member
   * that became a voter after the checkpoint fell due votes it then; one restarted after voting
   * votes it again (the engine refuses the duplicate, harmlessly).
   */
  private considerCheckpoint(step: Step): void {
    const due = this.ctx.state?.dueCheckpoint
    if (due === undefined || this.checkpointVoted === due.epoch || !isVoter(this.ctx)) return
    this.checkpointVoted = due.epoch
    step.votes.push(checkpoint(encodeCheckpoint(due)))
  }

  private finish(step: Step): Step {
    this.considerCheckpoint(step)
    const times: number[] = []
    const drainEnds = this.departures.drainEndsAt
    if (this.ctx.role === 'draining' && drainEnds !== undefined) times.push(drainEnds)
    if (isVoter(this.ctx)) {
      const deadline = this.liveness.nextDeadline(this.ctx.now, this.ctx.config)
      if (deadline !== undefined) times.push(deadline)
      if (this.nextAnnounceAt !== undefined) times.push(this.nextAnnounceAt)
      times.push(...this.admissions.deadlines())
    } else if (this.ctx.role !== 'draining' && this.ctx.role !== 'removed') {
      times.push(...this.joiner.deadlines())
    }
    const future = times.filter((t) => t > this.ctx.now)
    step.nextWakeupAt = future.length === 0 ? undefined : Math.min(...future)
    return step
  }
}

function idsFor(us: SecretId): PeerIdDecoder {
  return us.publicId.encoded.length === 32 ? ed25519PeerIds : mockPeerIds
}
