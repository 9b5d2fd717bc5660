/**
 * Malice detection (spec §9.2) and the accusations it queues (spec §9.1), with the fixes of §15.
 *
 * The engine asks, for each event received from another peer:
 *  - `rejecting` before insertion: malice that keeps the event out of the graph (an incorrect
 *    genesis, a parent by the wrong creator, a Request/Response breaking the
 *    Requesting→Request→Response pattern);
 *  - `inspect` after insertion: malice where the event stays (unexpected or missing genesis,
 *    duplicate vote, fork, invalid accusation, accomplice).
 * `record` runs for every event, ours included, to track which Requesting and Request were used.
 *
 * Deviations from the reference (each because the reference's rule can punish honest peers or
 * let misbehaviour through; see README "Malice detection"):
 *  - A second Request for one Requesting (or a second Response for one Request) is kept in the
 *    graph and accused, like a fork: peers that received the two in different orders would
 *    otherwise each reject a different one and refuse each other's later events forever.
 *  - DuplicateVote names the two votes in the creator's chain order, so every honest peer makes
 *    the same accusation (and it can reach agreement).
 *  - Accusations are judged on proof (`accusation-check.ts`), not on whether we made the same one.
 *  - An accusation proven by the signed event it carries is echoed: we vote it too, so malice
 *    shown to one peer only can still be agreed on.
 */
import { encodeWith } from '../encoding/bincode.js'
import { toHex } from '../encoding/bytes.js'
import { sha3 } from '../encoding/hash.js'
import { computeAncestry } from '../graph/ancestry.js'
import { Int32Column } from '../graph/columns.js'
import type { PackedEvent } from '../graph/event.js'
import type { Graph, GraphEvent } from '../graph/graph.js'
import type { Malice } from '../observations/malice.js'
import { writeObservation } from '../observations/observation.js'
import type { ObservationStore } from '../observations/store.js'
import type { PeerList } from '../peers/peer-list.js'
import {
  carried,
  carriesItsEvidence,
  forkChildren,
  isAccomplice,
  isGenesisGroup,
  type JudgeContext,
  judge,
  syncSelfOrAncestor,
} from './accusation-check.js'
import { packedEvidence } from './packed-evidence.js'

export interface Accusation {
  readonly offender: number
  readonly malice: Malice
}

/** Bound on accusations waiting for their evidence (spec §15: unbounded in the reference). */
const MAX_QUEUED = 1024

export interface DetectorInput {
  readonly graph: Graph
  readonly peers: PeerList
  readonly store: ObservationStore
  readonly genesisGroup: ReadonlySet<string>
  voterCount(): number
}

/** One number per (creator, observation key): peer indices stay far below 2^20. */
function voteId(creator: number, observationKey: number): number {
  return observationKey * 2 ** 20 + creator
}

function answerIn(answers: Int32Column, index: number): number | undefined {
  const answer = index < answers.length ? answers.get(index) : 0
  return answer === 0 ? undefined : answer - 1
}

/** Records `event` as answering `index` unless another event already did. */
function answer(answers: Int32Column, index: number, event: number): void {
  while (answers.length <= index) answers.push(0)
  if (answers.get(index) === 0) answers.set(index, event + 1)
}

export class MaliceDetector implements JudgeContext {
  readonly graph: Graph
  readonly peers: PeerList
  readonly store: ObservationStore
  readonly genesisGroup: ReadonlySet<string>
  private readonly countVoters: () => number
  /** By graph index, 1 + the first Request using it as other-parent (0: none). */
  private readonly requestOf = new Int32Column()
  /** By graph index, 1 + the first Response to it (0: none). */
  private readonly responseOf = new Int32Column()
  private readonly against = new Map<number, number[]>()
  /**
   * By `voteId(creator, observationKey)`, the creator's event voting it, or all of them once it
   * voted it again (a number per vote: the common case costs one map entry, no array).
   */
  private readonly votes = new Map<number, number | number[]>()
  private queue: Accusation[] = []
  /** Ids of accusations we queued or voted: offender name + accusation hash. */
  private readonly accused = new Set<string>()
  /** Our accusations resting on graph events, for the accomplice rule. */
  private readonly ours: Accusation[] = []
  /** creator:accusation id of the accomplice accusations made (one per peer and malice). */
  private readonly accomplices = new Set<string>()

  constructor(input: DetectorInput) {
    this.graph = input.graph
    this.peers = input.peers
    this.store = input.store
    this.genesisGroup = input.genesisGroup
    this.countVoters = input.voterCount
  }

  voterCount(): number {
    return this.countVoters()
  }

  votesAgainst(peer: number): readonly number[] {
    return this.against.get(peer) ?? []
  }

  requestUsing(requesting: number): number | undefined {
    return answerIn(this.requestOf, requesting)
  }

