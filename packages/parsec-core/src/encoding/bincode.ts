/**
 * The bincode 1.x legacy layout (spec §1.3): little-endian fixed-width integers, u64 lengths before
 * strings/vectors/sets, u32 enum variant indices, fixed arrays raw. The reference hashes and signs
 * these bytes, so observation hashes must match it byte for byte.
 */
import { ParsecError } from '../errors.js'

export class BincodeWriter {
  private buffer: Uint8Array
  private view: DataView
  private length = 0

  constructor(initialCapacity = 256) {
    this.buffer = new Uint8Array(initialCapacity)
    this.view = new DataView(this.buffer.buffer)
  }

  private reserve(extra: number): void {
    const needed = this.length + extra
    if (needed <= this.buffer.length) return
    let capacity = this.buffer.length * 2
    while (capacity < needed) capacity *= 2
    const next = new Uint8Array(capacity)
    next.set(this.buffer.subarray(0, this.length))
    this.buffer = next
    this.view = new DataView(next.buffer)
  }

  u8(value: number): this {
    this.reserve(1)
    this.buffer[this.length++] = value
    return this
  }

  u32(value: number): this {
    this.reserve(4)
    this.view.setUint32(this.length, value, true)
    this.length += 4
    return this
  }

  /** u64 from a non-negative safe integer (lengths, counters). */
  u64(value: number): this {
    this.reserve(8)
    this.view.setUint32(this.length, value >>> 0, true)
    this.view.setUint32(this.length + 4, Math.floor(value / 0x1_0000_0000), true)
    this.length += 8
    return this
  }

  /** Fixed-size bytes, no length prefix (e.g. `[u8; 32]`). */
  raw(bytes: Uint8Array): this {
    this.reserve(bytes.length)
    this.buffer.set(bytes, this.length)
    this.length += bytes.length
    return this
  }

  /** `Vec<u8>` / `String`: u64 length then the bytes. */
  bytes(bytes: Uint8Array): this {
    return this.u64(bytes.length).raw(bytes)
  }

  finish(): Uint8Array {
    return this.buffer.slice(0, this.length)
  }

  /** The written bytes without copying: valid only until the writer is written again. */
  written(): Uint8Array {
    return this.buffer.subarray(0, this.length)
  }

  /** Empties the writer so one instance can serve many encodings (the buffer is kept). */
  reset(): this {
    this.length = 0
    return this
  }
}

const scratch = new BincodeWriter(4096)
let scratchInUse = false

/**
 * Encodes with a shared scratch writer (no buffer allocation per call); nested calls fall back to
 * a fresh writer.
 */
export function encodeWith(write: (writer: BincodeWriter) => void): Uint8Array {
  return encode(write, false)
}

/**
 * Like `encodeWith` without the copy: the bytes stay valid only until the next encoding, for
 * callers that hash or verify them at once.
 */
export function encodeTransient(write: (writer: BincodeWriter) => void): Uint8Array {
  return encode(write, true)
}

function encode(write: (writer: BincodeWriter) => void, transient: boolean): Uint8Array {
  if (scratchInUse) {
    const writer = new BincodeWriter(256)
    write(writer)
    return writer.finish()
  }
  scratchInUse = true
  try {
    write(scratch.reset())
    return transient ? scratch.written() : scratch.finish()
  } finally {
    scratchInUse = false
  }
}

/** Reads the same layout back; every malformed input ends in a typed `ParsecError`. */
export class BincodeReader {
  private offset = 0
  private readonly view: DataView

  constructor(private readonly data: Uint8Array) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength)
  }

  get remaining(): number {
    return this.data.length - this.offset
  }

  private need(count: number): void {
    if (count > this.remaining) {
      throw new ParsecError(
        'InvalidMessage',
        `truncated input: needed ${count} bytes, ${this.remaining} left`,
      )
    }
  }

  u8(): number {
    this.need(1)
    return this.data[this.offset++]
  }

  u32(): number {
    this.need(4)
    const value = this.view.getUint32(this.offset, true)
    this.offset += 4
    return value
  }

  u64(): number {
    this.need(8)
    const low = this.view.getUint32(this.offset, true)
    const high = this.view.getUint32(this.offset + 4, true)
    this.offset += 8
    if (high > 0x1f_ffff) throw new ParsecError('InvalidMessage', 'integer out of range')
    return high * 0x1_0000_0000 + low
  }

  raw(count: number): Uint8Array {
    this.need(count)
    const out = this.data.slice(this.offset, this.offset + count)
    this.offset += count
    return out
  }

  bytes(): Uint8Array {
    const length = this.u64()
    return this.raw(length)
  }

  /** A collection length, checked against what is left so a forged length cannot allocate. */
  length(minElementSize: number): number {
    const count = this.u64()
    if (count * Math.max(1, minElementSize) > this.remaining) {
      throw new ParsecError('InvalidMessage', `collection length ${count} exceeds the input`)
    }
    return count
  }

  end(): void {
    if (this.remaining !== 0) throw new ParsecError('InvalidMessage', `${this.remaining} trailing bytes`)
  }
}
