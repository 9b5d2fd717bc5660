/**
 * The canonical binary layout of every membership record and message: big-endian fixed-width
 * integers, byte strings and lists prefixed by a u32 length. One writer and one reader, so the
 * bytes that are hashed and signed are the same everywhere.
 */
import { utf8 } from '@parsec-section/parsec-core'
import { MembershipError } from '../errors.js'

const MAX_SAFE = Number.MAX_SAFE_INTEGER

export class CanonicalWriter {
  private buffer = new Uint8Array(256)
  private view = new DataView(this.buffer.buffer)
  private length = 0

  private reserve(extra: number): void {
    if (this.length + extra <= this.buffer.length) return
    let size = this.buffer.length * 2
    while (size < this.length + extra) size *= 2
    const next = new Uint8Array(size)
    next.set(this.buffer.subarray(0, this.length))
    this.buffer = next
    this.view = new DataView(next.buffer)
  }

  u8(value: number): this {
    this.reserve(1)
    this.view.setUint8(this.length, value)
    this.length += 1
    return this
  }

  u32(value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
      throw new MembershipError('InvalidArgument', `u32 out of range: ${value}`)
    }
    this.reserve(4)
    this.view.setUint32(this.length, value)
    this.length += 4
    return this
  }

  /** A non-negative safe integer as 8 bytes. */
  u64(value: number): this {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new MembershipError('InvalidArgument', `u64 out of range: ${value}`)
    }
    this.reserve(8)
    this.view.setUint32(this.length, Math.floor(value / 0x100000000))
    this.view.setUint32(this.length + 4, value % 0x100000000)
    this.length += 8
    return this
  }

  bool(value: boolean): this {
    return this.u8(value ? 1 : 0)
  }

  raw(bytes: Uint8Array): this {
    this.reserve(bytes.length)
    this.buffer.set(bytes, this.length)
    this.length += bytes.length
    return this
  }

  bytes(bytes: Uint8Array): this {
    return this.u32(bytes.length).raw(bytes)
  }

  string(text: string): this {
    return this.bytes(utf8(text))
  }

  list<T>(items: readonly T[], write: (writer: this, item: T) => void): this {
    this.u32(items.length)
    for (const item of items) write(this, item)
    return this
  }

  finish(): Uint8Array {
    return this.buffer.slice(0, this.length)
  }
}

export function encodeCanonical(write: (writer: CanonicalWriter) => void): Uint8Array {
  const writer = new CanonicalWriter()
  write(writer)
  return writer.finish()
}

const decoder = new TextDecoder('utf-8', { fatal: true })

/** Reads the layout back; every malformed input ends in a typed `MembershipError`. */
export class CanonicalReader {
  private offset = 0
  private readonly view: DataView

  constructor(private readonly data: Uint8Array) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength)
  }

  get remaining(): number {
    return this.data.length - this.offset
  }

  private need(count: number, what: string): void {
    if (count > this.remaining) {
      throw new MembershipError('Malformed', `truncated ${what}: need ${count} bytes, ${this.remaining} left`)
    }
  }

  u8(): number {
    this.need(1, 'u8')
    return this.view.getUint8(this.offset++)
  }

  u32(): number {
    this.need(4, 'u32')
    const value = this.view.getUint32(this.offset)
    this.offset += 4
    return value
  }

  u64(): number {
    this.need(8, 'u64')
    const high = this.view.getUint32(this.offset)
    const low = this.view.getUint32(this.offset + 4)
    this.offset += 8
    const value = high * 0x100000000 + low
    if (value > MAX_SAFE) throw new MembershipError('Malformed', 'u64 beyond the safe integer range')
    return value
  }

  bool(): boolean {
    const value = this.u8()
    if (value > 1) throw new MembershipError('Malformed', `boolean byte ${value}`)
    return value === 1
  }

  raw(count: number): Uint8Array {
    this.need(count, 'bytes')
    const out = this.data.slice(this.offset, this.offset + count)
    this.offset += count
    return out
  }

  /** A length-prefixed byte string of at most `limit` bytes. */
  bytes(limit: number, what = 'bytes'): Uint8Array {
    const length = this.u32()
    if (length > limit) throw new MembershipError('TooLarge', `${what}: ${length} bytes > ${limit}`)
    return this.raw(length)
  }

  string(limit: number, what = 'string'): string {
    try {
      return decoder.decode(this.bytes(limit, what))
    } catch (error) {
      if (error instanceof MembershipError) throw error
      throw new MembershipError('Malformed', `${what} is not valid UTF-8`)
    }
  }

  /** A length-prefixed list of at most `limit` items, each at least `minItemBytes` long. */
  list<T>(limit: number, minItemBytes: number, read: (reader: this) => T, what = 'list'): T[] {
    const count = this.u32()
    if (count > limit) throw new MembershipError('TooLarge', `${what}: ${count} items > ${limit}`)
    if (count * minItemBytes > this.remaining) {
      throw new MembershipError('Malformed', `${what}: ${count} items cannot fit in ${this.remaining} bytes`)
    }
    const out: T[] = []
    for (let i = 0; i < count; i++) out.push(read(this))
    return out
  }

  end(): void {
    if (this.remaining !== 0) throw new MembershipError('Malformed', `${this.remaining} trailing bytes`)
  }
}

/** Runs `read` over `bytes` and insists every byte was consumed. */
export function decodeCanonical<T>(bytes: Uint8Array, read: (reader: CanonicalReader) => T): T {
  const reader = new CanonicalReader(bytes)
  const value = read(reader)
  reader.end()
  return value
}
