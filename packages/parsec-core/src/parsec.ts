/**
 * The Parsec engine: the calls of spec §11, thin, delegating to the graph, the peer list, the
 * observation store and the current meta-election. Pure and deterministic: no I/O, no clock, no
 * global randomness; signing and verifying go through the identity interface.
 */
import type { Block, Proof } from './blocks.js'
import { bytesEqual, utf8 } from './encoding/bytes.js'
import { sha3 } from './encoding/hash.js'
import { registerInternals } from './engine-internals.js'
import { ParsecError, type ParsecErrorCode } from './errors.js'
import type { Fault } from './faults.js'
import type { ExportedPage, Frontier, FrontierEntry, LatestEvent } from './gossip/frontier.js'
import type { Request, Response } from './gossip/messages.js'
import { isDescendant, lastOf } from './graph/ancestry.js'
import {
  type Cause,
  encodeContentTransient,
  eventHash,
  type PackedEvent,
  packEvent,
  type Vote,
} from './graph/event.js'
import { Graph, type GraphEvent, type NewEvent } from './graph/graph.js'
import type { PublicId, SecretId } from './identity/identity.js'
import { compareIds, sortIds } from './identity/order.js'
import { type Accusation, MaliceDetector } from './malice/detector.js'
import type { Coin } from './meta-voting/coin.js'
import { concreteCoin } from './meta-voting/concrete-coin.js'
import { type MembershipChange, MetaElection } from './meta-voting/election.js'
import { MAX_VOTERS } from './meta-voting/meta-vote.js'
import type { ConsensusMode } from './observations/consensus-mode.js'
import {
  encodeObservation,
  genesis as genesisObservation,
  type Observation,
} from './observations/observation.js'
import { ObservationStore } from './observations/store.js'
import { PeerList } from './peers/peer-list.js'
import { ACTIVE, DKG, describeState, RECV, SEND, VOTE } from './peers/peer-state.js'
import { type AgreedBlock, type Decision, EngineStep, type Step, type Warning } from './step.js'
import type { MembershipVote, ParsecView } from './view.js'

export interface ParsecOptions {
  /** How opaque payloads reach consensus (spec §3.3); default `supermajority`. */
  readonly consensusMode?: ConsensusMode
  /**
   * The genuine-flip coin (spec §6.7); default the RFC's concrete coin (spec §16, `concreteCoin`).
   * Replays of recorded graphs pass the reference's `parityCoin` to reach the recorded blocks.
   */
  readonly coin?: Coin
  /**
   * Follow the reference v0.7.3's rules exactly where ours are stricter, for replays of recorded
   * graphs (see README "Deviations from the reference"). Default false.
   */
  readonly referenceRules?: boolean
  /**
   * Malice detection (spec §9.2 with the fixes of §15): `accuse` (the default) rejects what must
   * not enter the graph, reports every misbehaviour in the call's faults and votes accusations (an
   * agreed one removes the offender); `report` only reports, changing nothing (replays); `off`
   * detects nothing (the default under `referenceRules`).
   */
  readonly maliceDetection?: MaliceDetection
}

export type MaliceDetection = 'accuse' | 'report' | 'off'

export interface GenesisParams extends ParsecOptions {
  readonly us: SecretId
  /** The genesis group; must contain `us`. */
  readonly genesis: Iterable<PublicId>
  readonly relatedInfo?: Uint8Array
}

export interface RestoreParams extends ParsecOptions {
  readonly us: SecretId
  /**
   * The genesis group, as given to `fromGenesis` (must contain `us`) or, for a peer that joined
   * after genesis, to `fromExisting` (with `section`).
   */
  readonly genesis: Iterable<PublicId>
  /**
   * Present for a peer that joined after genesis: the `section` its engine was built with by
   * `fromExisting` (the stored events then replay its catch-up and its admission).
   */
  readonly section?: Iterable<PublicId>
  readonly relatedInfo?: Uint8Array
  /**
   * Every event of our gossip graph in insertion order (`packedEvents(0)` of the engine being
   * restored), read back from storage; trusted, so signatures are not verified again. Read once,
   * in order: a lazy sequence (decoding each stored event as it is read) keeps a restore from
   * holding every decoded event at once.
   */
  readonly events: Iterable<PackedEvent>
}

/** An engine being restored a batch of stored events at a time (`Parsec.restoring`). */
export interface Restoring {
  /** The next stored events, in insertion order (trusted: signatures are not verified again). */
  add(events: Iterable<PackedEvent>): void
  /** The restored engine, once every stored event was added; nothing can be added after. */
  finish(): Parsec
}

export interface ExistingParams extends ParsecOptions {
  readonly us: SecretId
  /** The genesis group (voters of the first election); must not contain `us`. */
  readonly genesis: Iterable<PublicId>
  /** The current section members; must not contain `us`. */
  readonly section: Iterable<PublicId>
}

/** A block as delivered, with where it sits in the agreed order and its observation key. */
interface QueuedBlock extends AgreedBlock {
  readonly key: number
}

interface PendingSync {
  readonly isRequest: boolean
  readonly otherParent: number
}

/** Bound on sync events queued by a peer that has no event yet (spec §15: unbounded in the reference). */
const MAX_PENDING_SYNC_EVENTS = 4096
/** Bound on an observer's orphans: ingested events whose creator it does not know yet. */
export const MAX_ORPHAN_EVENTS = 4096
const US = 0

/** What we sign to salt our graph's hash index: a value no other peer can compute. */
const HASH_INDEX_SALT = utf8('parsec-core: salt of the graph hash index (never sent)')

export class Parsec {
  static {
    registerInternals((parsec) => ({
      graph: parsec.graph,
      peers: parsec.peers,
      store: parsec.store,
      election: parsec.election,
      consensusHistory: parsec.history,
      decisionSizes: parsec.decisionSizes,
    }))
  }

  private readonly graph: Graph
  private readonly peers = new PeerList()
  private readonly store: ObservationStore
  private readonly election: MetaElection
  /** Agreed blocks not yet polled from `polled` on (polled ones are the host's and are dropped). */
  private blocks: QueuedBlock[] = []
  private polled = 0
  /** `retire()` was called: serve-only for good. */
  private retired = false
  private decidedBlocks = 0
  /** Events in the sync messages we handled, and those of them we held already (gossip's waste). */
  private received = 0
  private duplicates = 0
  /** Of `received` and `duplicates`, those in requests (the rest were in responses). */
  private receivedInRequests = 0
  private duplicatesInRequests = 0
  private readonly history: number[] = []
  private readonly decisionSizes: number[] = []
  private pending: PendingSync[] = []
  readonly consensusMode: ConsensusMode
  private readonly referenceRules: boolean
  readonly maliceDetection: MaliceDetection
  private readonly detector: MaliceDetector | null
  /** Faults found by the call in progress. */
  private callFaults: Fault[] = []
  /** Within a call that returns a step: what it collects (outside one, e.g. a restore, nothing). */
  private collecting = false
  private callStart = 0
  private callWarnings: Warning[] | undefined
  private callDecisions: Decision[] | undefined
  /** Ingested events whose creator we do not know yet (an observer's replay), in arrival order. */
  private orphans: PackedEvent[] = []
  private readonly orphanHashes = new Set<string>()
  /** Per creator (local index), the chain position of its latest vote event we hold (-1: none). */
  private readonly latestVoteOf: number[] = []
  /** A founder's genesis vote, made by `begin()` when we were restored with no event. */
  private genesisVote: Observation | undefined

