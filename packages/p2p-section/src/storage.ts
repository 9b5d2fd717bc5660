/**
 * What a peer keeps across restarts, in the libp2p node's datastore (LevelDB when the CLI is
 * given a data directory, memory otherwise): every event of its gossip graph in insertion order
 * (its own persisted before they are sent), and every block it delivered. Each call's writes are
 * one atomic batch, synced to disk on a LevelDB datastore: a crash or a power cut cannot roll back
 * an event that a peer may have seen.
 *
 * A peer that joined after genesis also keeps what its engine was built from (`saveJoined`: the
 * genesis record it verified and the members its engine started with), so it restarts with no
 * genesis file.
 *
 * A peer whose removal from the section is known (agreed in its own blocks, or confirmed from the
 * members' chain while it was away) keeps it (`saveRemoved`: why, and the membership chain's `seq`
 * then), so a restart refuses to run this key as a member again, whatever its blocks say.
 *
 * Block retention (`append`'s `retainFrom`, `dropBlocksBelow`): a peer that keeps only its last
 * blocks deletes the older ones in the batches that write new ones, and the sealed record
 * `blocks-from` says where the stored blocks start (absent: at 0). Positions never change: the
 * block at position p is always under `blocks/<p>`.
 *
 * Epochs (docs/epochs.md §5): the `epoch` record says which epoch the engine is in (absent: epoch
 * 0), where it starts and what its engine is built from; epoch 0's events are under `events/`,
 * epoch e's under `epochs/<e>/events/`; a previous epoch's are deleted once its drain is over.
 *
 * Compaction: LevelDB frees deleted records' space only when a compaction reaches them, and a
 * compaction writes its output before it deletes its input. A store that deletes as much as it
 * writes (epochs, block retention) must be compacted, but compacting the whole store took it to
 * twice its size while it ran (its data sits in one or two levels, and every table LevelDB
 * flushes spans the whole key range: blocks deleted at one end, written at the other). So deletes
 * come in runs of adjacent keys (`deleteRun`): an epoch's events once its drain is over, and
 * retained blocks a chunk at a time (`retentionChunk`: a tenth of the retention, at most 1,000,
 * so a store keeps up to that many blocks beyond its retention). The write buffer is flushed
 * before and after a run, so the run's deletes sit in a table of their own, and the run's range
 * alone is compacted. With the smallest tables LevelDB makes (`PEER_TABLE_FILE_BYTES`), that
 * rewrites little besides what was deleted. As a safety net, other deletes compact the section's
 * whole key range once they reach a quarter of the live records (and at least
 * `COMPACT_MIN_DELETES`).
 *
 * A `PeerLevelDatastore` (what `openLevelDatastore` opens) is also reopened when an epoch's events
 * are dropped, once LevelDB's `LOG` and `MANIFEST` reach `LOG_ROLL_BYTES`: they grow with every
 * flush and compaction until the database is reopened (level-datastore.ts). Writes go through its
 * gate, so a reopen neither fails nor reorders them.
 *
 * Storage format 6 (the record `/parsec/<section>/format` holds "6"): every record is sealed with
 * a checksum (record.ts), checked when the store is read; format 3 added the `removed` record to
 * format 2, format 4 the `blocks-from` record (blocks before it dropped), format 5 the `epoch`
 * record, format 6 blocks with their proofs (`encodeBlock`; before, the observation alone, which
 * `decodeBlock` reads as a block with none: a restarted member still says whose votes an earlier
 * epoch's blocks carried). Older stores are migrated in place when they are loaded: format 1 (no
 * format record, no checksums) has every record sealed, formats 2 to 5 only have their format
 * record set (they hold none of the later records). A newer format is refused: an older version
 * cannot read a store whose first blocks were dropped, whose engine is in a later epoch, or whose
 * blocks carry proofs.
 */
import type { PeerId } from '@libp2p/interface'
import type { LeaveReason } from '@parsec-section/membership'
import { LevelDatastore } from 'datastore-level'
import type { Datastore } from 'interface-datastore'
import { Key } from 'interface-datastore'
import { toString as bytesToText, equals, fromString } from 'uint8arrays'
import { SectionError } from './errors.js'
import { PeerLevelDatastore } from './level-datastore.js'
import { seal, storageCorrupt, unseal } from './record.js'

