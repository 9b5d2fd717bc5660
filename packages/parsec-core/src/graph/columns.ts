/**
 * Compact per-event storage. A JS object or typed array per event costs about a hundred bytes of
 * headers in V8 before its data, so what every event keeps lives in a few large typed arrays that
 * grow with the graph (little slack, amortised O(1) appends; small graphs stay small).
 */

function grownCapacity(current: number, needed: number): number {
  let capacity = Math.max(16, current)
  while (capacity < needed) capacity = Math.ceil(capacity * 1.5)
  return capacity
}

/** A growable list of 32-bit integers. */
export class Int32Column {
  private data = new Int32Array(16)
  length = 0

  get(index: number): number {
    return this.data[index]
  }

  set(index: number, value: number): void {
    this.data[index] = value
  }

  push(value: number): void {
    if (this.length === this.data.length) {
      const next = new Int32Array(grownCapacity(this.data.length, this.length + 1))
      next.set(this.data)
      this.data = next
    }
    this.data[this.length++] = value
  }
}

/** A growable list of byte strings of one fixed length (hashes), read back by position. */
export class FixedBytesColumn {
  private data: Uint8Array
  length = 0

  constructor(private readonly width: number) {
    this.data = new Uint8Array(width * 16)
  }

  push(bytes: Uint8Array): void {
    if (bytes.length !== this.width) throw new RangeError(`a record has ${this.width} bytes`)
    const at = this.length * this.width
    if (at + this.width > this.data.length) {
      const next = new Uint8Array(grownCapacity(this.data.length / this.width, this.length + 1) * this.width)
      next.set(this.data.subarray(0, at))
      this.data = next
    }
    this.data.set(bytes, at)
    this.length++
  }

  /** A copy of the record at `index` (a copy: the column's buffer is replaced as it grows). */
  copy(index: number): Uint8Array {
    return this.data.slice(index * this.width, (index + 1) * this.width)
  }

  /** Whether the record at `index` is `bytes`. */
  equals(index: number, bytes: Uint8Array): boolean {
    const data = this.data
    const at = index * this.width
    for (let i = 0; i < this.width; i++) if (data[at + i] !== bytes[i]) return false
    return true
  }

  /** Compares the records at `a` and `b`, unsigned, lexicographically. */
  compare(a: number, b: number): number {
    const data = this.data
    const ia = a * this.width
    const ib = b * this.width
    for (let i = 0; i < this.width; i++) {
      const d = data[ia + i] - data[ib + i]
      if (d !== 0) return d
    }
    return 0
  }

  /** Reads 4 bytes of the record at `index` from `offset` as an unsigned little-endian integer. */
  word(index: number, offset: number): number {
    const data = this.data
    const at = index * this.width + offset
    return (data[at] | (data[at + 1] << 8) | (data[at + 2] << 16) | (data[at + 3] << 24)) >>> 0
  }
}

const CHUNK_BITS = 16
const MAX_CHUNK = 1 << CHUNK_BITS
const FIRST_CHUNK = 1 << 10

/**
 * Bytes appended one record at a time into chunks that are never moved, so a view of a record
 * stays valid (and can be handed out instead of a copy) for the arena's lifetime. Chunks double
 * from 1 KiB to 64 KiB. A record is read back by the offset `append` returned (chunk index * 64 Ki
 * + position) and its length; it never straddles two chunks.
 */
export class ByteArena {
  private readonly chunks: Uint8Array[] = []
  private chunk: Uint8Array | undefined
  private used = 0

  /** Appends `bytes` (at most 64 KiB) and returns where they start. */
  append(bytes: Uint8Array): number {
    const length = bytes.length
    if (length > MAX_CHUNK) throw new RangeError(`a record has at most ${MAX_CHUNK} bytes`)
    let chunk = this.chunk
    if (chunk === undefined || this.used + length > chunk.length) {
      let size = Math.min(MAX_CHUNK, chunk === undefined ? FIRST_CHUNK : chunk.length * 2)
      while (size < length) size *= 2
      chunk = new Uint8Array(size)
      this.chunks.push(chunk)
      this.chunk = chunk
      this.used = 0
    }
    const offset = ((this.chunks.length - 1) << CHUNK_BITS) + this.used
    chunk.set(bytes, this.used)
    this.used += length
    return offset
  }

  /** The `length` bytes at `offset`: a view, valid as long as the arena. */
  view(offset: number, length: number): Uint8Array {
    const at = offset & (MAX_CHUNK - 1)
    return this.chunks[offset >>> CHUNK_BITS].subarray(at, at + length)
  }

  /** The byte at `offset`. */
  byte(offset: number): number {
    return this.chunks[offset >>> CHUNK_BITS][offset & (MAX_CHUNK - 1)]
  }
}

const FIRST_ROWS = 1 << 10
const MAX_ROWS = 1 << 16

/**
 * Rows of 32-bit integers carved out of shared chunks (doubling from 1 Ki to 64 Ki integers),
 * each known by its chunk (`rows` at the time) and offset. A row is reserved by `reserve` and
 * kept by `commit`; reserving again before a commit hands out the same space.
 */
export class RowArena {
  /** The chunk rows are reserved in now. */
  rows = new Int32Array(FIRST_ROWS)
  private used = 0

  /** Reserves `length` integers of `rows` and returns where they start. */
  reserve(length: number): number {
    if (this.used + length > this.rows.length) {
      this.rows = new Int32Array(Math.max(Math.min(MAX_ROWS, this.rows.length * 2), length))
      this.used = 0
    }
    return this.used
  }

  /** Keeps the row last reserved (of `length`). */
  commit(length: number): void {
    this.used += length
  }
}