  private constructor(
    private readonly secret: SecretId,
    options: ParsecOptions,
    genesisGroup: readonly PublicId[],
    voters: (peers: PeerList) => number[],
  ) {
    this.consensusMode = options.consensusMode ?? 'supermajority'
    this.referenceRules = options.referenceRules ?? false
    this.maliceDetection = options.maliceDetection ?? (this.referenceRules ? 'off' : 'accuse')
    this.graph = new Graph(sha3(secret.sign(HASH_INDEX_SALT)))
    this.graph.forkBlind = this.referenceRules
    this.store = new ObservationStore(this.consensusMode)
    this.election = new MetaElection(
      voters(this.peers),
      this.graph,
      this.store,
      options.coin ?? concreteCoin,
      (peer) => this.peers.ids[peer],
    )
    this.election.votingOrder = !this.referenceRules
    this.detector =
      this.maliceDetection === 'off'
        ? null
        : new MaliceDetector({
            graph: this.graph,
            peers: this.peers,
            store: this.store,
            genesisGroup: new Set(genesisGroup.map((id) => id.name)),
            voterCount: () => this.election.voters.length,
          })
  }

  /** A founding member (spec §8.2): creates our Initial event and votes for the genesis group. */
  static fromGenesis(params: GenesisParams): Parsec {
    const { parsec, group } = Parsec.founding(params)
    parsec.createInitialEvent()
    parsec.vote(genesisObservation(group, params.relatedInfo))
    return parsec
  }

  /**
   * A founding member restarting from its stored graph: no new Initial event and no new genesis
   * vote (which would fork us), the same blocks re-derived in the same order. With no stored
   * events the engine holds no event at all until `begin()`, so a host can first check that the
   * section holds no event of ours (a lost store) before making one.
   */
  static restore(params: RestoreParams): Parsec {
    const restoring = Parsec.restoring(params)
    restoring.add(params.events)
    return restoring.finish()
  }

  /**
   * `restore` a batch of stored events at a time, for a host that reads its store in batches (so
   * it never holds all of it at once): `add` each batch in insertion order, then `finish`.
   */
  static restoring(params: Omit<RestoreParams, 'events'>): Restoring {
    const us = params.us.publicId.name
    const joined = params.section !== undefined
    const { parsec, group } = joined
      ? { parsec: Parsec.fromExisting({ ...params, section: params.section }), group: [] }
      : Parsec.founding(params)
    let ours = false
    let finished = false
    return {
      add(events) {
        if (finished) throw new ParsecError('InvalidArgument', 'the restore is finished')
        // Others' events may come first: a peer that caught up before making its first event.
        for (const packed of events) {
          if (!ours && packed.creator.name === us) {
            if (packed.cause.kind !== 'initial') {
              throw new ParsecError('InvalidArgument', 'our first stored event must be our Initial event')
            }
            ours = true
          }
          parsec.unpack(packed, true)
        }
      },
      finish() {
        // A joined peer makes its Initial event when its Add is decided, never a genesis vote.
        if (!finished && !ours && !joined) parsec.genesisVote = genesisObservation(group, params.relatedInfo)
        finished = true
        return parsec
      },
    }
  }

  /** A founding member's engine, all genesis members active, before any event of ours. */
  private static founding(params: GenesisParams): { parsec: Parsec; group: PublicId[] } {
    const us = params.us.publicId
    const group = sortIds(new Map([...params.genesis].map((id) => [id.name, id])).values())
    if (group.length > MAX_VOTERS) {
      throw new ParsecError('InvalidArgument', `at most ${MAX_VOTERS} voters are supported`)
    }
    if (!group.some((id) => id.name === us.name)) {
      throw new ParsecError('InvalidArgument', `the genesis group must contain us (${us.name})`)
    }
    const parsec = new Parsec(params.us, params, group, (peers) => {
      peers.add(us, ACTIVE)
      for (const id of group) peers.add(id, ACTIVE)
      return group.map((id) => peers.require(id))
    })
    return { parsec, group }
  }

  /** A joining peer (spec §8.3): replays history from genesis and waits to be added. */
  static fromExisting(params: ExistingParams): Parsec {
    const us = params.us.publicId
    const group = sortIds(new Map([...params.genesis].map((id) => [id.name, id])).values())
    const section = sortIds(new Map([...params.section].map((id) => [id.name, id])).values())
    if (group.length === 0 || section.length === 0) {
      throw new ParsecError('InvalidArgument', 'the genesis group and the section must not be empty')
    }
    if (group.some((id) => id.name === us.name) || section.some((id) => id.name === us.name)) {
      throw new ParsecError(
        'InvalidArgument',
        'a joining peer must not be in the genesis group or the section',
      )
    }
    return new Parsec(params.us, params, group, (peers) => {
      peers.add(us, RECV)
      for (const id of group) peers.add(id, VOTE | SEND)
      for (const id of section) peers.add(id, SEND)
      return group.map((id) => peers.require(id))
    })
  }

  get ourId(): PublicId {
    return this.secret.publicId
  }

  /**
   * A founder restored with no stored event: creates our Initial event and genesis vote (what
   * `fromGenesis` does at once). Does nothing once we hold an event of ours.
   */
  begin(): Step {
    this.startCall()
    const vote = this.genesisVote
    if (vote !== undefined && !this.graph.hasEventsOf(US)) {
      this.genesisVote = undefined
      this.createInitialEvent()
      this.vote(vote)
    }
    return this.finishCall<never>(undefined)
  }

  /** Whether we hold an event of ours (false for a restored founder before `begin()`). */
  get hasBegun(): boolean {
    return this.graph.hasEventsOf(US)
  }

  // ------------------------------------------------------------------ votes and blocks

  /**
   * Votes for `observation` (spec §11 `vote_for`). Voting when we are not a voter (`canVote()`)
   * is the caller's misuse and throws `InvalidArgument`; a vote we already cast makes nothing and
   * is a `duplicate-vote` warning.
   */
  voteFor(observation: Observation): Step {
    if (!this.canVote()) {
      throw new ParsecError(
        'InvalidArgument',
        this.retired
          ? 'we cannot vote: this engine is retired'
          : this.peers.isRemoved(US)
            ? 'we cannot vote: we were removed'
            : 'we cannot vote (not a voter)',
      )
    }
    this.startCall()
    this.vote(observation)
    return this.finishCall<never>(undefined)
  }

  /** `voteFor` within a call (or a constructor). */
  private vote(observation: Observation): void {
    this.flushPending()
    if (!this.castVote(observation)) {
      this.warn({ kind: 'duplicate-vote', observation })
      return
    }
    const voters = this.election.voters
    if (voters.length === 1 && voters[0] === US) {
      // A sole voter needs a sync event to carry its decision (spec §5.7).
      this.createOwnEvent({ kind: 'requesting', selfParent: this.ourLastHash(), recipient: this.ourId })
    }
  }