export interface SectionStorageOptions {
  /**
   * Sync every batch to disk before it counts as written (default true). Applies to a
   * `LevelDatastore` (other datastores give their own guarantees). False only to measure what
   * syncing costs: a crash may then lose events that peers have seen, and the restarted peer
   * would fork its own chain.
   */
  readonly sync?: boolean
  /** `LOG` and `MANIFEST` bytes at which a `PeerLevelDatastore` is reopened (default `LOG_ROLL_BYTES`). */
  readonly logRollBytes?: number
}

/** Our removal from the section, as `saveRemoved` keeps it. */
export interface StoredRemoval {
  readonly reason: LeaveReason
  /** The membership chain's `seq` when it was known (0: not known). */
  readonly seq: number
}

const REMOVAL_REASONS: readonly string[] = ['left', 'removed', 'banned'] satisfies LeaveReason[]

/**
 * The current epoch as the store keeps it (docs/epochs.md §5): written at the switch, before any
 * event of the epoch's engine. Its events are under their own list; the previous epoch's are
 * deleted once its drain is over (`dropEvents`).
 */
export interface StoredEpoch {
  readonly epoch: number
  /** The position of the epoch's first block (the one after its checkpoint's). */
  readonly start: number
  /** The events the earlier epochs' graphs held, all together. */
  readonly eventsBefore: number
  /** The epoch's genesis group: the members after the checkpoint, as 32-byte Ed25519 keys. */
  readonly genesis: readonly Uint8Array[]
  /** The genesis related info of its engine: the checkpoint's bytes. */
  readonly relatedInfo: Uint8Array
  /** The membership chain up to and including that checkpoint (`encodeChain`): a restart resumes from it. */
  readonly chain: Uint8Array
}

/**
 * Our payloads a rebase set aside (section/missed-payloads.ts): not delivered to us, decided in the
 * blocks we missed, [from, to), or never. Kept until the members said which, so a restart meanwhile
 * asks again (the new epoch's engine holds no vote of them).
 */
export interface StoredMissed {
  readonly from: number
  readonly to: number
  readonly payloads: readonly Uint8Array[]
}

/** The storage format this version writes. */
export const STORAGE_FORMAT = 6
/** Records rewritten per batch when a format-1 store is migrated. */
const MIGRATION_BATCH = 1000
const WIDTH = 12
/** Stored records handed over per batch at load: what a restart holds of them at once. */
const LOAD_BATCH = 1024
/** Records deleted per batch by `dropBlocksBelow` and `dropEvents`. */
const DROP_BATCH = 10_000
/** The most retained blocks left for a later chunk (see `retentionChunk`). */
const MAX_RETENTION_CHUNK = 1_000
/** The fewest deleted records a compaction waits for (a small store is not rewritten for a few). */
const COMPACT_MIN_DELETES = 1_000
/** A compaction once the deleted records reach this share of the live ones. */
const COMPACT_DELETED_SHARE = 0.25
/** A `PeerLevelDatastore` is reopened at a dropped epoch once its `LOG` and `MANIFEST` hold this many bytes. */
export const LOG_ROLL_BYTES = 128 * 1024

/**
 * How many blocks beyond the retention a store waits for before it deletes them, in one run
 * compacted on its own (see above): a tenth of the retention, at most `MAX_RETENTION_CHUNK`.
 */
export function retentionChunk(retention: number): number {
  return Math.max(1, Math.min(MAX_RETENTION_CHUNK, Math.floor(retention / 10)))
}

/** A key after every key of a datastore (theirs all start with '/'). */
const PAST_EVERY_KEY = '\uffff'

/** Where the events of `epoch` are: epoch 0's where every store before epochs kept them. */
function eventsList(epoch: number): string {
  return epoch === 0 ? 'events' : `epochs/${epoch}/events`
}

type Write = { readonly key: Key; readonly value: Uint8Array } | { readonly key: Key; readonly value?: never }

interface RawRecord {
  readonly key: Key
  readonly value: Uint8Array
}

export class SectionStorage {
  private readonly root: string
  private readonly sync: boolean
  private readonly logRollBytes: number
  /** The first stored block's position (`blocks-from`; read by `loadBlocks`). */
  private blocksStart = 0
  /** The current epoch's record (undefined: epoch 0), read by `load`, written by `saveEpoch`. */
  private current: StoredEpoch | undefined
  /** Records stored (events and blocks, as loaded and written since) and deleted since the last compaction. */
  private liveRecords = 0
  private deletedRecords = 0
  /** The writes of ours in progress, one at a time (`exclusive`). */
  private writing: Promise<void> = Promise.resolve()
  /** The compactions running in the background, one at a time (`settled` waits for them). */
  private compaction: Promise<void> | undefined
  /** Key ranges waiting for their compaction, in order. */
  private readonly compactions: [string, string][] = []
  /** The reopen running in the background, if any (`settled` waits for it). */
  private reopening: Promise<void> | undefined

