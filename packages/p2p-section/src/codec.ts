/**
 * Sync messages on the wire: a protobuf envelope (`pb/sync.proto`) around the engine's packed
 * events. Decoding checks the cheap things first (size, event count, envelope) and turns every
 * malformation into a typed error; signatures are the engine's business, once per new event.
 */
import {
  decodePackedEvent,
  ed25519Scheme,
  encodePackedEvent,
  isParsecError,
  type PackedEvent,
} from '@parsec-section/parsec-core'
import type { Uint8ArrayList } from 'uint8arraylist'
import { SectionError } from './errors.js'
import { SyncMessage } from './pb/sync.js'

export type SyncKind = 'request' | 'response'

export interface DecodedSync {
  readonly kind: SyncKind
  readonly packedEvents: PackedEvent[]
}

// Events are immutable and sent many times (to each partner, and stored once): encode each once.
const encodedEvents = new WeakMap<PackedEvent, Uint8Array<ArrayBuffer>>()

export function packedEventBytes(event: PackedEvent): Uint8Array<ArrayBuffer> {
  let bytes = encodedEvents.get(event)
  if (bytes === undefined) {
    bytes = encodePackedEvent(event) as Uint8Array<ArrayBuffer>
    encodedEvents.set(event, bytes)
  }
  return bytes
}

/** Protobuf overhead per repeated entry: tag + length varint. */
const ENTRY_OVERHEAD = 6

/**
 * Encodes up to `maxBytes`: when the events a partner lacks do not fit, the longest prefix that
 * does is sent (a prefix of a parents-first list is parents-first); the partner gets the rest on
 * later exchanges, since what we assume it knows comes from its own events.
 */
export function encodeSync(kind: SyncKind, events: readonly PackedEvent[], maxBytes: number): Uint8Array {
  const encoded: Uint8Array<ArrayBuffer>[] = []
  let size = 8
  for (const event of events) {
    const bytes = packedEventBytes(event)
    size += bytes.length + ENTRY_OVERHEAD
    if (size > maxBytes && encoded.length > 0) break
    encoded.push(bytes)
  }
  return SyncMessage.encode({
    kind: kind === 'request' ? SyncMessage.Kind.REQUEST : SyncMessage.Kind.RESPONSE,
    events: encoded,
  })
}

export function decodeSync(bytes: Uint8Array | Uint8ArrayList, maxEvents: number): DecodedSync {
  let message: SyncMessage
  try {
    message = SyncMessage.decode(bytes, { limits: { events: maxEvents } })
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error)
    if (error instanceof Error && error.name === 'MaxLengthError') {
      throw new SectionError('MessageTooLarge', `more than ${maxEvents} events in one message`)
    }
    throw new SectionError('MalformedMessage', `not a sync message: ${text}`)
  }
  if (message.events.length === 0) throw new SectionError('MalformedMessage', 'a sync message with no event')
  const packedEvents: PackedEvent[] = []
  for (const event of message.events) {
    try {
      packedEvents.push(decodePackedEvent(event, ed25519Scheme))
    } catch (error) {
      if (isParsecError(error))
        throw new SectionError('MalformedMessage', `bad packed event: ${error.message}`)
      throw error
    }
  }
  return {
    kind: message.kind === SyncMessage.Kind.RESPONSE ? 'response' : 'request',
    packedEvents,
  }
}