  /** Our signed vote event for `observation`; false (and nothing made) if we already voted it. */
  private castVote(observation: Observation): boolean {
    const encoded = encodeObservation(observation)
    const hash = sha3(encoded)
    if (this.store.find(observation, this.ourId, hash)?.createdByUs) return false
    const entry = this.store.intern(observation, this.ourId, hash)
    const vote: Vote = { payload: observation, signature: this.secret.sign(encoded) }
    this.createOwnEvent({ kind: 'observation', selfParent: this.ourLastHash(), vote }, entry.key)
    return true
  }

  haveVotedFor(observation: Observation): boolean {
    return this.store.find(observation, this.ourId)?.createdByUs ?? false
  }

  canVote(): boolean {
    return !this.retired && this.peers.has(US, VOTE)
  }

  /**
   * The next agreed block not yet handed over, or undefined (spec §7.2). Every step hands over
   * all queued blocks, so this only finds those agreed outside a call: by `restore`, or a sole
   * founder's genesis block made by `fromGenesis`.
   */
  poll(): Block | undefined {
    if (this.polled >= this.blocks.length) return undefined
    const { block } = this.blocks[this.polled++]
    if (this.polled === this.blocks.length) {
      this.blocks = []
      this.polled = 0
    } else if (this.polled >= 1024 && 2 * this.polled >= this.blocks.length) {
      this.blocks = this.blocks.slice(this.polled)
      this.polled = 0
    }
    return block
  }

  hasUnpolledObservations(): boolean {
    return this.polled < this.blocks.length || this.store.pendingCount > 0
  }

  /**
   * Our observations not yet polled: first those agreed but still queued, then those not yet
   * agreed; each part in key order (spec §11).
   */
  ourUnpolledObservations(): Observation[] {
    const queued = this.blocks
      .slice(this.polled)
      .filter(({ block, key }) =>
        this.store.get(key).creator === undefined
          ? this.store.get(key).createdByUs
          : block.proofs.some((p) => p.publicId.name === this.ourId.name),
      )
      .map(({ key }) => key)
      .sort((a, b) => this.store.compare(a, b))
    const open = this.store.entries
      .filter((entry) => entry.createdByUs && !entry.consensused)
      .map((entry) => entry.key)
      .sort((a, b) => this.store.compare(a, b))
    return [...queued, ...open].map((key) => this.store.get(key).observation)
  }

  // ------------------------------------------------------------------ gossip

  /**
   * Peers we may gossip to, in local index order (spec §11). Once we were removed (serve-only),
   * the remaining members, for the final syncs of the drain.
   */
  gossipRecipients(): PublicId[] {
    if (!this.peers.has(US, SEND) && !(this.serveOnly && this.graph.hasEventsOf(US))) return []
    const out: PublicId[] = []
    for (let p = 1; p < this.peers.count; p++) if (this.peers.has(p, DKG | RECV)) out.push(this.peers.ids[p])
    return out
  }

  /**
   * Starts a sync with `peer` (spec §5.1): `message` is the request, `events` our new Requesting
   * event. `peer` must be one of `gossipRecipients()` (else `InvalidArgument`: the caller's
   * misuse). Once we were removed (serve-only), the final sync of the drain: the events `peer`
   * lacks and no new event (see README "Serve-only"). `known`, what `peer` last said it holds (its
   * frontier, from a request or a catch-up of its own), trims what is sent: without it, events
   * the peer took by catch-up (which makes no event of its) look missing from its latest event's
   * ancestry and would all be sent again.
   */
  createGossip(peerId: PublicId, known?: Frontier): Step<Request> {
    const peer = this.peers.indexOf(peerId)
    if (peer === undefined) throw new ParsecError('InvalidArgument', `unknown peer ${peerId.name}`)
    const serveOnly = this.serveOnly
    if ((!serveOnly && !this.peers.has(US, SEND)) || !this.graph.hasEventsOf(US)) {
      throw new ParsecError('InvalidArgument', 'we may not send gossip yet')
    }
    if (!this.peers.has(peer, DKG | RECV))
      throw new ParsecError('InvalidArgument', `we may not gossip to ${peerId.name}`)
    this.startCall()
    if (serveOnly) {
      this.warn({ kind: 'serve-only', detail: 'a final sync: no new event' })
      const packedEvents = this.eventsToSend(peer, known)
      return this.finishCall(packedEvents.length === 0 ? undefined : { packedEvents })
    }
    this.createOwnEvent({
      kind: 'requesting',
      selfParent: this.ourLastHash(),
      recipient: this.peers.ids[peer],
    })
    return this.finishCall({ packedEvents: this.eventsToSend(peer, known) })
  }

  /**
   * Handles a peer's request (spec §5.4): `message` is our response. Bad input never throws: the
   * step's `error` says why it was refused (no response then), its `faults` name the offenders,
   * and the events accepted before the failure stay (in `events`). Once we were removed
   * (serve-only), the response only: nothing received is added and no event is made.
   */
  handleRequest(src: PublicId, request: Request): Step<Response> {
    this.startCall()
    if (this.serveOnly) {
      const sender = this.peers.indexOf(src)
      if (sender === undefined)
        return this.finishCall<Response>(
          undefined,
          new ParsecError('UnknownPeer', `unknown peer ${src.name}`),
        )
      this.warn({ kind: 'serve-only', detail: 'the request was answered, not added' })
      return this.finishCall({ packedEvents: this.eventsToSend(sender, request.known) })
    }
    try {
      const sender = this.unpackMessage(src, request.packedEvents, true)
      return this.finishCall({ packedEvents: this.eventsToSend(sender, request.known) })
    } catch (error) {
      return this.failCall(error)
    }
  }

  /** Handles a peer's response (spec §5.4); bad input as in `handleRequest`. */
  handleResponse(src: PublicId, response: Response): Step {
    this.startCall()
    if (this.serveOnly) {
      this.warn({ kind: 'serve-only', detail: 'the response was not added' })
      return this.finishCall<never>(undefined)
    }
    try {
      this.unpackMessage(src, response.packedEvents, false)
      return this.finishCall<never>(undefined)
    } catch (error) {
      return this.failCall(error)
    }
  }