  constructor(
    private readonly datastore: Datastore,
    sectionId: string,
    options: SectionStorageOptions = {},
  ) {
    this.root = `/parsec/${sectionId}`
    this.sync = options.sync ?? true
    this.logRollBytes = options.logRollBytes ?? LOG_ROLL_BYTES
  }

  /**
   * Reads the events back (then `loadBlocks` the blocks), checking every record's checksum;
   * migrates a format-1 store first. Refuses a store written by another identity
   * (`StorageMismatch`), a damaged one (`StorageCorrupt`) and a newer format (`StorageVersion`),
   * changing nothing. The events go to `onEvents` in insertion order, a batch at a time as they are
   * read (a restart never holds them all: their bytes alone outweigh the engine they rebuild).
   * Returns how many there are.
   */
  async load(
    owner: PeerId,
    onEvents: (batch: Uint8Array[]) => void,
    /** Told the current epoch (undefined: epoch 0) before any event: what the events rebuild. */
    onEpoch?: (epoch: StoredEpoch | undefined) => void,
  ): Promise<number> {
    const format = await this.readFormat()
    if (format === undefined || format === 1) {
      if (!(await this.holdsAnything())) {
        await this.write([
          { key: this.key('owner'), value: this.seal('owner', fromString(owner.toString())) },
          { key: this.key('format'), value: fromString(`${STORAGE_FORMAT}`) },
        ])
        onEpoch?.(undefined)
        return 0
      }
      await this.migrateFromFormat1(owner)
    } else if (format !== undefined && format >= 2 && format < STORAGE_FORMAT) {
      // Formats 3 to 6 add records the older ones never hold: the format record is all that changes.
      await this.write([{ key: this.key('format'), value: fromString(`${STORAGE_FORMAT}`) }])
    }
    const ownerKey = this.key('owner')
    if (!(await this.datastore.has(ownerKey))) {
      throw storageCorrupt(`stored record ${ownerKey.toString()} is missing`)
    }
    this.checkOwner(unseal(ownerKey.toString(), await this.datastore.get(ownerKey)), owner)
    this.current = await this.readEpoch()
    onEpoch?.(this.current)
    const events = await this.readSealedList(eventsList(this.current?.epoch ?? 0), onEvents)
    this.liveRecords += events
    return events
  }

  /** The current epoch (after `load`): undefined in epoch 0. */
  get epoch(): StoredEpoch | undefined {
    return this.current
  }

  /**
   * The switch to a new epoch: its record, in one batch, before any event of its engine (which
   * `append` then writes under the epoch's own list). A crash before it leaves the old epoch only,
   * and the restarted peer switches again from its delivered blocks; after it, the new epoch.
   */
  async saveEpoch(epoch: StoredEpoch, missed?: readonly StoredMissed[]): Promise<void> {
    const base64 = (bytes: Uint8Array) => bytesToText(bytes, 'base64')
    const text = JSON.stringify({
      epoch: epoch.epoch,
      start: epoch.start,
      eventsBefore: epoch.eventsBefore,
      genesis: epoch.genesis.map(base64),
      relatedInfo: base64(epoch.relatedInfo),
      chain: base64(epoch.chain),
    })
    await this.write([
      this.sealed(this.key('epoch'), fromString(text)),
      ...(missed === undefined ? [] : [this.missedWrite(missed)]),
    ])
    this.current = epoch
  }

  /** Our payloads set aside by rebases and not settled yet (none: the record goes). */
  async saveMissed(missed: readonly StoredMissed[]): Promise<void> {
    await this.write([this.missedWrite(missed)])
  }

  /** What `saveMissed` (or a rebase's `saveEpoch`) wrote last; empty when nothing is set aside. */
  async loadMissed(): Promise<StoredMissed[]> {
    const key = this.key('missed')
    if (!(await this.datastore.has(key))) return []
    const text = bytesToText(unseal(key.toString(), await this.datastore.get(key)))
    const damaged = () => storageCorrupt(`stored record ${key.toString()} is damaged`)
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch {
      throw damaged()
    }
    if (!Array.isArray(parsed)) throw damaged()
    return parsed.map((entry: unknown) => {
      const { from, to, payloads } = (entry ?? {}) as { from?: unknown; to?: unknown; payloads?: unknown }
      if (
        !Number.isSafeInteger(from) ||
        !Number.isSafeInteger(to) ||
        (from as number) < 0 ||
        (to as number) < (from as number) ||
        !Array.isArray(payloads) ||
        payloads.some((p) => typeof p !== 'string')
      )
        throw damaged()
      return {
        from: from as number,
        to: to as number,
        payloads: (payloads as string[]).map((p) => fromString(p, 'base64')),
      }
    })
  }

