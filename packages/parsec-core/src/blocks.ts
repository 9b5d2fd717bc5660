/**
 * Blocks (spec §7): an agreed observation with the votes this peer holds for it. Only payloads
 * and their order are agreed; proof sets are local.
 */
import type { PublicId } from './identity/identity.js'
import type { Observation } from './observations/observation.js'

export interface Proof {
  readonly publicId: PublicId
  /** Its own bytes (not a view of the graph's storage): a block may outlive its engine. */
  readonly signature: Uint8Array
}

export interface Block {
  readonly payload: Observation
  /** The votes held at the moment of decision, one per voter, ordered by voter id. */
  readonly proofs: readonly Proof[]
}

export function isSignedBy(block: Block, id: PublicId): boolean {
  return block.proofs.some((proof) => proof.publicId.name === id.name)
}