  /** Returns the sender's local index; throws a `ParsecError` (with its faults) for bad input. */
  private unpackMessage(src: PublicId, packedEvents: readonly PackedEvent[], isRequest: boolean): number {
    const sender = this.peers.indexOf(src)
    if (sender === undefined) throw new ParsecError('UnknownPeer', `unknown peer ${src.name}`)
    if (!this.peers.has(US, RECV)) throw new ParsecError('InvalidSelfState', 'we may not receive gossip')
    if (!this.peers.has(sender, SEND))
      throw new ParsecError('InvalidPeerState', `we do not accept gossip from ${src.name}`)
    const faults = this.callFaults
    const fail = (code: ParsecErrorCode, message: string): never => {
      if (!faults.some((f) => f.offender.name === src.name)) {
        faults.push({ kind: 'rejected', offender: src, code, detail: message })
      }
      throw new ParsecError(code, message, faults)
    }
    if (packedEvents.length === 0) fail('InvalidMessage', 'empty message')
    let last = -1
    this.received += packedEvents.length
    const duplicatesBefore = this.duplicates
    if (isRequest) this.receivedInRequests += packedEvents.length
    try {
      for (const packed of packedEvents) last = this.unpack(packed, false, true)
    } catch (error) {
      if (isRequest) this.duplicatesInRequests += this.duplicates - duplicatesBefore
      // Our own lost event is no fault of the sender's.
      if (error instanceof ParsecError && error.code === 'UnknownOwnEvent') throw error
      if (error instanceof ParsecError) fail(error.code, error.detail)
      throw error
    }
    if (isRequest) this.duplicatesInRequests += this.duplicates - duplicatesBefore
    const accusing = this.maliceDetection === 'accuse'
    if (accusing && !this.peers.has(US, DKG) && !this.peers.isRemoved(US)) {
      // Gossip before we are a member (spec §9.2): the events stay, we make no sync event.
      throw new ParsecError('PrematureGossip', `gossip from ${src.name} before we joined`, faults)
    }
    const lastEvent = this.graph.get(last)
    if (!this.referenceRules && lastEvent.creator === US) {
      // Our sync event would have an other-parent of our own: no honest peer would accept it.
      fail('InvalidMessage', 'the message ends with one of our own events')
    }
    if (accusing && this.detector !== null && this.graph.hasEventsOf(US)) {
      // Our Request/Response must keep the Requesting→Request→Response pattern (spec §5.5), or
      // honest peers would accuse us.
      if (!this.detector.validOwnSync(isRequest, lastEvent, US)) {
        fail('InvalidMessage', `the ${isRequest ? 'request' : 'response'} does not end where it must`)
      }
      this.createAccusations(this.detector.takeReady(this.ourLastEvent(), lastEvent))
    }
    this.createSyncEvent(isRequest, last)
    this.flushPending()
    return sender
  }

  /** Our accusation votes (spec §9.1), made just before the sync event they rest on. */
  private createAccusations(ready: readonly Accusation[]): void {
    for (const { offender, malice } of ready) {
      this.castVote({ kind: 'accusation', offender: this.peers.ids[offender], malice })
    }
  }

  /** Records malice found in a received event: queued for accusation, reported in the call's faults. */
  private reportMalice(accusations: readonly Accusation[]): void {
    for (const { offender, malice } of accusations) {
      this.callFaults.push({ kind: 'malice', offender: this.peers.ids[offender], malice })
    }
  }

  /**
   * The event we hold that `packed` is, found without hashing it: most events a peer receives it
   * holds already (a duplicate's hash was a sixth of a simulation's time). Its content (what the
   * hash covers) is compared field by field with the events of its creator's slot after its
   * self-parent, where it must be. Undefined when none is equal, and for a vote on an observation
   * other than an opaque payload or a checkpoint (not compared here: hashed as before).
   */
  private heldEvent(packed: PackedEvent): number | undefined {
    const graph = this.graph
    const creator = this.peers.indexOf(packed.creator)
    if (creator === undefined) return undefined
    const cause = packed.cause
    let selfParent = -1
    if (cause.kind !== 'initial') {
      const index = graph.indexOf(cause.selfParent)
      if (index === undefined) return undefined
      selfParent = index
    }
    const vote = cause.kind === 'observation' ? cause.vote : undefined
    if (vote !== undefined && vote.payload.kind !== 'opaque' && vote.payload.kind !== 'checkpoint')
      return undefined
    const slot = selfParent < 0 ? 0 : graph.get(selfParent).indexByCreator + 1
    // A slot holds one event unless its creator forked: no list made for it.
    if (graph.slotSize(creator, slot) === 1) {
      const index = graph.firstInSlot(creator, slot)
      return this.sameContent(index, selfParent, cause) ? index : undefined
    }
    for (const index of graph.slot(creator, slot))
      if (this.sameContent(index, selfParent, cause)) return index
    return undefined
  }

  /** Whether the held event at `index` (of the creator) has `selfParent` and `cause`: the content hashed. */
  private sameContent(index: number, selfParent: number, cause: PackedEvent['cause']): boolean {
    const graph = this.graph
    const event = graph.get(index)
    if (event.kind !== cause.kind || event.selfParent !== selfParent) return false
    switch (cause.kind) {
      case 'initial':
        return true
      case 'requesting':
        return event.recipient === this.peers.indexOf(cause.recipient)
      case 'request':
      case 'response':
        return graph.indexOf(cause.otherParent) === event.otherParent
      case 'observation': {
        const signature = graph.voteSignature(index)
        return (
          sameBytePayload(this.store.get(event.observationKey).observation, cause.vote.payload) &&
          signature !== undefined &&
          bytesEqual(signature, cause.vote.signature)
        )
      }
    }
  }

  /** Spec §5.3 for one packed event: returns its graph index (known or newly added). */
  private unpack(packed: PackedEvent, trusted = false, gossip = false): number {
    const held = this.heldEvent(packed)
    if (held !== undefined) {
      if (gossip) this.duplicates++
      return held
    }
    // Hashed and verified before anything else is encoded, so the shared buffer can be used as is.
    const content = encodeContentTransient(packed.creator, packed.cause)
    const hash = eventHash(content)
    const known = this.graph.indexOf(hash)
    if (known !== undefined) {
      if (gossip) this.duplicates++
      return known
    }
    const creator = this.peers.indexOf(packed.creator)
    if (creator === undefined)
      throw new ParsecError('UnknownPeer', `event by unknown peer ${packed.creator.name}`)
    if (creator === US && !trusted && !this.referenceRules) {
      throw new ParsecError(
        'UnknownOwnEvent',
        'an event of ours that we do not hold: taking it would fork us',
      )
    }
    if (!trusted && !this.peers.ids[creator].verify(packed.signature, content)) {
      throw new ParsecError('SignatureFailure', `bad event signature by ${packed.creator.name}`)
    }
    const cause = packed.cause
    let selfParent = -1
    let otherParent = -1
    let recipient = -1
    let observationKey = -1
    if (cause.kind !== 'initial') {
      const index = this.graph.indexOf(cause.selfParent)
      if (index === undefined) throw new ParsecError('UnknownSelfParent', `event by ${packed.creator.name}`)
      selfParent = index
    }
    if (cause.kind === 'request' || cause.kind === 'response') {
      const index = this.graph.indexOf(cause.otherParent)
      if (index === undefined) throw new ParsecError('UnknownOtherParent', `event by ${packed.creator.name}`)
      otherParent = index
    }
    if (this.detector !== null && !trusted) {
      const malice = this.detector.rejecting(creator, packed, selfParent, otherParent)
      if (malice !== undefined) {
        const accusation = { offender: creator, malice }
        const fresh = this.maliceDetection === 'accuse' && this.detector.enqueue(accusation)
        if (fresh || this.maliceDetection === 'report') this.reportMalice([accusation])
        if (this.maliceDetection === 'accuse') {
          throw new ParsecError('InvalidEvent', `${malice.type} in event by ${packed.creator.name}`)
        }
      }
    }
    if (selfParent >= 0 && this.graph.get(selfParent).creator !== creator) {
      throw new ParsecError(
        'InvalidEvent',
        `self-parent by a different creator in event by ${packed.creator.name}`,
      )
    }
    if (otherParent >= 0 && this.graph.get(otherParent).creator === creator) {
      throw new ParsecError(
        'InvalidEvent',
        `other-parent by the same creator in event by ${packed.creator.name}`,
      )
    }
    if (cause.kind === 'requesting') {
      const index = this.peers.indexOf(cause.recipient)
      if (index === undefined)
        throw new ParsecError('UnknownPeer', `request addressed to unknown ${cause.recipient.name}`)
      recipient = index
    } else if (cause.kind === 'observation') {
      // The reference never checks vote signatures on receipt (spec §15); a bad one would make
      // block creation fail for everyone, so it is rejected here.
      const encoded = encodeObservation(cause.vote.payload)
      if (!trusted && !this.peers.ids[creator].verify(cause.vote.signature, encoded)) {
        throw new ParsecError('SignatureFailure', `bad vote signature by ${packed.creator.name}`)
      }
      observationKey = this.store.intern(cause.vote.payload, this.peers.ids[creator], sha3(encoded)).key
    }
    const event = this.addEvent({
      creator,
      kind: cause.kind,
      selfParent,
      otherParent,
      recipient,
      observationKey,
      hash,
      signature: packed.signature,
      voteSignature: cause.kind === 'observation' ? cause.vote.signature : undefined,
    })
    this.peers.orState(creator, RECV)
    if (this.detector !== null) {
      const found = this.detector.inspect(event, packed)
      if (!trusted) this.reportMalice(found)
    }
    return event.index
  }

