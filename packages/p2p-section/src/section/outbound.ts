/**
 * Our side of gossip: the exchanges we start when pacing says so. A partner is picked at random,
 * weighted by the membership machine's partner weights (partner-choice.ts), among the members the
 * roster lets us gossip to that are neither busy nor backing off; our
 * gossip (a new signed event) is created only once a stream to it is open, and persisted before
 * it is sent; its response goes through the journal. A partner we failed to reach or to sync with
 * is left alone for a capped exponential backoff, so a dead member costs a dial now and then,
 * never a gossip.
 */
import type { Logger, PeerId } from '@libp2p/interface'
import { isParsecError, type PublicId } from '@parsec-section/parsec-core'
import type { Uint8ArrayList } from 'uint8arraylist'
import { decodeSync, encodeSync, encodeSyncSignal } from '../codec.js'
import * as C from '../constants.js'
import { LinkError, SectionError, toError } from '../errors.js'
import type { Backoff } from '../scheduler.js'
import type { ClaimedFrontiers } from './claimed-frontiers.js'
import type { Epochs } from './epochs.js'
import { classify, type Failure } from './failure.js'
import type { Journal } from './journal.js'
import type { Lifecycle } from './lifecycle.js'
import type { Pacing } from './pacing.js'
import { choosePartner } from './partner-choice.js'
import type { Puller } from './puller.js'
import type { Reporter } from './reporter.js'
import type { GossipPartner, Roster } from './roster.js'
import type { Channel, StreamCache } from './stream-cache.js'

export interface OutboundLimits {
  readonly pageBytes: number
  readonly maxEventsPerMessage: number
  readonly responseTimeoutMs: number
}

/** The parts an exchange goes through. */
export interface OutboundParts {
  readonly lifecycle: Lifecycle
  readonly roster: Roster
  readonly journal: Journal
  readonly reporter: Reporter
  readonly pacing: Pacing
  readonly puller: Puller
  readonly streams: StreamCache
  /** Partners (by peer id) left alone for a while after a failed dial or exchange. */
  readonly backoff: Backoff
  /** What each partner last said it holds: our requests carry only what it lacks. */
  readonly claims: ClaimedFrontiers
  /** Our epoch: our requests carry it, and a partner's answer must be of it. */
  readonly epochs: Epochs
  /** A member answered that we are no longer one of its members (membership confirms it). */
  readonly notMemberOf: (partner: PublicId) => void
  /** A member holds no engine of our epoch and is in a later one (we may lag by whole epochs). */
  readonly aheadEpoch: (partner: PublicId, epoch: number) => void
  /** Whether an exchange reached the partner (a transport outcome: it steers partner weights). */
  readonly reached: (partner: PublicId, ok: boolean) => void
  /** Our drain began (our removal is agreed): we make no more events. */
  readonly draining: () => boolean
}

export class Outbound {
  /** Partners (by engine name) with an exchange under way. */
  private readonly inFlight = new Set<string>()
  /** When recent exchanges started (ms). */
  private readonly exchangeTimes: number[] = []

  constructor(
    private readonly parts: OutboundParts,
    private readonly limits: OutboundLimits,
    private readonly log: Logger,
    /** A number in [0, 1) for the partner choice (seeded in tests). */
    private readonly random: () => number = Math.random,
  ) {}

  /** Whether an exchange with this partner (engine name) is under way (its stream is in use). */
  exchanging(name: string): boolean {
    return this.inFlight.has(name)
  }

  /** Exchanges we started per second, over the last 10 s. */
  gossipRate(now: number): number {
    return this.exchangeTimes.filter((t) => now - t <= 10_000).length / 10
  }

