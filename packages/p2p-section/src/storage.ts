/**
 * What a peer keeps across restarts, in the libp2p node's datastore (LevelDB when the CLI is
 * given a data directory, memory otherwise): every event of its gossip graph in insertion order
 * (its own persisted before they are sent), and every block it delivered. Each call's writes are
 * one atomic batch.
 */
import type { PeerId } from '@libp2p/interface'
import type { Datastore } from 'interface-datastore'
import { Key } from 'interface-datastore'
import { toString as bytesToText, equals, fromString } from 'uint8arrays'
import { SectionError } from './errors.js'

export interface StoredState {
  /** How many events were stored (each was handed to `load`'s `onEvents`). */
  readonly events: number
  /** The delivered blocks' encoded observations, in order. */
  readonly blocks: Uint8Array[]
}

const WIDTH = 12
/** Stored events handed over per batch at load: what a restart holds of them at once. */
const EVENT_BATCH = 1024

function indexKey(prefix: string, index: number): Key {
  return new Key(`${prefix}/${index.toString().padStart(WIDTH, '0')}`)
}

export class SectionStorage {
  private readonly root: string

  constructor(
    private readonly datastore: Datastore,
    sectionId: string,
  ) {
    this.root = `/parsec/${sectionId}`
  }

  /**
   * Reads everything back; refuses a store written by another identity. The events go to
   * `onEvents` in insertion order, a batch at a time as they are read (a restart never holds them
   * all: their bytes alone outweigh the engine they rebuild), the blocks are returned.
   */
  async load(owner: PeerId, onEvents: (batch: Uint8Array[]) => void): Promise<StoredState> {
    const ownerKey = new Key(`${this.root}/owner`)
    const ownerBytes = fromString(owner.toString())
    if (await this.datastore.has(ownerKey)) {
      const stored = await this.datastore.get(ownerKey)
      if (!equals(stored, ownerBytes)) {
        throw new SectionError(
          'StorageMismatch',
          `the data directory belongs to peer ${bytesToText(stored)}, not ${owner.toString()}`,
        )
      }
    } else {
      await this.datastore.put(ownerKey, ownerBytes)
    }
    const events = await this.readList('events', EVENT_BATCH, onEvents)
    const blocks: Uint8Array[] = []
    await this.readList('blocks', Number.POSITIVE_INFINITY, (batch) => blocks.push(...batch))
    return { events, blocks }
  }

  /**
   * Hands the records of list `name` to `onBatch` in index order, `batchSize` at a time; returns
   * how many there are. A datastore's query runs in key order (LevelDB) or insertion order (memory),
   * both index order here; records met early are held until their turn, and a gap is an error.
   */
  private async readList(
    name: string,
    batchSize: number,
    onBatch: (batch: Uint8Array[]) => void,
  ): Promise<number> {
    const prefix = `${this.root}/${name}/`
    let next = 0
    let batch: Uint8Array[] = []
    const early = new Map<number, Uint8Array>()
    const take = (value: Uint8Array) => {
      batch.push(value)
      next++
      if (batch.length >= batchSize) {
        onBatch(batch)
        batch = []
      }
    }
    for await (const { key, value } of this.datastore.query({ prefix })) {
      const index = Number(key.toString().slice(prefix.length))
      if (!Number.isSafeInteger(index)) throw new SectionError('StorageMismatch', `bad key ${key.toString()}`)
      if (index !== next) {
        early.set(index, Uint8Array.from(value))
        continue
      }
      take(Uint8Array.from(value))
      for (let held = early.get(next); held !== undefined; held = early.get(next)) {
        early.delete(next)
        take(held)
      }
    }
    if (early.size > 0) throw new SectionError('StorageMismatch', `${name} ${next} is missing from the store`)
    if (batch.length > 0) onBatch(batch)
    return next
  }

  /** Appends events from index `firstEvent` and blocks from position `firstBlock`, atomically. */
  async append(
    events: readonly Uint8Array[],
    firstEvent: number,
    blocks: readonly Uint8Array[],
    firstBlock: number,
  ): Promise<void> {
    if (events.length === 0 && blocks.length === 0) return
    const batch = this.datastore.batch()
    for (let i = 0; i < events.length; i++)
      batch.put(indexKey(`${this.root}/events`, firstEvent + i), events[i])
    for (let i = 0; i < blocks.length; i++)
      batch.put(indexKey(`${this.root}/blocks`, firstBlock + i), blocks[i])
    await batch.commit()
  }
}