  private missedWrite(missed: readonly StoredMissed[]): Write {
    if (missed.length === 0) return { key: this.key('missed') }
    const text = JSON.stringify(
      missed.map(({ from, to, payloads }) => ({
        from,
        to,
        payloads: payloads.map((p) => bytesToText(p, 'base64')),
      })),
    )
    return this.sealed(this.key('missed'), fromString(text))
  }

  /**
   * Deletes the events of `epoch` (its drain is over), `DROP_BATCH` at a time. Never the current
   * epoch's.
   */
  async dropEvents(epoch: number): Promise<void> {
    if (epoch >= (this.current?.epoch ?? 0))
      throw new SectionError('InvalidArgument', `epoch ${epoch} is not behind the current one`)
    const prefix = `${this.root}/${eventsList(epoch)}/`
    for (;;) {
      const keys: Write[] = []
      for await (const key of this.datastore.queryKeys({ prefix, limit: DROP_BATCH })) keys.push({ key })
      if (keys.length === 0) break
      await this.deleteRun(keys)
    }
    // '0' follows '/': the range holds every key of the list.
    this.compactRange(prefix, `${prefix.slice(0, -1)}0`)
    this.rollLogsIfDue()
  }

  /**
   * Reopens a `PeerLevelDatastore` in the background once its `LOG` and `MANIFEST` reach
   * `LOG_ROLL_BYTES`, after the compaction in progress (which adds to them). A reopen that cannot
   * open the store again leaves it closed: every later write fails, as on a failing disk.
   */
  private rollLogsIfDue(): void {
    const { datastore } = this
    if (!(datastore instanceof PeerLevelDatastore) || this.reopening !== undefined) return
    if (datastore.logBytes() < this.logRollBytes) return
    const compaction = this.compaction
    this.reopening = (async () => {
      await compaction
      await datastore.reopen()
    })()
      // A store left closed fails every later write, which the section reports.
      .catch(() => {})
      .finally(() => {
        this.reopening = undefined
      })
  }

  private async readEpoch(): Promise<StoredEpoch | undefined> {
    const key = this.key('epoch')
    if (!(await this.datastore.has(key))) return undefined
    const text = bytesToText(unseal(key.toString(), await this.datastore.get(key)))
    const damaged = () => storageCorrupt(`stored record ${key.toString()} is damaged`)
    let parsed: {
      epoch?: unknown
      start?: unknown
      eventsBefore?: unknown
      genesis?: unknown
      relatedInfo?: unknown
      chain?: unknown
    }
    try {
      parsed = JSON.parse(text)
    } catch {
      throw damaged()
    }
    const { epoch, start, eventsBefore, genesis, relatedInfo, chain } = parsed
    const count = (n: unknown) => Number.isSafeInteger(n) && (n as number) >= 0
    if (!count(epoch) || !count(start) || !count(eventsBefore)) throw damaged()
    if (!Array.isArray(genesis) || genesis.length === 0) throw damaged()
    if (typeof relatedInfo !== 'string' || typeof chain !== 'string') throw damaged()
    if (genesis.some((g) => typeof g !== 'string')) throw damaged()
    const keys = (genesis as string[]).map((g) => fromString(g, 'base64'))
    if (keys.some((k) => k.length !== 32)) throw damaged()
    return {
      epoch: epoch as number,
      start: start as number,
      eventsBefore: eventsBefore as number,
      genesis: keys,
      relatedInfo: fromString(relatedInfo, 'base64'),
      chain: fromString(chain, 'base64'),
    }
  }

  /**
   * The stored blocks' bytes (after `load`, `encodeBlock`'s, or `encodeObservation`'s before
   * format 6), checked, to `onBlocks` in order a
   * batch at a time (`first`: the position of the batch's first block). The stored blocks start at
   * `blocksFrom` (0 unless retention dropped earlier ones). Returns the position after the last
   * stored block (`blocksFrom` plus how many there are).
   */
  async loadBlocks(onBlocks: (batch: Uint8Array[], first: number) => void): Promise<number> {
    const key = this.key('blocks-from')
    let start = 0
    if (await this.datastore.has(key)) {
      const text = bytesToText(unseal(key.toString(), await this.datastore.get(key)))
      start = /^[0-9]{1,15}$/.test(text) ? Number(text) : Number.NaN
      if (!Number.isSafeInteger(start))
        throw storageCorrupt(`stored record ${key.toString()} is damaged: ${JSON.stringify(text)}`)
    }
    this.blocksStart = start
    const end = await this.readSealedList('blocks', onBlocks, start)
    this.liveRecords += end - start
    return end
  }

