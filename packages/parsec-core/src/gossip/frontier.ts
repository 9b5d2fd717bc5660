/**
 * What a peer holds of the gossip graph, per creator: the position in the creator's chain of its
 * latest event we hold. Sent by a peer that catches up (paged catch-up) and with each sync request,
 * so a partner never sends events the peer already holds, however it got them.
 */
import type { PublicId } from '../identity/identity.js'

export interface FrontierEntry {
  readonly creator: PublicId
  /** 0-based position of the creator's latest event we hold in its self-parent chain. */
  readonly last: number
}

export type Frontier = readonly FrontierEntry[]

/** A creator's latest event a peer holds: its position in the creator's chain and its hash. */
export interface LatestEvent {
  readonly index: number
  readonly hash: Uint8Array
}

/** One page of events exported for a catching-up peer (`Parsec.exportEvents`). */
export interface ExportedPage<E> {
  readonly events: E[]
  /** Where the next page starts (an insertion position in the exporter's graph). */
  readonly next: number
  /** No event after `next` yet: the page reached the end of the exporter's graph. */
  readonly done: boolean
}
