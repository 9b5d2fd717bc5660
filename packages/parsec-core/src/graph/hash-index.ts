/**
 * The events' hashes in insertion order, in one byte column, with an open-addressing index from
 * hash to insertion index (about 50 bytes per event, against several hundred for a `Map` keyed
 * by a string per hash plus a `Uint8Array` per hash).
 *
 * Peers choose the contents they sign, so they can grind event hashes into chosen buckets of a
 * predictable table. The bucket is therefore a keyed mix of the hash with a secret salt (the host
 * derives it from something only it knows, e.g. its own signature), which nobody else can aim at.
 */
import { HASH_LENGTH } from '../encoding/hash.js'
import { ByteArena } from './columns.js'

const EMPTY = 0

function word(bytes: Uint8Array, offset: number): number {
  return (
    (bytes[offset] | (bytes[offset + 1] << 8) | (bytes[offset + 2] << 16) | (bytes[offset + 3] << 24)) >>> 0
  )
}

export class HashIndex {
  /** The hash at insertion index i is at offset i * HASH_LENGTH (chunks hold whole hashes). */
  private readonly hashes = new ByteArena()
  private count = 0
  /** Insertion index + 1 per bucket, 0 when empty; at most half full. */
  private table = new Int32Array(256)
  private readonly salt: Uint32Array

  /** `salt`: at least 16 secret bytes. */
  constructor(salt: Uint8Array) {
    this.salt = new Uint32Array(4)
    for (let i = 0; i < 4; i++) this.salt[i] = word(salt, 4 * i)
    // Odd multipliers keep the mix a bijection of each word.
    this.salt[1] |= 1
    this.salt[3] |= 1
  }

  get size(): number {
    return this.count
  }

  private bucket(bytes: Uint8Array): number {
    const s = this.salt
    let h = Math.imul(word(bytes, 0) ^ s[0], s[1]) ^ Math.imul(word(bytes, 4) ^ s[2], s[3])
    h ^= h >>> 16
    h = Math.imul(h, 0x7feb352d)
    h ^= h >>> 15
    return h & (this.table.length - 1)
  }

  /** The insertion index of `hash`, or undefined. */
  indexOf(hash: Uint8Array): number | undefined {
    if (hash.length !== HASH_LENGTH) return undefined
    const table = this.table
    const mask = table.length - 1
    for (let b = this.bucket(hash); ; b = (b + 1) & mask) {
      const entry = table[b]
      if (entry === EMPTY) return undefined
      if (this.hashes.equals((entry - 1) * HASH_LENGTH, hash)) return entry - 1
    }
  }

  /** Appends `hash` (not yet present) and returns its insertion index. */
  add(hash: Uint8Array): number {
    if (hash.length !== HASH_LENGTH) throw new RangeError(`a hash has ${HASH_LENGTH} bytes`)
    const index = this.count
    this.hashes.append(hash)
    this.count++
    if (2 * this.count > this.table.length) this.rehash(this.table.length * 2)
    else this.place(index)
    return index
  }

  private place(index: number): void {
    const table = this.table
    const mask = table.length - 1
    let b = this.bucket(this.hash(index))
    while (table[b] !== EMPTY) b = (b + 1) & mask
    table[b] = index + 1
  }

  private rehash(capacity: number): void {
    this.table = new Int32Array(capacity)
    for (let i = 0; i < this.count; i++) this.place(i)
  }

  /** The hash at `index`: a view, not to be modified. */
  hash(index: number): Uint8Array {
    return this.hashes.view(index * HASH_LENGTH, HASH_LENGTH)
  }
}