  /** Starts one exchange with a partner not already busy nor backed off; false when there is none. */
  startExchange(): boolean {
    const { lifecycle, roster, pacing, puller, backoff } = this.parts
    const engine = lifecycle.engine
    if (engine === undefined || !lifecycle.started || lifecycle.state !== 'running' || puller.pulling)
      return false
    // Removed: no gossip (the drain's final syncs are drain.ts's); none while switching epochs.
    if (engine.isServeOnly || this.parts.draining()) return false
    const now = Date.now()
    const candidates: GossipPartner[] = []
    // With nothing pending, only a partner that lacks a vote is worth an exchange.
    const only = engine.pendingObservationCount === 0 ? new Set(pacing.laggingPartners()) : undefined
    for (const partner of roster.gossipPartners()) {
      if (this.inFlight.has(partner.id.name) || (only !== undefined && !only.has(partner.id.name))) continue
      if (!backoff.ready(partner.peerId.toString(), now)) continue
      candidates.push(partner)
    }
    if (candidates.length === 0) return false
    // Any partner not backing off: one we are not connected to is dialled if we hold an address
    // for it (finding the others is discovery's business); if that fails it is left alone for
    // 1 s, 2 s, 4 s... so a dead member costs a dial now and then, never a gossip.
    // Weighted: a member not heard from yet, or one we failed to reach, less often.
    const chosen = choosePartner(candidates, this.random)
    if (chosen === undefined) return false
    const { id: partner, peerId } = chosen
    this.inFlight.add(partner.name)
    this.exchangeTimes.push(now)
    if (this.exchangeTimes.length > 4096) this.exchangeTimes.splice(0, 2048)
    this.exchange(partner, peerId)
      .catch((error) => this.log.error('exchange with %p failed: %e', peerId, error))
      .finally(() => {
        this.inFlight.delete(partner.name)
        pacing.exchangeDone()
      })
    return true
  }

  /**
   * One exchange with each of `peers` (members we are not exchanging with already), whatever the
   * pace: after a start-up whose self-check they did not answer. A member that removed us while we
   * were away refuses our sync (`not-member`), and its chain then confirms our removal; an idle
   * section would otherwise never tell us (nobody gossips to a removed peer, and with nothing
   * pending we gossip to nobody).
   */
  greet(peers: readonly PeerId[]): void {
    const { lifecycle, roster, pacing } = this.parts
    if (!lifecycle.started || lifecycle.state !== 'running' || lifecycle.engine?.isRemoved !== false) return
    const wanted = new Set(peers.map((p) => p.toString()))
    for (const { id, peerId } of roster.gossipPartners()) {
      if (!wanted.has(peerId.toString()) || this.inFlight.has(id.name)) continue
      this.inFlight.add(id.name)
      this.exchange(id, peerId)
        .catch((error) => this.log.error('exchange with %p failed: %e', peerId, error))
        .finally(() => {
          this.inFlight.delete(id.name)
          pacing.exchangeDone()
        })
    }
  }

