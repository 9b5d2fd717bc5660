/**
 * The simulation's only source of randomness: xoshiro128** (32-bit state words), seeded from one
 * unsigned 32-bit integer through splitmix32. Same seed, same stream, on every platform.
 */

const UINT32 = 0x1_0000_0000

/** splitmix32 step: returns the next state and its mixed output. */
function splitmix32(state: number): [next: number, output: number] {
  const next = (state + 0x9e3779b9) >>> 0
  let z = next
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
  return [next, (z ^ (z >>> 16)) >>> 0]
}

const rotl = (x: number, k: number): number => ((x << k) | (x >>> (32 - k))) >>> 0

export class Rng {
  private s0: number
  private s1: number
  private s2: number
  private s3: number

  /** `seed` is taken modulo 2^32 (negative and fractional seeds are rejected). */
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed) || seed < 0) {
      throw new RangeError(`seed must be an unsigned integer, not ${seed}`)
    }
    let state = seed % UINT32
    const words: number[] = []
    for (let i = 0; i < 4; i++) {
      const [next, output] = splitmix32(state)
      state = next
      words.push(output)
    }
    ;[this.s0, this.s1, this.s2, this.s3] = words
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1
  }

  /** The next unsigned 32-bit output. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0
    const t = (this.s1 << 9) >>> 0
    this.s2 = (this.s2 ^ this.s0) >>> 0
    this.s3 = (this.s3 ^ this.s1) >>> 0
    this.s1 = (this.s1 ^ this.s2) >>> 0
    this.s0 = (this.s0 ^ this.s3) >>> 0
    this.s2 = (this.s2 ^ t) >>> 0
    this.s3 = rotl(this.s3, 11)
    return result
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.nextU32() / UINT32
  }

  /** Uniform integer in [0, n); n ≥ 1. */
  below(n: number): number {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`below() needs a positive integer, not ${n}`)
    return Math.floor(this.float() * n)
  }

  /** Uniform integer in [min, max] (inclusive). */
  range(min: number, max: number): number {
    return max <= min ? min : min + this.below(max - min + 1)
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return p >= 1 || (p > 0 && this.float() < p)
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick() from an empty list')
    return items[this.below(items.length)]
  }

  /** Fisher-Yates, in place; returns `items`. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.below(i + 1)
      const tmp = items[i]
      items[i] = items[j]
      items[j] = tmp
    }
    return items
  }

  /** An independent stream derived from this one (advances this stream by one output). */
  fork(): Rng {
    return new Rng(this.nextU32())
  }
}
