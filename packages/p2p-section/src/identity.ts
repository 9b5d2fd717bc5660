/**
 * A peer's section identity is its libp2p identity: the engine signs with the node's Ed25519
 * private key and names peers by their Ed25519 public keys (the engine's libsodium identity, ids
 * cached by `ed25519Id`).
 */
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { peerIdFromPublicKey, peerIdFromString } from '@libp2p/peer-id'
import { type Ed25519PublicId, Ed25519SecretId, ed25519Id, type PublicId } from '@parsec-section/parsec-core'
import { SectionError } from './errors.js'

export function secretIdFromPrivateKey(privateKey: PrivateKey): Ed25519SecretId {
  if (privateKey.type !== 'Ed25519') {
    throw new SectionError('InvalidArgument', `a section identity must be Ed25519, not ${privateKey.type}`)
  }
  // libp2p's raw Ed25519 private key is seed ‖ public key.
  return new Ed25519SecretId(privateKey.raw.subarray(0, 32))
}

export function publicIdFromPeerId(peerId: PeerId): Ed25519PublicId {
  if (peerId.type !== 'Ed25519' || peerId.publicKey === undefined) {
    throw new SectionError('InvalidArgument', `peer ${peerId.toString()} has no Ed25519 key`)
  }
  return ed25519Id(peerId.publicKey.raw)
}

export function peerIdFromPublicId(id: PublicId): PeerId {
  return peerIdFromPublicKey(publicKeyFromRaw(id.encoded))
}

/** Parses a peer id string, with a typed error for nonsense. */
export function parsePeerId(text: string): PeerId {
  try {
    return peerIdFromString(text)
  } catch (error) {
    throw new SectionError('InvalidArgument', `not a peer id: ${JSON.stringify(text)} (${String(error)})`)
  }
}
