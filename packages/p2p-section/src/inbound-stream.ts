/**
 * What a partner's inbound sync stream may hold, and for how long.
 *
 * Whatever arrives on a stream is buffered (by `lpStream`'s byte stream, from @libp2p/utils) until
 * the message it belongs to is complete: yamux grants the sender more window as soon as data
 * arrives, so nothing pushes back. A partner that announces a large message and sends part of it,
 * slowly or never, kept that buffer (about twice the bytes received, counting the transport's
 * chunks) for as long as the stream lived; closing our side after the idle timeout did not end the
 * stream, so it lived as long as the partner wished and kept its place under libp2p's
 * per-connection stream limit. Hence:
 *
 * - a message must begin within the idle timeout and, once begun, be complete within the message
 *   timeout; past either the stream ends and its buffer is released;
 * - large messages partly received at once are bounded, per partner and in all: a stream that
 *   announces one more is aborted at its length prefix (a `Busy` link error: the partner retries);
 * - ending a stream closes our side and gives the partner a moment to close its own, then aborts.
 */
import type { AbortOptions, Stream } from '@libp2p/interface'
import { type LengthPrefixedStream, lpStream } from '@libp2p/utils'
import type { Uint8ArrayList } from 'uint8arraylist'
import { LinkError, SectionError } from './errors.js'
import { varintLength } from './varint.js'

/** A message announcing more than this many bytes is large: it takes a place in the budget. */
export const LARGE_MESSAGE_BYTES = 1024 * 1024
/** Large messages partly received at once, from all partners together... */
export const MAX_LARGE_MESSAGES = 8
/** ...and from one partner (it sends one request at a time; two covers a stream being replaced). */
export const MAX_LARGE_MESSAGES_PER_PEER = 2
/** How long a partner has to close its side of a stream we are ending before the stream is aborted. */
export const CLOSE_GRACE_MS = 1_000

/** Places for large messages partly received, shared by every inbound stream of a service. */
export class LargeMessageBudget {
  private total = 0
  private readonly perPeer = new Map<string, number>()

  constructor(
    private readonly maxTotal = MAX_LARGE_MESSAGES,
    private readonly maxPerPeer = MAX_LARGE_MESSAGES_PER_PEER,
  ) {}

  /** Takes a place for `peer`: the function that gives it back, or undefined when none is free. */
  take(peer: string): (() => void) | undefined {
    const held = this.perPeer.get(peer) ?? 0
    if (this.total >= this.maxTotal || held >= this.maxPerPeer) return undefined
    this.total++
    this.perPeer.set(peer, held + 1)
    let given = false
    return () => {
      if (given) return
      given = true
      this.total--
      const left = (this.perPeer.get(peer) ?? 1) - 1
      if (left > 0) this.perPeer.set(peer, left)
      else this.perPeer.delete(peer)
    }
  }
}

export interface InboundMessagesOptions {
  readonly maxMessageBytes: number
  /** No message begun within this time: a `TimeoutError` (the stream is idle: end it). */
  readonly idleTimeoutMs: number
  /** A message begun and not complete within this time: a `Timeout` link error. */
  readonly messageTimeoutMs: number
  readonly budget: LargeMessageBudget
}

/** Length-prefixed messages on an inbound stream from `peer`, read under the limits above. */
export class InboundMessages {
  private readonly lp: LengthPrefixedStream<Stream>
  /** The read in progress: told when the first byte of a message arrives. */
  private onFirstByte: (() => void) | undefined
  private release: (() => void) | undefined

  constructor(
    stream: Stream,
    private readonly peer: string,
    private readonly options: InboundMessagesOptions,
  ) {
    this.lp = lpStream(stream, {
      maxDataLength: options.maxMessageBytes,
      // Room for one whole message of the documented size (and its prefix), no more.
      maxBufferSize: options.maxMessageBytes + 16,
      lengthDecoder: (bytes) => this.decodeLength(bytes),
    })
  }

  async read(): Promise<Uint8ArrayList> {
    const { idleTimeoutMs, messageTimeoutMs } = this.options
    const controller = new AbortController()
    let timer = setTimeout(
      () => controller.abort(new DOMException(`no message within ${idleTimeoutMs} ms`, 'TimeoutError')),
      idleTimeoutMs,
    )
    this.onFirstByte = () => {
      clearTimeout(timer)
      timer = setTimeout(
        () =>
          controller.abort(
            new LinkError('Timeout', `a message begun was not complete within ${messageTimeoutMs} ms`),
          ),
        messageTimeoutMs,
      )
    }
    try {
      return await this.lp.read({ signal: controller.signal })
    } finally {
      clearTimeout(timer)
      this.onFirstByte = undefined
      this.release?.()
      this.release = undefined
    }
  }

  write(data: Uint8Array, options?: AbortOptions): Promise<void> {
    return this.lp.write(data, options)
  }

  /**
   * lpStream's length decoder, called after each byte of the prefix (a `RangeError` asks for one
   * more): it starts the message deadline and takes a place for a large message.
   */
  private decodeLength(bytes: Uint8ArrayList): number {
    if (bytes.byteLength === 1) this.onFirstByte?.()
    let length = 0
    for (let i = 0; i < bytes.byteLength; i++) {
      const byte = bytes.get(i)
      length += (byte & 0x7f) * 2 ** (7 * i)
      if (byte >= 0x80) continue
      // Over the limit: lpStream refuses it (MessageTooLarge) before reading on.
      if (length > this.options.maxMessageBytes || length <= LARGE_MESSAGE_BYTES) return length
      this.release = this.options.budget.take(this.peer)
      if (this.release === undefined) {
        throw new LinkError('Busy', `too many large messages partly received; ${length} bytes refused`)
      }
      return length
    }
    // Not complete yet: refused once it can only announce too much (or runs longer than needed).
    if (
      length > this.options.maxMessageBytes ||
      bytes.byteLength >= varintLength(this.options.maxMessageBytes)
    ) {
      throw new SectionError(
        'MessageTooLarge',
        `Message length too long - the prefix announces more than ${this.options.maxMessageBytes}`,
      )
    }
    throw new RangeError('length prefix not complete')
  }
}

/**
 * Ends a stream so that it stops holding buffers and its place under the stream limit: our side is
 * closed (the partner sees an orderly end), the partner gets `graceMs` to close its own, and a
 * stream still not closed by then is aborted.
 */
export async function endStream(stream: Stream, graceMs: number, reason: string): Promise<void> {
  const signal = AbortSignal.timeout(graceMs)
  try {
    await stream.close({ signal })
    if (!signal.aborted && (stream.status === 'open' || stream.status === 'closing')) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          stream.removeEventListener('close', done)
          signal.removeEventListener('abort', done)
          resolve()
        }
        stream.addEventListener('close', done)
        signal.addEventListener('abort', done)
      })
    }
  } catch {
    // Closing failed or timed out: aborting below ends it either way.
  }
  if (stream.status === 'open' || stream.status === 'closing') stream.abort(new Error(reason))
}
