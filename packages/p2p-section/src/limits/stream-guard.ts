/**
 * The first check on a new inbound stream of a protocol non-members may open, before a byte of it
 * is read (so before any decoding, signature or membership machine work): a banned peer's stream,
 * or one over its peer's or its source network's rate, is refused, to be reset unread. Members of
 * the section count against their own peer's bucket only, so a flood from their network never
 * sheds them. Refusals are counted by cause and logged at most once per interval, as a count,
 * so a flood makes no log flood.
 */
import type { Logger } from '@libp2p/interface'
import type { PeerBans } from './peer-bans.js'
import { type RateLimitedSource, SourceRateLimiter, type SourceRateLimits } from './source-rate.js'

/** Inbound streams reset before reading: from a banned peer, over the peer's or its network's rate. */
export interface ShedCounts {
  readonly banned: number
  readonly peer: number
  readonly network: number
}

export type GuardVerdict = 'allowed' | keyof ShedCounts

export interface StreamGuardOptions {
  readonly rates: SourceRateLimits
  /** At most one log line per this interval. */
  readonly logIntervalMs: number
  /** Whether a peer (text) is a member now. */
  readonly isMember: (peer: string) => boolean
  readonly now?: () => number
}

export class StreamGuard {
  private readonly limiter: SourceRateLimiter
  private readonly counts = { banned: 0, peer: 0, network: 0 }
  private readonly now: () => number
  /** Refusals since the last log line, and when it was written. */
  private unlogged = 0
  private loggedAt = Number.NEGATIVE_INFINITY

  constructor(
    private readonly what: string,
    private readonly bans: PeerBans,
    private readonly options: StreamGuardOptions,
    private readonly log: Logger,
  ) {
    this.limiter = new SourceRateLimiter(options.rates)
    this.now = options.now ?? Date.now
  }

  /** Streams refused so far, by cause. */
  get shed(): ShedCounts {
    return { ...this.counts }
  }

  /** Whether a new stream over `connection` may be read; spends its tokens when it may. */
  admit(connection: RateLimitedSource): GuardVerdict {
    const peer = connection.remotePeer.toString()
    const now = this.now()
    let verdict: GuardVerdict
    if (this.bans.isBanned(peer)) verdict = 'banned'
    else if (this.options.isMember(peer)) verdict = this.limiter.take(peer, undefined, now)
    else verdict = this.limiter.takeFor(connection, now)
    if (verdict === 'allowed') return verdict
    this.counts[verdict]++
    this.unlogged++
    if (now - this.loggedAt >= this.options.logIntervalMs) {
      this.log(
        '%s: %d inbound streams reset unread since the last report (total: %d banned, %d over a peer rate, %d over a network rate; latest from %s)',
        this.what,
        this.unlogged,
        this.counts.banned,
        this.counts.peer,
        this.counts.network,
        peer,
      )
      this.unlogged = 0
      this.loggedAt = now
    }
    return verdict
  }
}
