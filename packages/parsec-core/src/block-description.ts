/**
 * The plain JSON form of a block used by replay, simulation and the CLI:
 * `{"kind":"genesis","peers":[...]}`, `{"kind":"add","peer":N}`, `{"kind":"remove","peer":N}`,
 * `{"kind":"accusation","offender":N,"malice":TYPE}`, `{"kind":"opaque","payload":TEXT}` or
 * `{"kind":"checkpoint","payload":HEX}`, plus
 * `voters`: the sorted names of the peers whose votes the block carries.
 */
import type { Block } from './blocks.js'
import { fromUtf8, toHex } from './encoding/bytes.js'
import type { PublicId } from './identity/identity.js'
import type { Observation } from './observations/observation.js'

export type BlockDescription =
  | { kind: 'genesis'; peers: string[]; voters: string[] }
  | { kind: 'add'; peer: string; voters: string[] }
  | { kind: 'remove'; peer: string; voters: string[] }
  | { kind: 'accusation'; offender: string; malice: string; voters: string[] }
  | { kind: 'opaque'; payload: string; voters: string[] }
  | { kind: 'checkpoint'; payload: string; voters: string[] }

/** Opaque payloads print as UTF-8 text when they are, else as `0x` + hex. */
export function payloadText(payload: Uint8Array): string {
  try {
    return fromUtf8(payload)
  } catch {
    return `0x${toHex(payload)}`
  }
}

/** How a description names a peer: by default its id's `name` (a host may pass e.g. its peer id). */
export type PeerNaming = (id: PublicId) => string

const byName: PeerNaming = (id) => id.name

export function describeObservation(
  observation: Observation,
  voters: string[] = [],
  nameOf: PeerNaming = byName,
): BlockDescription {
  switch (observation.kind) {
    case 'genesis':
      return { kind: 'genesis', peers: observation.group.map(nameOf).sort(), voters }
    case 'add':
      return { kind: 'add', peer: nameOf(observation.peer), voters }
    case 'remove':
      return { kind: 'remove', peer: nameOf(observation.peer), voters }
    case 'accusation':
      return {
        kind: 'accusation',
        offender: nameOf(observation.offender),
        malice: observation.malice.type,
        voters,
      }
    case 'opaque':
      return { kind: 'opaque', payload: payloadText(observation.payload), voters }
    case 'checkpoint':
      return { kind: 'checkpoint', payload: toHex(observation.payload), voters }
  }
}

export function describeBlock(block: Block, nameOf: PeerNaming = byName): BlockDescription {
  return describeObservation(
    block.payload,
    block.proofs.map((proof) => nameOf(proof.publicId)).sort(),
    nameOf,
  )
}