  responseTo(request: number): number | undefined {
    return answerIn(this.responseOf, request)
  }

  get pending(): readonly Accusation[] {
    return this.queue
  }

  // ------------------------------------------------------------------ detectors

  /** Rules 1-4: malice for which `packed` (by `creator`) must not enter the graph. */
  rejecting(
    creator: number,
    packed: PackedEvent,
    selfParent: number,
    otherParent: number,
  ): Malice | undefined {
    const cause = packed.cause
    const evidence = () => packedEvidence(packed)
    if (
      cause.kind === 'observation' &&
      cause.vote.payload.kind === 'genesis' &&
      !isGenesisGroup(this, cause.vote.payload.group)
    ) {
      return { type: 'IncorrectGenesis', packedEvent: evidence() }
    }
    if (otherParent >= 0 && this.graph.get(otherParent).creator === creator) {
      return { type: 'OtherParentBySameCreator', packedEvent: evidence() }
    }
    if (selfParent >= 0 && this.graph.get(selfParent).creator !== creator) {
      return { type: 'SelfParentByDifferentCreator', packedEvent: evidence() }
    }
    if (cause.kind === 'request') {
      const requesting = this.graph.get(otherParent)
      if (requesting.kind !== 'requesting' || requesting.recipient !== creator) {
        return { type: 'InvalidRequest', packedEvent: evidence() }
      }
    } else if (cause.kind === 'response') {
      const request = syncSelfOrAncestor(this.graph, this.graph.get(otherParent))
      if (
        request === undefined ||
        request.kind !== 'request' ||
        this.graph.get(request.otherParent).creator !== creator
      ) {
        return { type: 'InvalidResponse', packedEvent: evidence() }
      }
    }
    return undefined
  }

  /** Whether our own Request/Response with this other-parent keeps the pattern (spec §5.5). */
  validOwnSync(isRequest: boolean, otherParent: GraphEvent, us: number): boolean {
    if (isRequest) {
      return (
        otherParent.kind === 'requesting' &&
        otherParent.recipient === us &&
        this.requestUsing(otherParent.index) === undefined
      )
    }
    const request = syncSelfOrAncestor(this.graph, otherParent)
    return (
      request !== undefined &&
      request.kind === 'request' &&
      this.graph.get(request.otherParent).creator === us &&
      this.responseTo(request.index) === undefined
    )
  }

  /** Bookkeeping for every inserted event, ours included. */
  record(event: GraphEvent): void {
    if (event.kind === 'request') {
      answer(this.requestOf, event.otherParent, event.index)
    } else if (event.kind === 'response') {
      const request = syncSelfOrAncestor(this.graph, this.graph.get(event.otherParent))
      if (request !== undefined) answer(this.responseOf, request.index, event.index)
    }
    const observation = carried(this, event)
    if (observation === undefined) return
    const id = voteId(event.creator, event.observationKey)
    const earlier = this.votes.get(id)
    if (earlier === undefined) this.votes.set(id, event.index)
    else if (typeof earlier === 'number') this.votes.set(id, [earlier, event.index])
    else earlier.push(event.index)
    const target =
      observation.kind === 'accusation'
        ? observation.offender
        : observation.kind === 'remove'
          ? observation.peer
          : undefined
    const peer = target === undefined ? undefined : this.peers.indexOf(target)
    if (peer !== undefined) {
      const votes = this.against.get(peer)
      if (votes === undefined) this.against.set(peer, [event.index])
      else votes.push(event.index)
    }
  }

