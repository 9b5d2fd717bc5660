/**
 * The gossip graph store (spec §2.4-2.5): events in insertion order (always topological), a
 * hash index for de-duplication, and per creator the slots of its events by `index_by_creator`
 * (a slot holds more than one event only when the creator forked).
 *
 * Memory is what bounds a long-lived graph, so an event keeps one small record (`GraphEvent`:
 * indices, its kind, its ancestry row) and everything else lives in shared columns: its hash in
 * the hash index, its signatures in a byte arena, its `last` row in shared chunks, its slot in a
 * per-creator integer column. The packed event (spec §2.1) is rebuilt from these on demand.
 */
import type { MetaEvent } from '../meta-voting/meta-event.js'
import { type Ancestry, computeAncestry, type ForkMap, seenLast, sees } from './ancestry.js'
import { ByteArena, Int32Column, RowArena } from './columns.js'
import type { CauseKind, EventHash } from './event.js'
import { HashIndex } from './hash-index.js'

export class GraphEvent implements Ancestry {
  /** The meta-event of the current election, if this is a voter's sync event (spec §6.2). */
  meta: MetaEvent | null = null

  constructor(
    readonly index: number,
    readonly creator: number,
    readonly kind: CauseKind,
    readonly selfParent: number,
    readonly otherParent: number,
    /** Requesting recipient (peer index) or -1. */
    readonly recipient: number,
    /** Interned observation key of the carried vote, or -1. */
    readonly observationKey: number,
    readonly indexByCreator: number,
    readonly rows: Int32Array,
    readonly row: number,
    readonly width: number,
    readonly forks: ForkMap | null,
  ) {}

  get isSync(): boolean {
    return this.kind === 'request' || this.kind === 'response' || this.kind === 'requesting'
  }
}

export interface NewEvent {
  creator: number
  kind: CauseKind
  selfParent: number
  otherParent: number
  recipient: number
  observationKey: number
  hash: EventHash
  /** The creator's signature of the event. */
  signature: Uint8Array
  /** The vote's signature, for an observation. */
  voteSignature?: Uint8Array
}

/** The salt of the hash index when the host gives none (tools and tests: no hostile input). */
const DEFAULT_SALT = new Uint8Array(16).fill(0x5a)

export class Graph {
  /** The reference's fork-blind `sees` (spec §4.3, §15); see `sees` in ancestry.ts. */
  forkBlind = true
  readonly events: GraphEvent[] = []
  private readonly hashes: HashIndex
  /**
   * Per event a record: the signature's length and the vote signature's (u16 LE each, 0: no
   * vote), the signature, the vote signature. `signatureAt` holds where each record starts.
   */
  private readonly signatures = new ByteArena()
  private readonly signatureAt = new Int32Column()
  private record = new Uint8Array(256)
  private readonly rows = new RowArena()
  /** Per creator, the first event of each slot, by `index_by_creator`. */
  private readonly slotFirst: Int32Column[] = []
  /** Per forked creator, its slots holding two or more events (all of them, in insertion order). */
  private readonly forkSlots = new Map<number, Map<number, number[]>>()

  /** `salt`: 16 or more bytes only this host knows (see `HashIndex`). */
  constructor(salt: Uint8Array = DEFAULT_SALT) {
    this.hashes = new HashIndex(salt)
  }

  get size(): number {
    return this.events.length
  }

  get(index: number): GraphEvent {
    return this.events[index]
  }

  indexOf(hash: EventHash): number | undefined {
    return this.hashes.indexOf(hash)
  }

  /** The hash of the event at `index` (a copy). */
  hash(index: number): EventHash {
    return this.hashes.hash(index)
  }

  private recordLength(at: number, field: number): number {
    return this.signatures.byte(at + field) | (this.signatures.byte(at + field + 1) << 8)
  }

  /** The creator's signature of the event at `index` (a view: not to be modified). */
  signature(index: number): Uint8Array {
    const at = this.signatureAt.get(index)
    return this.signatures.view(at + 4, this.recordLength(at, 0))
  }

  /** The vote signature of the observation event at `index` (a view), or undefined. */
  voteSignature(index: number): Uint8Array | undefined {
    const at = this.signatureAt.get(index)
    const length = this.recordLength(at, 2)
    if (length === 0) return undefined
    return this.signatures.view(at + 4 + this.recordLength(at, 0), length)
  }

  /** Number of slots of `peer` (its highest `index_by_creator` + 1). */
  slotCount(peer: number): number {
    return this.slotFirst[peer]?.length ?? 0
  }

  /** The first-stored event of `peer`'s slot `indexByCreator`. */
  firstInSlot(peer: number, indexByCreator: number): number {
    return (this.slotFirst[peer] as Int32Column).get(indexByCreator)
  }

  /** The events of `peer`'s slot `indexByCreator`, in insertion order (empty past the last slot). */
  slot(peer: number, indexByCreator: number): readonly number[] {
    if (indexByCreator >= this.slotCount(peer)) return []
    return this.forkSlots.get(peer)?.get(indexByCreator) ?? [this.firstInSlot(peer, indexByCreator)]
  }

