/** SHA-256 (node's crypto: pure, no I/O) for section ids, heads, digests and proof of work. */
import { createHash } from 'node:crypto'

export const SHA256_LENGTH = 32

export function sha256(...parts: readonly Uint8Array[]): Uint8Array {
  const hasher = createHash('sha256')
  for (const part of parts) hasher.update(part)
  const digest = hasher.digest()
  return new Uint8Array(digest.buffer, digest.byteOffset, digest.byteLength)
}