  /** The first stored block's position (after `loadBlocks`): blocks before it were dropped. */
  get blocksFrom(): number {
    return this.blocksStart
  }

  /**
   * Deletes the stored blocks before `position` (block retention at a restart), `DROP_BATCH` at a
   * time, each batch moving `blocks-from` on with it: a crash part-way leaves a consistent store.
   */
  async dropBlocksBelow(position: number): Promise<void> {
    const start = this.blocksStart
    while (this.blocksStart < position) {
      const end = Math.min(position, this.blocksStart + DROP_BATCH)
      await this.deleteRun(this.dropWrites(end, end))
      this.blocksStart = end
    }
    if (this.blocksStart > start) this.compactBlocks(start, this.blocksStart)
  }

  /**
   * A store that holds no block starts its blocks at `position` (a joiner that starts from a
   * checkpoint never holds the earlier ones).
   */
  async startBlocksAt(position: number): Promise<void> {
    if (position <= this.blocksStart) return
    await this.write([this.sealed(this.key('blocks-from'), fromString(`${position}`))])
    this.blocksStart = position
  }

  /**
   * The `blocks-from` record moved on to `from`, and deletes of the stored blocks from
   * `blocksFrom` up to `storedEnd` (those after it were never written).
   */
  private dropWrites(from: number, storedEnd: number): Write[] {
    const writes: Write[] = []
    for (let at = this.blocksStart; at < storedEnd; at++) writes.push({ key: this.indexKey('blocks', at) })
    writes.push(this.sealed(this.key('blocks-from'), fromString(`${from}`)))
    return writes
  }

  /**
   * Hands the checked records of list `name` to `onBatch` in index order from `start`, `LOAD_BATCH`
   * at a time (with the index of the batch's first); returns the index after the last. A
   * datastore's query runs in key order (LevelDB) or insertion order (memory), both index order
   * here; records met early are held until their turn, and a gap (or a record before `start`) is
   * `StorageCorrupt`.
   */
  private async readSealedList(
    name: string,
    onBatch: (batch: Uint8Array[], first: number) => void,
    start = 0,
  ): Promise<number> {
    const prefix = `${this.root}/${name}/`
    let next = start
    let batch: Uint8Array[] = []
    const early = new Map<number, RawRecord>()
    const take = ({ key, value }: RawRecord) => {
      batch.push(unseal(key.toString(), value))
      next++
      if (batch.length >= LOAD_BATCH) {
        onBatch(batch, next - batch.length)
        batch = []
      }
    }
    for await (const { key, value } of this.datastore.query({ prefix })) {
      const index = Number(key.toString().slice(prefix.length))
      if (!Number.isSafeInteger(index)) throw storageCorrupt(`stored record ${key.toString()} has a bad key`)
      if (index < start)
        throw storageCorrupt(`stored record ${key.toString()} comes before the first one kept (${start})`)
      const record = { key, value: Uint8Array.from(value) }
      if (index !== next) {
        early.set(index, record)
        continue
      }
      take(record)
      for (let held = early.get(next); held !== undefined; held = early.get(next)) {
        early.delete(next)
        take(held)
      }
    }
    if (early.size > 0)
      throw storageCorrupt(`stored record ${this.indexKey(name, next).toString()} is missing`)
    if (batch.length > 0) onBatch(batch, next - batch.length)
    return next
  }

