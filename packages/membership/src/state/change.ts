/**
 * Membership changes: the agreed observations that change who votes (Genesis, Add, Remove,
 * Accusation), as plain data. A chain entry keeps the exact observation bytes the voters signed
 * beside this summary, so a joiner can verify signatures without parsing the accusation's evidence.
 */
import { bytesEqual, encodeObservation, type Observation, type PublicId } from '../engine-exports.js'

export type MembershipChange =
  | { readonly kind: 'genesis'; readonly group: readonly PublicId[]; readonly relatedInfo: Uint8Array }
  | { readonly kind: 'add'; readonly peer: PublicId; readonly relatedInfo: Uint8Array }
  | { readonly kind: 'remove'; readonly peer: PublicId; readonly relatedInfo: Uint8Array }
  | { readonly kind: 'accusation'; readonly offender: PublicId }
  /** A section checkpoint (wire/records.ts `Checkpoint`, its bytes as signed): starts a new epoch. */
  | { readonly kind: 'checkpoint'; readonly payload: Uint8Array }

/** The membership change an observation makes, or undefined for an opaque payload. */
export function changeOf(observation: Observation): MembershipChange | undefined {
  switch (observation.kind) {
    case 'genesis':
      return { kind: 'genesis', group: observation.group, relatedInfo: observation.relatedInfo }
    case 'add':
      return { kind: 'add', peer: observation.peer, relatedInfo: observation.relatedInfo }
    case 'remove':
      return { kind: 'remove', peer: observation.peer, relatedInfo: observation.relatedInfo }
    case 'accusation':
      return { kind: 'accusation', offender: observation.offender }
    case 'checkpoint':
      return { kind: 'checkpoint', payload: observation.payload }
    case 'opaque':
      return undefined
  }
}

/** The peer a change is about (none for genesis and checkpoints). */
export function subjectOf(change: MembershipChange): PublicId | undefined {
  switch (change.kind) {
    case 'genesis':
    case 'checkpoint':
      return undefined
    case 'add':
    case 'remove':
      return change.peer
    case 'accusation':
      return change.offender
  }
}

/** Whether the signed observation bytes say what the summary says (bincode layout of spec §3.1). */
export function changeMatchesObservation(change: MembershipChange, observation: Uint8Array): boolean {
  switch (change.kind) {
    case 'genesis':
      return bytesEqual(
        encodeObservation({ kind: 'genesis', group: change.group, relatedInfo: change.relatedInfo }),
        observation,
      )
    case 'add':
    case 'remove':
      return bytesEqual(
        encodeObservation({ kind: change.kind, peer: change.peer, relatedInfo: change.relatedInfo }),
        observation,
      )
    case 'accusation': {
      // Variant 3 (u32 little-endian), then the offender; the malice evidence follows, unparsed.
      const prefix = new Uint8Array(4 + change.offender.encoded.length)
      prefix[0] = 3
      prefix.set(change.offender.encoded, 4)
      return observation.length > prefix.length && bytesEqual(prefix, observation.subarray(0, prefix.length))
    }
    case 'checkpoint':
      return bytesEqual(encodeObservation({ kind: 'checkpoint', payload: change.payload }), observation)
  }
}
