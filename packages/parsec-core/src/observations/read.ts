/** Decoding observations received from the network (the inverse of `writeObservation`). */
import { BincodeReader } from '../encoding/bincode.js'
import { HASH_LENGTH } from '../encoding/hash.js'
import { ParsecError } from '../errors.js'
import { readPackedEvent } from '../graph/event.js'
import type { IdentityScheme, PublicId } from '../identity/identity.js'
import { compareIds } from '../identity/order.js'
import { packedEvidence } from '../malice/packed-evidence.js'
import type { Malice } from './malice.js'
import type { Observation } from './observation.js'

const MAX_MALICE_DEPTH = 4

/** An observation from its `encodeObservation` bytes (a host's stored block); `ParsecError` if malformed. */
export function decodeObservation(bytes: Uint8Array, scheme: IdentityScheme): Observation {
  const reader = new BincodeReader(bytes)
  const observation = readObservation(reader, scheme)
  reader.end()
  return observation
}

export function readObservation(reader: BincodeReader, scheme: IdentityScheme): Observation {
  const variant = reader.u32()
  switch (variant) {
    case 0: {
      const count = reader.length(32)
      const group: PublicId[] = []
      for (let i = 0; i < count; i++) {
        const id = scheme.readId(reader)
        if (group.length > 0 && compareIds(group[group.length - 1], id) >= 0) {
          throw new ParsecError('InvalidMessage', 'genesis group is not a sorted set')
        }
        group.push(id)
      }
      return { kind: 'genesis', group, relatedInfo: reader.bytes() }
    }
    case 1:
      return { kind: 'add', peer: scheme.readId(reader), relatedInfo: reader.bytes() }
    case 2:
      return { kind: 'remove', peer: scheme.readId(reader), relatedInfo: reader.bytes() }
    case 3:
      return { kind: 'accusation', offender: scheme.readId(reader), malice: readMalice(reader, scheme, 0) }
    case 4:
      return { kind: 'opaque', payload: reader.bytes() }
    case 5:
      return { kind: 'checkpoint', payload: reader.bytes() }
    default:
      throw new ParsecError('InvalidMessage', `unsupported observation variant ${variant}`)
  }
}

function readMalice(reader: BincodeReader, scheme: IdentityScheme, depth: number): Malice {
  if (depth > MAX_MALICE_DEPTH) throw new ParsecError('InvalidMessage', 'malice nested too deeply')
  const variant = reader.u32()
  const hash = () => reader.raw(HASH_LENGTH)
  switch (variant) {
    case 0:
      return { type: 'UnexpectedGenesis', event: hash() }
    case 1:
      return { type: 'DuplicateVote', first: hash(), second: hash() }
    case 2:
      return { type: 'MissingGenesis', event: hash() }
    case 3:
      return { type: 'IncorrectGenesis', packedEvent: readNestedPackedEvent(reader, scheme) }
    case 4:
      return { type: 'Fork', event: hash() }
    case 5:
      return { type: 'InvalidAccusation', event: hash() }
    case 6:
      return { type: 'OtherParentBySameCreator', packedEvent: readNestedPackedEvent(reader, scheme) }
    case 7:
      return { type: 'SelfParentByDifferentCreator', packedEvent: readNestedPackedEvent(reader, scheme) }
    case 8:
      return { type: 'InvalidRequest', packedEvent: readNestedPackedEvent(reader, scheme) }
    case 9:
      return { type: 'InvalidResponse', packedEvent: readNestedPackedEvent(reader, scheme) }
    case 10:
      return { type: 'Unprovable' }
    case 11:
      return { type: 'Accomplice', event: hash(), malice: readMalice(reader, scheme, depth + 1) }
    default:
      throw new ParsecError('InvalidMessage', `unknown malice variant ${variant}`)
  }
}

/** A packed event inside a malice is kept as its bytes, the decoded event remembered beside them. */
function readNestedPackedEvent(reader: BincodeReader, scheme: IdentityScheme): Uint8Array {
  return packedEvidence(readPackedEvent(reader, scheme))
}
