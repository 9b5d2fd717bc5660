/**
 * Reading peer ids back from their engine encoding (`PublicId.encoded`). parsec-core parses ids
 * with its own bincode reader, which it does not export; membership messages carry the encoded
 * bytes length-prefixed and turn them back into ids through one of these decoders.
 */
import { bytesEqual, ed25519Id, type IdentityScheme, mockId, type PublicId } from '../engine-exports.js'
import { MembershipError } from '../errors.js'

export interface PeerIdDecoder {
  /** The identity scheme's name (`ed25519`, `mock`). */
  readonly scheme: string
  /** The id whose `encoded` is exactly `encoded`; throws `MembershipError('Malformed')` otherwise. */
  decode(encoded: Uint8Array): PublicId
}

export const ed25519PeerIds: PeerIdDecoder = {
  scheme: 'ed25519',
  decode(encoded) {
    if (encoded.length !== 32)
      throw new MembershipError('Malformed', `an Ed25519 id has 32 bytes, not ${encoded.length}`)
    return ed25519Id(encoded)
  },
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true })

/** The reference's mock ids: bincode `bytes(name) ‖ key ‖ key` (u64 little-endian length). */
export const mockPeerIds: PeerIdDecoder = {
  scheme: 'mock',
  decode(encoded) {
    if (encoded.length < 8 + 64) throw new MembershipError('Malformed', 'mock id too short')
    const view = new DataView(encoded.buffer, encoded.byteOffset, encoded.byteLength)
    const length = view.getUint32(0, true) + view.getUint32(4, true) * 0x100000000
    if (length !== encoded.length - 8 - 64) throw new MembershipError('Malformed', 'mock id length mismatch')
    let name: string
    try {
      name = utf8Decoder.decode(encoded.subarray(8, 8 + length))
    } catch {
      throw new MembershipError('Malformed', 'mock id name is not UTF-8')
    }
    const id = mockId(name)
    if (!bytesEqual(id.encoded, encoded))
      throw new MembershipError('Malformed', `mock id ${name} carries wrong keys`)
    return id
  },
}

/** The decoder for an engine identity scheme. */
export function peerIdsFor(scheme: IdentityScheme | string): PeerIdDecoder {
  const name = typeof scheme === 'string' ? scheme : scheme.name
  if (name === 'ed25519') return ed25519PeerIds
  if (name === 'mock') return mockPeerIds
  throw new MembershipError('InvalidArgument', `no peer id decoder for scheme ${name}`)
}
