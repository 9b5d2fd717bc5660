/**
 * Sync messages (spec §5): a request or response is an ordered list of packed events, every
 * event after its parents. The last event becomes the receiver's other-parent.
 */
import { BincodeReader, BincodeWriter } from '../encoding/bincode.js'
import { ParsecError } from '../errors.js'
import { type PackedEvent, readPackedEvent, writeContent } from '../graph/event.js'
import type { IdentityScheme } from '../identity/identity.js'
import type { Frontier } from './frontier.js'

export interface Request {
  readonly packedEvents: readonly PackedEvent[]
  /**
   * What the requester says it holds (not part of the reference's message): the response leaves
   * out events at or below it, e.g. those a peer fetched by paged catch-up, which its own events
   * do not show yet. Trusting it can only hurt the requester.
   */
  readonly known?: Frontier
}

export interface Response {
  readonly packedEvents: readonly PackedEvent[]
}

/** Wire encoding: u64 count, then each packed event (content ‖ signature). */
export function encodeMessage(message: Request | Response): Uint8Array {
  const writer = new BincodeWriter(1024)
  writer.u64(message.packedEvents.length)
  for (const event of message.packedEvents) {
    writeContent(writer, event.creator, event.cause)
    writer.raw(event.signature)
  }
  return writer.finish()
}

/** Decodes a message; malformed bytes end in `ParsecError('InvalidMessage')`. */
export function decodeMessage(bytes: Uint8Array, scheme: IdentityScheme): Request {
  const reader = new BincodeReader(bytes)
  const count = reader.length(36)
  const packedEvents: PackedEvent[] = []
  for (let i = 0; i < count; i++) packedEvents.push(readPackedEvent(reader, scheme))
  reader.end()
  if (packedEvents.length === 0) throw new ParsecError('InvalidMessage', 'empty message')
  return { packedEvents }
}
