/**
 * When to gossip, from what the section is doing: the scheduler's timing policy (scheduler.ts)
 * fed with the gossip mode. Gossip in proportion to the work: none while no observation is
 * pending anywhere we know of (a peer with work gossips to us, and then we have it too); the slow
 * pace while one is pending but no decision is possible (too few voters connected, or no progress
 * for a while); else the backlog's pace. Gossip starts once the start-up is done, not with the
 * service.
 */
import type { Startable } from '@libp2p/interface'
import { type Parsec, supermajority } from '@parsec-section/parsec-core'
import { backlogForFastest, type GossipMode, type GossipSchedule, GossipScheduler } from '../scheduler.js'
import type { Connections } from './connections.js'
import type { Roster } from './roster.js'

export interface PacingOptions {
  readonly schedule: GossipSchedule
  /** See `constants.PROGRESS_WINDOW_MS`. */
  readonly progressWindowMs: number
  /** The clock (ms), `Date.now` by default. */
  readonly now?: () => number
  /**
   * Backlog beyond the engine's pending observations: our transactions waiting for their batch
   * to be agreed (a batch is one observation carrying up to thousands of them).
   */
  readonly extraBacklog?: () => number
}

export class Pacing implements Startable {
  private readonly scheduler: GossipScheduler
  private started = false
  /** Decided blocks and observations seen, as of `lastProgressAt`. */
  private progressMark = ''
  private lastProgressAt = 0

  /** @param startExchange - starts one exchange; false when no partner is free */
  constructor(
    private readonly engine: () => Parsec | undefined,
    private readonly roster: Roster,
    private readonly connections: Connections,
    private readonly options: PacingOptions,
    startExchange: () => boolean,
  ) {
    this.scheduler = new GossipScheduler(options.schedule, {
      mode: () => this.mode(),
      backlog: () => (this.engine()?.pendingObservationCount ?? 0) + (options.extraBacklog?.() ?? 0),
      voters: () => this.roster.voters().length,
      startExchange,
    })
  }

  /** The backlog at which we gossip at our fastest pace (scaled by the section's size). */
  backlogForFastest(): number {
    return backlogForFastest(this.options.schedule, this.roster.voters().length)
  }

  isStarted(): boolean {
    return this.started
  }

  /** Gossip begins (once the start-up is done). */
  start(): void {
    this.started = true
    this.scheduler.start()
  }

  stop(): void {
    this.started = false
    this.scheduler.stop()
  }

  /** Something new: see `GossipScheduler.nudge`. */
  nudge(force = false): void {
    this.scheduler.nudge(force)
  }

  exchangeDone(): void {
    this.scheduler.exchangeDone()
  }

  mode(): GossipMode {
    const engine = this.engine()
    if (engine === undefined) return 'idle'
    if (engine.pendingObservationCount === 0) {
      // Nothing left to decide here; but a connected member that may not know of a vote (we
      // decided without its events) would never learn of it if everyone went quiet: gossip to it.
      return this.laggingPartners().length > 0 ? 'busy' : 'idle'
    }
    return this.supermajorityConnected() && this.progressing() ? 'busy' : 'stalled'
  }

  /** Connected members (by engine name) whose latest event we hold does not descend from every vote we hold. */
  laggingPartners(): string[] {
    const engine = this.engine()
    if (engine === undefined) return []
    const out: string[] = []
    for (const id of engine.peersLackingVotes()) {
      const peerId = this.roster.peerIdOf(id.name)
      if (peerId !== undefined && this.connections.has(peerId)) out.push(id.name)
    }
    return out
  }

  /** A block was decided or a new observation seen within the progress window. */
  private progressing(): boolean {
    const engine = this.engine()
    if (engine === undefined) return false
    const now = (this.options.now ?? Date.now)()
    const mark = `${engine.decidedBlockCount}:${engine.observationCount}`
    if (mark !== this.progressMark) {
      this.progressMark = mark
      this.lastProgressAt = now
    }
    return now - this.lastProgressAt <= this.options.progressWindowMs
  }

  /**
   * More than two thirds of the voters (us included) are connected to us: only then can anything
   * be decided, so only then is the busy pace worth it. Below that (most members down or not found
   * yet), every exchange would only add sync events: gossip stays at the slow pace until they are
   * back. Liveness comes from the transport (connections, which libp2p's connection monitor pings
   * and closes when dead), not from events: an idle section makes none.
   */
  private supermajorityConnected(): boolean {
    const engine = this.engine()
    if (engine === undefined) return false
    const voters = this.roster.voters()
    const us = engine.ourId.name
    let live = 0
    for (const voter of voters) {
      const peerId = this.roster.peerIdOf(voter.name)
      if (voter.name === us || (peerId !== undefined && this.connections.has(peerId))) live++
    }
    return supermajority(voters.length, live)
  }
}
