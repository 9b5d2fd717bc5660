/**
 * Sync messages on the wire: a protobuf envelope (`pb/sync.proto`) around the engine's packed
 * events. Decoding checks the cheap things first (size, event count, envelope) and turns every
 * malformation into a typed error. A message never carries more than a page of events: a partner
 * that lacks more is told to fetch it in pages (`catch-up`); signatures are the engine's business, once per new event.
 */
import {
  decodePackedEvent,
  ed25519Scheme,
  encodePackedEvent,
  type Frontier,
  type FrontierEntry,
  isParsecError,
  type PackedEvent,
  type PublicId,
} from '@parsec-section/parsec-core'
import type { Uint8ArrayList } from 'uint8arraylist'
import { toString as bytesToText } from 'uint8arrays'
import { MAX_FRONTIER_ENTRIES } from './constants.js'
import { SectionError } from './errors.js'
import { SyncMessage } from './pb/sync.js'

export type SyncKind = 'request' | 'response'

export interface DecodedSync {
  readonly kind: SyncKind
  readonly status: SyncStatus
  readonly packedEvents: PackedEvent[]
  /** What the sender says it holds (requests; `ok` responses of peers that send it). */
  readonly known: Frontier
  /** The epoch of the engine it is from or for (docs/epochs.md §3). */
  readonly epoch: number
}

// The engine rebuilds packed events on demand, so an event object lives for one message or one
// flush; within it, its bytes are read twice (the size check and the encoding): encode once.
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

/** What a sync message says besides its events (see pb/sync.proto). */
export type SyncStatus = 'ok' | 'catch-up' | 'not-ready' | 'not-member' | 'served' | 'other-epoch'

const STATUS_TO_WIRE: Record<SyncStatus, SyncMessage.Status> = {
  ok: SyncMessage.Status.OK,
  'catch-up': SyncMessage.Status.CATCH_UP,
  'not-ready': SyncMessage.Status.NOT_READY,
  'not-member': SyncMessage.Status.NOT_MEMBER,
  served: SyncMessage.Status.SERVED,
  'other-epoch': SyncMessage.Status.OTHER_EPOCH,
}

const STATUS_FROM_WIRE = new Map<SyncMessage.Status, SyncStatus>(
  Object.entries(STATUS_TO_WIRE).map(([status, wire]) => [wire, status as SyncStatus]),
)

/** Encoded size of `events` as the entries of one message. */
export function eventsBytes(events: readonly PackedEvent[], stopAbove = Number.POSITIVE_INFINITY): number {
  let size = 0
  for (const event of events) {
    size += packedEventBytes(event).length + ENTRY_OVERHEAD
    if (size > stopAbove) break
  }
  return size
}

/**
 * A sync message, or undefined when its events take more than `pageBytes`: what a partner lacks
 * is then never cut to a prefix (its sync event could not follow) but fetched in pages over the
 * catch-up protocol.
 */
export function encodeSync(
  kind: SyncKind,
  events: readonly PackedEvent[],
  pageBytes: number,
  known: Frontier = [],
  /** The engine's epoch, and (a response) whether a retired engine answered (`served`). */
  from: { readonly epoch?: number; readonly served?: boolean } = {},
): Uint8Array | undefined {
  if (eventsBytes(events, pageBytes) > pageBytes) return undefined
  return SyncMessage.encode({
    kind: kind === 'request' ? SyncMessage.Kind.REQUEST : SyncMessage.Kind.RESPONSE,
    status: from.served === true ? SyncMessage.Status.SERVED : SyncMessage.Status.OK,
    events: events.map(packedEventBytes),
    known: known.map(frontierEntryToWire),
    epoch: BigInt(from.epoch ?? 0),
  })
}

/**
 * A sync message with no events: `catch-up`, `not-ready`, `not-member`, `other-epoch` (with our
 * current epoch), or (a response) an acknowledgement.
 */
export function encodeSyncSignal(kind: SyncKind, status: SyncStatus, epoch = 0): Uint8Array {
  return SyncMessage.encode({
    kind: kind === 'request' ? SyncMessage.Kind.REQUEST : SyncMessage.Kind.RESPONSE,
    status: STATUS_TO_WIRE[status],
    events: [],
    known: [],
    epoch: BigInt(epoch),
  })
}

export function frontierEntryToWire(entry: FrontierEntry): {
  creator: Uint8Array<ArrayBuffer>
  last: bigint
} {
  return { creator: Uint8Array.from(entry.creator.orderKey), last: BigInt(entry.last) }
}

/**
 * A frontier from the wire; creators are resolved by `resolve` (hex public key to id) and unknown
 * ones dropped (they can only make the response larger).
 */
export function frontierFromWire(
  entries: readonly { creator: Uint8Array; last: bigint }[],
  resolve: (name: string) => PublicId | undefined,
): FrontierEntry[] {
  const out: FrontierEntry[] = []
  for (const { creator, last } of entries) {
    const id = resolve(bytesToText(creator, 'base16'))
    if (id === undefined || last > BigInt(Number.MAX_SAFE_INTEGER)) continue
    out.push({ creator: id, last: Number(last) })
  }
  return out
}

export function decodeSync(
  bytes: Uint8Array | Uint8ArrayList,
  maxEvents: number,
  resolve: (name: string) => PublicId | undefined,
): DecodedSync {
  let message: SyncMessage
  try {
    message = SyncMessage.decode(bytes, { limits: { events: maxEvents, known: MAX_FRONTIER_ENTRIES } })
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error)
    if (error instanceof Error && error.name === 'MaxLengthError') {
      throw new SectionError('MessageTooLarge', `more than ${maxEvents} events in one message`)
    }
    throw new SectionError('MalformedMessage', `not a sync message: ${text}`)
  }
  const kind: SyncKind = message.kind === SyncMessage.Kind.RESPONSE ? 'response' : 'request'
  const status = STATUS_FROM_WIRE.get(message.status) ?? 'ok'
  if (status !== 'ok' && status !== 'served' && message.events.length > 0)
    throw new SectionError('MalformedMessage', `a ${status} message with events`)
  if (status !== 'ok' && status !== 'catch-up' && kind === 'request')
    throw new SectionError('MalformedMessage', `a ${status} request`)
  if (message.epoch > BigInt(Number.MAX_SAFE_INTEGER))
    throw new SectionError('MalformedMessage', `epoch ${message.epoch} out of range`)
  if (status === 'ok' && kind === 'request' && message.events.length === 0)
    throw new SectionError('MalformedMessage', 'a sync request with no event')
  return {
    kind,
    status,
    packedEvents: decodeEvents(message.events),
    known: frontierFromWire(message.known, resolve),
    epoch: Number(message.epoch),
  }
}

/** Packed events from their wire bytes; a malformed one is a `MalformedMessage`. */
export function decodeEvents(encoded: readonly Uint8Array[]): PackedEvent[] {
  const packedEvents: PackedEvent[] = []
  for (const event of encoded) {
    try {
      packedEvents.push(decodePackedEvent(event, ed25519Scheme))
    } catch (error) {
      if (isParsecError(error))
        throw new SectionError('MalformedMessage', `bad packed event: ${error.message}`)
      throw error
    }
  }
  return packedEvents
}
