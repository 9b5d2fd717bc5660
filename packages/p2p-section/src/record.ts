/**
 * The checksum framing of stored records (storage format 2): an 8-byte checksum, then the
 * record's bytes. The checksum is the first 8 bytes of SHA-256 over the record's key and bytes,
 * so a flipped bit and a value stored under the wrong key are both caught when the store is read,
 * before anything read from it can be sent to a peer.
 */
import { createHash } from 'node:crypto'
import { equals } from 'uint8arrays'
import { SectionError } from './errors.js'

export const CHECKSUM_BYTES = 8

/** A damaged store: `detail` names what is damaged. Whoever throws it has changed nothing. */
export function storageCorrupt(detail: string): SectionError {
  return new SectionError('StorageCorrupt', `${detail}; the store was left unchanged`)
}

function checksum(key: string, bytes: Uint8Array): Uint8Array {
  const digest = createHash('sha256')
    .update(key, 'utf8')
    .update(new Uint8Array([0]))
    .update(bytes)
    .digest()
  return new Uint8Array(digest.buffer, digest.byteOffset, CHECKSUM_BYTES)
}

/** The stored form of `bytes` under `key`. */
export function seal(key: string, bytes: Uint8Array): Uint8Array {
  const sealed = new Uint8Array(CHECKSUM_BYTES + bytes.length)
  sealed.set(checksum(key, bytes), 0)
  sealed.set(bytes, CHECKSUM_BYTES)
  return sealed
}

/** The bytes of a stored record; `StorageCorrupt` naming the key when its checksum fails. */
export function unseal(key: string, sealed: Uint8Array): Uint8Array {
  if (sealed.length < CHECKSUM_BYTES) {
    throw storageCorrupt(`stored record ${key} is damaged: ${sealed.length} bytes`)
  }
  const bytes = sealed.slice(CHECKSUM_BYTES)
  if (!equals(sealed.subarray(0, CHECKSUM_BYTES), checksum(key, bytes))) {
    throw storageCorrupt(`stored record ${key} is damaged: its checksum does not match`)
  }
  return bytes
}
