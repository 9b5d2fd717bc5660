/**
 * SectionState (spec §1): a fold over agreed blocks only. Honest members that polled the same
 * prefix hold byte-identical states (`encode()`, invariant M1). Proofs are kept in the chain for
 * joiners but are not part of the canonical bytes: the votes a peer holds at a decision are local.
 */

import { encodeCanonical } from '../encoding/canonical.js'
import { sha256 } from '../encoding/hash.js'
import { mockPeerIds, type PeerIdDecoder } from '../encoding/peer-ids.js'
import {
  type Block,
  bytesEqual,
  compareIds,
  encodeObservation,
  type Proof,
  type PublicId,
  sortIds,
  toHex,
  utf8,
} from '../engine-exports.js'
import { MembershipError } from '../errors.js'
import {
  type AdmissionRecord,
  type Checkpoint,
  decodeAdmissionRecord,
  decodeCheckpoint,
} from '../wire/records.js'
import { changeOf, type MembershipChange, subjectOf } from './change.js'
import { type GenesisRecord, sectionIdOf, writeGenesisRecord } from './genesis-record.js'

const HEAD_DOMAIN = utf8('parsec-section/head/v1')
const ADD_DOMAIN = utf8('parsec-section/add/v1')
const HISTORY_DOMAIN = utf8('parsec-section/history/v1')
const EPOCH_DOMAIN = utf8('parsec-section/epoch-start/v1')
export const STATE_VERSION = 1

export interface MemberRecord {
  readonly id: PublicId
  /** Unique per incarnation: the hash of the observation that added the peer and the peer. */
  readonly addHash: Uint8Array
  /** Position (0 = genesis) of the agreed block that added the peer. */
  readonly addedAtBlock: number
  /** `seq` right after that block. */
  readonly addedAtSeq: number
  readonly addrs: readonly string[]
  /** The genesis group is never young (it founded the section). */
  readonly founder: boolean
  /** Name of the member whose invitation admitted it. */
  readonly inviter?: string
}

/** One membership block with the votes this peer held for it. */
export interface ChainEntry {
  readonly change: MembershipChange
  /** `encodeObservation(payload)`: the bytes every proof signs. */
  readonly observation: Uint8Array
  readonly proofs: readonly Proof[]
  /** Agreed block position (0 = genesis). */
  readonly position: number
  /**
   * Decided in the same election as the previous membership block (same deciding voters); undefined
   * when the host did not know election boundaries.
   */
  readonly batchedWithPrevious?: boolean
}

export type FoldWarningKind =
  | 'AddOfMember'
  /** An Add of a removed id: the engine never re-adds an incarnation, so neither does the fold. */
  | 'AddOfRemoved'
  | 'RemoveOfNonMember'
  | 'AccusationOfNonMember'
  | 'UnreadableAdmissionRecord'
  | 'BannedPeerAdded'
  | 'UnexpectedGenesis'
  | 'GenesisMismatch'
  /** A checkpoint that is unreadable, of another epoch, or at a position outside its epoch. */
  | 'UnexpectedCheckpoint'
  /** A checkpoint whose history digest is not ours at its position: our sequence is not theirs. */
  | 'CheckpointMismatch'

/** A decision that changed nothing, or looked wrong: reported, never thrown (spec §15). */
export interface FoldWarning {
  readonly kind: FoldWarningKind
  readonly position: number
  readonly peer?: string
}

/** What one block changed, for the machine's events. */
export interface FoldResult {
  readonly entry?: ChainEntry
  readonly added: readonly MemberRecord[]
  readonly removed: readonly MemberRecord[]
  readonly banned: readonly PublicId[]
  readonly warnings: readonly FoldWarning[]
}

/** When an epoch's checkpoint falls due (docs/epochs.md §1): whichever comes first. */
export interface CheckpointRule {
  /** Agreed blocks of the epoch (0: no block trigger). */
  readonly blocks: number
  /** Bytes of the epoch's agreed observations, a proxy of its graph's size (0: no size trigger). */
  readonly bytes: number
}

