/**
 * Events on the wire (spec §2): a packed event is its content (creator + cause) and the creator's
 * signature over bincode(content). The event hash is SHA3-256 of the content bytes; the event
 * signature is not hashed, the vote signature is (it sits inside the content).
 */
import { BincodeReader, type BincodeWriter, encodeTransient, encodeWith } from '../encoding/bincode.js'
import { HASH_LENGTH, sha3 } from '../encoding/hash.js'
import { ParsecError } from '../errors.js'
import type { IdentityScheme, PublicId, SecretId } from '../identity/identity.js'
import { type Observation, writeObservation } from '../observations/observation.js'
import { readObservation } from '../observations/read.js'

export type EventHash = Uint8Array

/** A vote: an observation signed by its voter (spec §2.2). */
export interface Vote {
  readonly payload: Observation
  readonly signature: Uint8Array
}

export type Cause =
  | { readonly kind: 'requesting'; readonly selfParent: EventHash; readonly recipient: PublicId }
  | { readonly kind: 'request'; readonly selfParent: EventHash; readonly otherParent: EventHash }
  | { readonly kind: 'response'; readonly selfParent: EventHash; readonly otherParent: EventHash }
  | { readonly kind: 'observation'; readonly selfParent: EventHash; readonly vote: Vote }
  | { readonly kind: 'initial' }

export type CauseKind = Cause['kind']

export interface PackedEvent {
  readonly creator: PublicId
  readonly cause: Cause
  readonly signature: Uint8Array
}

/** bincode variant indices of spec §2.1. */
const CAUSE_VARIANT = { requesting: 0, request: 1, response: 2, observation: 3, initial: 4 } as const
const CAUSE_BY_VARIANT: readonly CauseKind[] = ['requesting', 'request', 'response', 'observation', 'initial']

export function writeContent(writer: BincodeWriter, creator: PublicId, cause: Cause): void {
  writer.raw(creator.encoded).u32(CAUSE_VARIANT[cause.kind])
  switch (cause.kind) {
    case 'requesting':
      writer.raw(cause.selfParent).raw(cause.recipient.encoded)
      return
    case 'request':
    case 'response':
      writer.raw(cause.selfParent).raw(cause.otherParent)
      return
    case 'observation':
      writer.raw(cause.selfParent)
      writeObservation(writer, cause.vote.payload)
      writer.raw(cause.vote.signature)
      return
    case 'initial':
      return
  }
}

export function encodeContent(creator: PublicId, cause: Cause): Uint8Array {
  return encodeWith((writer) => writeContent(writer, creator, cause))
}

/** `encodeContent` into a shared buffer: valid only until the next encoding (hash or verify at once). */
export function encodeContentTransient(creator: PublicId, cause: Cause): Uint8Array {
  return encodeTransient((writer) => writeContent(writer, creator, cause))
}

/** Wire bytes of a packed event: content ‖ signature (fixed length per identity scheme). */
export function encodePackedEvent(event: PackedEvent): Uint8Array {
  return encodeWith((writer) => {
    writeContent(writer, event.creator, event.cause)
    writer.raw(event.signature)
  })
}

export function readPackedEvent(reader: BincodeReader, scheme: IdentityScheme): PackedEvent {
  const creator = scheme.readId(reader)
  const variant = reader.u32()
  const kind = CAUSE_BY_VARIANT[variant]
  let cause: Cause
  switch (kind) {
    case 'requesting':
      cause = { kind, selfParent: reader.raw(HASH_LENGTH), recipient: scheme.readId(reader) }
      break
    case 'request':
    case 'response':
      cause = { kind, selfParent: reader.raw(HASH_LENGTH), otherParent: reader.raw(HASH_LENGTH) }
      break
    case 'observation': {
      const selfParent = reader.raw(HASH_LENGTH)
      const payload = readObservation(reader, scheme)
      cause = { kind, selfParent, vote: { payload, signature: reader.raw(scheme.signatureLength) } }
      break
    }
    case 'initial':
      cause = { kind }
      break
    default:
      throw new ParsecError('InvalidMessage', `unknown cause variant ${variant}`)
  }
  return { creator, cause, signature: reader.raw(scheme.signatureLength) }
}

export function decodePackedEvent(bytes: Uint8Array, scheme: IdentityScheme): PackedEvent {
  const reader = new BincodeReader(bytes)
  const event = readPackedEvent(reader, scheme)
  reader.end()
  return event
}

export function eventHash(content: Uint8Array): EventHash {
  return sha3(content)
}

/** Builds and signs a packed event for `secret`'s id. */
export function packEvent(secret: SecretId, cause: Cause): { packed: PackedEvent; content: Uint8Array } {
  const content = encodeContent(secret.publicId, cause)
  return { packed: { creator: secret.publicId, cause, signature: secret.sign(content) }, content }
}

/**
 * Signs `cause` as an event of `secret`'s id, packed as on the wire. An engine makes its own
 * events; this is for tools that craft events by hand (the seeded simulation's Byzantine peers,
 * tests of malice detection). An engine takes a crafted event only under the protocol's rules.
 */
export function signEvent(secret: SecretId, cause: Cause): PackedEvent {
  return packEvent(secret, cause).packed
}

/** The hash of a packed event (SHA3-256 of its content, spec §2.1): how causes and graphs name it. */
export function packedEventHash(event: PackedEvent): EventHash {
  return eventHash(encodeContent(event.creator, event.cause))
}

/** Whether `event`'s signature verifies by its creator's public id. */
export function hasValidSignature(event: PackedEvent): boolean {
  return event.creator.verify(event.signature, encodeContent(event.creator, event.cause))
}
