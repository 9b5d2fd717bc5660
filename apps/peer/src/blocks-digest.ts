/**
 * A digest of the blocks a peer delivered, read through its control API (`GET /blocks`, a page at a
 * time): SHA-256 over each block's agreed content (position, kind, payload, peers, peer, offender,
 * malice), without what is local to the peer (`voters`, `deliveredAt`). Peers that delivered the
 * same blocks in the same order have the same digest, and the blocks never need to be held at once.
 */
import { createHash } from 'node:crypto'
import { API_LIMITS } from './api-limits.js'
import type { ApiClient } from './local-section.js'

export interface BlocksDigest {
  /** The blocks read: `upTo`, or fewer if the peer delivered fewer. */
  readonly blocks: number
  readonly sha256: string
}

/**
 * The digest of the peer's blocks at positions [start, upTo) (default from 0). A peer that no
 * longer keeps some of them (block retention: its `retainedFrom` is past `start`) hashes those it
 * keeps, and its digest differs.
 */
export async function blocksDigest(api: ApiClient, upTo: number, start = 0): Promise<BlocksDigest> {
  const hash = createHash('sha256')
  let from = start
  while (from < upTo) {
    const page = await api.blocks({ from, limit: Math.min(API_LIMITS.maxBlockLimit, upTo - from) })
    if (page.blocks.length === 0) break
    // Skipped blocks (no longer kept) count as a difference.
    if (page.retainedFrom > from) hash.update(`skipped ${from}..${page.retainedFrom}\n`)
    for (const b of page.blocks) {
      const agreed = [b.position, b.kind, b.payload, b.peers, b.peer, b.offender, b.malice]
      hash.update(`${JSON.stringify(agreed.map((field) => field ?? null))}\n`)
    }
    from = page.next
  }
  return { blocks: from, sha256: hash.digest('hex') }
}