  /**
   * What `peer` is assumed to lack (spec §5.2); everything if we hold none of its events. With
   * `claimed` (what the peer says it holds), less: the larger of the two per creator.
   */
  private eventsToSend(peer: number, claimed?: Frontier): PackedEvent[] {
    const graph = this.graph
    const lastOfPeer = graph.lastEventOf(peer)
    const claims = claimed === undefined ? undefined : this.frontierByPeer(claimed)
    if (lastOfPeer === undefined && claims === undefined) return this.packedEvents(0)
    const indices: number[] = []
    for (let q = 0; q < this.peers.count; q++) {
      const slots = graph.slotCount(q)
      const known = lastOfPeer === undefined ? -1 : lastOf(lastOfPeer, q)
      const lastKnown = Math.max(known, claims?.[q] ?? -1)
      const forked = graph.hasForks(q)
      for (let i = lastKnown + 1; i < slots; i++) {
        if (forked) indices.push(...graph.slot(q, i))
        else indices.push(graph.firstInSlot(q, i))
      }
      if (lastKnown >= 0 && forked) {
        for (let i = 0; i <= lastKnown && i < slots; i++) {
          const slot = graph.slot(q, i)
          if (slot.length > 1) indices.push(...slot)
        }
      }
    }
    // A typed array sorts numerically without a comparator call per comparison.
    const sorted = Int32Array.from(indices).sort()
    const out: PackedEvent[] = new Array(sorted.length)
    for (let k = 0; k < sorted.length; k++) out[k] = this.packedEvent(sorted[k])
    return out
  }

  /** The packed event (spec §2.1) at graph `index`, rebuilt from the graph and the stores. */
  private packedEvent(index: number): PackedEvent {
    const graph = this.graph
    const event = graph.get(index)
    const selfParent = () => graph.hash(event.selfParent)
    let cause: Cause
    switch (event.kind) {
      case 'initial':
        cause = { kind: 'initial' }
        break
      case 'requesting':
        cause = { kind: 'requesting', selfParent: selfParent(), recipient: this.peers.ids[event.recipient] }
        break
      case 'request':
      case 'response':
        cause = { kind: event.kind, selfParent: selfParent(), otherParent: graph.hash(event.otherParent) }
        break
      case 'observation':
        cause = {
          kind: 'observation',
          selfParent: selfParent(),
          vote: {
            // Interned by hash: the stored observation encodes to the same bytes as the vote's.
            payload: this.store.get(event.observationKey).observation,
            signature: graph.voteSignature(index) as Uint8Array,
          },
        }
        break
    }
    return { creator: this.peers.ids[event.creator], cause, signature: graph.signature(index) }
  }

  // ------------------------------------------------------------------ paged catch-up

  /** What we hold: per creator with events, the chain position of its latest event. */
  frontier(): FrontierEntry[] {
    const out: FrontierEntry[] = []
    for (let p = 0; p < this.peers.count; p++) {
      const slots = this.graph.slotCount(p)
      if (slots > 0) out.push({ creator: this.peers.ids[p], last: slots - 1 })
    }
    return out
  }

  /** The latest event of `id` we hold (the last of its latest slot), or undefined. */
  latestEventOf(id: PublicId): LatestEvent | undefined {
    const peer = this.peers.indexOf(id)
    if (peer === undefined) return undefined
    const event = this.graph.lastEventOf(peer)
    return event === undefined
      ? undefined
      : { index: event.indexByCreator, hash: this.graph.hash(event.index) }
  }

  /**
   * Peers whose latest event we hold does not yet descend from every vote event we hold: they may
   * not know of an observation (and so not be gossiping to decide it), while we have nothing left
   * pending. A host that gossips only while work is pending gossips to these until they have it.
   */
  peersLackingVotes(): PublicId[] {
    const out: PublicId[] = []
    for (let p = 1; p < this.peers.count; p++) {
      if (!this.peers.has(p, DKG | RECV)) continue
      const last = this.graph.lastEventOf(p)
      for (let c = 0; c < this.latestVoteOf.length; c++) {
        const vote = this.latestVoteOf[c] ?? -1
        if (vote >= 0 && (last === undefined || lastOf(last, c) < vote)) {
          out.push(this.peers.ids[p])
          break
        }
      }
    }
    return out
  }