  /**
   * Rules 4 (reuse), 5-9 and the accomplice rule for another peer's event (as received: `packed`),
   * after insertion.
   */
  inspect(event: GraphEvent, packed: PackedEvent): Accusation[] {
    const found: Accusation[] = []
    const accuse = (offender: number, malice: Malice) => {
      const accusation = { offender, malice }
      if (this.enqueue(accusation)) found.push(accusation)
    }
    const { graph } = this
    const creator = event.creator
    const name = this.peers.ids[creator].name
    const observation = carried(this, event)
    // A Requesting used twice, or a Request answered twice: kept (see header), accused.
    if (event.kind === 'request' && this.requestUsing(event.otherParent) !== event.index) {
      accuse(creator, { type: 'InvalidRequest', packedEvent: packedEvidence(packed) })
    } else if (event.kind === 'response') {
      const request = syncSelfOrAncestor(graph, graph.get(event.otherParent))
      if (request !== undefined && this.responseTo(request.index) !== event.index)
        accuse(creator, { type: 'InvalidResponse', packedEvent: packedEvidence(packed) })
    }
    if (observation?.kind === 'genesis') {
      if (!this.genesisGroup.has(name) || graph.get(event.selfParent).kind !== 'initial') {
        accuse(creator, { type: 'UnexpectedGenesis', event: graph.hash(event.index) })
      }
    } else if (event.indexByCreator === 1 && this.genesisGroup.has(name)) {
      accuse(creator, { type: 'MissingGenesis', event: graph.hash(event.index) })
    }
    if (observation !== undefined) {
      const same = this.votes.get(voteId(creator, event.observationKey))
      if (Array.isArray(same) && same.length === 2) {
        const [a, b] = same.map((i) => graph.get(i)).sort((x, y) => x.indexByCreator - y.indexByCreator)
        accuse(creator, { type: 'DuplicateVote', first: graph.hash(a.index), second: graph.hash(b.index) })
      }
    }
    // A fork needs a second event in this event's slot: one array read in the common case.
    if (event.selfParent >= 0 && graph.slotSize(creator, event.indexByCreator) > 1) {
      const parent = graph.get(event.selfParent)
      const children = forkChildren(graph, parent)
      if (children.length === 2) accuse(creator, { type: 'Fork', event: graph.hash(parent.index) })
    }
    if (event.isSync) this.checkAccusationsBefore(event, accuse)
    if (event.kind === 'request' || event.kind === 'response') {
      for (const ours of this.ours) {
        if (ours.offender === creator) continue
        const id = `${creator}:${this.accusationId(ours.offender, ours.malice)}`
        if (this.accomplices.has(id) || isAccomplice(this, event, ours.malice) !== 'valid') continue
        this.accomplices.add(id)
        accuse(creator, { type: 'Accomplice', event: graph.hash(event.index), malice: ours.malice })
      }
    }
    return found
  }

  /** Rule 9: the accusations voted in the run of votes just before the sync event `sync`. */
  private checkAccusationsBefore(sync: GraphEvent, accuse: (offender: number, malice: Malice) => void): void {
    let index = sync.selfParent
    while (index >= 0) {
      const vote = this.graph.get(index)
      if (vote.kind !== 'observation') return
      index = vote.selfParent
      const observation = carried(this, vote)
      if (observation?.kind !== 'accusation') continue
      const offender = this.peers.indexOf(observation.offender)
      if (offender !== undefined && this.accused.has(this.accusationId(offender, observation.malice)))
        continue
      const verdict = offender === undefined ? 'invalid' : judge(this, offender, observation.malice, sync)
      if (verdict === 'invalid') {
        accuse(sync.creator, { type: 'InvalidAccusation', event: this.graph.hash(vote.index) })
      } else if (verdict === 'valid' && offender !== undefined && carriesItsEvidence(observation.malice)) {
        // Proven by the signed event it carries, which only the accuser may hold: echo it.
        accuse(offender, observation.malice)
      }
    }
  }

  // ------------------------------------------------------------------ the queue (spec §9.1)

  /** Queues an accusation unless already queued or voted, or its offender is gone. */
  enqueue(accusation: Accusation): boolean {
    if (accusation.offender === 0 || this.peers.isRemoved(accusation.offender)) return false
    const id = this.accusationId(accusation.offender, accusation.malice)
    if (this.accused.has(id)) return false
    this.accused.add(id)
    if (this.queue.length >= MAX_QUEUED) this.queue.shift()
    this.queue.push(accusation)
    if (!carriesItsEvidence(accusation.malice) && accusation.malice.type !== 'Accomplice')
      this.ours.push(accusation)
    return true
  }

  /**
   * The queued accusations proven in the past of our next sync event (whose parents are
   * `ourLast` and `otherParent`), the one honest peers will judge them by; the others stay queued. Accusations against peers removed
   * meanwhile are dropped.
   */
  takeReady(ourLast: GraphEvent, otherParent: GraphEvent): Accusation[] {
    if (this.queue.length === 0) return []
    // The past of the sync event we are about to make: where judges will check our accusations.
    const next = computeAncestry(
      this.peers.count,
      ourLast.creator,
      ourLast.indexByCreator + 1,
      0,
      ourLast,
      otherParent,
    )
    const ready: Accusation[] = []
    const waiting: Accusation[] = []
    for (const accusation of this.queue) {
      if (this.peers.isRemoved(accusation.offender)) continue
      // Voted only once proven there (or, for a signed event we alone hold, not disprovable).
      const verdict = judge(this, accusation.offender, accusation.malice, next)
      const isReady = verdict === 'valid' || (verdict === 'unknown' && carriesItsEvidence(accusation.malice))
      ;(isReady ? ready : waiting).push(accusation)
    }
    this.queue = waiting
    return ready
  }

  private accusationId(offender: number, malice: Malice): string {
    const id = this.peers.ids[offender]
    const hash = sha3(encodeWith((w) => writeObservation(w, { kind: 'accusation', offender: id, malice })))
    return `${id.name}:${toHex(hash)}`
  }
}
