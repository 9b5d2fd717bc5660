/** The counters of a run (`SimulationStats`): messages, refusals, faults and errors, by kind. */

import { internalsOf } from '@parsec-section/parsec-core/internal'
import type { SimPeer } from './peers.js'
import type { SimulationStats } from './result.js'

export class Statistics {
  requests = 0
  responses = 0
  /** Messages dropped because their recipient had stopped (crashed or removed). */
  dropped = 0
  duplicateVotesRefused = 0
  silenced = 0
  refused = 0
  forgedEventsAccepted = 0
  /** Epoch switches at peers (docs/epochs.md), and the payloads re-cast in them. */
  epochSwitches = 0
  recast = 0
  readonly spam = { sent: 0, arrived: 0, refused: 0 }
  private readonly tolerated: Record<string, number> = {}
  private readonly requestsSent: Record<string, number> = {}
  private readonly rejected: Record<string, number> = {}
  private readonly faults: Record<string, number> = {}
  private readonly byzantineErrors: Record<string, number> = {}

  /** An engine error the protocol allows. */
  tolerate(code: string): void {
    count(this.tolerated, code)
  }

  /** A request `from` sent (spam included). */
  requestSent(from: string): void {
    count(this.requestsSent, from)
  }

  /** An honest peer's engine refused a Byzantine peer's message with `code`. */
  reject(code: string): void {
    count(this.rejected, code)
  }

  /** A fault an honest peer's handle call reported (`malice:TYPE` or `rejected:CODE`). */
  fault(key: string): void {
    count(this.faults, key)
  }

  /** A failed engine call of a Byzantine peer. */
  byzantineError(code: string): void {
    count(this.byzantineErrors, code)
  }

  /** The counters as reported, with the rounds-to-decision per election. */
  snapshot(decisionRounds: number[]): SimulationStats {
    return {
      requests: this.requests,
      responses: this.responses,
      dropped: this.dropped,
      toleratedErrors: { ...this.tolerated },
      duplicateVotesRefused: this.duplicateVotesRefused,
      requestsSent: { ...this.requestsSent },
      rejected: { ...this.rejected },
      faults: { ...this.faults },
      silenced: this.silenced,
      spam: { ...this.spam },
      refused: this.refused,
      forgedEventsAccepted: this.forgedEventsAccepted,
      byzantineErrors: { ...this.byzantineErrors },
      epochSwitches: this.epochSwitches,
      recast: this.recast,
      decisionRounds,
    }
  }
}

function count(record: Record<string, number>, key: string): void {
  record[key] = (record[key] ?? 0) + 1
}

/** Rounds-to-decision per election: the largest among the honest peers' deciding events. */
export function decisionRounds(honest: readonly SimPeer[]): number[] {
  const rounds: number[] = []
  for (const peer of honest) {
    internalsOf(peer.parsec).election.decisionRounds.forEach((round, i) => {
      rounds[i] = Math.max(rounds[i] ?? 0, round)
    })
  }
  return rounds
}
