/**
 * Packed events carried as evidence inside a malice (IncorrectGenesis, *ParentBy*, Invalid
 * Request/Response) travel as bytes, as the reference serialises them. Whoever decoded or built
 * the bytes keeps the decoded event here, so checking an accusation never needs the identity
 * scheme again.
 */
import { encodePackedEvent, type PackedEvent } from '../graph/event.js'

const decoded = new WeakMap<Uint8Array, PackedEvent>()

/** The evidence bytes of `event`, remembering the event they came from. */
export function packedEvidence(event: PackedEvent): Uint8Array {
  const bytes = encodePackedEvent(event)
  decoded.set(bytes, event)
  return bytes
}

/** The event behind evidence bytes built or decoded in this process, if any. */
export function evidenceEvent(bytes: Uint8Array): PackedEvent | undefined {
  return decoded.get(bytes)
}