export class SectionState {
  readonly sectionId: Uint8Array
  private seqValue = 0
  private headValue: Uint8Array
  private agreed = 0
  private history: Uint8Array
  private readonly recentHistory = new Map<number, Uint8Array>()
  private readonly memberMap = new Map<string, MemberRecord>()
  private readonly bannedMap = new Map<string, { id: PublicId; atBlock: number }>()
  private readonly invites = new Map<string, number>()
  /** Ids removed (or accused) while members: never members again, as in the engine. */
  private readonly removedMap = new Map<string, { id: PublicId; atBlock: number }>()
  private readonly entries: ChainEntry[] = []
  private readonly heads: Uint8Array[] = []
  /** Head (hex) to its index: a request's head is looked up in O(1), whatever its age. */
  private readonly headIndexes = new Map<string, number>()
  private lastAdd = -1
  /** Checkpoints folded (the current epoch), the position its epoch started at, and the last. */
  private epochValue = 0
  private epochStartValue = 0
  private lastCheckpoint: Checkpoint | undefined
  /** The checkpoint this epoch's blocks call for, once the rule's blocks or bytes are folded. */
  private due: Checkpoint | undefined
  /** The encoded observations of this epoch's blocks, in bytes (the size trigger). */
  private epochBytes = 0
  private readonly checkpointRule: CheckpointRule
  /** The voters the current epoch's engine is built from (epoch 0: the genesis record's group). */
  private epochVotersValue: PublicId[]
  /** The current epoch's genesis related info: the record's, then the last checkpoint's bytes. */
  private epochInfo: Uint8Array

  constructor(
    readonly record: GenesisRecord,
    /** How many recent history digests to keep (Ready names one of them). */
    private readonly historyWindow = 256,
    readonly ids: PeerIdDecoder = mockPeerIds,
    /**
     * When an epoch's checkpoint is due: after `blocks` agreed blocks, or once its blocks' bytes
     * reach `bytes` (0: that trigger is off); a number is the blocks alone (0: none is ever due).
     */
    checkpoint: number | CheckpointRule = 0,
  ) {
    this.checkpointRule = typeof checkpoint === 'number' ? { blocks: checkpoint, bytes: 0 } : checkpoint
    this.sectionId = sectionIdOf(record)
    this.headValue = this.sectionId
    this.history = sha256(HISTORY_DOMAIN, this.sectionId)
    this.recentHistory.set(0, this.history)
    this.epochVotersValue = sortIds(record.group)
    this.epochInfo = record.relatedInfo
  }

  /**
   * A joiner's state at the start of the current epoch (docs/epochs.md §4): the verified `chain`'s
   * entries folded up to and including its last checkpoint, so it holds the members, bans, heads
   * and `seq` as of that checkpoint, `agreedBlocks` = Q+1 and the epoch-start history digest there.
   * Undefined when no checkpoint of the chain started an epoch (a joiner then starts at genesis).
   */
  static atLastCheckpoint(
    record: GenesisRecord,
    chain: readonly ChainEntry[],
    historyWindow = 256,
    ids: PeerIdDecoder = mockPeerIds,
    checkpoint: number | CheckpointRule = 0,
  ): SectionState | undefined {
    // Only a checkpoint the fold accepted starts an epoch: find the last such entry first.
    const probe = new SectionState(record, 1, ids)
    let last = -1
    chain.forEach((entry, index) => {
      const epoch = probe.epoch
      probe.applyChainEntry(entry)
      if (probe.epoch !== epoch) last = index
    })
    if (last < 0) return undefined
    const state = new SectionState(record, historyWindow, ids, checkpoint)
    for (const entry of chain.slice(0, last + 1)) state.applyChainEntry(entry)
    // The digests a chain-only fold passed through are not the section's; the epoch's start is.
    state.recentHistory.clear()
    state.recentHistory.set(state.agreed, state.history)
    return state
  }

  /**
   * Count of membership blocks folded (Genesis, Add, Remove, Accusation): checkpoints are not
   * counted, so a chain whose superseded checkpoints were pruned folds to the same `seq` and head.
   */
  get seq(): number {
    return this.seqValue
  }

