/**
 * A digest of a block's transactions, in order: SHA-256 over each one's length (4 bytes, big-endian)
 * and bytes. `GET /transactions?summary=1` serves it per block; `demo --transactions` computes it
 * from the transactions it read at one peer and compares the other peers' summaries with it.
 */
import { createHash } from 'node:crypto'

/** One block's transactions: how many, and their digest. */
export interface BlockDigest {
  readonly position: number
  readonly transactions: number
  readonly sha256: string
}

function transactionsDigest(txs: readonly Uint8Array[]): string {
  const hash = createHash('sha256')
  const length = Buffer.alloc(4)
  for (const tx of txs) {
    length.writeUInt32BE(tx.length)
    hash.update(length)
    hash.update(tx)
  }
  return hash.digest('hex')
}

/** The digest of each block of `txs` (in agreed order, each block's transactions together). */
export function digestsByBlock(
  txs: readonly { readonly position: number; readonly tx: Uint8Array }[],
): BlockDigest[] {
  const out: BlockDigest[] = []
  let at = 0
  while (at < txs.length) {
    const position = txs[at].position
    let end = at
    while (end < txs.length && txs[end].position === position) end++
    out.push({
      position,
      transactions: end - at,
      sha256: transactionsDigest(txs.slice(at, end).map((t) => t.tx)),
    })
    at = end
  }
  return out
}
