import { createHash } from 'node:crypto'

/** Hash = SHA3-256 (FIPS-202), spec §1.2. */
export const HASH_LENGTH = 32

export function sha3(data: Uint8Array): Uint8Array {
  const digest = createHash('sha3-256').update(data).digest()
  return new Uint8Array(digest.buffer, digest.byteOffset, digest.byteLength)
}
