/**
 * The section's host of the membership machine (`@parsec-section/membership`, MEMBERSHIP.md §6),
 * as the simulation's `membership-host.ts` is for simulated peers. It feeds the machine what the
 * journal took and delivered (agreed blocks with their election, decisions' `lastAncestors`,
 * `activity` for peers whose events reached our engine, others' Add/Remove votes), membership
 * messages from the `membership` protocol and the clock (`tick`, at the machine's wake-up and at
 * least every `tickMs`), and carries out its output: votes (`voteFor`, persisted then gossiped),
 * messages, the drain (`serveOnly`: final syncs, drain.ts; then `stop`: no more), the roster following the agreed
 * state, and typed events on the service.
 *
 * A founder starts the machine from the genesis record (`found`, or `resume` from its blocks), a
 * peer that joined earlier from the record it stored (`resume`), and a joiner as an outsider
 * (`join`, contacts given later by `addContacts`). A joiner's directives go to `Joining`
 * (joining.ts): `construct` (its observer engine), `catchUp` (paged pulls from one member),
 * `findMembers` (the bootstrap addresses again), and `self:joined` (it runs as a member). Members
 * carry out `acceptSync` (an admitted candidate's catch-up pulls are served: the roster's guests).
 * The discovery directives go to discovery (`provide`, `cancelProvide`, `announce`; `findMembers`
 * looks the section's providers up and hands them back to the machine as contacts, and a joiner
 * dials its bootstrap addresses again). Bans go to the node's `PeerBans` (agreed ones forever, local
 * ones until their expiry), which the connection gater, gossipsub and the inbound handlers consult;
 * a restarted member's agreed bans come back from the state it folded. `keepAlive` (the members)
 * and `acceptSync` (members and admitted candidates) become peer-store tags (peer-tags.ts: libp2p
 * prunes their connections last and redials kept members); `partnerWeight` goes to the roster,
 * where the outbound partner choice reads it (partner-choice.ts). Transport outcomes go back to
 * the machine (`transportHint`): every failure of a membership message or of a joiner's catch-up
 * server, and a change between reached and not reached of an outbound exchange or a membership
 * message (so a member we failed to reach once is weighed 1 again once reached).
 */
import type { Logger, PeerId } from '@libp2p/interface'
import {
  type DiscoveryDirective,
  decodeChain,
  ed25519PeerIds,
  type GenesisRecord,
  isMembershipError,
  Membership,
  type MembershipConfig,
  type MembershipEvent,
  type Step as MembershipStep,
  mergeSteps,
  type SectionState,
  sectionIdOf,
} from '@parsec-section/membership'
import {
  encodeObservation,
  type Observation,
  type Parsec,
  type PublicId,
  type Step,
} from '@parsec-section/parsec-core'
import { toString as bytesToString } from 'uint8arrays'
import { type LeaveRefusal, LeaveRefusedError, SectionError } from '../errors.js'
import { peerIdFromPublicId, publicIdFromPeerId, secretIdFromPrivateKey } from '../identity.js'
import { FOREVER, type PeerBans } from '../limits/peer-bans.js'
import type { StoredEpoch, StoredRemoval } from '../storage.js'
import type { DeliveredBlock, MembershipStatus, SelfState } from './api.js'
import type { EpochStart } from './epoch-switch.js'
import { joinInfoAddresses, withKnownAddresses } from './join-info-addresses.js'
import type { Journal, JournalObserver } from './journal.js'
import type { Lifecycle } from './lifecycle.js'
import type { MembershipProtocol } from './membership-protocol.js'
import type { Pacing } from './pacing.js'
import type { PeerTags } from './peer-tags.js'
import type { Reporter } from './reporter.js'
import type { Roster } from './roster.js'

/** Where the machine's discovery directives go (the service's `SectionDiscovery`). */
export interface DiscoveryDirectives {
  provide(): void
  cancelProvide(): void
  /** Publish the machine's signed Announce bytes on the section's topic. */
  announce(bytes: Uint8Array): Promise<void>
  /** The section's members found by its id alone (engine ids, not us), for `addContacts`. */
  findMembers(): Promise<readonly PublicId[]>
}

export interface MembershipHostParts {
  readonly lifecycle: Lifecycle
  readonly roster: Roster
  readonly journal: Journal
  readonly reporter: Reporter
  readonly pacing: Pacing
  readonly wire: MembershipProtocol
  readonly discovery: DiscoveryDirectives
  readonly bans: PeerBans
  /** The `keepAlive` and `acceptSync` directives as peer-store tags. */
  readonly tags: PeerTags
  /** Carries out a joiner's directives (joining.ts). */
  readonly joining: JoinDirectives
  /** Keeps our removal in the store (before `self:removed` is emitted). */
  readonly keepRemoval: (removal: StoredRemoval) => Promise<void>
  /** The final syncs of our drain (drain.ts), from `serveOnly` to `stop`. */
  readonly drain: { start(): void; stop(): void }
  /** The epoch switch (epoch-switch.ts) and the epoch the store says we are in. */
  readonly epochSwitch: EpochDirectives
}