  /**
   * Hash of the last membership block, chained: `SHA-256(domain ‖ previous head ‖ observation)`
   * (checkpoints are not chained: see `seq`).
   */
  get head(): Uint8Array {
    return this.headValue
  }

  /** Count of all agreed blocks folded, opaque ones included. */
  get agreedBlocks(): number {
    return this.agreed
  }

  /** The current epoch: the last folded checkpoint's `epoch` + 1, 0 before any (docs/epochs.md). */
  get epoch(): number {
    return this.epochValue
  }

  /** The position of the current epoch's first block (the one after its checkpoint's block). */
  get epochStart(): number {
    return this.epochStartValue
  }

  /**
   * The voter set the current epoch's engine is built from, in id order: the genesis record's group
   * in epoch 0, the members right after the checkpoint that started a later one.
   */
  get epochVoters(): readonly PublicId[] {
    return this.epochVotersValue
  }

  /**
   * The related info of the current epoch's genesis observation: the genesis record's in epoch 0,
   * the bytes of the checkpoint that started a later one (`encodeCheckpoint`, as agreed).
   */
  get epochRelatedInfo(): Uint8Array {
    return this.epochInfo
  }

  /** The last checkpoint folded, if any. */
  get checkpoint(): Checkpoint | undefined {
    return this.lastCheckpoint
  }

  /**
   * The checkpoint members vote for now: set once the rule's blocks (or bytes) of the epoch are folded
   * (a function of the agreed sequence alone, so the same bytes everywhere), until one is folded.
   */
  get dueCheckpoint(): Checkpoint | undefined {
    return this.due
  }

  get size(): number {
    return this.memberMap.size
  }

  /**
   * The membership chain: every Genesis, Add, Remove and Accusation entry, and the last accepted
   * Checkpoint entry only (a new checkpoint replaces the previous one), so its length depends on the
   * membership changes, not on the epochs (docs/epochs.md §4).
   */
  get chain(): readonly ChainEntry[] {
    return this.entries
  }

  /** Position of the last agreed Add (-1 if none since genesis). */
  get lastAddAtBlock(): number {
    return this.lastAdd
  }

  isMember(name: string): boolean {
    return this.memberMap.has(name)
  }

  member(name: string): MemberRecord | undefined {
    return this.memberMap.get(name)
  }

  /** Members in the id order. */
  members(): MemberRecord[] {
    return [...this.memberMap.values()].sort((a, b) => compareIds(a.id, b.id))
  }

  memberIds(): PublicId[] {
    return sortIds([...this.memberMap.values()].map((m) => m.id))
  }

  isBanned(name: string): boolean {
    return this.bannedMap.has(name)
  }

  bannedIds(): PublicId[] {
    return sortIds([...this.bannedMap.values()].map((b) => b.id))
  }

  /** Whether an agreed Remove or Accusation removed this id while a member (it never returns). */
  wasRemoved(name: string): boolean {
    return this.removedMap.has(name)
  }

  invitesUsed(inviter: string): number {
    return this.invites.get(inviter) ?? 0
  }

  /** Membership blocks agreed since the member's Add (RFC 0045's age). */
  age(name: string): number {
    const member = this.memberMap.get(name)
    return member === undefined ? 0 : this.seqValue - member.addedAtSeq
  }

  /** Added fewer than `probationBlocks` agreed blocks ago (founders never are). */
  isYoung(name: string, probationBlocks: number): boolean {
    const member = this.memberMap.get(name)
    return member !== undefined && !member.founder && this.agreed - member.addedAtBlock <= probationBlocks
  }

  youngCount(probationBlocks: number): number {
    let count = 0
    for (const name of this.memberMap.keys()) if (this.isYoung(name, probationBlocks)) count++
    return count
  }

  /** The head right after membership block number `seq` (1 = genesis). */
  headAt(seq: number): Uint8Array | undefined {
    return this.heads[seq - 1]
  }

  /** Index (0-based seq) at which `head` was the head, or -1. */
  headIndex(head: Uint8Array): number {
    return this.headIndexes.get(toHex(head)) ?? -1
  }