  /** Our event at chain position `index`, or undefined (the first of the slot if we forked). */
  ourEventAt(index: number): LatestEvent | undefined {
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.graph.slotCount(US)) return undefined
    return { index, hash: this.graph.hash(this.graph.firstInSlot(US, index)) }
  }

  /** `frontier` as a chain position per local peer index (-1: none); unknown creators ignored. */
  private frontierByPeer(frontier: Frontier): number[] {
    const out = new Array<number>(this.peers.count).fill(-1)
    for (const { creator, last } of frontier) {
      const peer = this.peers.indexOf(creator)
      if (peer !== undefined && Number.isSafeInteger(last)) out[peer] = Math.max(out[peer], last)
    }
    return out
  }

  /**
   * A page of the events a peer holding `frontier` lacks, in our insertion order (parents first),
   * from insertion position `from` on (0: the first event it lacks). `accept` is asked for each
   * event in turn and ends the page by returning false (that event is not taken, unless it is the
   * page's first: a page is never empty before the end). Read-only: the paged catch-up's server side.
   */
  exportEvents(
    frontier: Frontier,
    from: number,
    accept: (event: PackedEvent, taken: number) => boolean,
  ): ExportedPage<PackedEvent> {
    const held = this.frontierByPeer(frontier)
    const events = this.graph.events
    let start = Math.max(0, Math.floor(from))
    if (start === 0) {
      // Nothing before the earliest event the peer lacks needs scanning.
      start = events.length
      for (let p = 0; p < this.peers.count; p++) {
        if (held[p] + 1 < this.graph.slotCount(p))
          start = Math.min(start, this.graph.firstInSlot(p, held[p] + 1))
      }
    }
    const out: PackedEvent[] = []
    let i = start
    for (; i < events.length; i++) {
      const event = events[i]
      if (event.indexByCreator <= held[event.creator]) continue
      const packed = this.packedEvent(i)
      if (!accept(packed, out.length) && out.length > 0) break
      out.push(packed)
    }
    return { events: out, next: i, done: i >= events.length }
  }

  /**
   * Adds events fetched by paged catch-up (spec §5.3 for each, in order): verified and checked for
   * malice like gossip, but no sync event is made and nothing is queued for one. A failing event
   * ends the call with the step's `error` (its faults name `src`, unless the event is one of ours
   * that we do not hold: `UnknownOwnEvent`, no fault); the events before it stay.
   *
   * An observer (a `fromExisting` engine not yet added) replaying history makes no event until
   * its own Add is decided (then its Initial event). Events whose creator it does not know yet
   * (added after the `section` it was built with) wait in a bounded orphan buffer, with those
   * built on them, and are retried when an Add is decided. Once we were removed, nothing is added.
   */
  ingest(src: PublicId, packedEvents: readonly PackedEvent[]): Step {
    this.startCall()
    if (this.serveOnly) {
      this.warn({ kind: 'serve-only', detail: 'ingested events were not added' })
      return this.finishCall<never>(undefined)
    }
    const faults = this.callFaults
    const observer = !this.peers.has(US, DKG)
    let dropped = 0
    try {
      for (const packed of packedEvents) {
        if (observer && this.isOrphan(packed)) {
          if (this.orphans.length >= MAX_ORPHAN_EVENTS) dropped++
          else this.keepOrphan(packed)
          continue
        }
        const peersBefore = this.peers.count
        this.unpack(packed)
        if (this.peers.count > peersBefore && this.orphans.length > 0) this.retryOrphans()
      }
    } catch (error) {
      if (dropped > 0) this.warn({ kind: 'orphans-dropped', count: dropped })
      if (error instanceof ParsecError) {
        if (!faults.some((f) => f.offender.name === src.name) && error.code !== 'UnknownOwnEvent') {
          faults.push({ kind: 'rejected', offender: src, code: error.code, detail: error.detail })
        }
      }
      return this.failCall(error)
    }
    if (dropped > 0) this.warn({ kind: 'orphans-dropped', count: dropped })
    return this.finishCall<never>(undefined)
  }

  /** An event whose creator we do not know, or built on an orphan: it waits (observers only). */
  private isOrphan(packed: PackedEvent): boolean {
    if (this.peers.indexOf(packed.creator) === undefined) return true
    if (this.orphans.length === 0) return false
    const cause = packed.cause
    if (cause.kind === 'initial') return false
    if (this.orphanHashes.has(hashKey(cause.selfParent))) return true
    return (
      (cause.kind === 'request' || cause.kind === 'response') &&
      this.orphanHashes.has(hashKey(cause.otherParent))
    )
  }

  private keepOrphan(packed: PackedEvent): void {
    this.orphans.push(packed)
    this.orphanHashes.add(hashKey(eventHash(encodeContentTransient(packed.creator, packed.cause))))
  }

  /** Orphans whose creators are now known, in arrival order, until none can be added. */
  private retryOrphans(): void {
    const waiting = this.orphans
    this.orphans = []
    this.orphanHashes.clear()
    let progress = false
    let i = 0
    try {
      for (; i < waiting.length; i++) {
        const packed = waiting[i]
        if (this.isOrphan(packed)) {
          this.keepOrphan(packed)
          continue
        }
        const peersBefore = this.peers.count
        this.unpack(packed)
        progress ||= this.peers.count > peersBefore
      }
    } finally {
      // A failing orphan is dropped (the error reports it); those after it keep waiting.
      for (const packed of waiting.slice(i + 1)) this.keepOrphan(packed)
    }
    if (progress && this.orphans.length > 0) this.retryOrphans()
  }

  /** Events an observer holds back until their creators are known. */
  get orphanCount(): number {
    return this.orphans.length
  }

  // ------------------------------------------------------------------ our events

  private ourLastEvent(): GraphEvent {
    const last = this.graph.lastEventOf(US)
    if (last === undefined) throw new ParsecError('InvalidSelfState', 'we have no event yet')
    return last
  }

  private ourLastHash(): Uint8Array {
    return this.graph.hash(this.ourLastEvent().index)
  }

  private createInitialEvent(): void {
    const { packed, content } = packEvent(this.secret, { kind: 'initial' })
    const hash = eventHash(content)
    const input: NewEvent = {
      creator: US,
      kind: 'initial',
      selfParent: -1,
      otherParent: -1,
      recipient: -1,
      observationKey: -1,
      hash,
      signature: packed.signature,
    }
    this.graph.commit(this.graph.prepare(input, this.peers.count), input)
  }

  private createOwnEvent(cause: Cause, observationKey = -1): GraphEvent {
    const { packed, content } = packEvent(this.secret, cause)
    const hash = eventHash(content)
    const selfParent = cause.kind === 'initial' ? -1 : this.graph.indexOf(cause.selfParent)!
    const otherParent =
      cause.kind === 'request' || cause.kind === 'response' ? this.graph.indexOf(cause.otherParent)! : -1
    const recipient = cause.kind === 'requesting' ? this.peers.require(cause.recipient) : -1
    return this.addEvent({
      creator: US,
      kind: cause.kind,
      selfParent,
      otherParent,
      recipient,
      observationKey,
      hash,
      signature: packed.signature,
      voteSignature: cause.kind === 'observation' ? cause.vote.signature : undefined,
    })
  }

  /** Our Request/Response for a handled message, or queued until we have an event (spec §5.6). */
  private createSyncEvent(isRequest: boolean, otherParent: number): void {
    if (!this.graph.hasEventsOf(US)) {
      if (this.pending.length >= MAX_PENDING_SYNC_EVENTS) this.pending.shift()
      this.pending.push({ isRequest, otherParent })
      return
    }
    const selfParent = this.ourLastHash()
    const other = this.graph.hash(otherParent)
    this.createOwnEvent(
      isRequest
        ? { kind: 'request', selfParent, otherParent: other }
        : { kind: 'response', selfParent, otherParent: other },
    )
  }

  private flushPending(): void {
    if (this.pending.length === 0 || !this.graph.hasEventsOf(US)) return
    const queued = this.pending
    this.pending = []
    for (const { isRequest, otherParent } of queued) this.createSyncEvent(isRequest, otherParent)
  }

  // ------------------------------------------------------------------ consensus (spec §6.1)

  private addEvent(input: NewEvent): GraphEvent {
    const event = this.graph.prepare(input, this.peers.count)
    const creator = input.creator
    if (creator !== US && !this.peers.has(creator, SEND)) {
      // A removed peer's events relayed by others: the reference rejects those made after its
      // removal was decided here, but a peer that had not decided yet may have accepted them and
      // built on them, and then everything it sends is refused: the section splits. Whether a
      // relayed event is accepted must not depend on when each peer decided, so outside reference
      // rules they are accepted (only direct gossip from a removed peer is refused).
      const removedAt = this.peers.removedAt[creator]
      const refused = removedAt < 0 || (this.referenceRules && isDescendant(event, this.graph.get(removedAt)))
      if (refused) {
        throw new ParsecError(
          'InvalidPeerState',
          `events of ${this.peers.ids[creator].name} are not accepted`,
        )
      }
    }
    let unconsensusedKey = -1
    if (input.observationKey >= 0) {
      this.latestVoteOf[creator] = Math.max(this.latestVoteOf[creator] ?? -1, event.indexByCreator)
      const entry = this.store.get(input.observationKey)
      if (creator === US) entry.createdByUs = true
      if (!entry.consensused) unconsensusedKey = entry.key
    }
    this.graph.commit(event, input)
    this.detector?.record(event)
    if (unconsensusedKey >= 0) this.election.addUnconsensused(event.index, unconsensusedKey)
    this.processEvents(event.index)
    return event
  }

  private processEvents(start: number): void {
    let end = this.graph.size
    let i = start
    while (i < end) {
      const restart = this.processEvent(i)
      if (restart !== undefined && restart <= i) {
        i = restart
        end = this.graph.size
      } else {
        i++
      }
    }
  }

  private processEvent(index: number): number | undefined {
    if (this.serveOnly) return undefined
    const event = this.graph.get(index)
    if (event.isSync && this.election.isVoter(event.creator)) this.election.buildMetaEvent(event)
    const keys = this.election.decide(event)
    if (keys === null) return undefined
    return this.onDecision(event, keys)
  }

  /** Blocks (§7.1), membership effects (§8.4), then the next election (§6.9). */
  private onDecision(event: GraphEvent, keys: number[]): number {
    if (this.collecting) this.recordDecision(event, keys)
    const group: QueuedBlock[] = []
    for (const key of keys) {
      const votes = new Map<number, number>()
      for (const carrier of this.election.eventsCarrying(key)) {
        const e = this.graph.get(carrier)
        if (this.election.isVoter(e.creator) && e.kind === 'observation') {
          votes.set(e.creator, carrier)
        }
      }
      if (votes.size === 0) continue
      // A copy, not a view: the graph keeps signatures in shared arena chunks (up to 64 KiB), and
      // a block outlives its graph (hosts keep blocks, the membership chain keeps proofs across
      // epochs): a view would keep its whole chunk alive after the graph is dropped.
      const proofs: Proof[] = [...votes].map(([peer, carrier]) => ({
        publicId: this.peers.ids[peer],
        signature: (this.graph.voteSignature(carrier) as Uint8Array).slice(),
      }))
      proofs.sort((a, b) => compareIds(a.publicId, b.publicId))
      group.push({
        block: { payload: this.store.get(key).observation, proofs },
        key,
        position: this.decidedBlocks + group.length,
      })
    }
    for (const key of keys) this.store.markConsensused(key)
    const changes: MembershipChange[] = []
    for (const key of keys) {
      const observation = this.store.get(key).observation
      if (observation.kind === 'add') {
        const known = this.peers.indexOf(observation.peer)
        if (known !== undefined && this.peers.isRemoved(known)) {
          // A removed id stays removed (an incarnation is never re-added; MEMBERSHIP.md §4).
          this.warnDecided({ kind: 'irrelevant-membership', observation, reason: 'already-removed' })
          continue
        }
        if (known !== undefined && changes.some((c) => c.kind === 'add' && c.peer === known)) {
          // A second Add of the same peer in one decision (two keys: e.g. two tickets) adds nothing.
          this.warnDecided({ kind: 'irrelevant-membership', observation, reason: 'already-a-member' })
          continue
        }
        if (known !== undefined && this.election.isVoter(known)) {
          // Still a change (the next election starts afresh, as it always did), but a no-op.
          this.warnDecided({ kind: 'irrelevant-membership', observation, reason: 'already-a-member' })
        }
        changes.push({ kind: 'add', peer: this.admit(observation.peer) })
      } else if (observation.kind === 'remove' || observation.kind === 'accusation') {
        const peer = this.peers.indexOf(
          observation.kind === 'remove' ? observation.peer : observation.offender,
        )
        if (peer !== undefined && !this.peers.isRemoved(peer)) {
          this.peers.markRemoved(peer, event.index)
          changes.push({ kind: 'remove', peer })
        } else {
          const reason = peer === undefined ? 'not-a-member' : 'already-removed'
          this.warnDecided({ kind: 'irrelevant-membership', observation, reason })
        }
      }
    }
    this.blocks.push(...group)
    this.decidedBlocks += group.length
    this.history.push(...keys)
    this.decisionSizes.push(keys.length)
    return this.election.startNext(keys, changes, this.graph.size)
  }

  /** Spec §8.4 `Add(p)`. */
  private admit(id: PublicId): number {
    const existing = this.peers.indexOf(id)
    let receivedFromAll = true
    for (let q = 1; q < this.peers.count; q++) {
      if (q === existing || !this.peers.has(q, VOTE)) continue
      if (!this.peers.has(q, RECV)) receivedFromAll = false
    }
    const peer = this.peers.add(id, VOTE | SEND | (receivedFromAll ? RECV : 0))
    if (peer === US && !this.graph.hasEventsOf(US)) this.createInitialEvent()
    return peer
  }

  // ------------------------------------------------------------------ steps

  private startCall(): void {
    this.collecting = true
    this.callStart = this.graph.size
    this.callFaults = []
    this.callWarnings = undefined
    this.callDecisions = undefined
  }

  private warn(warning: Warning): void {
    if (this.callWarnings === undefined) this.callWarnings = []
    this.callWarnings.push(warning)
  }

  /** A warning about a decision: reported within a call, dropped during a restore. */
  private warnDecided(warning: Warning): void {
    if (this.collecting) this.warn(warning)
  }

  private recordDecision(event: GraphEvent, keys: readonly number[]): void {
    const voters = this.election.voters
      .map((peer) => ({ voter: this.peers.ids[peer], last: lastOf(event, peer) }))
      .sort((a, b) => compareIds(a.voter, b.voter))
    const decision: Decision = {
      election: this.decisionSizes.length,
      observations: keys.map((key) => this.store.get(key).observation),
      firstPosition: this.decidedBlocks,
      lastAncestors: voters,
    }
    if (this.callDecisions === undefined) this.callDecisions = []
    this.callDecisions.push(decision)
  }

  /** The step of the call in progress: everything collected, and every queued block. */
  private finishCall<M>(message: M | undefined, error?: ParsecError): Step<M> {
    this.collecting = false
    let blocks: readonly AgreedBlock[] = NO_BLOCKS
    if (this.polled < this.blocks.length) {
      blocks = this.blocks.slice(this.polled).map(({ position, block }) => ({ position, block }))
      this.blocks = []
      this.polled = 0
    }
    const from = this.callStart
    const to = this.graph.size
    const faults = this.callFaults
    this.callFaults = []
    return new EngineStep(
      message,
      blocks,
      this.callDecisions ?? NO_DECISIONS,
      faults.length === 0 ? NO_FAULTS : faults,
      this.callWarnings ?? NO_WARNINGS,
      from === to ? undefined : () => this.packedEvents(from, to),
      error,
    )
  }

  /** A call ended by bad input: its `ParsecError` goes in the step (its faults too); others throw. */
  private failCall<M>(error: unknown): Step<M> {
    if (!(error instanceof ParsecError)) {
      this.collecting = false
      throw error
    }
    for (const fault of error.faults) if (!this.callFaults.includes(fault)) this.callFaults.push(fault)
    const carried =
      error.faults.length === this.callFaults.length
        ? error
        : new ParsecError(error.code, error.detail, [...this.callFaults])
    return this.finishCall<M>(undefined, carried)
  }

  // ------------------------------------------------------------------ views

  /** A read-only snapshot (copied: mutating it changes nothing here). */
  view(): ParsecView {
    const ids = this.peers.ids
    const rounds = this.election.decisionRounds
    const progress = this.election.progress()
    return {
      us: this.ourId,
      graphSize: this.graph.size,
      decidedBlocks: this.decidedBlocks,
      removed: this.peers.isRemoved(US),
      canVote: this.canVote(),
      voters: sortIds(this.voters()),
      peers: ids.map((id, p) => ({
        id,
        state: describeState(this.peers.state(p)),
        removed: this.peers.isRemoved(p),
        forked: this.graph.hasForks(p),
        events: this.graph.slotCount(p),
      })),
      decisions: this.decisionSizes.map((size, index) => ({
        index,
        decided: true as const,
        size,
        round: rounds[index] ?? 0,
      })),
      election: {
        index: this.decisionSizes.length,
        decided: false,
        voters: sortIds(this.voters()),
        round: progress.round,
        step: progress.step,
        metaEvents: progress.metaEvents,
      },
      pendingObservations: this.store.pendingCount,
      observations: this.store.entries.length,
      ourUnpolledVotes: this.ourUnpolledObservations(),
      membershipVotes: this.membershipVotes(),
    }
  }

  /**
   * Others' votes for Adds and Removes not agreed yet, in key order (also in `view()`): cheap when
   * there are none, whatever the graph's size, so a host may ask after every step.
   */
  membershipVotes(): MembershipVote[] {
    const out: MembershipVote[] = []
    for (const key of this.store.membershipKeys) {
      const entry = this.store.get(key)
      const observation = entry.observation
      if (entry.consensused) continue
      const voters = new Set<number>()
      for (const carrier of this.election.eventsCarrying(entry.key)) {
        const creator = this.graph.get(carrier).creator
        if (creator === US || voters.has(creator)) continue
        voters.add(creator)
        out.push({ voter: this.peers.ids[creator], observation })
      }
    }
    return out
  }

  /** Observations seen so far and not agreed yet (cheap: for a host's gossip pace). */
  get pendingObservationCount(): number {
    return this.store.pendingCount
  }

  /** Every observation seen so far, agreed or not (cheap: for a host's progress check). */
  get observationCount(): number {
    return this.store.entries.length
  }

  /** We were removed: the engine only serves (see `createGossip`, `handleRequest`). */
  get isRemoved(): boolean {
    return this.peers.isRemoved(US)
  }

  /**
   * Ends this engine's part in consensus (docs/epochs.md §2: the previous epoch's engine, once the
   * section agreed to start the next): from now on it only serves, as a removed engine drains.
   * It answers requests with the events the requester lacks, pushes final syncs, adds nothing it
   * receives, makes no event and decides nothing more. There is no way back.
   */
  retire(): void {
    this.retired = true
  }

  /** Serve-only: removed, or retired (`retire`). */
  get isServeOnly(): boolean {
    return this.serveOnly
  }

  private get serveOnly(): boolean {
    return this.retired || this.peers.isRemoved(US)
  }

  /**
   * SHA3-256 of the `OH` of the first `k` entries of the consensus history (the agreed
   * observations in order, spec §12.5), one after another: equal at every honest peer.
   * Undefined while fewer than `k` are agreed here; `k` must be a non-negative integer.
   */
  historyDigest(k: number): Uint8Array | undefined {
    if (!Number.isSafeInteger(k) || k < 0) throw new ParsecError('InvalidArgument', `bad history length ${k}`)
    if (k > this.history.length) return undefined
    const bytes = new Uint8Array(32 * k)
    for (let i = 0; i < k; i++) bytes.set(this.store.hashOf(this.history[i]), 32 * i)
    return sha3(bytes)
  }

  /** The agreed observations from position `from` on, in order (spec §12.5): a copy. */
  consensusHistory(from = 0): Observation[] {
    return this.history.slice(Math.max(0, from)).map((key) => this.store.get(key).observation)
  }

  /** How many observations are agreed (the consensus history's length). */
  get historyLength(): number {
    return this.history.length
  }

  /**
   * Our graph's events from index `from` on (up to `to`, excluded), in insertion order (parents
   * first): what a peer persists after each call, so its own events are stored before they are
   * sent. Each call builds them anew from the graph (no event object is kept per event).
   */
  packedEvents(from = 0, to = this.graph.size): PackedEvent[] {
    const out: PackedEvent[] = []
    for (let i = Math.max(0, from); i < Math.min(to, this.graph.size); i++) out.push(this.packedEvent(i))
    return out
  }

  /** Events the sync messages we handled carried (requests and responses). */
  get eventsReceived(): number {
    return this.received
  }

  /** Of `eventsReceived`, those we held already: sent to us in vain. */
  get duplicateEventsReceived(): number {
    return this.duplicates
  }

  /** Of `eventsReceived`, those the requests we handled carried (the rest: our responses). */
  get eventsReceivedInRequests(): number {
    return this.receivedInRequests
  }

  /** Of `duplicateEventsReceived`, those the requests we handled carried. */
  get duplicateEventsReceivedInRequests(): number {
    return this.duplicatesInRequests
  }

  /** Number of events in our gossip graph. */
  get graphSize(): number {
    return this.graph.size
  }

  /** Number of events of ours in the graph (we never fork: one per slot). */
  get ownEventCount(): number {
    return this.graph.slotCount(US)
  }

  /** The current voters, in local index order. */
  voters(): PublicId[] {
    return this.election.voters.map((p) => this.peers.ids[p])
  }

  /** Number of blocks agreed so far (polled or not). */
  get decidedBlockCount(): number {
    return this.decidedBlocks
  }
}

function hashKey(hash: Uint8Array): string {
  return Buffer.from(hash.buffer, hash.byteOffset, hash.byteLength).toString('latin1')
}

const NO_BLOCKS: readonly AgreedBlock[] = Object.freeze([])
const NO_DECISIONS: readonly Decision[] = Object.freeze([])
const NO_FAULTS: readonly Fault[] = Object.freeze([])
const NO_WARNINGS: readonly Warning[] = Object.freeze([])

/** Whether two observations are the same opaque payload or the same checkpoint. */
function sameBytePayload(a: Observation, b: Observation): boolean {
  if (a.kind === 'opaque' && b.kind === 'opaque') return bytesEqual(a.payload, b.payload)
  if (a.kind === 'checkpoint' && b.kind === 'checkpoint') return bytesEqual(a.payload, b.payload)
  return false
}