/** What the machine's epochs ask of the service (docs/epochs.md). */
export interface EpochDirectives {
  /** The epoch the store holds (a restart resumes the machine from its chain); undefined: epoch 0. */
  stored(): StoredEpoch | undefined
  /** `newEpoch`: switch engines; `votes` (the machine's re-cast) go to the new engine. */
  begin(next: EpochStart, votes: readonly Observation[]): void
  /** `rebase`: we lagged by whole epochs; start again in `next`. */
  rebase(next: EpochStart): void
  /** A switch is under way: votes wait for the new engine (`queue`). */
  readonly active: boolean
  queue(vote: Observation): void
  /** Added to the current engine's election indices (unique across epochs). */
  readonly electionBase: number
}

/** What a joiner's machine asks of the service (MEMBERSHIP.md §3). */
export interface JoinDirectives {
  /** Build our observer engine from the verified genesis group and current members. */
  construct(
    genesis: readonly PublicId[],
    section: readonly PublicId[],
    record: GenesisRecord,
    epoch: EpochStart,
  ): void
  /** Pull the graph (observer ingest) from this member, one page at a time, until we joined. */
  catchUp(from: PublicId): void
  /** Our contacts may all be gone: look for members again (then `addContacts`). */
  findMembers(): void
  /** Our Add is agreed and replayed: we run as a member. */
  joined(): void
}

/** How the machine starts: a founder, a peer that joined earlier (its stored record), a joiner. */
export type MembershipStart =
  | { readonly kind: 'founder' | 'joined'; readonly record: GenesisRecord }
  | { readonly kind: 'join'; readonly sectionId: Uint8Array }

export interface MembershipHostOptions {
  readonly config?: Partial<MembershipConfig>
  /** The longest wait between two `tick`s. */
  readonly tickMs: number
  /** Our own advertised addresses (for tickets and announcements). */
  readonly addrs: () => string[]
  /**
   * A membership message that failed is sent again after each of these waits (default
   * `RESEND_DELAYS_MS`) before the machine hears of the failure.
   */
  readonly resendDelaysMs?: readonly number[]
}

/**
 * The waits before a failed membership message is sent again. A dial can fail or time out while
 * the peer is reachable (a first dial that looks the address up, a connection being replaced), and
 * a lost JoinRequest, Ready or LeaveRequest would otherwise cost a joiner or a leaver the machine's
 * timeouts (`candidateTimeoutMs`). Every message is idempotent at the receiver.
 */
export const RESEND_DELAYS_MS: readonly number[] = [1_000, 4_000]

export class MembershipHost implements JournalObserver {
  private machineOrUndefined: Membership | undefined
  private started = false
  private timer: ReturnType<typeof setTimeout> | undefined
  private wakeAt: number | undefined
  /** Election index of each agreed position, from the steps' decisions (until delivered). */
  private readonly electionAt = new Map<number, number>()
  private readonly decisions: { index: number; lastAncestors: ReadonlyMap<string, number> }[] = []
  /** Creators (engine names) of others' events that reached our engine since the last flush. */
  private readonly heard = new Set<string>()
  /** Others' membership votes already given to the machine (voter | observation hex). */
  private readonly seenVotes = new Set<string>()
  private lastGraphSize = 0
  /** Our drain ended (`stop`): the engine makes and sends nothing more. */
  private stoppedEngine = false
  /** A `findMembers` lookup is under way (the machine may ask again meanwhile). */
  private finding = false
  /** A joiner's verified chain whose members' addresses went to the peer store, and that write. */
  private hinted: SectionState | undefined
  private hinting: Promise<void> = Promise.resolve()
  /** A joiner's section, until its machine starts (`startJoining`). */
  private joinSection: Uint8Array | undefined
  /** Whether the last exchange or membership message to a member (by engine name) reached it. */
  private readonly reachedLast = new Map<string, boolean>()
  /** A joiner with no engine of its own stored: a chain naming us proves our store is missing. */
  private freshJoiner = false
  /** Our removal, known at start (our blocks or the store), or found by a fresh joiner. */
  private removal: StoredRemoval | undefined
  /** The store kept our removal: the machine is not run at all. */
  private refusedAtStart = false

  constructor(
    private readonly components: { peerId: PeerId; privateKey: Parameters<typeof secretIdFromPrivateKey>[0] },
    private readonly parts: MembershipHostParts,
    private readonly options: MembershipHostOptions,
    private readonly log: Logger,
  ) {
    parts.journal.observe(this)
  }

