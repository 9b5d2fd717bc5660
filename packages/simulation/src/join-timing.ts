/**
 * When each outsider of a membership run asked to join, how much history it replayed, and when its
 * machine emitted `self:joined`, in steps (the join-latency benchmark reads these; see
 * `join-latency.ts`).
 */

export interface JoinTiming {
  readonly peer: string
  /** Step at which its machine started (sent its first join request). */
  readonly requestedAt: number
  /** Blocks the section had agreed at that step (genesis included), at the most advanced member. */
  readonly historyBlocks: number
  /** Step at which it was admitted and built its engine (its catch-up starts). */
  admittedAt: number | undefined
  /**
   * Step of its first short catch-up page (fewer events than a full page): it then held what its
   * server held, and went on following the section's growth until `self:joined`.
   */
  caughtUpAt: number | undefined
  /** Step of its `self:joined`; undefined if it never joined. */
  joinedAt: number | undefined
  /** Events it took in as an observer (`ingest` of catch-up pages) before `self:joined`. */
  ingested: number
  /** Catch-up pages it ingested. */
  pages: number
}

/** The timings of a run's joiners, by name. */
export class JoinTimings {
  private readonly byPeer = new Map<string, JoinTiming>()

  requested(peer: string, step: number, historyBlocks: number): void {
    this.byPeer.set(peer, {
      peer,
      requestedAt: step,
      historyBlocks,
      admittedAt: undefined,
      caughtUpAt: undefined,
      joinedAt: undefined,
      ingested: 0,
      pages: 0,
    })
  }

  /** Its engine was built (the first time: a restarted join keeps the first admission). */
  admitted(peer: string, step: number): void {
    const timing = this.byPeer.get(peer)
    if (timing !== undefined && timing.admittedAt === undefined) timing.admittedAt = step
  }

  /** A catch-up page of `events` was ingested; `short`: fewer than a full page. */
  ingested(peer: string, events: number, step: number, short: boolean): void {
    const timing = this.byPeer.get(peer)
    if (timing === undefined || timing.joinedAt !== undefined) return
    timing.ingested += events
    timing.pages++
    if (short && timing.caughtUpAt === undefined) timing.caughtUpAt = step
  }

  joined(peer: string, step: number): void {
    const timing = this.byPeer.get(peer)
    if (timing !== undefined && timing.joinedAt === undefined) timing.joinedAt = step
  }

  list(): JoinTiming[] {
    return [...this.byPeer.values()].map((t) => ({ ...t }))
  }
}
