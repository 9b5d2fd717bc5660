/**
 * Counts the engine's signature verifications and the time they take, by wrapping the members'
 * public ids (the engine verifies every event and vote through its peer list's ids). Reported in
 * `status()` so a benchmark can tell how much of a peer's CPU goes to verification.
 */
import type { PublicId } from '@parsec-section/parsec-core'

export class VerifyStats {
  count = 0
  totalMs = 0
  /**
   * One wrapper per id (by name), whatever the engine: every epoch's engine is built from the
   * voters again, and its blocks' proofs (kept in the membership chain across epochs) hold the
   * ids they were built with, so fresh wrappers per epoch were kept once per checkpoint.
   */
  private readonly wrapped = new Map<string, PublicId>()

  wrap(id: PublicId): PublicId {
    const known = this.wrapped.get(id.name)
    if (known !== undefined) return known
    const stats = this
    const wrapper: PublicId = {
      name: id.name,
      encoded: id.encoded,
      orderKey: id.orderKey,
      verify(signature: Uint8Array, data: Uint8Array): boolean {
        const start = performance.now()
        try {
          return id.verify(signature, data)
        } finally {
          stats.totalMs += performance.now() - start
          stats.count++
        }
      },
    }
    this.wrapped.set(id.name, wrapper)
    return wrapper
  }
}
