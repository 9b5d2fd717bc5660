/**
 * The gossip graph store (spec §2.4-2.5): events in insertion order (always topological), a
 * hash index for de-duplication, and per creator the slots of its events by `index_by_creator`
 * (a slot holds more than one event only when the creator forked).
 */
import type { MetaEvent } from '../meta-voting/meta-event.js'
import { type Ancestry, computeAncestry, type ForkMap, seenLast, sees } from './ancestry.js'
import type { CauseKind, EventHash, PackedEvent } from './event.js'

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
    readonly forkIndex: number,
    readonly hash: EventHash,
    readonly hashKey: string,
    readonly packed: PackedEvent,
    readonly last: Int32Array,
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
  packed: PackedEvent
}

/** The map key of an event hash: its bytes as a latin1 string (cheaper to build than hex). */
export function hashKey(hash: EventHash): string {
  return Buffer.from(hash.buffer, hash.byteOffset, hash.byteLength).toString('latin1')
}

export class Graph {
  /** The reference's fork-blind `sees` (spec §4.3, §15); see `sees` in ancestry.ts. */
  forkBlind = true
  readonly events: GraphEvent[] = []
  private readonly byHash = new Map<string, number>()
  /** slots[peer][indexByCreator] = event indices (several only for forks). */
  readonly slots: number[][][] = []
  private readonly forkedPeers = new Set<number>()

  get size(): number {
    return this.events.length
  }

  get(index: number): GraphEvent {
    return this.events[index]
  }

  indexOf(hash: EventHash): number | undefined {
    return this.byHash.get(hashKey(hash))
  }

  indexOfKey(key: string): number | undefined {
    return this.byHash.get(key)
  }

  slotsOf(peer: number): number[][] {
    return this.slots[peer] ?? []
  }

  /** The last event of the last slot of `peer` (spec §2.5), or undefined. */
  lastEventOf(peer: number): GraphEvent | undefined {
    const slots = this.slots[peer]
    if (slots === undefined || slots.length === 0) return undefined
    const slot = slots[slots.length - 1]
    return this.events[slot[slot.length - 1]]
  }

  hasEventsOf(peer: number): boolean {
    const slots = this.slots[peer]
    return slots !== undefined && slots.length > 0
  }

  /**
   * Builds the record of a new event without storing it, so callers can check it first (e.g. a
   * removed creator's event must not descend from its removal, spec §6.1).
   */
  prepare(event: NewEvent, peerCount: number, hashKeyString: string): GraphEvent {
    const sp = event.selfParent >= 0 ? this.events[event.selfParent] : undefined
    const op = event.otherParent >= 0 ? this.events[event.otherParent] : undefined
    const indexByCreator = sp === undefined ? 0 : sp.indexByCreator + 1
    const slot = this.slots[event.creator]?.[indexByCreator]
    const forkIndex = slot === undefined ? 0 : slot.length
    const ancestry = computeAncestry(peerCount, event.creator, indexByCreator, forkIndex, sp, op)
    return new GraphEvent(
      this.events.length,
      event.creator,
      event.kind,
      event.selfParent,
      event.otherParent,
      event.recipient,
      event.observationKey,
      indexByCreator,
      forkIndex,
      event.hash,
      hashKeyString,
      event.packed,
      ancestry.last,
      ancestry.forks,
    )
  }

  commit(event: GraphEvent): void {
    if (event.index !== this.events.length) throw new Error('graph: events must be committed in order')
    this.events.push(event)
    this.byHash.set(event.hashKey, event.index)
    let slots = this.slots[event.creator]
    if (slots === undefined) {
      slots = []
      for (let p = this.slots.length; p < event.creator; p++) this.slots[p] ??= []
      this.slots[event.creator] = slots
    }
    let slot = slots[event.indexByCreator]
    if (slot === undefined) {
      slot = []
      slots[event.indexByCreator] = slot
    }
    slot.push(event.index)
    if (slot.length > 1) this.forkedPeers.add(event.creator)
  }

  /** Some slot of `peer` holds two or more events (spec §2.5 `has_fork`). */
  hasForks(peer: number): boolean {
    return this.forkedPeers.has(peer)
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
    const last = x.last
    const events = this.events
    const forkBlind = this.forkBlind
    for (let p = 0; p < last.length; p++) {
      // Not even all remaining creators could reach `enough`: the answer is already no.
      if (count + (last.length - p) < enough && enough !== Number.POSITIVE_INFINITY) return count
      if (last[p] < 0) continue
      if (x.forks === null) {
        // Unaware of any fork: x descends from the first-stored event of the slot only.
        if (sees(events[this.slots[p][last[p]][0]], y, forkBlind) && ++count >= enough) return count
        continue
      }
      const j = seenLast(x, p, forkBlind)
      if (j < 0) continue
      const slot = this.slots[p][j]
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
