/**
 * The section's epochs at this peer (docs/epochs.md): the epoch its engine (`lifecycle.engine`)
 * is in, and the previous epoch's engine, retired (serve-only) at the switch and kept for a drain
 * window, so members that have not switched yet still get what they lack from it. Sync and
 * catch-up requests carry their epoch and go to the engine of that epoch.
 */
import type { Parsec } from '@parsec-section/parsec-core'
import type { GossipReceived } from './api.js'
import type { Lifecycle } from './lifecycle.js'

export interface RetiredEpoch {
  readonly epoch: number
  readonly engine: Parsec
  /** When it was retired (ms), for the drain window. */
  readonly since: number
}

export class Epochs {
  /** The epoch of `lifecycle.engine` (0 before the first checkpoint). */
  current = 0
  previous: RetiredEpoch | undefined
  /** The events of the earlier epochs' graphs, all together (the section's history in events). */
  eventsBefore = 0
  /** What the earlier epochs' engines counted of gossip (`eventsReceived`, duplicates among them). */
  receivedBefore = 0
  duplicatesBefore = 0
  requestEventsBefore = 0
  requestDuplicatesBefore = 0

  constructor(private readonly lifecycle: Lifecycle) {}

  /** Every event our graphs held, this epoch's and the earlier ones'. */
  get eventsCreated(): number {
    return this.eventsBefore + (this.lifecycle.engine?.graphSize ?? 0)
  }

  /** Events gossip brought us since we started, and those of them we held already. */
  get gossipReceived(): GossipReceived {
    const engine = this.lifecycle.engine
    return {
      events: this.receivedBefore + (engine?.eventsReceived ?? 0),
      duplicates: this.duplicatesBefore + (engine?.duplicateEventsReceived ?? 0),
      inRequests: {
        events: this.requestEventsBefore + (engine?.eventsReceivedInRequests ?? 0),
        duplicates: this.requestDuplicatesBefore + (engine?.duplicateEventsReceivedInRequests ?? 0),
      },
    }
  }

  /** Our engine of `epoch`: the current one, the retired previous one, or none. */
  engineOf(epoch: number): Parsec | undefined {
    if (epoch === this.current) return this.lifecycle.engine
    return this.previous?.epoch === epoch ? this.previous.engine : undefined
  }
}
