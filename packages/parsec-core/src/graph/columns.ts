/**
 * Compact per-event storage. A JS object or typed array per event costs about a hundred bytes of
 * headers in V8 before its data, so what every event keeps lives in a few large typed arrays that
 * grow by half their size (little slack, amortised O(1) appends).
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

const BYTES_CHUNK = 1 << 16

/**
 * Bytes appended one record at a time into fixed chunks that are never moved, so a view of a
 * record stays valid (and can be handed out instead of a copy) for the arena's lifetime. A record
 * is read back by the offset `append` returned and its length; it never straddles two chunks.
 */
export class ByteArena {
  private readonly chunks: Uint8Array[] = []
  /** Offset of the next record: chunk index * BYTES_CHUNK + position in the chunk. */
  private next = 0

  /** Appends `bytes` (at most 64 KiB) and returns where they start. */
  append(bytes: Uint8Array): number {
    const length = bytes.length
    if (length > BYTES_CHUNK) throw new RangeError(`a record has at most ${BYTES_CHUNK} bytes`)
    let chunk = this.next >>> 16
    if ((this.next & (BYTES_CHUNK - 1)) + length > BYTES_CHUNK) {
      chunk++
      this.next = chunk * BYTES_CHUNK
    }
    if (chunk === this.chunks.length) this.chunks.push(new Uint8Array(BYTES_CHUNK))
    const offset = this.next
    this.chunks[chunk].set(bytes, offset & (BYTES_CHUNK - 1))
    this.next += length
    return offset
  }

  /** The `length` bytes at `offset`: a view, valid as long as the arena. */
  view(offset: number, length: number): Uint8Array {
    const at = offset & (BYTES_CHUNK - 1)
    return this.chunks[offset >>> 16].subarray(at, at + length)
  }

  /** Whether the bytes at `offset` are `bytes`. */
  equals(offset: number, bytes: Uint8Array): boolean {
    const chunk = this.chunks[offset >>> 16]
    const at = offset & (BYTES_CHUNK - 1)
    for (let i = 0; i < bytes.length; i++) if (chunk[at + i] !== bytes[i]) return false
    return true
  }

  /** The byte at `offset`. */
  byte(offset: number): number {
    return this.chunks[offset >>> 16][offset & (BYTES_CHUNK - 1)]
  }

  /** Compares the `length` bytes at `a` with those at `b`, unsigned, lexicographically. */
  compare(a: number, b: number, length: number): number {
    const ca = this.chunks[a >>> 16]
    const cb = this.chunks[b >>> 16]
    const ia = a & (BYTES_CHUNK - 1)
    const ib = b & (BYTES_CHUNK - 1)
    for (let i = 0; i < length; i++) {
      const d = ca[ia + i] - cb[ib + i]
      if (d !== 0) return d
    }
    return 0
  }
}

const ROWS_CHUNK = 1 << 16

/**
 * Rows of 32-bit integers carved out of shared chunks, each known by its chunk (`rows` at the
 * time) and offset. A row is reserved by `reserve` and kept by `commit`; reserving again before a
 * commit hands out the same space.
 */
export class RowArena {
  /** The chunk rows are reserved in now. */
  rows = new Int32Array(ROWS_CHUNK)
  private used = 0

  /** Reserves `length` integers of `rows` and returns where they start. */
  reserve(length: number): number {
    if (this.used + length > this.rows.length) {
      this.rows = new Int32Array(Math.max(ROWS_CHUNK, length))
      this.used = 0
    }
    return this.used
  }

  /** Keeps the row last reserved (of `length`). */
  commit(length: number): void {
    this.used += length
  }
}
