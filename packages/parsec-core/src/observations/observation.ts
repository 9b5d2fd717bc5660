/**
 * Observations (spec §3.1) and their bincode serialization. The observation hash `OH` of §1.5
 * orders payloads inside a decision, so its bytes must match the reference exactly.
 */
import { type BincodeWriter, encodeWith } from '../encoding/bincode.js'
import { HASH_LENGTH, sha3 } from '../encoding/hash.js'
import type { PublicId } from '../identity/identity.js'
import { sortIds } from '../identity/order.js'
import { type Malice, writeMalice } from './malice.js'

export type Observation =
  | { readonly kind: 'genesis'; readonly group: readonly PublicId[]; readonly relatedInfo: Uint8Array }
  | { readonly kind: 'add'; readonly peer: PublicId; readonly relatedInfo: Uint8Array }
  | { readonly kind: 'remove'; readonly peer: PublicId; readonly relatedInfo: Uint8Array }
  | { readonly kind: 'accusation'; readonly offender: PublicId; readonly malice: Malice }
  | { readonly kind: 'opaque'; readonly payload: Uint8Array }
  /**
   * A section's agreed checkpoint (docs/epochs.md): bytes the engine does not read (the membership
   * package encodes them), always decided by a supermajority, with no effect on the voter set. Not
   * a kind of the reference: its variant index follows the reference's five.
   */
  | { readonly kind: 'checkpoint'; readonly payload: Uint8Array }

export type ObservationKind = Observation['kind']

const EMPTY = new Uint8Array(0)

export const genesis = (group: Iterable<PublicId>, relatedInfo: Uint8Array = EMPTY): Observation => ({
  kind: 'genesis',
  group: sortIds(group),
  relatedInfo,
})
export const add = (peer: PublicId, relatedInfo: Uint8Array = EMPTY): Observation => ({
  kind: 'add',
  peer,
  relatedInfo,
})
export const remove = (peer: PublicId, relatedInfo: Uint8Array = EMPTY): Observation => ({
  kind: 'remove',
  peer,
  relatedInfo,
})
export const opaque = (payload: Uint8Array): Observation => ({ kind: 'opaque', payload })
export const checkpoint = (payload: Uint8Array): Observation => ({ kind: 'checkpoint', payload })

/** bincode variant indices of spec §3.1. */
const VARIANT = { genesis: 0, add: 1, remove: 2, accusation: 3, opaque: 4, checkpoint: 5 } as const

export function writeObservation(writer: BincodeWriter, observation: Observation): void {
  writer.u32(VARIANT[observation.kind])
  switch (observation.kind) {
    case 'genesis': {
      const group = sortIds(observation.group)
      writer.u64(group.length)
      for (const id of group) writer.raw(id.encoded)
      writer.bytes(observation.relatedInfo)
      return
    }
    case 'add':
    case 'remove':
      writer.raw(observation.peer.encoded).bytes(observation.relatedInfo)
      return
    case 'accusation':
      writer.raw(observation.offender.encoded)
      writeMalice(writer, observation.malice)
      return
    case 'opaque':
    case 'checkpoint':
      writer.bytes(observation.payload)
      return
  }
}

export function encodeObservation(observation: Observation): Uint8Array {
  return encodeWith((writer) => writeObservation(writer, observation))
}

/** `OH(o) = SHA3-256(bincode(o))`, spec §1.5. */
export function observationHash(observation: Observation): Uint8Array {
  const hash = sha3(encodeObservation(observation))
  if (hash.length !== HASH_LENGTH) throw new Error('unexpected hash length')
  return hash
}
