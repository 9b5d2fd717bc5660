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
 * a restarted member's agreed bans come back from the state it folded. Not carried out yet: the peer
 * directives `keepAlive` and `partnerWeight`.
 */
import type { Logger, PeerId } from '@libp2p/interface'
import {
  type DiscoveryDirective,
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
import type { DeliveredBlock, MembershipStatus, SelfState } from './api.js'
import type { Journal, JournalObserver } from './journal.js'
import type { Lifecycle } from './lifecycle.js'
import type { MembershipProtocol } from './membership-protocol.js'
import type { Pacing } from './pacing.js'
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
  /** Carries out a joiner's directives (joining.ts). */
  readonly joining: JoinDirectives
  /** The final syncs of our drain (drain.ts), from `serveOnly` to `stop`. */
  readonly drain: { start(): void; stop(): void }
}

/** What a joiner's machine asks of the service (MEMBERSHIP.md §3). */
export interface JoinDirectives {
  /** Build our observer engine from the verified genesis group and current members. */
  construct(genesis: readonly PublicId[], section: readonly PublicId[], record: GenesisRecord): void
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
}

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
   */
  open(how: MembershipStart): MembershipStart['kind'] {
    const blocks = this.parts.journal.decidedBlocks()
    let sectionId: Uint8Array | undefined
    let machine: Membership | undefined
    if (how.kind === 'join') sectionId = how.sectionId
    else if (how.kind === 'founder' && blocks.length === 0)
      machine = Membership.found({ ...this.base(), record: how.record })
    else {
      try {
        machine = Membership.resume({ ...this.base(), record: how.record, blocks })
      } catch (error) {
        // A peer stopped as a candidate: its blocks hold no Add of its own yet. It joins again
        // (its engine, restored, goes on replaying).
        if (how.kind !== 'joined' || !isMembershipError(error) || error.code !== 'InvalidArgument')
          throw error
        sectionId = sectionIdOf(how.record)
      }
    }
    this.started = true
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

  /** Our state as MEMBERSHIP.md §2 names it. */
  self(): SelfState {
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
    for (const decision of step.decisions) {
      for (let i = 0; i < decision.observations.length; i++) {
        this.electionAt.set(decision.firstPosition + i, decision.election)
      }
      this.decisions.push({
        index: decision.election,
        lastAncestors: new Map(decision.lastAncestors.map((a) => [a.voter.name, a.last])),
      })
    }
    for (const event of step.events) this.heard.add(event.creator.name)
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
      const decided = this.parts.journal.decidedBlocks()
      for (let at = state.agreedBlocks; at < first; at++)
        step = merge(step, machine.blocks([decided[at]], at))
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

  /** Others' unconsensused Add/Remove votes in our graph, each once (MEMBERSHIP.md §1's J and P). */
  private observeVotes(machine: Membership): MembershipStep | undefined {
    const engine = this.parts.lifecycle.engine
    if (engine === undefined || engine.isRemoved) return undefined
    const size = engine.graphSize
    if (size === this.lastGraphSize || engine.pendingObservationCount === 0) return undefined
    this.lastGraphSize = size
    let step: MembershipStep | undefined
    for (const { voter, observation } of engine.view().membershipVotes) {
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
    if (verified !== undefined && verified !== this.hinted) {
      // Before our JoinRequests go to the members it names: where they are.
      this.hinted = verified
      this.hinting = this.parts.roster.hint(verified).catch(() => {})
    }
    let voted = false
    for (const vote of step.votes) voted = this.vote(vote) || voted
    if (voted) {
      void journal.flush().then(
        () => pacing.nudge(true),
        () => {}, // A failed write fails the service (Lifecycle.failStore).
      )
    }
    for (const message of step.messages) this.send(message.to, message.bytes)
    for (const directive of step.engine) {
      if (directive.kind === 'construct') {
        const record = this.machineOrUndefined?.state?.record
        if (record !== undefined) this.parts.joining.construct(directive.genesis, directive.section, record)
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
      if (directive.kind === 'ban') this.ban(directive.peer, directive.agreed ? FOREVER : directive.untilMs)
      else if (directive.kind === 'acceptSync')
        this.parts.roster.accept(peer, directive.peer, directive.accept)
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

  private send(to: PublicId, bytes: Uint8Array): void {
    const peer = this.peerIdOf(to)
    if (peer === undefined || peer.equals(this.components.peerId)) return
    const send = this.hinting.then(() => this.parts.wire.send(peer, bytes))
    send.catch((error: Error) => {
      this.log('membership message to %p failed: %s', peer, error.message)
      const machine = this.machineOrUndefined
      if (machine !== undefined && this.started) this.apply(machine.transportHint(to, false))
    })
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
      case 'self:removed':
        reporter.emit('self:removed', { reason: event.reason })
        break
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

function merge(a: MembershipStep | undefined, b: MembershipStep | undefined): MembershipStep | undefined {
  if (a === undefined) return b
  if (b === undefined) return a
  return mergeSteps(a, b)
}