  /** Number of events in `peer`'s slot `indexByCreator` (more than one only for a fork). */
  slotSize(peer: number, indexByCreator: number): number {
    if (indexByCreator >= this.slotCount(peer)) return 0
    return this.forkSlots.get(peer)?.get(indexByCreator)?.length ?? 1
  }

  /** The last event of the last slot of `peer` (spec §2.5), or undefined. */
  lastEventOf(peer: number): GraphEvent | undefined {
    const count = this.slotCount(peer)
    if (count === 0) return undefined
    const slot = this.slot(peer, count - 1)
    return this.events[slot[slot.length - 1]]
  }

  hasEventsOf(peer: number): boolean {
    return this.slotCount(peer) > 0
  }

  /**
   * Builds the record of a new event without storing it, so callers can check it first (e.g. a
   * removed creator's event must not descend from its removal, spec §6.1). Only the record last
   * prepared may be committed.
   */
  prepare(event: NewEvent, peerCount: number): GraphEvent {
    const sp = event.selfParent >= 0 ? this.events[event.selfParent] : undefined
    const op = event.otherParent >= 0 ? this.events[event.otherParent] : undefined
    const indexByCreator = sp === undefined ? 0 : sp.indexByCreator + 1
    const forkIndex = this.slotSize(event.creator, indexByCreator)
    const ancestry = computeAncestry(peerCount, event.creator, indexByCreator, forkIndex, sp, op, this.rows)
    return new GraphEvent(
      this.events.length,
      event.creator,
      event.kind,
      event.selfParent,
      event.otherParent,
      event.recipient,
      event.observationKey,
      indexByCreator,
      ancestry.rows,
      ancestry.row,
      ancestry.width,
      ancestry.forks,
    )
  }

  /** Stores `event`, the record last prepared from `input`. */
  commit(event: GraphEvent, input: NewEvent): void {
    if (event.index !== this.events.length) throw new Error('graph: events must be committed in order')
    this.rows.commit(event.width)
    this.events.push(event)
    this.hashes.add(input.hash)
    this.signatureAt.push(this.signatures.append(this.signatureRecord(input)))
    const creator = event.creator
    for (let p = this.slotFirst.length; p <= creator; p++) this.slotFirst.push(new Int32Column())
    const firsts = this.slotFirst[creator]
    if (event.indexByCreator === firsts.length) {
      firsts.push(event.index)
      return
    }
    // A second event in a slot: the creator forked.
    let slots = this.forkSlots.get(creator)
    if (slots === undefined) {
      slots = new Map()
      this.forkSlots.set(creator, slots)
    }
    const slot = slots.get(event.indexByCreator)
    if (slot === undefined) slots.set(event.indexByCreator, [firsts.get(event.indexByCreator), event.index])
    else slot.push(event.index)
  }

  private signatureRecord({ signature, voteSignature }: NewEvent): Uint8Array {
    const voteLength = voteSignature?.length ?? 0
    if (signature.length > 0xffff || voteLength > 0xffff) throw new RangeError('a signature over 64 KiB')
    const length = 4 + signature.length + voteLength
    if (this.record.length < length) this.record = new Uint8Array(length)
    const record = this.record
    record[0] = signature.length & 0xff
    record[1] = signature.length >>> 8
    record[2] = voteLength & 0xff
    record[3] = voteLength >>> 8
    record.set(signature, 4)
    if (voteSignature !== undefined) record.set(voteSignature, 4 + signature.length)
    return record.subarray(0, length)
  }

  /** Some slot of `peer` holds two or more events (spec §2.5 `has_fork`). */
  hasForks(peer: number): boolean {
    return this.forkSlots.has(peer)
  }

  /** Nearest strict self-ancestor that is a sync event (spec §4.5). */
  selfSyncParent(event: GraphEvent): GraphEvent | undefined {
    let index = event.selfParent
    while (index >= 0) {
      const e = this.events[index]
      if (e.isSync) return e
      index = e.selfParent
    }
    return undefined
  }

  /**
   * `stronglySees(x, y)` (spec §4.4): the number of creators p for which some event of p at
   * x's last index for p is seen by x and sees y (counting stops once `enough` is reached).
   */
  stronglySeeingCount(x: GraphEvent, y: GraphEvent, enough = Number.POSITIVE_INFINITY): number {
    let count = 0
    const { rows, row, width } = x
    const events = this.events
    const forkBlind = this.forkBlind
    for (let p = 0; p < width; p++) {
      // Not even all remaining creators could reach `enough`: the answer is already no.
      if (count + (width - p) < enough && enough !== Number.POSITIVE_INFINITY) return count
      const last = rows[row + p]
      if (last < 0) continue
      if (x.forks === null) {
        // Unaware of any fork: x descends from the first-stored event of the slot only.
        if (sees(events[this.firstInSlot(p, last)], y, forkBlind) && ++count >= enough) return count
        continue
      }
      const j = seenLast(x, p, forkBlind)
      if (j < 0) continue
      const slot = this.slot(p, j)
      for (let k = 0; k < slot.length; k++) {
        const e = events[slot[k]]
        if (sees(x, e, forkBlind) && sees(e, y, forkBlind)) {
          if (++count >= enough) return count
          break
        }
      }
    }
    return count
  }
}
