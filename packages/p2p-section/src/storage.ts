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
  readonly events: Uint8Array[]
  /** The delivered blocks' encoded observations, in order. */
  readonly blocks: Uint8Array[]
}

const WIDTH = 12

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

  /** Reads everything back; refuses a store written by another identity. */
  async load(owner: PeerId): Promise<StoredState> {
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
    return { events: await this.readList('events'), blocks: await this.readList('blocks') }
  }

  private async readList(name: string): Promise<Uint8Array[]> {
    const prefix = `${this.root}/${name}/`
    const entries: [number, Uint8Array][] = []
    for await (const { key, value } of this.datastore.query({ prefix })) {
      const index = Number(key.toString().slice(prefix.length))
      if (!Number.isSafeInteger(index)) throw new SectionError('StorageMismatch', `bad key ${key.toString()}`)
      entries.push([index, Uint8Array.from(value)])
    }
    entries.sort((a, b) => a[0] - b[0])
    entries.forEach(([index], i) => {
      if (index !== i) throw new SectionError('StorageMismatch', `${name} ${i} is missing from the store`)
    })
    return entries.map(([, value]) => value)
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
