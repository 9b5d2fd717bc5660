/**
 * What each partner last said it holds: the frontier of its sync requests and of its catch-up
 * requests to us. The engine infers what a partner lacks from its latest event's ancestry, but
 * events taken by catch-up make no event, so under a backlog a partner that pulled everything
 * still looked as if it lacked it all: every request to it was larger than a page and became a
 * `catch-up` signal, it pulled again (a few events), made no sync event again, and no decision
 * could follow (the open-loop stall, BENCHMARKS.md). With its claimed frontier, a request carries
 * only what it lacks. A claim only grows (events are never dropped); one that is ahead of what the
 * partner holds (it restarted from a store that lost some) makes its insertion fail once and it
 * catches up with its real frontier, which replaces the claim.
 */
import type { PeerId } from '@libp2p/interface'
import type { Frontier } from '@parsec-section/parsec-core'

export class ClaimedFrontiers {
  private readonly claims = new Map<string, Frontier>()

  /** `peer` says it holds `frontier` (a new claim replaces the old: the peer knows best). */
  note(peer: PeerId, frontier: Frontier): void {
    if (frontier.length === 0) return
    this.claims.set(peer.toString(), frontier)
  }

  get(peer: PeerId): Frontier | undefined {
    return this.claims.get(peer.toString())
  }

  /** A new epoch's engine: what partners held of the old graph says nothing of the new one. */
  clear(): void {
    this.claims.clear()
  }

  /** The connection closed: the peer may restart, and its next message tells us again. */
  forget(peer: PeerId): void {
    this.claims.delete(peer.toString())
  }
}