  isStarted(): boolean {
    return this.started
  }

  /** The machine, once the service started (undefined before `open`). */
  get machine(): Membership | undefined {
    return this.machineOrUndefined
  }

  /** Whether our drain ended: no more gossip. */
  get engineStopped(): boolean {
    return this.stoppedEngine
  }

  /**
   * After the journal restored the engine: a founder starts from the genesis record, a restarted
   * member (founder or joined) from its agreed blocks (`Membership.resume`: quiet fold, chain
   * verified). A joiner has no engine yet: its machine asks its contacts (`addContacts`) to join.
   * A peer whose store kept its removal (`stored`) is refused: `removed` (the machine is not run;
   * `removedAtStart` says why). One whose blocks agree its removal but whose store did not keep it
   * (its drain was cut short) drains again, then fails with `Removed`; `self()` says so meanwhile.
   */
  open(how: MembershipStart, stored?: StoredRemoval): MembershipStart['kind'] | 'removed' {
    // In a later epoch, the blocks from its start, and the chain to its checkpoint from the store.
    const { blocks } = this.parts.journal.restoredBlocks()
    const epoch = this.parts.epochSwitch.stored()
    const chain = epoch === undefined ? {} : { chain: decodeChain(epoch.chain, ed25519PeerIds) }
    this.freshJoiner = how.kind === 'join'
    let sectionId: Uint8Array | undefined
    let machine: Membership | undefined
    if (how.kind === 'join') sectionId = how.sectionId
    else if (how.kind === 'founder' && blocks.length === 0 && epoch === undefined)
      machine = Membership.found({ ...this.base(), record: how.record })
    else {
      try {
        machine = Membership.resume({ ...this.base(), record: how.record, blocks, ...chain })
      } catch (error) {
        // A peer stopped as a candidate: its blocks hold no Add of its own yet. It joins again
        // (its engine, restored, goes on replaying).
        if (how.kind !== 'joined' || !isMembershipError(error) || error.code !== 'InvalidArgument')
          throw error
        sectionId = sectionIdOf(how.record)
      }
    }
    this.started = true
    if (stored !== undefined) {
      // Not run: no drain, no timers, nothing sent. Its state still answers `status()`.
      this.machineOrUndefined = machine
      this.removal = stored
      this.refusedAtStart = true
      return 'removed'
    }
    // Agreed in our blocks but not kept: our drain may have been cut short (a crash), and at 3
    // members the others need our last events. The resumed machine drains again, then we fail.
    this.removal = machine === undefined ? undefined : removalIn(machine)
    if (machine === undefined) {
      this.joinSection = sectionId
      return 'join'
    }
    this.run(machine)
    return how.kind
  }

  /**
   * A joiner's machine, once libp2p listens (its addresses go into its ticket, and the admission
   * record members agree on). Its contacts come later (`addContacts`).
   */
  startJoining(): void {
    const sectionId = this.joinSection
    if (sectionId === undefined || !this.started || this.machineOrUndefined !== undefined) return
    this.run(Membership.join({ ...this.base(), sectionId, contacts: [] }))
  }

  private base() {
    return {
      us: secretIdFromPrivateKey(this.components.privateKey),
      now: Date.now(),
      rng: Math.random,
      addrs: this.options.addrs(),
      ...(this.options.config === undefined ? {} : { config: this.options.config }),
    }
  }

  private run(machine: Membership): void {
    this.machineOrUndefined = machine
    // A restarted member's agreed bans: in the state it folded, not in a directive.
    for (const id of machine.state?.bannedIds() ?? []) this.ban(id, FOREVER)
    this.apply(machine.start())
    this.followState()
    this.arm()
  }

  stop(): void {
    this.started = false
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
  }

  /** Our removal, when the store kept it (`open` returned `removed`): the service fails at once. */
  get removedAtStart(): StoredRemoval | undefined {
    return this.refusedAtStart ? this.removal : undefined
  }

  /** Our state as MEMBERSHIP.md §2 names it. */
  self(): SelfState {
    if (this.removal !== undefined) return this.removal.reason === 'banned' ? 'banned' : 'removed'
    const machine = this.machineOrUndefined
    if (machine === undefined) return 'outsider'
    const ours = machine.us.publicId.name
    if (machine.state?.isBanned(ours)) return 'banned'
    switch (machine.role) {
      case 'outsider':
      case 'requesting':
        return 'outsider'
      case 'candidate':
      case 'ready':
        return 'candidate'
      case 'member':
        return 'member'
      case 'leaving':
      case 'draining':
        return 'leaving'
      case 'removed':
        return 'removed'
    }
  }

