/**
 * Our application's payloads voted and not yet delivered, in the order voted: what an epoch switch
 * votes again in the new engine (docs/epochs.md §2: the old engine's blocks after its checkpoint
 * are never delivered, so nothing it had not delivered may be lost with it). A delivered block
 * carrying our vote for a payload settles it. After a rebase, the open payloads are set aside
 * while the members are asked which were decided in the blocks we missed (decided-lookup.ts): a
 * switch does not vote them again meanwhile, and they still count as open (`some`).
 */
import { createHash } from 'node:crypto'
import type { Block, PublicId } from '@parsec-section/parsec-core'

export class OwnVotes {
  /** Payload (its key) → the payload, in the order voted (a Map keeps insertion order). */
  private readonly pending = new Map<string, Uint8Array>()
  /** Payloads set aside after a rebase, their fate being looked up. */
  private readonly aside = new Map<string, Uint8Array>()
  /** Called once when a payload set aside is settled (`asideChanged`). */
  private asideWaiters: (() => void)[] = []

  voted(payload: Uint8Array): void {
    this.pending.set(key(payload), payload)
  }

  /** A delivered block: settles our payload if it is ours. */
  delivered(block: Block, us: PublicId): void {
    if (block.payload.kind !== 'opaque' || (this.pending.size === 0 && this.aside.size === 0)) return
    if (!block.proofs.some((p) => p.publicId.name === us.name)) return
    const k = key(block.payload.payload)
    this.pending.delete(k)
    if (this.aside.delete(k)) this.wake()
  }

  /** Whether a payload not delivered yet (set aside included) matches. */
  some(match: (payload: Uint8Array) => boolean): boolean {
    for (const payload of this.pending.values()) if (match(payload)) return true
    for (const payload of this.aside.values()) if (match(payload)) return true
    return false
  }

  /** How many payloads not delivered yet match (set aside ones excepted). */
  count(match: (payload: Uint8Array) => boolean): number {
    let n = 0
    for (const payload of this.pending.values()) if (match(payload)) n++
    return n
  }

  /** Whether a payload set aside (its fate looked up after a rebase) matches. */
  someAside(match: (payload: Uint8Array) => boolean): boolean {
    for (const payload of this.aside.values()) if (match(payload)) return true
    return false
  }

  /** Sets every open payload aside (a rebase): returned in the order voted. */
  setAside(): Uint8Array[] {
    const open = [...this.pending.values()]
    for (const [k, payload] of this.pending) this.aside.set(k, payload)
    this.pending.clear()
    return open
  }

  /** At a restart: payloads a rebase set aside and not settled (not those our engine voted again). */
  putAside(payloads: readonly Uint8Array[]): void {
    for (const payload of payloads) {
      const k = key(payload)
      if (!this.pending.has(k)) this.aside.set(k, payload)
    }
  }

  /** Whether our engine holds an undelivered vote of `payload` (set aside ones excepted). */
  isOpen(payload: Uint8Array): boolean {
    return this.pending.has(key(payload))
  }

  /** A payload set aside is settled: found decided, voted again, or given up. */
  settle(payload: Uint8Array): void {
    if (this.aside.delete(key(payload))) this.wake()
  }

  /** Resolves when a payload set aside is settled, or at `wake()` (the service stops). */
  asideChanged(): Promise<void> {
    return new Promise((resolve) => this.asideWaiters.push(resolve))
  }

  wake(): void {
    const waiters = this.asideWaiters
    this.asideWaiters = []
    for (const resolve of waiters) resolve()
  }

  /** The payloads not delivered yet, in the order voted. */
  open(): Uint8Array[] {
    return [...this.pending.values()]
  }

  /** Open payloads, set aside ones included. */
  get size(): number {
    return this.pending.size + this.aside.size
  }
}

/**
 * A payload's key: its SHA-256 digest (a transaction batch holds up to 256 KiB, whose hex would be
 * a 512 KiB string made at each vote and delivered block).
 */
export function payloadKey(payload: Uint8Array): string {
  return createHash('sha256').update(payload).digest('base64')
}

/** A payload's SHA-256 digest as bytes (on the wire: the decided protocol). */
export function payloadDigest(payload: Uint8Array): Uint8Array {
  return createHash('sha256').update(payload).digest()
}

/** The key of a payload whose digest is `digest`. */
export function keyOfDigest(digest: Uint8Array): string {
  return Buffer.from(digest.buffer, digest.byteOffset, digest.byteLength).toString('base64')
}
const key = payloadKey