  /**
   * One exchange: a stream first (dialling only a known address), then our gossip (a new signed
   * event, persisted before it is sent), then the partner's response. A failure leaves the
   * partner alone for a while (capped exponential backoff) and does not nudge the scheduler.
   */
  private async exchange(partner: PublicId, peerId: PeerId): Promise<void> {
    const { lifecycle, roster, journal, reporter, pacing, puller, streams, backoff } = this.parts
    const engine = lifecycle.requireEngine()
    const epoch = this.parts.epochs.current
    const key = peerId.toString()
    let channel: Channel
    try {
      channel = await streams.get(peerId)
    } catch (error) {
      if (!lifecycle.started) return
      const failure = classify(error, undefined, undefined, false)
      const retryInMs = backoff.fail(key)
      if (failure.kind === 'transport' && failure.code === 'Unreachable' && error instanceof LinkError) {
        // No connection and no address: nothing was tried, so there is nothing to report.
        this.log('no way to reach %p yet, next try in %d ms', peerId, retryInMs)
        return
      }
      const code =
        failure.kind === 'transport' && (failure.code === 'Timeout' || failure.code === 'UnsupportedProtocol')
          ? failure.code
          : 'Unreachable'
      reporter.linkError(peerId, 'outbound', code, `cannot open a sync stream: ${failure.message}`, retryInMs)
      this.parts.reached(partner, false)
      return
    }
    const abandon = (error: unknown): void => {
      streams.drop(key)
      channel.stream.abort(toError(error))
    }
    // The service may have failed (or be catching up, or switched epochs) while the stream opened:
    // no event then.
    if (lifecycle.state !== 'running' || puller.pulling || this.parts.epochs.current !== epoch) return
    // Retired by an epoch switch meanwhile: it makes no event (the new engine gossips next).
    if (engine.isServeOnly && !engine.isRemoved) return
    // The partner may have left our recipients while the stream opened.
    if (!roster.isGossipPartner(partner.name)) {
      this.log('exchange with %p not possible: no longer a gossip recipient', peerId)
      return
    }
    let bytes: Uint8Array
    try {
      // The stream is open: only now is our Requesting event created.
      const step = engine.createGossip(partner, this.parts.claims.get(peerId))
      journal.take(step)
      // More than a page for the partner: it fetches it in pages (our Requesting event reaches it
      // among them).
      bytes =
        encodeSync('request', step.message?.packedEvents ?? [], this.limits.pageBytes, engine.frontier(), {
          epoch,
        }) ?? encodeSyncSignal('request', 'catch-up', epoch)
      await journal.flush()
    } catch (error) {
      this.log.error('cannot prepare gossip for %p: %e', peerId, error)
      return
    }
    let reply: Uint8ArrayList | Uint8Array
    try {
      const signal = AbortSignal.timeout(this.limits.responseTimeoutMs)
      await channel.lp.write(bytes, { signal })
      reply = await channel.lp.read({ signal })
    } catch (error) {
      // Classified before the stream is aborted: its state tells a crash from a truncation.
      const failure = classify(error, channel.stream, undefined, false)
      abandon(error)
      if (!lifecycle.started) return
      this.failed(partner, peerId, failure)
      return
    }
    if (lifecycle.failure !== undefined) {
      // Taking the response would create an event that cannot be stored.
      abandon(lifecycle.failure)
      return
    }
    let news = false
    try {
      const received = decodeSync(reply, this.limits.maxEventsPerMessage, roster.resolve)
      if (received.kind !== 'response')
        throw new SectionError('UnexpectedMessage', 'a request where a response was due')
      if (received.status === 'other-epoch') {
        // It holds no graph of our epoch: it lags (it switches once it agrees the checkpoint,
        // which our retired engine serves it, or it is switching now: soon, so we try again soon
        // rather than back off for a second, which stalled the first peer to switch), or it
        // dropped ours (we lag by whole epochs).
        this.log('%p is in epoch %d, we are in %d', peerId, received.epoch, epoch)
        if (received.epoch <= epoch) {
          backoff.retryIn(key, C.EPOCH_LAG_RETRY_MS)
          return
        }
        backoff.fail(key)
        if (received.epoch > epoch) this.parts.aheadEpoch(partner, received.epoch)
        return
      }
      // Events of another epoch's graph than the one we asked about (signals carry none).
      if (received.packedEvents.length > 0 && received.epoch !== epoch)
        throw new SectionError(
          'UnexpectedMessage',
          `a response of epoch ${received.epoch} to one of ${epoch}`,
        )
      if (received.status === 'served') {
        // Its engine of our epoch is retired: no sync event of its to build ours on; we take what
        // it sent as a catch-up, and switch once we agree the checkpoint.
        const step = engine.ingest(partner, received.packedEvents)
        news = journal.take(step, peerId)
        await journal.flush()
        if (step.error !== undefined) throw step.error
        backoff.succeed(key)
        if (news) pacing.nudge()
        return
      }
      if (received.status !== 'ok' || received.packedEvents.length === 0) {
        // No events: an acknowledgement of our catch-up signal, a partner still starting, or one
        // telling us to catch up.
        if (received.status === 'catch-up') puller.inBackground(peerId, partner)
        else if (received.status === 'not-ready') backoff.fail(key)
        else if (received.status === 'not-member') {
          backoff.fail(key)
          this.parts.notMemberOf(partner)
        }
        return
      }
      // What the partner held once it took our request (an older partner sends none).
      this.parts.claims.note(peerId, received.known)
      const step = engine.handleResponse(partner, { packedEvents: received.packedEvents })
      // Events accepted before an error stay: persisted and delivered either way.
      news = journal.take(step, peerId)
      await journal.flush()
      if (step.error !== undefined) throw step.error
    } catch (error) {
      const failure = classify(error, channel.stream, undefined, false)
      abandon(error)
      // Our store failing (reported by the `failed` event) is not the partner's fault.
      if (!lifecycle.started || error === lifecycle.failure) return
      if (isParsecError(error) && (error.code === 'InvalidSelfState' || error.code === 'InvalidPeerState')) {
        this.log('exchange with %p not possible: %e', peerId, error)
        return
      }
      if (isParsecError(error) && error.code === 'UnknownOwnEvent') {
        lifecycle.failOnOwnEvent(peerId, error)
        return
      }
      this.failed(partner, peerId, failure)
      return
    }
    backoff.succeed(key)
    this.parts.reached(partner, true)
    reporter.count('exchanges')
    if (news) pacing.nudge()
  }

  /** An outbound exchange failed: back off from the partner and report what happened. */
  private failed(partner: PublicId, peerId: PeerId, failure: Failure): void {
    const retryInMs = this.parts.backoff.fail(peerId.toString())
    if (failure.kind === 'protocol') this.parts.reporter.protocolFault(peerId, failure)
    else if (failure.kind === 'transport') {
      this.parts.reporter.linkError(peerId, 'outbound', failure.code, failure.message, retryInMs)
      this.parts.reached(partner, false)
    } else this.log('sync stream to %p closed: %s', peerId, failure.message)
  }
}
