/**
 * The final syncs of our drain (MEMBERSHIP.md §4, "Graceful"). Once our removal is agreed (the
 * machine's `serveOnly`: our engine decided it, or f+1 members' chains showed it) we make no more
 * events: gossip stops (`begun`) and the engine only serves. Yet at 3 members or fewer the others
 * cannot decide our removal without our last events, and pulls come only from members that sync
 * with us. So until the machine's `stop` (the drain's `lingerMs`), each remaining member is told
 * every `intervalMs` to fetch what it lacks from us, until it answers `not-member` (our removal is
 * agreed there too) or holds everything we hold (by what our serve-only engine knows of it).
 *
 * A final sync has no sync event (we make none), so a member's `handleRequest` would refuse it
 * (`InvalidMessage`, blaming us). It is a `catch-up` sync request instead: the member acknowledges
 * it and pulls what it lacks over the catch-up protocol (`ingest`: no sync event made; by its own
 * frontier, so exactly what it lacks), as after any sync too large for a page. No new message, and a
 * member that never heard we leave (we were removed for silence) takes it the same way.
 */
import type { Logger } from '@libp2p/interface'
import type { Parsec } from '@parsec-section/parsec-core'
import { decodeSync, encodeSyncSignal } from '../codec.js'
import { SectionError, toError } from '../errors.js'
import type { Lifecycle } from './lifecycle.js'
import type { GossipPartner, Roster } from './roster.js'
import type { Channel, StreamCache } from './stream-cache.js'

export interface DrainParts {
  readonly lifecycle: Pick<Lifecycle, 'engine' | 'started' | 'state'>
  readonly roster: Pick<Roster, 'gossipPartners' | 'resolve'>
  readonly streams: Pick<StreamCache, 'get' | 'drop'>
  /** Whether an exchange of our gossip (begun before our removal) still uses a member's stream. */
  readonly exchanging: (name: string) => boolean
  /** Our epoch (a removed peer's last, which it drains in). */
  readonly epoch: () => number
}

export interface DrainLimits {
  /** How often a member that has not answered `not-member` is told again. */
  readonly intervalMs: number
  readonly responseTimeoutMs: number
  readonly maxEventsPerMessage: number
}

export class Drain {
  private timer: ReturnType<typeof setTimeout> | undefined
  private running = false
  private started = false
  /** Members (engine names) the drain is done with: `not-member`, or they hold all we hold. */
  private readonly done = new Set<string>()
  /** Members (engine names) with a final sync under way. */
  private readonly inFlight = new Set<string>()

  constructor(
    private readonly parts: DrainParts,
    private readonly limits: DrainLimits,
    private readonly log: Logger,
  ) {}

  /** Whether the final syncs run (between the machine's `serveOnly` and its `stop`). */
  get active(): boolean {
    return this.running
  }

  /** Whether the drain began (and perhaps ended): we make no more events, so no more gossip. */
  get begun(): boolean {
    return this.started
  }

  /** Our removal is agreed (`serveOnly`): final syncs now, then every `intervalMs`. */
  start(): void {
    if (this.started) return
    this.started = true
    this.running = true
    this.round()
  }

  /** The drain is over (`stop`), or the service stops. */
  stop(): void {
    this.running = false
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
  }

  private round(): void {
    this.timer = undefined
    if (!this.running) return
    const { lifecycle, roster, exchanging } = this.parts
    const engine = lifecycle.engine
    // Not before the service runs (a drain resumed at start waits for the self-check).
    if (engine !== undefined && lifecycle.started && lifecycle.state === 'running') {
      for (const partner of roster.gossipPartners()) {
        const name = partner.id.name
        if (this.done.has(name) || this.inFlight.has(name) || exchanging(name)) continue
        this.inFlight.add(name)
        this.finalSync(engine, partner)
          .catch((error) => this.log.error('final sync to %p failed: %e', partner.peerId, error))
          .finally(() => this.inFlight.delete(name))
      }
    }
    this.timer = setTimeout(() => this.round(), this.limits.intervalMs)
    this.timer.unref?.()
  }

  /** One final sync: a `catch-up` request; the member pulls what it lacks, or says `not-member`. */
  private async finalSync(engine: Parsec, partner: GossipPartner): Promise<void> {
    const { streams, roster } = this.parts
    const name = partner.id.name
    // Serve-only (our engine decided our removal): the events it lacks by what we know of it, no
    // new event (nothing to persist).
    if (engine.isRemoved && engine.createGossip(partner.id).message === undefined) {
      this.done.add(name)
      this.log('drain: %p holds every event we hold', partner.peerId)
      return
    }
    let channel: Channel
    try {
      channel = await streams.get(partner.peerId)
    } catch (error) {
      this.log(
        'drain: no sync stream to %p (next try in %d ms): %e',
        partner.peerId,
        this.limits.intervalMs,
        error,
      )
      return
    }
    if (!this.running) return
    try {
      const signal = AbortSignal.timeout(this.limits.responseTimeoutMs)
      await channel.lp.write(encodeSyncSignal('request', 'catch-up', this.parts.epoch()), { signal })
      const reply = decodeSync(
        await channel.lp.read({ signal }),
        this.limits.maxEventsPerMessage,
        roster.resolve,
      )
      if (reply.kind !== 'response')
        throw new SectionError('UnexpectedMessage', 'a request where a response was due')
      if (reply.status === 'not-member') {
        this.done.add(name)
        this.log('drain: %p agreed our removal', partner.peerId)
      }
    } catch (error) {
      streams.drop(partner.peerId)
      channel.stream.abort(toError(error))
      this.log(
        'drain: final sync to %p failed (next try in %d ms): %e',
        partner.peerId,
        this.limits.intervalMs,
        error,
      )
    }
  }
}
