/**
 * A block as a host stores it (its agreed observation and the votes it held, spec §7): a block
 * outlives its engine once the engine's epoch ends, and whose votes it carried still matters then
 * (a rebased member asks which of its payloads were decided). The layout is bincode: the
 * observation as it is hashed, then the proofs as a sequence of (public id, signature). A host
 * that stored the observation alone (before it kept proofs) reads it back as a block with none:
 * the observation is self-delimiting, and the sequence's length takes 8 bytes even when empty.
 */
import type { Block, Proof } from './blocks.js'
import { BincodeReader, encodeWith } from './encoding/bincode.js'
import { ParsecError } from './errors.js'
import type { IdentityScheme } from './identity/identity.js'
import { compareIds } from './identity/order.js'
import { writeObservation } from './observations/observation.js'
import { readObservation } from './observations/read.js'

/**
 * The block's bytes, its proofs one per voter in voter order (as the engine makes them; a block
 * taken from elsewhere, e.g. a checkpoint from another member's chain, may hold them otherwise:
 * the first of each voter is kept), so that whatever is stored reads back.
 */
export function encodeBlock(block: Block): Uint8Array {
  const proofs = [...block.proofs].sort((a, b) => compareIds(a.publicId, b.publicId))
  return encodeWith((writer) => {
    writeObservation(writer, block.payload)
    const unique = proofs.filter((p, i) => i === 0 || compareIds(proofs[i - 1].publicId, p.publicId) !== 0)
    writer.u64(unique.length)
    for (const proof of unique) writer.raw(proof.publicId.encoded).raw(proof.signature)
  })
}

/**
 * The inverse of `encodeBlock` (or of `encodeObservation`: a block with no proofs);
 * `ParsecError('InvalidMessage')` for bytes that are neither.
 */
export function decodeBlock(bytes: Uint8Array, scheme: IdentityScheme): Block {
  const reader = new BincodeReader(bytes)
  const payload = readObservation(reader, scheme)
  if (reader.remaining === 0) return { payload, proofs: [] }
  const count = reader.length(scheme.signatureLength)
  const proofs: Proof[] = []
  for (let i = 0; i < count; i++) {
    const publicId = scheme.readId(reader)
    if (proofs.length > 0 && compareIds(proofs[proofs.length - 1].publicId, publicId) >= 0) {
      throw new ParsecError('InvalidMessage', 'block proofs are not one per voter in voter order')
    }
    proofs.push({ publicId, signature: reader.raw(scheme.signatureLength).slice() })
  }
  reader.end()
  return { payload, proofs }
}
