/**
 * A newcomer putting a state together from a member's snapshot chunks (snapshot.ts), trusting
 * nothing: every chunk must carry the digest the member was chosen for, the same length (within
 * `maxStateBytes`), start where we asked and fill what is left up to a chunk. Anything else is a
 * typed error that makes the member's answer a fault.
 */
import { equals } from 'uint8arrays'
import { SectionError } from './errors.js'
import { SnapshotChunk } from './pb/snapshot.js'

/** A wire number as a safe integer, or `MalformedMessage`. */
export function safeNumber(value: bigint, what: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new SectionError('MalformedMessage', `${what} too large`)
  return Number(value)
}

export class StateAssembly {
  private state: Uint8Array | undefined
  /** Where the next chunk starts: ask for it from here. */
  offset = 0

  constructor(
    private readonly digest: Uint8Array,
    private readonly maxStateBytes: number,
    private readonly chunkBytes: number,
  ) {}

  /**
   * Takes the answer to a request at `offset`: the whole state once complete, `more` while not,
   * `gone` when the member no longer (or not yet) serves it.
   */
  take(chunk: SnapshotChunk): Uint8Array | 'more' | 'gone' {
    if (chunk.status !== SnapshotChunk.Status.OK) return 'gone'
    if (!equals(chunk.digest, this.digest))
      throw new SectionError('UnexpectedMessage', 'a chunk with another digest than reported')
    const total = safeNumber(chunk.total, 'total')
    if (total > this.maxStateBytes)
      throw new SectionError(
        'MessageTooLarge',
        `a state of ${total} bytes (at most ${this.maxStateBytes} are fetched)`,
      )
    this.state ??= new Uint8Array(total)
    if (total !== this.state.length) throw new SectionError('MalformedMessage', 'the state length changed')
    if (safeNumber(chunk.offset, 'offset') !== this.offset)
      throw new SectionError('MalformedMessage', `a chunk at ${chunk.offset}, ${this.offset} asked for`)
    const room = Math.min(this.chunkBytes, total - this.offset)
    if (chunk.data.length > room || (chunk.data.length === 0 && room > 0))
      throw new SectionError('MalformedMessage', `a chunk of ${chunk.data.length} bytes (${room} expected)`)
    this.state.set(chunk.data, this.offset)
    this.offset += chunk.data.length
    return this.offset < total ? 'more' : this.state
  }
}
