/**
 * The observation store (spec §2.6): every observation carried by an event, interned to a small
 * integer key. A key is `Supermajority(OH)` or `Single(OH, creator)` by the observation's mode.
 * Entries are never removed.
 */
import { compareBytes, toHex } from '../encoding/bytes.js'
import type { PublicId } from '../identity/identity.js'
import { compareIds } from '../identity/order.js'
import { type ConsensusMode, modeOf } from './consensus-mode.js'
import { type Observation, observationHash } from './observation.js'

export interface ObservationEntry {
  readonly key: number
  readonly observation: Observation
  /** `OH(observation)`, spec §1.5. */
  readonly hash: Uint8Array
  /** Single-mode keys name the voter (its public id); supermajority keys do not. */
  readonly creator: PublicId | undefined
  consensused: boolean
  createdByUs: boolean
}

export class ObservationStore {
  readonly entries: ObservationEntry[] = []
  private readonly byId = new Map<string, number>()
  private consensusedCount = 0

  constructor(private readonly mode: ConsensusMode) {}

  get(key: number): ObservationEntry {
    return this.entries[key]
  }

  private id(hashHex: string, creator: PublicId | undefined): string {
    return creator === undefined ? hashHex : `${hashHex}:${creator.name}`
  }

  /** The key `observation` has when voted by `creator`, creating the entry if needed. */
  intern(
    observation: Observation,
    creator: PublicId,
    hash: Uint8Array = observationHash(observation),
  ): ObservationEntry {
    const keyCreator = modeOf(observation, this.mode) === 'single' ? creator : undefined
    const id = this.id(toHex(hash), keyCreator)
    const existing = this.byId.get(id)
    if (existing !== undefined) return this.entries[existing]
    const entry: ObservationEntry = {
      key: this.entries.length,
      observation,
      hash,
      creator: keyCreator,
      consensused: false,
      createdByUs: false,
    }
    this.entries.push(entry)
    this.byId.set(id, entry.key)
    return entry
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
    const key = this.byId.get(this.id(toHex(hash), keyCreator))
    return key === undefined ? undefined : this.entries[key]
  }

  /** `consistentCmp` (spec §3.4): OH bytes, then creator (absent first, then by id order). */
  compare(a: number, b: number): number {
    const ea = this.entries[a]
    const eb = this.entries[b]
    const byHash = compareBytes(ea.hash, eb.hash)
    if (byHash !== 0) return byHash
    if (ea.creator === undefined) return eb.creator === undefined ? 0 : -1
    if (eb.creator === undefined) return 1
    return compareIds(ea.creator, eb.creator)
  }
}
