/**
 * Token buckets by key (a peer, a source network): each key may spend `capacity` tokens at once
 * and gets `refillPerSecond` back, so a burst passes and a sustained flood is held to the rate.
 *
 * Memory is bounded under a flood of new keys: at most `maxKeys` buckets are tracked, in arrays
 * allocated once, and a new key past the bound takes the place of the least recently used one.
 * Forgetting a key gives it a full bucket when it comes back, which loses nothing once its bucket
 * had refilled (a full bucket is a fresh one); `maxKeys` is sized so that the least recently used
 * key has usually been idle that long. A check of a tracked key allocates nothing.
 *
 * Time comes in as `now` (milliseconds, any monotonic origin): no clock is read here. Time that
 * goes backwards refills nothing.
 */
import { SectionError } from '../errors.js'

export interface TokenBucketOptions {
  /** Tokens a bucket holds at most: the burst a key may spend at once (and starts with). */
  readonly capacity: number
  /** Tokens a bucket gets back per second, up to `capacity`. */
  readonly refillPerSecond: number
  /** Keys tracked at once at most (each costs 28 bytes, allocated up front, and its map entry). */
  readonly maxKeys: number
}

const NONE = -1

export class TokenBuckets {
  readonly capacity: number
  private readonly refillPerMs: number
  /** Slot of each tracked key. */
  private readonly slots = new Map<string, number>()
  private readonly keys: string[]
  private readonly tokens: Float64Array
  private readonly updatedAt: Float64Array
  /** A doubly linked list of the slots in use, most recently used first. */
  private readonly newer: Int32Array
  private readonly older: Int32Array
  private newest = NONE
  private oldest = NONE

  constructor(options: TokenBucketOptions) {
    const { capacity, refillPerSecond, maxKeys } = options
    if (!(capacity > 0) || !(refillPerSecond >= 0) || !Number.isInteger(maxKeys) || maxKeys < 1) {
      throw new SectionError(
        'InvalidArgument',
        `token buckets need capacity > 0, refillPerSecond >= 0 and an integer maxKeys >= 1 (got ${capacity}, ${refillPerSecond}, ${maxKeys})`,
      )
    }
    this.capacity = capacity
    this.refillPerMs = refillPerSecond / 1000
    this.keys = new Array<string>(maxKeys).fill('')
    this.tokens = new Float64Array(maxKeys)
    this.updatedAt = new Float64Array(maxKeys)
    this.newer = new Int32Array(maxKeys).fill(NONE)
    this.older = new Int32Array(maxKeys).fill(NONE)
  }

  /** Keys tracked now. */
  get size(): number {
    return this.slots.size
  }

  /** Whether `key` is tracked (its bucket was used and not forgotten since). */
  has(key: string): boolean {
    return this.slots.has(key)
  }

  /** The tokens `key` holds at `now` (a key not tracked holds a full bucket). Changes nothing. */
  available(key: string, now: number): number {
    const slot = this.slots.get(key)
    return slot === undefined ? this.capacity : this.refilled(slot, now)
  }

  /**
   * Spends `cost` tokens of `key`'s at `now` if it holds them: true then, false (nothing spent)
   * otherwise. Either way the key becomes the most recently used.
   */
  take(key: string, now: number, cost = 1): boolean {
    const slot = this.slotOf(key, now)
    const tokens = this.refilled(slot, now)
    this.tokens[slot] = tokens
    this.updatedAt[slot] = Math.max(this.updatedAt[slot], now)
    if (tokens < cost) return false
    this.tokens[slot] = tokens - cost
    return true
  }

  /** Forgets every key. */
  clear(): void {
    this.slots.clear()
    this.newest = NONE
    this.oldest = NONE
  }

  private refilled(slot: number, now: number): number {
    const elapsed = now - this.updatedAt[slot]
    if (!(elapsed > 0)) return this.tokens[slot]
    return Math.min(this.capacity, this.tokens[slot] + elapsed * this.refillPerMs)
  }

  /** The slot of `key`, made the most recently used: its own, a free one, or the oldest one's. */
  private slotOf(key: string, now: number): number {
    let slot = this.slots.get(key)
    if (slot !== undefined) {
      this.unlink(slot)
    } else {
      if (this.slots.size < this.keys.length) {
        slot = this.slots.size
      } else {
        slot = this.oldest
        this.unlink(slot)
        this.slots.delete(this.keys[slot])
      }
      this.slots.set(key, slot)
      this.keys[slot] = key
      this.tokens[slot] = this.capacity
      this.updatedAt[slot] = now
    }
    this.pushNewest(slot)
    return slot
  }

  private unlink(slot: number): void {
    const newer = this.newer[slot]
    const older = this.older[slot]
    if (newer === NONE) this.newest = older
    else this.older[newer] = older
    if (older === NONE) this.oldest = newer
    else this.newer[older] = newer
    this.newer[slot] = NONE
    this.older[slot] = NONE
  }

  private pushNewest(slot: number): void {
    this.older[slot] = this.newest
    this.newer[slot] = NONE
    if (this.newest !== NONE) this.newer[this.newest] = slot
    this.newest = slot
    if (this.oldest === NONE) this.oldest = slot
  }
}
