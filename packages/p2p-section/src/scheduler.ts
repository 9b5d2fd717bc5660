/**
 * When to gossip: in proportion to the work there is. No exchange at all while nothing is pending
 * (every exchange creates signed events, so an idle section would otherwise grow its graph for
 * ever); while decisions are under way, a pace set by the backlog of pending observations (slow
 * for a few, so each decision carries many of them and few events are made per payload; fast for
 * many, for throughput); a slow pace while observations are pending but no decision is possible.
 * A vote or a new partner triggers an exchange soon, under a rate cap, so a burst of news cannot
 * grow into a gossip storm.
 */
export interface GossipSchedule {
  /** The fastest pace: the interval once the backlog reaches `backlogForFastest`. */
  readonly intervalMs: number
  /** The slowest busy pace: the interval with one observation pending. */
  readonly lightIntervalMs: number
  readonly backlogForFastest: number
  /**
   * The section size the busy pace is set for (`constants.GOSSIP_REFERENCE_VOTERS`): with more
   * voters the busy intervals and `backlogForFastest` grow in proportion (see `busyInterval`).
   * Absent: no scaling.
   */
  readonly referenceVoters?: number
  /** The pace while observations are pending but no decision is possible (`stalled`). */
  readonly idleIntervalMs: number
  /** Fraction of the interval added or removed at random. */
  readonly jitter: number
  readonly maxPerSecond: number
  readonly maxConcurrent: number
}

/**
 * `idle`: nothing pending anywhere we know of: no gossip (a peer with work gossips to us);
 * `stalled`: observations pending, but no decision possible now (too few members live, or no
 * progress for a while): the slow pace; `busy`: decisions under way: the pace of the backlog.
 */
export type GossipMode = 'idle' | 'stalled' | 'busy'

export interface GossipDriver {
  mode(): GossipMode
  /** Observations pending (sets the busy pace). */
  backlog(): number
  /** Voters of the section, us included (scales the busy pace); absent: 1. */
  voters?(): number
  /** Starts an exchange; false when no partner is free. Calls `exchangeDone` when it ends. */
  startExchange(): boolean
}

/**
 * How much slower than the schedule's own busy pace a section of `voters` gossips:
 * `max(1, voters / referenceVoters)` (1 without `referenceVoters`).
 *
 * Every exchange makes sync events that each of the other `voters - 1` peers verifies, so a pace per
 * peer that does not depend on the section's size makes O(N) exchanges and O(N²) verifications per
 * second section-wide. Dividing each peer's pace by N/reference keeps the section's exchanges per
 * second about constant. Spreading stays O(log N) exchanges per peer: a partner is chosen uniformly
 * at random (partner-choice.ts) and an exchange is push-pull, so a new event reaches everyone in
 * O(log N) rounds of gossip (each round is now N/reference times longer, which is what a decision
 * at a larger size trades for its throughput).
 */
export function paceScale(schedule: GossipSchedule, voters: number): number {
  const reference = schedule.referenceVoters
  if (reference === undefined || !(reference > 0) || !Number.isFinite(voters)) return 1
  return Math.max(1, voters / reference)
}

/** The backlog at which a section of `voters` gossips at its fastest pace. */
export function backlogForFastest(schedule: GossipSchedule, voters = 1): number {
  return schedule.backlogForFastest * paceScale(schedule, voters)
}

/**
 * The busy interval for `backlog` pending observations in a section of `voters`: from the light
 * interval with one pending down to the fastest once the backlog reaches `backlogForFastest`, the
 * fastest interval and that backlog both scaled by `paceScale`. The light interval is not scaled
 * (a light load costs little, and its decisions' latency is what matters), but never faster than
 * the scaled fastest one.
 */
export function busyInterval(schedule: GossipSchedule, backlog: number, voters = 1): number {
  const scale = paceScale(schedule, voters)
  const fastest = schedule.intervalMs * scale
  const light = Math.max(schedule.lightIntervalMs, fastest)
  const span = Math.max(1, backlogForFastest(schedule, voters) - 1)
  const share = Math.min(1, Math.max(0, backlog - 1) / span)
  return light - (light - fastest) * share
}

export class GossipScheduler {
  private timer: ReturnType<typeof setTimeout> | undefined
  /** When the armed timer fires (ms since epoch). */
  private timerAt = Number.POSITIVE_INFINITY
  private nudgeTimer: ReturnType<typeof setTimeout> | undefined
  private running = false
  private inFlight = 0
  /** Start times of recent exchanges (ms), oldest first, at most `maxPerSecond` of them. */
  private readonly starts: number[] = []

  constructor(
    private readonly schedule: GossipSchedule,
    private readonly driver: GossipDriver,
  ) {}

  start(): void {
    if (this.running) return
    this.running = true
    this.armTimer()
  }