  /**
   * Appends events from index `firstEvent` and blocks from position `firstBlock`, atomically. With
   * `retainFrom` (block retention), the stored blocks before that position are deleted once a
   * chunk of them is due (`retentionChunk`), in a run of their own after the append (in its batch
   * where new blocks before that position are not written), with the record of where the stored
   * blocks now start.
   */
  async append(
    events: readonly Uint8Array[],
    firstEvent: number,
    blocks: readonly Uint8Array[],
    firstBlock: number,
    retainFrom?: number,
  ): Promise<void> {
    const end = firstBlock + blocks.length
    let dropTo = Math.max(this.blocksStart, Math.min(retainFrom ?? 0, end))
    // A later chunk, unless new blocks would not be written (the stored ones must stay contiguous).
    if (
      retainFrom !== undefined &&
      dropTo - this.blocksStart < retentionChunk(end - retainFrom) &&
      firstBlock >= dropTo
    )
      dropTo = this.blocksStart
    if (events.length === 0 && blocks.length === 0 && dropTo === this.blocksStart) return
    const writes: Write[] = []
    const list = eventsList(this.current?.epoch ?? 0)
    for (let i = 0; i < events.length; i++)
      writes.push(this.sealed(this.indexKey(list, firstEvent + i), events[i]))
    // New blocks before `dropTo` are not written; stored ones before it are deleted.
    for (let i = Math.max(0, dropTo - firstBlock); i < blocks.length; i++)
      writes.push(this.sealed(this.indexKey('blocks', firstBlock + i), blocks[i]))
    const start = this.blocksStart
    if (dropTo > start && firstBlock < dropTo) {
      // New blocks before `dropTo` are not written: the deletes go in the same batch.
      writes.push(...this.dropWrites(dropTo, firstBlock))
      await this.write(writes, true)
    } else {
      if (writes.length > 0) await this.write(writes)
      if (dropTo > start) await this.deleteRun(this.dropWrites(dropTo, dropTo))
    }
    this.blocksStart = Math.max(this.blocksStart, dropTo)
    if (dropTo > start) this.compactBlocks(start, Math.min(dropTo, firstBlock))
  }

  // ---------------------------------------------------------------- a peer that joined

  /**
   * A joiner's engine is built: the canonical genesis record it verified and the Ed25519 keys (32
   * bytes each) of the members its engine started with. Written once, before any of its events.
   */
  async saveJoined(record: Uint8Array, section: readonly Uint8Array[]): Promise<void> {
    const keys = new Uint8Array(32 * section.length)
    section.forEach((key, i) => {
      if (key.length !== 32) throw new SectionError('InvalidArgument', 'a member key has 32 bytes')
      keys.set(key, 32 * i)
    })
    await this.write([
      this.sealed(this.key('joined/record'), record),
      this.sealed(this.key('joined/section'), keys),
    ])
  }

  /** What `saveJoined` wrote (undefined for a founder, or before a joiner was admitted). */
  async loadJoined(): Promise<{ record: Uint8Array; section: Uint8Array[] } | undefined> {
    const recordKey = this.key('joined/record')
    const sectionKey = this.key('joined/section')
    if (!(await this.datastore.has(recordKey))) return undefined
    if (!(await this.datastore.has(sectionKey)))
      throw storageCorrupt(`stored record ${sectionKey} is missing`)
    const record = unseal(recordKey.toString(), await this.datastore.get(recordKey))
    const keys = unseal(sectionKey.toString(), await this.datastore.get(sectionKey))
    if (keys.length === 0 || keys.length % 32 !== 0)
      throw storageCorrupt(`stored record ${sectionKey} is damaged`)
    const section: Uint8Array[] = []
    for (let at = 0; at < keys.length; at += 32) section.push(keys.slice(at, at + 32))
    return { record, section }
  }

  // ---------------------------------------------------------------- our removal

  /** Our removal is known: kept before anyone is told (a restart must not run us as a member). */
  async saveRemoved(removal: StoredRemoval): Promise<void> {
    const text = JSON.stringify({ reason: removal.reason, seq: removal.seq })
    await this.write([this.sealed(this.key('removed'), fromString(text))])
  }

  /** What `saveRemoved` wrote (undefined: no removal of ours is known). */
  async loadRemoved(): Promise<StoredRemoval | undefined> {
    const key = this.key('removed')
    if (!(await this.datastore.has(key))) return undefined
    const text = bytesToText(unseal(key.toString(), await this.datastore.get(key)))
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch {
      parsed = undefined
    }
    const { reason, seq } = (parsed ?? {}) as { reason?: unknown; seq?: unknown }
    if (
      typeof reason !== 'string' ||
      !REMOVAL_REASONS.includes(reason) ||
      !Number.isSafeInteger(seq) ||
      (seq as number) < 0
    )
      throw storageCorrupt(`stored record ${key.toString()} is damaged: ${JSON.stringify(text)}`)
    return { reason: reason as LeaveReason, seq: seq as number }
  }

  // ---------------------------------------------------------------- format and migration

