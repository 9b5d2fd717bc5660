/**
 * Counts the engine's signature verifications and the time they take, by wrapping the members'
 * public ids (the engine verifies every event and vote through its peer list's ids). Reported in
 * `status()` so a benchmark can tell how much of a peer's CPU goes to verification.
 */
import type { PublicId } from '@parsec-section/parsec-core'

export class VerifyStats {
  count = 0
  totalMs = 0

  wrap(id: PublicId): PublicId {
    const stats = this
    return {
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
  }
}