  /**
   * Leaves gracefully (the machine votes our Remove and sends LeaveRequests). Refused (a
   * `LeaveRefusedError` naming the reason) when the machine refuses it: the last member, not a
   * member (yet: before the genesis block is agreed the state has no members), already leaving.
   */
  leave(): void {
    const machine = this.requireMachine()
    // Read before the command: the machine's warning only says it refused, in words.
    const reason = this.leaveRefusal(machine)
    const step = machine.command({ kind: 'leave' })
    this.apply(step)
    const refused = step.warnings.find((w) => w.kind === 'LeaveRefused')
    if (refused !== undefined) {
      const detail = reason === 'GenesisNotAgreed' ? 'the genesis block is not agreed yet' : refused.detail
      throw new LeaveRefusedError(reason ?? 'NotAMember', `cannot leave: ${detail}`)
    }
  }

  /** Why the machine would refuse to leave now (undefined: it would not). */
  private leaveRefusal(machine: Membership): LeaveRefusal | undefined {
    const state = machine.state
    if (state !== undefined && state.agreedBlocks === 0) return 'GenesisNotAgreed'
    switch (machine.role) {
      case 'leaving':
      case 'draining':
        return 'AlreadyLeaving'
      case 'removed':
        return 'Removed'
      case 'member':
        if (state === undefined || !state.isMember(machine.us.publicId.name)) return 'NotAMember'
        return state.size <= 1 ? 'LastMember' : undefined
      default:
        return 'NotAMember'
    }
  }

  /** Our membership as MEMBERSHIP.md §2 names it, with the chain's position and what is under way. */
  status(): MembershipStatus {
    const machine = this.machineOrUndefined
    const state = machine?.state
    const peerIds = (ids: readonly PublicId[]): string[] =>
      ids
        .flatMap((id) => {
          const peer = this.peerIdOf(id)
          return peer === undefined ? [] : [peer.toString()]
        })
        .sort()
    return {
      self: this.self(),
      // Before the genesis block is folded the state has no members yet: the genesis group.
      members:
        state === undefined || state.agreedBlocks === 0
          ? this.parts.roster
              .members()
              .map((m) => m.peerId.toString())
              .sort()
          : peerIds(state.memberIds()),
      seq: state?.seq ?? 0,
      head: state === undefined ? null : bytesToString(state.head, 'base16'),
      candidates: machine === undefined ? [] : peerIds(machine.candidates()),
      suspected: machine === undefined ? [] : peerIds(machine.suspects()),
    }
  }

  /** A joiner's contacts (from its bootstrap addresses): asked for JoinInfo. */
  addContacts(ids: readonly PublicId[]): void {
    const machine = this.machineOrUndefined
    if (machine === undefined || !this.started || ids.length === 0) return
    this.apply(machine.addContacts(ids))
  }

  /** A joiner's catch-up server failed: the machine moves to another member that admitted us. */
  transportFailed(id: PublicId): void {
    const machine = this.machineOrUndefined
    if (machine === undefined || !this.started) return
    this.apply(machine.transportHint(id, false))
  }

  /**
   * An outbound exchange or a membership message reached `id` (or an exchange failed to): the
   * machine hears of a change only (its partner weight for a member: 0.5 once unreachable, 1 once
   * reached again).
   */
  reached(id: PublicId, ok: boolean): void {
    const machine = this.machineOrUndefined
    if (machine === undefined || !this.started || this.reachedLast.get(id.name) === ok) return
    // Members only (weights are theirs): a stranger we answered is not remembered.
    if (this.parts.roster.resolve(id.name) === undefined) return
    // The first success says nothing new: a member added later keeps its joining weight.
    const before = this.reachedLast.get(id.name)
    this.reachedLast.set(id.name, ok)
    if (ok && before === undefined) return
    this.apply(machine.transportHint(id, ok))
  }

  /** A candidate we admitted, or one whose Add is voted (ours or seen): a member soon. */
  expects(peer: PeerId): boolean {
    const machine = this.machineOrUndefined
    if (machine === undefined || peer.type !== 'Ed25519') return false
    const state = machine.peerState(publicIdFromPeerId(peer).name)
    return state === 'candidate' || state === 'candidate-voted'
  }

  /** Whether the machine banned this peer (agreed or local, not expired). */
  isBanned(peer: PeerId | string): boolean {
    return this.parts.bans.isBanned(peer)
  }

  // ---------------------------------------------------------------- inputs

