/**
 * A digest of a block's transactions, in order: SHA-256 over each one's length (4 bytes, big-endian)
 * and bytes. `GET /transactions?summary=1` serves it per block; `demo --transactions` computes it
 * from the transactions it read at one peer and compares the other peers' summaries with it.
 */
import { createHash } from 'node:crypto'

export function transactionsDigest(txs: readonly Uint8Array[]): string {
  const hash = createHash('sha256')
  const length = Buffer.alloc(4)
  for (const tx of txs) {
    length.writeUInt32BE(tx.length)
    hash.update(length)
    hash.update(tx)
  }
  return hash.digest('hex')
}
