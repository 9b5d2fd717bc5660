/**
 * When to gossip: a periodic timer with jitter (fast while observations are pending, slow when
 * idle), plus a nudge soon after something new arrives (a vote, new events), under a rate cap so
 * a burst of news cannot grow into a gossip storm.
 */
export interface GossipSchedule {
  readonly intervalMs: number
  readonly idleIntervalMs: number
  /** Fraction of the interval added or removed at random. */
  readonly jitter: number
  readonly maxPerSecond: number
  readonly maxConcurrent: number
}

export interface GossipDriver {
  /** Observations pending, or blocks not yet delivered: gossip at the fast pace. */
  isActive(): boolean
  /** Starts an exchange; false when no partner is free. Calls `exchangeDone` when it ends. */
  startExchange(): boolean
}

export class GossipScheduler {
  private timer: ReturnType<typeof setTimeout> | undefined
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
    this.nudgeTimer = undefined
  }

  /**
   * Something new to spread: gossip as soon as the rate cap allows. Ignored while idle unless
   * `force`d (a vote, a new partner): every exchange creates sync events, so nudging on those
   * alone would keep an idle section gossiping at the cap.
   */
  nudge(force = false): void {
    if (!this.running || this.nudgeTimer !== undefined) return
    if (!force && !this.driver.isActive()) return
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
    if (!this.running) return
    const base = this.driver.isActive() ? this.schedule.intervalMs : this.schedule.idleIntervalMs
    const delay = base * (1 + this.schedule.jitter * (2 * Math.random() - 1))
    this.timer = setTimeout(() => {
      this.tryStart()
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