  stop(): void {
    this.running = false
    clearTimeout(this.timer)
    clearTimeout(this.nudgeTimer)
    this.timer = undefined
    this.timerAt = Number.POSITIVE_INFINITY
    this.nudgeTimer = undefined
  }

  /** The interval of the current mode (undefined while idle: no gossip). */
  currentInterval(): number | undefined {
    const mode = this.driver.mode()
    if (mode === 'idle') return undefined
    return mode === 'busy'
      ? busyInterval(this.schedule, this.driver.backlog(), this.driver.voters?.() ?? 1)
      : this.schedule.idleIntervalMs
  }

  /**
   * Something new: with `force` (our vote, a new partner) an exchange as soon as the rate cap
   * allows; otherwise (new events arrived) the timer is brought forward to the current pace if it
   * was armed for later (an idle peer that just learnt of pending work).
   */
  nudge(force = false): void {
    if (!this.running) return
    if (!force) {
      const interval = this.currentInterval()
      if (interval !== undefined && Date.now() + interval < this.timerAt) this.armTimer()
      return
    }
    if (this.nudgeTimer !== undefined) return
    const wait = this.waitForRate()
    this.nudgeTimer = setTimeout(() => {
      this.nudgeTimer = undefined
      this.tryStart()
    }, wait)
    this.nudgeTimer.unref?.()
  }

  exchangeDone(): void {
    this.inFlight = Math.max(0, this.inFlight - 1)
  }

  private armTimer(): void {
    clearTimeout(this.timer)
    if (!this.running) return
    const interval = this.currentInterval()
    // Idle: nothing to gossip; look again at the slow pace (a nudge comes sooner with news).
    const base = interval ?? this.schedule.idleIntervalMs
    const delay = base * (1 + this.schedule.jitter * (2 * Math.random() - 1))
    this.timerAt = Date.now() + delay
    this.timer = setTimeout(() => {
      this.timerAt = Number.POSITIVE_INFINITY
      // The mode now, not when armed: news may have made an idle peer busy since.
      if (this.driver.mode() !== 'idle') this.tryStart()
      this.armTimer()
    }, delay)
    this.timer.unref?.()
  }

  /** Milliseconds until the rate cap allows another start. */
  private waitForRate(): number {
    if (this.starts.length < this.schedule.maxPerSecond) return 0
    return Math.max(0, this.starts[0] + 1000 - Date.now())
  }

  private tryStart(): void {
    if (!this.running || this.inFlight >= this.schedule.maxConcurrent) return
    if (this.waitForRate() > 0) {
      this.nudge(true)
      return
    }
    if (!this.driver.startExchange()) return
    this.inFlight++
    this.starts.push(Date.now())
    if (this.starts.length > this.schedule.maxPerSecond) this.starts.shift()
  }
}

/**
 * Capped exponential backoff per key (a partner we failed to reach or to sync with): after the
 * n-th failure in a row, no new attempt for `min(maxMs, baseMs * 2^(n-1))`, ±`jitter` of it.
 * A success (or a fresh connection) forgets the key.
 */
export class Backoff {
  private readonly entries = new Map<string, { failures: number; until: number }>()

  constructor(
    private readonly baseMs: number,
    private readonly maxMs: number,
    private readonly jitter = 0.2,
  ) {}

  /** No attempt is due to wait for `key` at `now`. */
  ready(key: string, now = Date.now()): boolean {
    const entry = this.entries.get(key)
    return entry === undefined || entry.until <= now
  }

  /** Records a failure; returns the wait before `key` is tried again. */
  fail(key: string, now = Date.now()): number {
    const failures = (this.entries.get(key)?.failures ?? 0) + 1
    const base = Math.min(this.maxMs, this.baseMs * 2 ** Math.min(failures - 1, 30))
    const wait = Math.round(base * (1 + this.jitter * (2 * Math.random() - 1)))
    this.entries.set(key, { failures, until: now + wait })
    return wait
  }

  /**
   * Not a failure: `key` is tried again in `ms` (a partner that has not switched epochs yet will
   * once it agrees the checkpoint, within a round or two of gossip). Its failures are kept.
   */
  retryIn(key: string, ms: number, now = Date.now()): void {
    const failures = this.entries.get(key)?.failures ?? 0
    this.entries.set(key, { failures, until: now + ms })
  }

  succeed(key: string): void {
    this.entries.delete(key)
  }

  /** Failures in a row for `key` (0 when it is not backed off). */
  failures(key: string): number {
    return this.entries.get(key)?.failures ?? 0
  }

  /** Keys whose last attempt failed (waiting for their next try, or due for it). */
  failing(): string[] {
    return [...this.entries.keys()]
  }

  clear(): void {
    this.entries.clear()
  }
}

/** Resolves after `ms`, or at once when `signal` aborts (never rejects). */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve()
    const done = (): void => {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
  })
}