  took(step: Step<unknown>): void {
    // Engine positions and elections to global ones (a later epoch's engine counts from 0 again).
    const offset = this.parts.journal.positionOffset
    const base = this.parts.epochSwitch.electionBase
    for (const decision of step.decisions) {
      for (let i = 0; i < decision.observations.length; i++) {
        this.electionAt.set(decision.firstPosition + i + offset, decision.election + base)
      }
      this.decisions.push({
        index: decision.election + base,
        lastAncestors: new Map(decision.lastAncestors.map((a) => [a.voter.name, a.last])),
      })
    }
    for (const event of step.events) this.heard.add(event.creator.name)
  }

  /**
   * The first decided block the machine may still fold (the journal keeps those from here): its
   * next one; all of them before the machine exists (a joiner's folds from its own position).
   */
  neededFrom(): number {
    return this.machineOrUndefined?.state?.agreedBlocks ?? 0
  }

  flushed(blocks: readonly DeliveredBlock[]): void {
    const machine = this.machineOrUndefined
    if (machine === undefined || !this.started) return
    let step: MembershipStep | undefined
    const state = machine.state
    const first = blocks[0]?.position
    if (state !== undefined && first !== undefined && state.agreedBlocks < first) {
      // A candidate restarted from its store: its new machine folds what its engine replayed
      // before the restart first (the election of each is not known any more).
      const { journal } = this.parts
      for (let at = state.agreedBlocks; at < first; at++) {
        const block = journal.decidedBlock(at)
        if (block === undefined) throw new SectionError('InvalidArgument', `decided block ${at} was dropped`)
        step = merge(step, machine.blocks([block], at))
      }
    }
    for (const { position, block } of blocks) {
      const election = this.electionAt.get(position)
      this.electionAt.delete(position)
      step = merge(step, machine.blocks([block], position, election))
    }
    for (const decision of this.decisions.splice(0)) step = merge(step, machine.decision(decision))
    const ours = machine.us.publicId.name
    for (const name of [...this.heard].sort()) {
      if (name === ours) continue
      const id = this.parts.roster.resolve(name)
      if (id !== undefined) step = merge(step, machine.activity(id))
    }
    this.heard.clear()
    step = merge(step, this.observeVotes(machine))
    if (step !== undefined) this.apply(step)
    if (blocks.length > 0) this.followState()
  }

  /** A membership message from `from` (the stream's authenticated peer). */
  receive(from: PeerId, bytes: Uint8Array, remoteAddr: string | undefined): void {
    const machine = this.machineOrUndefined
    if (machine === undefined || !this.started || this.parts.bans.isBanned(from)) return
    let id: PublicId
    try {
      id = publicIdFromPeerId(from)
    } catch {
      return // Not an Ed25519 peer: never a member or joiner of a section.
    }
    // Not a member yet: the addresses a JoinInfo names reach our peer store before our JoinRequests
    // go out (founders' records carry none; without them only the DHT could find those members).
    if (machine.state === undefined || !machine.state.isMember(machine.us.publicId.name)) {
      const members = joinInfoAddresses(bytes)
      if (members.length > 0)
        this.hinting = this.hinting.then(() => this.parts.roster.hintAddresses(members)).catch(() => {})
    }
    this.apply(machine.receive(id, bytes, remoteAddr))
  }

  /**
   * A member answered our sync `not-member`: perhaps our removal is agreed there and not here yet
   * (a leaver's last syncs). The machine asks f+1 such members for their chain and drains if it
   * confirms the removal (MEMBERSHIP.md §4, "the removed peer").
   */
  notMemberOf(partner: PublicId): void {
    const machine = this.machineOrUndefined
    if (machine === undefined || !this.started) return
    this.apply(machine.engineSelf({ refusedBy: partner }))
  }

  /**
   * A member holds no engine of our epoch and is in a later one: the machine asks it for its chain
   * and, if it proves we lag by whole epochs, starts us again at its last checkpoint (`rebase`).
   */
  aheadEpoch(partner: PublicId, epoch: number): void {
    const machine = this.machineOrUndefined
    if (machine === undefined || !this.started) return
    this.apply(machine.engineSelf({ aheadEpoch: { peer: partner, epoch } }))
  }

  /** Others' unconsensused Add/Remove votes in our graph, each once (MEMBERSHIP.md §1's J and P). */
  private observeVotes(machine: Membership): MembershipStep | undefined {
    const engine = this.parts.lifecycle.engine
    if (engine === undefined || engine.isRemoved) return undefined
    const size = engine.graphSize
    if (size === this.lastGraphSize || engine.pendingObservationCount === 0) return undefined
    this.lastGraphSize = size
    let step: MembershipStep | undefined
    for (const { voter, observation } of engine.membershipVotes()) {
      const key = `${voter.name}|${bytesToString(encodeObservation(observation), 'base16')}`
      if (this.seenVotes.has(key)) continue
      this.seenVotes.add(key)
      step = merge(step, machine.observedVote(voter, observation))
    }
    return step
  }

  // ---------------------------------------------------------------- the clock

