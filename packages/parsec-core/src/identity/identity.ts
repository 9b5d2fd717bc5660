/**
 * Identities behind one interface (spec §1.1): the engine never knows which scheme signs.
 * A `PublicId` carries everything the engine needs: a unique name for maps and logs, its
 * bincode serialization (hashed into observations, spec §1.5), its total order, and `verify`.
 */
export interface PublicId {
  /** Unique and stable: the key of every per-peer map and the name in DOT files. */
  readonly name: string
  /** bincode serialization of the id, as it appears inside hashed observations and events. */
  readonly encoded: Uint8Array
  /** The peer order (tie-breaks, set serialization): these bytes compared unsigned, lexicographically. */
  readonly orderKey: Uint8Array
  verify(signature: Uint8Array, data: Uint8Array): boolean
}

export interface SecretId {
  readonly publicId: PublicId
  sign(data: Uint8Array): Uint8Array
}

/** Parses ids and signatures of one scheme out of bytes received from the network. */
export interface IdentityScheme {
  readonly name: string
  readonly signatureLength: number
  /** Reads one encoded public id; throws `ParsecError('InvalidMessage')` on malformed bytes. */
  readId(reader: import('../encoding/bincode.js').BincodeReader): PublicId
}