  /** `head` is among the last `ticketMaxAge` membership heads (spec §3.3). */
  isFreshHead(head: Uint8Array, ticketMaxAge: number): boolean {
    const index = this.headIndex(head)
    return index >= 0 && index >= this.heads.length - ticketMaxAge
  }

  /** `head` is in the chain but older than the last `ticketMaxAge` heads (unknown heads are not stale). */
  isStaleHead(head: Uint8Array, ticketMaxAge: number): boolean {
    const index = this.headIndex(head)
    return index >= 0 && index < this.heads.length - ticketMaxAge
  }

  /** Whether a membership block after `head` names `name` (an old ticket must not resurrect it). */
  mentionedAfter(head: Uint8Array, name: string): boolean {
    const index = this.headIndex(head)
    // Membership entries from the last back: `seq` of each is one less than the next one's.
    let seq = this.seqValue
    for (let i = this.entries.length - 1; i >= 0 && seq > index + 1; i--) {
      const change = this.entries[i].change
      if (change.kind === 'checkpoint') continue
      if (subjectOf(change)?.name === name) return true
      seq--
    }
    return false
  }

  /** Digest of the first `k` agreed blocks, if `k` is within the kept window. */
  historyDigest(k: number): Uint8Array | undefined {
    return this.recentHistory.get(k)
  }

  /** Folds the next agreed block; `position` must be `agreedBlocks`. */
  applyBlock(block: Block, position: number, batchedWithPrevious?: boolean): FoldResult {
    if (position !== this.agreed) {
      throw new MembershipError('InvalidArgument', `block at position ${position}, expected ${this.agreed}`)
    }
    const observation = encodeObservation(block.payload)
    this.advanceHistory(observation)
    const change = changeOf(block.payload)
    let result: FoldResult = { added: [], removed: [], banned: [], warnings: [] }
    if (change !== undefined) {
      const base = { change, observation, proofs: block.proofs, position }
      result = this.applyChange(batchedWithPrevious === undefined ? base : { ...base, batchedWithPrevious })
    }
    this.epochBytes += observation.length
    if (this.due === undefined && this.checkpointCalledFor()) {
      this.due = {
        epoch: this.epochValue,
        position: this.agreed,
        historyDigest: this.history,
        sectionStateHash: this.hash(),
      }
    }
    return result
  }

  /** The rule's blocks or bytes are reached in this epoch (a function of its agreed blocks alone). */
  private checkpointCalledFor(): boolean {
    const { blocks, bytes } = this.checkpointRule
    return (
      (blocks > 0 && this.agreed - this.epochStartValue >= blocks) || (bytes > 0 && this.epochBytes >= bytes)
    )
  }

  /**
   * Folds a verified chain entry without the opaque blocks around it (a joiner's replay of
   * JoinInfo). Such a state has the chain's members, heads and positions; its history digests are
   * not the section's (the opaque blocks are missing) and must not be used.
   */
  applyChainEntry(entry: ChainEntry): FoldResult {
    while (this.agreed < entry.position) this.skipOpaque()
    if (entry.position !== this.agreed) {
      throw new MembershipError(
        'InvalidArgument',
        `chain entry at ${entry.position}, state at ${this.agreed}`,
      )
    }
    this.advanceHistory(entry.observation)
    return this.applyChange(entry, true)
  }

  private skipOpaque(): void {
    this.agreed++
  }

  private advanceHistory(observation: Uint8Array): void {
    this.history = sha256(this.history, observation)
    this.agreed++
    this.recentHistory.set(this.agreed, this.history)
    this.recentHistory.delete(this.agreed - this.historyWindow)
  }