  /** Ticks at the machine's wake-up, and at least every `tickMs`. */
  private arm(): void {
    if (!this.started) return
    const now = Date.now()
    const due = Math.min(this.wakeAt ?? Number.POSITIVE_INFINITY, now + this.options.tickMs)
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = setTimeout(() => this.onTimer(), Math.max(0, due - now))
    this.timer.unref?.()
  }

  private onTimer(): void {
    this.timer = undefined
    const machine = this.machineOrUndefined
    if (!this.started || machine === undefined) return
    this.wakeAt = undefined
    this.apply(machine.tick(Date.now()))
    this.arm()
  }

  // ---------------------------------------------------------------- output

  private apply(step: MembershipStep): void {
    const { journal, pacing, reporter } = this.parts
    const verified = this.machineOrUndefined?.verifiedState
    if (verified !== undefined && verified !== this.hinted && this.refuseFreshJoiner(verified)) return
    if (verified !== undefined && verified !== this.hinted) {
      // Before our JoinRequests go to the members it names: where they are.
      this.hinted = verified
      this.hinting = this.parts.roster.hint(verified).catch(() => {})
    }
    let voted = false
    const newEpoch = step.engine.find((d) => d.kind === 'newEpoch')
    // The switch first: this step's votes are the machine's re-cast, for the new engine.
    if (newEpoch !== undefined) this.parts.epochSwitch.begin(newEpoch, step.votes)
    else for (const vote of step.votes) voted = this.vote(vote) || voted
    if (voted) {
      void journal.flush().then(
        () => pacing.nudge(true),
        () => {}, // A failed write fails the service (Lifecycle.failStore).
      )
    }
    for (const message of step.messages) {
      // A JoinInfo carries the addresses we know of members whose record has none (founders).
      const bytes =
        message.kind === 'joinInfo'
          ? withKnownAddresses(message.bytes, (id) => this.parts.roster.addressesOf(id))
          : message.bytes
      this.send(message.to, bytes)
    }
    for (const directive of step.engine) {
      if (directive.kind === 'construct') {
        const record = this.machineOrUndefined?.state?.record
        if (record !== undefined) {
          const { genesis, section, epoch, start, relatedInfo } = directive
          this.parts.joining.construct(genesis, section, record, { epoch, genesis, relatedInfo, start })
        }
      } else if (directive.kind === 'rebase') {
        this.parts.epochSwitch.rebase(directive)
      } else if (directive.kind === 'catchUp') {
        this.parts.joining.catchUp(directive.from)
      } else if (directive.kind === 'serveOnly') {
        this.log('our removal is agreed: serving only and pushing final syncs until the drain ends')
        this.parts.drain.start()
      } else if (directive.kind === 'stop') {
        this.stoppedEngine = true
        this.parts.drain.stop()
        pacing.stop()
        this.log('drain over: no more gossip')
      }
    }
    for (const directive of step.peers) {
      const peer = this.peerIdOf(directive.peer)
      if (peer === undefined) continue
      switch (directive.kind) {
        case 'ban':
          this.ban(directive.peer, directive.agreed ? FOREVER : directive.untilMs)
          break
        case 'acceptSync':
          this.parts.roster.accept(peer, directive.peer, directive.accept)
          this.parts.tags.acceptSync(peer, directive.accept)
          break
        case 'keepAlive':
          this.parts.tags.keepAlive(peer, directive.on)
          if (!directive.on) this.reachedLast.delete(directive.peer.name)
          break
        case 'partnerWeight':
          this.parts.roster.weigh(directive.peer.name, directive.weight)
          break
      }
    }
    for (const directive of step.discovery) this.discover(directive)
    for (const fault of step.faults) {
      const peer = this.peerIdOf(fault.offender)
      if (peer !== undefined) reporter.membershipFault(peer, fault.kind, fault.detail)
    }
    for (const warning of step.warnings) {
      this.log('membership warning %s', warning.kind === 'fold' ? warning.warning.kind : warning.detail)
    }
    // The roster follows before anyone hears of a change (a listener may ask for the members).
    if (step.events.some((e) => e.type !== 'join:rejected' && e.type !== 'change:deferred'))
      this.followState()
    // Running as a member before anyone hears of it (a listener may vote at once).
    if (step.events.some((e) => e.type === 'self:joined')) this.parts.joining.joined()
    for (const event of step.events) this.emit(event)
    if (step.nextWakeupAt !== undefined && (this.wakeAt === undefined || step.nextWakeupAt < this.wakeAt)) {
      this.wakeAt = step.nextWakeupAt
      if (this.started) this.arm()
    }
  }

