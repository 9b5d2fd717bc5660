/**
 * Proof of work bound to the membership head (spec §3.3): `SHA-256(prefix ‖ sectionId ‖ peerId ‖
 * head ‖ nonce ‖ powNonce)` must start with `powBits` zero bits. Each field is length-prefixed
 * (canonical layout), so no two field splits hash the same bytes. Work bound to `head` goes stale
 * with the ticket, so it cannot be stockpiled.
 */

import { encodeCanonical } from '../encoding/canonical.js'
import { sha256 } from '../encoding/hash.js'
import { type PublicId, utf8 } from '../engine-exports.js'
import { MembershipError } from '../errors.js'

export const POW_PREFIX = utf8('parsec-section/join/v1')

export interface WorkTicket {
  readonly sectionId: Uint8Array
  readonly peer: PublicId
  readonly head: Uint8Array
  readonly nonce: Uint8Array
}

export function powHash(ticket: WorkTicket, powNonce: number): Uint8Array {
  return sha256(
    encodeCanonical((w) =>
      w
        .bytes(POW_PREFIX)
        .bytes(ticket.sectionId)
        .bytes(ticket.peer.encoded)
        .bytes(ticket.head)
        .bytes(ticket.nonce)
        .u64(powNonce),
    ),
  )
}

export function leadingZeroBits(hash: Uint8Array): number {
  let bits = 0
  for (const byte of hash) {
    if (byte === 0) {
      bits += 8
      continue
    }
    return bits + Math.clz32(byte) - 24
  }
  return bits
}

export function hasWork(ticket: WorkTicket, powNonce: number, powBits: number): boolean {
  return powBits <= 0 || leadingZeroBits(powHash(ticket, powNonce)) >= powBits
}

/**
 * The first `powNonce` from `start` that meets `powBits` (deterministic: joiners and simulations
 * get the same answer for the same ticket). Throws after `maxTries` so a caller is never stuck.
 */
export function solvePow(ticket: WorkTicket, powBits: number, start = 0, maxTries = 2 ** 32): number {
  for (let powNonce = start; powNonce < start + maxTries; powNonce++) {
    if (hasWork(ticket, powNonce, powBits)) return powNonce
  }
  throw new MembershipError('InvalidArgument', `no proof of work of ${powBits} bits in ${maxTries} tries`)
}
