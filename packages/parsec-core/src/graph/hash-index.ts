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
import { FixedBytesColumn } from './columns.js'

const EMPTY = 0

function word(bytes: Uint8Array, offset: number): number {
  return (
    (bytes[offset] | (bytes[offset + 1] << 8) | (bytes[offset + 2] << 16) | (bytes[offset + 3] << 24)) >>> 0
  )
}

export class HashIndex {
  private readonly hashes = new FixedBytesColumn(HASH_LENGTH)
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
    return this.hashes.length
  }

  private bucket(low: number, high: number): number {
    const s = this.salt
    let h = Math.imul(low ^ s[0], s[1]) ^ Math.imul(high ^ s[2], s[3])
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
    for (let b = this.bucket(word(hash, 0), word(hash, 4)); ; b = (b + 1) & mask) {
      const entry = table[b]
      if (entry === EMPTY) return undefined
      if (this.hashes.equals(entry - 1, hash)) return entry - 1
    }
  }

  /** Appends `hash` (not yet present) and returns its insertion index. */
  add(hash: Uint8Array): number {
    if (hash.length !== HASH_LENGTH) throw new RangeError(`a hash has ${HASH_LENGTH} bytes`)
    const index = this.hashes.length
    this.hashes.push(hash)
    if (2 * this.hashes.length > this.table.length) this.rehash(this.table.length * 2)
    else this.place(index)
    return index
  }

  private place(index: number): void {
    const table = this.table
    const mask = table.length - 1
    let b = this.bucket(this.hashes.word(index, 0), this.hashes.word(index, 4))
    while (table[b] !== EMPTY) b = (b + 1) & mask
    table[b] = index + 1
  }

  private rehash(capacity: number): void {
    this.table = new Int32Array(capacity)
    for (let i = 0; i < this.hashes.length; i++) this.place(i)
  }

  /** A copy of the hash at `index`. */
  hash(index: number): Uint8Array {
    return this.hashes.copy(index)
  }
}
