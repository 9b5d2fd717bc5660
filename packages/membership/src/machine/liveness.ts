/**
 * Unresponsive suspicion (spec §4): a voter is suspected when it has not progressed for
 * `unresponsiveDecisions` consecutive decisions AND for `unresponsiveMs` on the injected clock. A
 * decision needs a supermajority, so the graph test means "the section moved on without it" and
 * counts nothing in quiet periods; the clock gives slow links patience. Any event from the voter
 * resets both. A new voter not yet heard from is judged by the join grace instead.
 */
import type { MembershipConfig } from '../defaults.js'

interface VoterLiveness {
  /** Highest `lastAncestors` entry seen for it in a decision. */
  lastAncestor: number
  silentDecisions: number
  lastProgressAt: number
  /** We have received an event from it (a new voter is silent until then). */
  active: boolean
  addedAtMs: number
  addedAtBlock: number
}

export class Liveness {
  private readonly voters = new Map<string, VoterLiveness>()

  track(name: string, now: number, active: boolean, addedAtBlock: number): void {
    if (this.voters.has(name)) return
    this.voters.set(name, {
      lastAncestor: -1,
      silentDecisions: 0,
      lastProgressAt: now,
      active,
      addedAtMs: now,
      addedAtBlock,
    })
  }

  untrack(name: string): void {
    this.voters.delete(name)
  }

  /** An event from `name` arrived: resets both counters; the voter is active from now on. */
  heard(name: string, now: number): boolean {
    const voter = this.voters.get(name)
    if (voter === undefined) return false
    const wasActive = voter.active
    voter.active = true
    voter.silentDecisions = 0
    voter.lastProgressAt = now
    return !wasActive
  }

  /** A decision: each voter whose entry grew progressed; the others were silent once more. */
  decision(lastAncestors: ReadonlyMap<string, number>, now: number): string[] {
    const activated: string[] = []
    for (const [name, voter] of this.voters) {
      const entry = lastAncestors.get(name) ?? -1
      if (entry > voter.lastAncestor) {
        voter.lastAncestor = entry
        if (this.heard(name, now)) activated.push(name)
      } else {
        voter.silentDecisions++
      }
    }
    return activated
  }

  /**
   * A new epoch's engine (docs/epochs.md §2): its graph numbers every voter's events from 0 again,
   * so the entries its decisions report start over; silence counted so far is kept.
   */
  newEpoch(): void {
    for (const voter of this.voters.values()) voter.lastAncestor = -1
  }

  /** When we last heard from `name` (its last event, or its progress in a decision). */
  lastHeardAt(name: string): number | undefined {
    return this.voters.get(name)?.lastProgressAt
  }

  isActive(name: string): boolean {
    return this.voters.get(name)?.active ?? false
  }

  /** Silent by decisions and clock (active voters), or past the join grace (new voters). */
  suspected(name: string, now: number, agreedBlocks: number, config: MembershipConfig): boolean {
    const voter = this.voters.get(name)
    if (voter === undefined) return false
    if (!voter.active) {
      return (
        agreedBlocks - voter.addedAtBlock > config.joinGraceBlocks &&
        now - voter.addedAtMs >= config.joinGraceMs
      )
    }
    return (
      voter.silentDecisions >= config.unresponsiveDecisions &&
      now - voter.lastProgressAt >= config.unresponsiveMs
    )
  }

  /** The earliest time after `now` at which a clock condition can turn a suspicion on. */
  nextDeadline(now: number, config: MembershipConfig): number | undefined {
    let earliest: number | undefined
    for (const voter of this.voters.values()) {
      const at = voter.active
        ? voter.lastProgressAt + config.unresponsiveMs
        : voter.addedAtMs + config.joinGraceMs
      if (at > now && (earliest === undefined || at < earliest)) earliest = at
    }
    return earliest
  }
}