  /**
   * `fromChain`: a verified chain entry, whose checkpoints before it may have been pruned: a
   * checkpoint of a later epoch than ours is then accepted (its epoch is read from it).
   */
  private applyChange(entry: ChainEntry, fromChain = false): FoldResult {
    const { change, position } = entry
    const warnings: FoldWarning[] = []
    const added: MemberRecord[] = []
    const removed: MemberRecord[] = []
    const banned: PublicId[] = []
    const warn = (kind: FoldWarningKind, peer?: PublicId): void => {
      warnings.push(peer === undefined ? { kind, position } : { kind, position, peer: peer.name })
    }
    // A Remove and an agreed Accusation both end a membership (the engine removes either way).
    const removeMember = (peer: PublicId, notMember: FoldWarningKind): void => {
      const member = this.memberMap.get(peer.name)
      if (member === undefined) {
        warn(notMember, peer)
        return
      }
      this.memberMap.delete(peer.name)
      this.removedMap.set(peer.name, { id: peer, atBlock: position })
      removed.push(member)
    }
    if (change.kind !== 'checkpoint') {
      this.seqValue++
      this.headValue = sha256(HEAD_DOMAIN, this.headValue, entry.observation)
      this.headIndexes.set(toHex(this.headValue), this.heads.length)
      this.heads.push(this.headValue)
      this.entries.push(entry)
    }
    switch (change.kind) {
      case 'genesis': {
        if (position !== 0 || this.seqValue !== 1) {
          warn('UnexpectedGenesis')
          break
        }
        const expected = sortIds(this.record.group).map((id) => id.name)
        const actual = sortIds(change.group).map((id) => id.name)
        if (
          expected.join('\n') !== actual.join('\n') ||
          !bytesEqual(change.relatedInfo, this.record.relatedInfo)
        ) {
          warn('GenesisMismatch')
        }
        for (const id of change.group) {
          const member: MemberRecord = {
            id,
            addHash: addHashOf(entry.observation, id),
            addedAtBlock: position,
            addedAtSeq: this.seqValue,
            addrs: [],
            founder: true,
          }
          this.memberMap.set(id.name, member)
          added.push(member)
        }
        break
      }
      case 'add': {
        if (this.memberMap.has(change.peer.name)) {
          warn('AddOfMember', change.peer)
          break
        }
        // The engine keeps a removed id removed (parsec-core: `already-removed`); so must M2.
        if (this.removedMap.has(change.peer.name)) {
          warn('AddOfRemoved', change.peer)
          break
        }
        if (this.bannedMap.has(change.peer.name)) warn('BannedPeerAdded', change.peer)
        let admission: AdmissionRecord | undefined
        try {
          admission = decodeAdmissionRecord(change.relatedInfo, this.ids)
          if (admission.peer.name !== change.peer.name) admission = undefined
        } catch {
          admission = undefined
        }
        // An operator's Add (no admission record) is still an Add: the engine counts it.
        if (admission === undefined && change.relatedInfo.length > 0)
          warn('UnreadableAdmissionRecord', change.peer)
        const inviter = admission?.inviter?.name
        const member: MemberRecord = {
          id: change.peer,
          addHash: addHashOf(entry.observation, change.peer),
          addedAtBlock: position,
          addedAtSeq: this.seqValue,
          addrs: admission?.addrs ?? [],
          founder: false,
          ...(inviter === undefined ? {} : { inviter }),
        }
        if (inviter !== undefined) this.invites.set(inviter, (this.invites.get(inviter) ?? 0) + 1)
        this.memberMap.set(change.peer.name, member)
        this.lastAdd = position
        added.push(member)
        break
      }
      case 'remove':
        removeMember(change.peer, 'RemoveOfNonMember')
        break
      case 'checkpoint': {
        let checkpoint: Checkpoint | undefined
        try {
          checkpoint = decodeCheckpoint(change.payload)
        } catch {
          checkpoint = undefined
        }
        if (
          checkpoint === undefined ||
          (fromChain ? checkpoint.epoch < this.epochValue : checkpoint.epoch !== this.epochValue) ||
          checkpoint.position < this.epochStartValue ||
          checkpoint.position > position
        ) {
          warn('UnexpectedCheckpoint')
          break
        }
        // Within the kept window (a joiner's chain-only state keeps none): our sequence must be theirs.
        const ours = this.recentHistory.get(checkpoint.position)
        if (ours !== undefined && !bytesEqual(ours, checkpoint.historyDigest)) warn('CheckpointMismatch')
        this.keepCheckpoint(entry)
        this.lastCheckpoint = checkpoint
        this.epochValue = checkpoint.epoch + 1
        this.epochStartValue = position + 1
        this.due = undefined
        this.epochBytes = 0
        this.epochVotersValue = this.memberIds()
        this.epochInfo = change.payload
        // The epoch-start digest: from the checkpoint alone, so a newcomer starting there has it.
        this.history = epochStartDigest(entry.observation, position)
        this.recentHistory.set(position + 1, this.history)
        break
      }
      case 'accusation': {
        if (!this.bannedMap.has(change.offender.name)) {
          this.bannedMap.set(change.offender.name, { id: change.offender, atBlock: position })
          banned.push(change.offender)
        }
        removeMember(change.offender, 'AccusationOfNonMember')
        break
      }
    }
    return { entry, added, removed, banned, warnings }
  }

