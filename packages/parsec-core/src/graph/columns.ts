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

/** Bytes appended one record at a time; a record is read back by its offset and length. */
export class ByteArena {
  private data = new Uint8Array(1024)
  private used = 0

  /** Appends `bytes` and returns where they start. */
  append(bytes: Uint8Array): number {
    const offset = this.used
    if (offset + bytes.length > this.data.length) {
      const next = new Uint8Array(grownCapacity(this.data.length, offset + bytes.length))
      next.set(this.data.subarray(0, offset))
      this.data = next
    }
    this.data.set(bytes, offset)
    this.used += bytes.length
    return offset
  }

  /** A copy of `length` bytes at `offset` (a copy: the arena's buffer is replaced as it grows). */
  copy(offset: number, length: number): Uint8Array {
    return this.data.slice(offset, offset + length)
  }

  /** The bytes at `offset`, valid only until the next append. */
  view(offset: number, length: number): Uint8Array {
    return this.data.subarray(offset, offset + length)
  }

  /** Compares the `length` bytes at `a` with those at `b`, unsigned, lexicographically. */
  compare(a: number, b: number, length: number): number {
    const data = this.data
    for (let i = 0; i < length; i++) {
      const d = data[a + i] - data[b + i]
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