  /** The stored format; undefined when there is no format record (format 1, or a new store). */
  private async readFormat(): Promise<number | undefined> {
    const key = this.key('format')
    if (!(await this.datastore.has(key))) return undefined
    const text = bytesToText(await this.datastore.get(key))
    if (!/^[1-9][0-9]{0,8}$/.test(text)) {
      throw storageCorrupt(`stored record ${key.toString()} is damaged: ${JSON.stringify(text)}`)
    }
    const format = Number(text)
    if (format > STORAGE_FORMAT) {
      throw new SectionError(
        'StorageVersion',
        `the store was written in storage format ${format} by a newer version; this version reads formats 1 to ${STORAGE_FORMAT}: upgrade parsec-section (nothing was changed)`,
      )
    }
    return format
  }

  private async holdsAnything(): Promise<boolean> {
    for await (const _ of this.datastore.queryKeys({ prefix: `${this.root}/`, limit: 1 })) return true
    return false
  }

  /**
   * Seals every record of a format-1 store in place, a batch at a time, each batch recording how
   * far it got; the format is set last. A crash part-way resumes where the last batch ended.
   * Records, in order: the owner, the events, the blocks.
   */
  private async migrateFromFormat1(owner: PeerId): Promise<void> {
    const progressKey = this.key('migrating')
    let done = 0
    if (await this.datastore.has(progressKey)) {
      const text = bytesToText(await this.datastore.get(progressKey))
      done = /^[0-9]{1,15}$/.test(text) ? Number(text) : Number.NaN
      if (!Number.isSafeInteger(done)) {
        throw storageCorrupt(`stored record ${progressKey.toString()} is damaged`)
      }
    }
    const ownerKey = this.key('owner')
    if (await this.datastore.has(ownerKey)) {
      const stored = await this.datastore.get(ownerKey)
      this.checkOwner(done >= 1 ? unseal(ownerKey.toString(), stored) : stored, owner)
    }
    const records: RawRecord[] = [
      { key: ownerKey, value: fromString(owner.toString()) },
      ...(await this.readList('events')),
      ...(await this.readList('blocks')),
    ]
    if (done > records.length) {
      throw storageCorrupt(
        `stored record ${progressKey.toString()} says ${done} records were migrated, but the store holds ${records.length}`,
      )
    }
    for (let start = done; start < records.length; start += MIGRATION_BATCH) {
      const end = Math.min(records.length, start + MIGRATION_BATCH)
      const writes: Write[] = records.slice(start, end).map(({ key, value }) => this.sealed(key, value))
      writes.push({ key: progressKey, value: fromString(`${end}`) })
      await this.write(writes)
    }
    await this.write([
      { key: this.key('format'), value: fromString(`${STORAGE_FORMAT}`) },
      { key: progressKey },
    ])
  }

  // ---------------------------------------------------------------- records

  private checkOwner(stored: Uint8Array, owner: PeerId): void {
    if (!equals(stored, fromString(owner.toString()))) {
      throw new SectionError(
        'StorageMismatch',
        `the data directory belongs to peer ${bytesToText(stored)}, not ${owner.toString()}`,
      )
    }
  }

  /** The records of list `name` in index order, as stored; a gap is `StorageCorrupt`. */
  private async readList(name: string): Promise<RawRecord[]> {
    const prefix = `${this.root}/${name}/`
    const entries: [number, RawRecord][] = []
    for await (const { key, value } of this.datastore.query({ prefix })) {
      const index = Number(key.toString().slice(prefix.length))
      if (!Number.isSafeInteger(index)) {
        throw storageCorrupt(`stored record ${key.toString()} has a bad key`)
      }
      entries.push([index, { key, value: Uint8Array.from(value) }])
    }
    entries.sort((a, b) => a[0] - b[0])
    entries.forEach(([index], i) => {
      if (index !== i) {
        throw storageCorrupt(`stored record ${this.indexKey(name, i).toString()} is missing`)
      }
    })
    return entries.map(([, record]) => record)
  }

  private key(name: string): Key {
    return new Key(`${this.root}/${name}`)
  }

  private indexKey(list: string, index: number): Key {
    return new Key(`${this.root}/${list}/${index.toString().padStart(WIDTH, '0')}`)
  }

  private seal(name: string, bytes: Uint8Array): Uint8Array {
    return seal(this.key(name).toString(), bytes)
  }

  private sealed(key: Key, bytes: Uint8Array): Write {
    return { key, value: seal(key.toString(), bytes) }
  }

  /** Resolves once no compaction or reopen runs (before the datastore closes). */
  async settled(): Promise<void> {
    while (this.compaction !== undefined || this.reopening !== undefined) {
      await this.compaction
      await this.reopening?.catch(() => {})
    }
  }

