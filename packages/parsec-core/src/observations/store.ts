/**
 * The observation store (spec §2.6): every observation carried by an event, interned to a small
 * integer key. A key is `Supermajority(OH)` or `Single(OH, creator)` by the observation's mode.
 * Entries are never removed.
 */
import { HASH_LENGTH } from '../encoding/hash.js'
import { FixedBytesColumn } from '../graph/columns.js'
import type { PublicId } from '../identity/identity.js'
import { compareIds } from '../identity/order.js'
import { type ConsensusMode, modeOf } from './consensus-mode.js'
import { type Observation, observationHash } from './observation.js'

export class ObservationEntry {
  consensused = false
  createdByUs = false

  constructor(
    readonly key: number,
    readonly observation: Observation,
    /** Single-mode keys name the voter (its public id); supermajority keys do not. */
    readonly creator: PublicId | undefined,
    private readonly store: ObservationStore,
  ) {}

  /** `OH(observation)`, spec §1.5 (a copy). */
  get hash(): Uint8Array {
    return this.store.hashOf(this.key)
  }
}

export class ObservationStore {
  readonly entries: ObservationEntry[] = []
  private readonly byId = new Map<string, number>()
  /** The entries' hashes by key (one column: cheaper than an array per entry). */
  private readonly hashes = new FixedBytesColumn(HASH_LENGTH)
  private consensusedCount = 0
  /** Keys of the Add and Remove entries, in key order (a host asks for them after every step). */
  readonly membershipKeys: number[] = []

  constructor(private readonly mode: ConsensusMode) {}

  get(key: number): ObservationEntry {
    return this.entries[key]
  }

  /**
   * The map key of (hash, creator): the hash's bytes as one flat latin1 string (a string built
   * piecewise stays a chain of fragments in memory), then the creator's name if any.
   */
  private id(hash: Uint8Array, creator: PublicId | undefined): string {
    const bytes = Buffer.from(hash.buffer, hash.byteOffset, hash.byteLength).toString('latin1')
    return creator === undefined ? bytes : `${bytes}\0${creator.name}`
  }

  /** The key `observation` has when voted by `creator`, creating the entry if needed. */
  intern(
    observation: Observation,
    creator: PublicId,
    hash: Uint8Array = observationHash(observation),
  ): ObservationEntry {
    const keyCreator = modeOf(observation, this.mode) === 'single' ? creator : undefined
    const id = this.id(hash, keyCreator)
    const existing = this.byId.get(id)
    if (existing !== undefined) return this.entries[existing]
    const entry = new ObservationEntry(this.entries.length, observation, keyCreator, this)
    this.hashes.push(hash)
    this.entries.push(entry)
    this.byId.set(id, entry.key)
    if (observation.kind === 'add' || observation.kind === 'remove') this.membershipKeys.push(entry.key)
    return entry
  }

  /** `OH` of the observation at `key` (a copy). */
  hashOf(key: number): Uint8Array {
    return this.hashes.copy(key)
  }

  markConsensused(key: number): void {
    const entry = this.entries[key]
    if (entry.consensused) return
    entry.consensused = true
    this.consensusedCount++
  }

  /** Observations some event carries that have not reached consensus yet. */
  get pendingCount(): number {
    return this.entries.length - this.consensusedCount
  }

  /** The key for `observation` voted by `creator`, if any event carried it. */
  find(
    observation: Observation,
    creator: PublicId,
    hash: Uint8Array = observationHash(observation),
  ): ObservationEntry | undefined {
    const keyCreator = modeOf(observation, this.mode) === 'single' ? creator : undefined
    const key = this.byId.get(this.id(hash, keyCreator))
    return key === undefined ? undefined : this.entries[key]
  }

  /** `consistentCmp` (spec §3.4): OH bytes, then creator (absent first, then by id order). */
  compare(a: number, b: number): number {
    const ea = this.entries[a]
    const eb = this.entries[b]
    const byHash = this.hashes.compare(a, b)
    if (byHash !== 0) return byHash
    if (ea.creator === undefined) return eb.creator === undefined ? 0 : -1
    if (eb.creator === undefined) return 1
    return compareIds(ea.creator, eb.creator)
  }
}