  /**
   * A joiner without a stored engine whose verified chain names our key as a member (its store is
   * missing: an event made now would fork us), or as removed or banned (joining again takes a new
   * key): the service fails before anything of this step (our JoinRequest) is sent.
   */
  private refuseFreshJoiner(verified: SectionState): boolean {
    const machine = this.machineOrUndefined
    // With an engine built we may have been admitted in this run: our Add can then be agreed
    // before our replay reaches it (an Add needs our Ready, which needs our engine: none, none).
    if (!this.freshJoiner || machine === undefined || this.parts.lifecycle.engine !== undefined) return false
    const ours = machine.us.publicId.name
    const seq = verified.seq
    let error: SectionError | undefined
    if (verified.isMember(ours)) {
      error = new SectionError(
        'SelfCheckFailed',
        `this key is a member of section ${bytesToString(machine.sectionId, 'base16')} (the members' chain at seq ${seq} ` +
          'lists it), but this peer has no store of it: a member resumes from its data directory, and ' +
          'one started without it would fork itself and get expelled, so no event was made and no join ' +
          'request sent. Start it with its data directory (--data-dir DIR); a member whose directory is ' +
          'lost can only join again under a new key.',
      )
    } else if (verified.wasRemoved(ours) || verified.isBanned(ours)) {
      const banned = verified.isBanned(ours)
      this.removal = { reason: banned ? 'banned' : 'removed', seq }
      error = removedError(this.removal, machine.sectionId)
    }
    if (error === undefined) return false
    this.hinted = verified
    this.stop()
    this.parts.lifecycle.fail(error)
    return true
  }

  private discover(directive: DiscoveryDirective): void {
    const { discovery } = this.parts
    switch (directive.kind) {
      case 'provide':
        discovery.provide()
        break
      case 'cancelProvide':
        discovery.cancelProvide()
        break
      case 'announce':
        void discovery.announce(directive.bytes)
        break
      case 'findMembers':
        // A joiner dials its bootstrap addresses again; anyone looks the providers up.
        this.parts.joining.findMembers()
        this.findMembers()
        break
    }
  }

  /** Looks the section's providers up (one lookup at a time) and gives them to the machine. */
  private findMembers(): void {
    if (this.finding) return
    this.finding = true
    this.parts.discovery
      .findMembers()
      .then(
        (found) => {
          const machine = this.machineOrUndefined
          if (machine === undefined || !this.started || found.length === 0) return
          this.log('discovery found %d possible members', found.length)
          this.apply(machine.addContacts(found))
        },
        (error: Error) => this.log('finding members failed: %s', error.message),
      )
      .finally(() => {
        this.finding = false
      })
  }

  /** One of the machine's votes, into our engine; whether the engine took it. */
  private vote(vote: Observation): boolean {
    if (this.parts.epochSwitch.active) {
      this.parts.epochSwitch.queue(vote)
      return false
    }
    const engine: Parsec | undefined = this.parts.lifecycle.engine
    if (engine === undefined || !engine.canVote()) return false
    try {
      this.parts.journal.take(engine.voteFor(vote))
      return true
    } catch (error) {
      this.log('membership vote refused by the engine: %s', (error as Error).message)
      return false
    }
  }

  private send(to: PublicId, bytes: Uint8Array | Promise<Uint8Array>, attempt = 0): void {
    const peer = this.peerIdOf(to)
    if (peer === undefined || peer.equals(this.components.peerId)) return
    const send = this.hinting.then(async () => this.parts.wire.send(peer, await bytes))
    send.then(
      () => this.reached(to, true),
      (error: Error) => {
        const delays = this.options.resendDelaysMs ?? RESEND_DELAYS_MS
        const again = attempt < delays.length && this.started && !this.stoppedEngine
        this.log(
          'membership message to %p failed%s: %s',
          peer,
          again ? `, sending it again in ${delays[attempt]} ms` : '',
          error.message,
        )
        if (again) {
          setTimeout(() => {
            if (this.started) this.send(to, bytes, attempt + 1)
          }, delays[attempt]).unref?.()
          return
        }
        const machine = this.machineOrUndefined
        if (machine === undefined || !this.started) return
        // Every failure (a joiner moves on from a member that does not answer), noted as a change.
        if (this.parts.roster.resolve(to.name) !== undefined) this.reachedLast.set(to.name, false)
        this.apply(machine.transportHint(to, false))
      },
    )
  }

