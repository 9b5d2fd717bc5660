/**
 * Our application's payloads voted and not yet delivered, in the order voted: what an epoch switch
 * votes again in the new engine (docs/epochs.md §2: the old engine's blocks after its checkpoint
 * are never delivered, so nothing it had not delivered may be lost with it). A delivered block
 * carrying our vote for a payload settles it.
 */
import { createHash } from 'node:crypto'
import type { Block, PublicId } from '@parsec-section/parsec-core'

export class OwnVotes {
  /** Payload (its key) → the payload, in the order voted (a Map keeps insertion order). */
  private readonly pending = new Map<string, Uint8Array>()

  voted(payload: Uint8Array): void {
    this.pending.set(key(payload), payload)
  }

  /** A delivered block: settles our payload if it is ours. */
  delivered(block: Block, us: PublicId): void {
    if (block.payload.kind !== 'opaque' || this.pending.size === 0) return
    if (!block.proofs.some((p) => p.publicId.name === us.name)) return
    this.pending.delete(key(block.payload.payload))
  }

  /** Whether a payload not delivered yet matches. */
  some(match: (payload: Uint8Array) => boolean): boolean {
    for (const payload of this.pending.values()) if (match(payload)) return true
    return false
  }

  /** The payloads not delivered yet, in the order voted. */
  open(): Uint8Array[] {
    return [...this.pending.values()]
  }

  clear(): void {
    this.pending.clear()
  }

  get size(): number {
    return this.pending.size
  }
}

/**
 * A payload's key: its SHA-256 digest (a transaction batch holds up to 256 KiB, whose hex would be
 * a 512 KiB string made at each vote and delivered block).
 */
export function payloadKey(payload: Uint8Array): string {
  return createHash('sha256').update(payload).digest('base64')
}
const key = payloadKey