  /**
   * Appends an accepted checkpoint's entry and drops the previous checkpoint's: a checkpoint changes
   * no member, so the entries around it verify against the same voters without it. The entry after
   * the dropped one inherits its election flag (decided with the entry before only if both were).
   */
  private keepCheckpoint(entry: ChainEntry): void {
    let index = this.entries.length - 1
    while (index > 0 && this.entries[index].change.kind !== 'checkpoint') index--
    this.entries.push(entry)
    if (index <= 0) return
    const [dropped] = this.entries.splice(index, 1)
    const next = this.entries[index]
    if (next.batchedWithPrevious === true && dropped.batchedWithPrevious !== true) {
      const { batchedWithPrevious: _, ...rest } = next
      this.entries[index] =
        dropped.batchedWithPrevious === undefined ? rest : { ...rest, batchedWithPrevious: false }
    }
  }

  /** The canonical bytes of the agreed state (no proofs, no local data). */
  encode(): Uint8Array {
    return encodeCanonical((w) => {
      w.u8(STATE_VERSION)
      writeGenesisRecord(w, this.record)
      w.bytes(this.sectionId).u64(this.seqValue).bytes(this.headValue).u64(this.agreed).bytes(this.history)
      w.u64(this.lastAdd + 1)
      w.list(this.members(), (w2, m) => {
        w2.bytes(m.id.encoded).bytes(m.addHash).u64(m.addedAtBlock).u64(m.addedAtSeq).bool(m.founder)
        w2.list(m.addrs, (w3, addr) => w3.string(addr))
        w2.string(m.inviter ?? '')
      })
      const banned = [...this.bannedMap.values()].sort((a, b) => compareIds(a.id, b.id))
      w.list(banned, (w2, b) => w2.bytes(b.id.encoded).u64(b.atBlock))
      const invites = [...this.invites.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      w.list(invites, (w2, [name, count]) => w2.string(name).u64(count))
      const gone = [...this.removedMap.values()].sort((a, b) => compareIds(a.id, b.id))
      w.list(gone, (w2, r) => w2.bytes(r.id.encoded).u64(r.atBlock))
    })
  }

  /** SHA-256 of `encode()`: equal prefixes give equal hashes (M1). */
  hash(): Uint8Array {
    return sha256(this.encode())
  }
}

/**
 * The history digest after the Checkpoint block agreed at position `q` (`historyDigest(q + 1)`,
 * docs/epochs.md §2): not chained from the digest before it but `SHA-256(domain ‖ the checkpoint's
 * observation bytes ‖ u64 q)`, so a joiner that starts from the checkpoint computes it from the
 * chain entry alone. The checkpoint's own `historyDigest` covers the history before it.
 */
export function epochStartDigest(observation: Uint8Array, q: number): Uint8Array {
  return sha256(
    EPOCH_DOMAIN,
    observation,
    encodeCanonical((w) => w.u64(q)),
  )
}

/** `addHash` of a peer added by `observation` (the Genesis or Add observation bytes). */
export function addHashOf(observation: Uint8Array, peer: PublicId): Uint8Array {
  return sha256(ADD_DOMAIN, lengthPrefix(observation), peer.encoded)
}

function lengthPrefix(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + bytes.length)
  new DataView(out.buffer).setUint32(0, bytes.length)
  out.set(bytes, 4)
  return out
}