  /**
   * One atomic batch; on a LevelDB datastore synced to disk (unless `sync` is off). `ranged`: its
   * deletes are a run its caller compacts on its own range, so they do not count for the safety net.
   */
  private async write(writes: readonly Write[], ranged = false): Promise<void> {
    await this.exclusive(() => this.writeBatch(writes))
    this.count(writes, ranged)
  }

  /**
   * A run of deletes, in a table of its own on a LevelDB datastore (see above): the write buffer
   * is flushed before and after it, with no other write of ours in between, so compacting the
   * run's range does not take in the tables of what was written meanwhile.
   */
  private async deleteRun(writes: readonly Write[]): Promise<void> {
    await this.exclusive(async () => {
      await this.flush()
      await this.writeBatch(writes)
      await this.flush()
    })
    this.count(writes, true)
  }

  private count(writes: readonly Write[], ranged: boolean): void {
    let deleted = 0
    for (const { value } of writes) if (value === undefined) deleted++
    this.liveRecords = Math.max(0, this.liveRecords + writes.length - 2 * deleted)
    if (ranged) return
    this.deletedRecords += deleted
    // The safety net (see above): the section's whole key range; '0' follows '/'.
    if (this.deletedRecords < Math.max(COMPACT_MIN_DELETES, this.liveRecords * COMPACT_DELETED_SHARE)) return
    this.deletedRecords = 0
    this.compactRange(`${this.root}/`, `${this.root}0`)
  }

  /** Runs `operation` once the writes before it are done, and the writes after it once it is. */
  private exclusive(operation: () => Promise<void>): Promise<void> {
    const done = this.writing.then(operation)
    this.writing = done.catch(() => {})
    return done
  }

  /**
   * Flushes LevelDB's write buffer to a table (a LevelDB datastore only): compacting a range past
   * every key does that and nothing else.
   */
  private async flush(): Promise<void> {
    await this.levelCompaction()?.(PAST_EVERY_KEY, `${PAST_EVERY_KEY}${PAST_EVERY_KEY}`)
  }

  /** Compacts the stored blocks' keys from `from` up to `to` (deleted) in the background. */
  private compactBlocks(from: number, to: number): void {
    if (to > from)
      this.compactRange(this.indexKey('blocks', from).toString(), this.indexKey('blocks', to - 1).toString())
  }

  /**
   * Compacts the keys from `start` to `end` (both included) in the background, after those queued
   * before; on a LevelDB datastore only. A failed compaction costs only space.
   */
  private compactRange(start: string, end: string): void {
    const compact = this.levelCompaction()
    if (compact === undefined) return
    this.compactions.push([start, end])
    this.compaction ??= this.runCompactions(compact)
  }

  /**
   * LevelDB's compaction of a key range (both ends included), through a `PeerLevelDatastore`'s
   * gate; undefined for another datastore. classic-level has it, which `level` does not declare
   * (nor has in a browser).
   */
  private levelCompaction(): ((start: string, end: string) => Promise<void>) | undefined {
    const { datastore } = this
    if (!(datastore instanceof LevelDatastore)) return undefined
    const db = datastore.db as unknown as { compactRange?: (start: string, end: string) => Promise<void> }
    const compactRange = db.compactRange
    if (typeof compactRange !== 'function') return undefined
    return (start, end) => {
      const compact = () => compactRange.call(db, start, end)
      return datastore instanceof PeerLevelDatastore ? datastore.run(compact) : compact()
    }
  }

  /** Runs the queued compactions one after another, until none is left. */
  private async runCompactions(compact: (start: string, end: string) => Promise<void>): Promise<void> {
    try {
      for (let range = this.compactions.shift(); range !== undefined; range = this.compactions.shift()) {
        await compact(...range).catch(() => {})
      }
    } finally {
      // In the same step as the last `shift`: a range queued later starts a new run.
      this.compaction = undefined
    }
  }

  private async writeBatch(writes: readonly Write[]): Promise<void> {
    const { datastore } = this
    if (datastore instanceof LevelDatastore) {
      // datastore-level's batch cannot sync: write through its LevelDB.
      const operations = writes.map(({ key, value }) =>
        value === undefined
          ? { type: 'del' as const, key: key.toString() }
          : { type: 'put' as const, key: key.toString(), value },
      )
      const batch = () => datastore.db.batch(operations, { sync: this.sync })
      await (datastore instanceof PeerLevelDatastore ? datastore.run(batch) : batch())
      return
    }
    const batch = datastore.batch()
    for (const { key, value } of writes) {
      if (value === undefined) batch.delete(key)
      else batch.put(key, value)
    }
    await batch.commit()
  }
}