  private emit(event: MembershipEvent): void {
    const { reporter } = this.parts
    switch (event.type) {
      case 'member:joined':
      case 'member:banned': {
        const peer = this.peerIdOf(event.peer)
        if (peer !== undefined) reporter.emit(event.type, { peer, position: event.position })
        break
      }
      case 'member:left': {
        const peer = this.peerIdOf(event.peer)
        if (peer !== undefined)
          reporter.emit('member:left', { peer, position: event.position, reason: event.reason })
        break
      }
      case 'self:joined':
        reporter.emit('self:joined', { position: event.position, seq: event.seq })
        break
      case 'self:removed': {
        // Kept before anyone hears of it: a restart then refuses to run us as a member, even when
        // our own blocks do not hold our removal (confirmed from the members' chain).
        const removal = this.removal ?? {
          reason: event.reason,
          seq: this.machineOrUndefined?.state?.seq ?? 0,
        }
        // Restarted after our removal was agreed: the drain is over, we run no more.
        const known = this.removal
        const told = (): void => {
          reporter.emit('self:removed', { reason: event.reason })
          const machine = this.machineOrUndefined
          if (known !== undefined && machine !== undefined)
            this.parts.lifecycle.fail(removedError(known, machine.sectionId))
        }
        // A failed write fails the service (and is reported so).
        this.parts.keepRemoval(removal).then(told, told)
        break
      }
      case 'join:rejected': {
        const peer = this.peerIdOf(event.peer)
        const by = event.by === undefined ? undefined : this.peerIdOf(event.by)
        if (peer === undefined) break
        reporter.emit('join:rejected', {
          peer,
          ...(by === undefined ? {} : { by }),
          reason: event.reason,
          retryAfterMs: event.retryAfterMs,
        })
        break
      }
      case 'section:fragile':
        this.log('the section is fragile: %d members', event.members)
        break
      case 'change:deferred':
        this.log('%s of %s deferred: %s', event.change, event.peer.name, event.reason)
        break
    }
  }

  private followState(): void {
    const machine = this.machineOrUndefined
    const state = machine?.state
    // Before the genesis block is folded the state has no members yet: the genesis roster stands.
    // A joiner's replayed state lags the section until its Add: the members its verified chain
    // named (`Roster.adopt`) stand until then.
    const role = machine?.role
    const joined = role !== 'outsider' && role !== 'requesting' && role !== 'candidate' && role !== 'ready'
    if (state !== undefined && state.agreedBlocks > 0 && joined) this.parts.roster.follow(state)
  }

  /** Agreed bans are forever; a local one until `untilMs` (our clock: the machine's `now`). */
  private ban(id: PublicId, untilMs: number): void {
    const peer = this.peerIdOf(id)
    if (peer === undefined || peer.equals(this.components.peerId)) return
    this.parts.bans.ban(peer, untilMs)
  }

  private peerIdOf(id: PublicId): PeerId | undefined {
    try {
      return this.parts.roster.peerIdOf(id.name) ?? peerIdFromPublicId(id)
    } catch {
      return undefined
    }
  }

  private requireMachine(): Membership {
    const machine = this.machineOrUndefined
    if (machine === undefined) throw new SectionError('NotStarted', 'the section service is not started')
    return machine
  }
}

/** Our removal as the blocks a machine resumed from agree it (undefined: we are a member). */
function removalIn(machine: Membership): StoredRemoval | undefined {
  const state = machine.state
  const ours = machine.us.publicId.name
  if (state === undefined || !state.wasRemoved(ours)) return undefined
  if (state.isBanned(ours)) return { reason: 'banned', seq: state.seq }
  // The chain entry that removed us (its seq: the membership entries up to it, checkpoints not
  // counted); our own vote among its proofs: we left.
  const chain = state.chain
  let at = chain.length - 1
  while (at >= 0 && !(chain[at].change.kind === 'remove' && changePeer(chain[at]) === ours)) at--
  const left = at >= 0 && chain[at].proofs.some((p) => p.publicId.name === ours)
  const seq =
    at >= 0 ? chain.slice(0, at + 1).filter((e) => e.change.kind !== 'checkpoint').length : state.seq
  return { reason: left ? 'left' : 'removed', seq }
}

function changePeer(entry: SectionState['chain'][number]): string | undefined {
  const change = entry.change
  return change.kind === 'remove' ? change.peer.name : undefined
}

/** The refusal of a peer whose removal is known. */
export function removedError(removal: StoredRemoval, sectionId: Uint8Array): SectionError {
  const what =
    removal.reason === 'banned' ? 'was banned from' : removal.reason === 'left' ? 'left' : 'was voted out of'
  return new SectionError(
    'Removed',
    `this key ${what} section ${bytesToString(sectionId, 'base16')} (membership chain seq ${removal.seq}) ` +
      'and is no member any more: it is not run as one. To take part again, join the section again ' +
      'with a new key (--join SECTION_ID with a new --key and an empty --data-dir).',
  )
}

function merge(a: MembershipStep | undefined, b: MembershipStep | undefined): MembershipStep | undefined {
  if (a === undefined) return b
  if (b === undefined) return a
  return mergeSteps(a, b)
}
