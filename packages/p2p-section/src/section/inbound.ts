/**
 * The handlers of our protocols: a member's sync requests on its stream to us (answered with the
 * response to its gossip, our Request event persisted first) and its catch-up requests (pages of
 * our graph). Catch-up pulls are also served to the candidates the membership machine admitted
 * (the roster's guests), so they can replay the history. A stream from a peer that is neither is a
 * fault and is reset; while we are joining ourselves a sync is answered `not-ready` instead (we
 * cannot tell a member added since our engine was built from a stranger). Input from the
 * network never throws out of a handler: provably bad input becomes a `fault`, a broken link a
 * `link:error`; either way the stream is ended and gossip with everyone else goes on.
 */
import type { Connection, Logger, PeerId, Startable, Stream } from '@libp2p/interface'
import type { Registrar } from '@libp2p/interface-internal'
import { isParsecError, type PublicId } from '@parsec-section/parsec-core'
import type { CatchUp } from '../catchup.js'
import { type DecodedSync, decodeSync, encodeSync, encodeSyncSignal } from '../codec.js'
import * as C from '../constants.js'
import { SectionError, toError } from '../errors.js'
import { CLOSE_GRACE_MS, endStream, InboundMessages, LargeMessageBudget } from '../inbound-stream.js'
import type { ClaimedFrontiers } from './claimed-frontiers.js'
import type { Epochs } from './epochs.js'
import { classify, type Failure } from './failure.js'
import type { Journal } from './journal.js'
import type { Lifecycle } from './lifecycle.js'
import type { Pacing } from './pacing.js'
import type { Puller } from './puller.js'
import type { Reporter } from './reporter.js'
import type { Roster } from './roster.js'

export interface InboundLimits {
  readonly maxMessageBytes: number
  readonly pageBytes: number
  readonly maxEventsPerMessage: number
  readonly responseTimeoutMs: number
  readonly idleStreamTimeoutMs: number
  readonly maxInboundStreams: number
  readonly maxOutboundStreams: number
}

/** The parts a request goes through. */
export interface InboundParts {
  readonly lifecycle: Lifecycle
  readonly roster: Roster
  readonly journal: Journal
  readonly reporter: Reporter
  readonly pacing: Pacing
  readonly puller: Puller
  /** What each partner last said it holds (its requests' frontier). */
  readonly claims: ClaimedFrontiers
  /** Our epoch, and the previous epoch's engine while it drains (a request goes to its epoch's). */
  readonly epochs: Epochs
  readonly catchUp: CatchUp
  /** We are joining (not a member yet): we judge no one's sync and answer `not-ready`. */
  readonly joining: () => boolean
  /**
   * A candidate we admitted or whose Add is voted: its streams before we agreed its Add (it may
   * have replayed it first) are answered `not-ready`, not blamed.
   */
  readonly expected: (peer: PeerId) => boolean
}

export class Inbound implements Startable {
  /** Large inbound messages partly received, over all partners' streams (see inbound-stream.ts). */
  private readonly largeMessages = new LargeMessageBudget()
  private started = false

  constructor(
    private readonly components: { registrar: Registrar },
    private readonly parts: InboundParts,
    private readonly protocols: { readonly sync: string; readonly catchUp: string },
    private readonly limits: InboundLimits,
    private readonly log: Logger,
  ) {
    this.handleSync = this.handleSync.bind(this)
    this.handleCatchUp = this.handleCatchUp.bind(this)
  }

  isStarted(): boolean {
    return this.started
  }

  async start(): Promise<void> {
    await this.components.registrar.handle(this.protocols.sync, this.handleSync, {
      maxInboundStreams: this.limits.maxInboundStreams,
      maxOutboundStreams: this.limits.maxOutboundStreams,
    })
    await this.components.registrar.handle(this.protocols.catchUp, this.handleCatchUp, {
      maxInboundStreams: C.MAX_CATCHUP_STREAMS,
      maxOutboundStreams: C.MAX_CATCHUP_STREAMS,
    })
    this.started = true
  }

  async stop(): Promise<void> {
    this.started = false
    await this.components.registrar.unhandle(this.protocols.sync)
    await this.components.registrar.unhandle(this.protocols.catchUp)
  }

  /**
   * The member (or, with `guests`, admitted candidate) an inbound stream comes from; anyone else
   * is a fault and its stream is reset.
   */
  private member(stream: Stream, connection: Connection, guests = false): PublicId | undefined {
    const remote = connection.remotePeer
    const { roster, lifecycle } = this.parts
    const member = roster.memberOf(remote)?.publicId ?? (guests ? roster.guestOf(remote) : undefined)
    if (member !== undefined && lifecycle.engine !== undefined) return member
    if (this.parts.joining() || this.parts.expected(remote)) {
      // Joining: not ours to judge (nor, before our engine is built, anything to serve). An
      // expected member: soon.
      stream.abort(new SectionError('NotAMember', 'not a member of this section yet'))
      return undefined
    }
    if (this.parts.roster.wasMember(remote)) {
      // A removed member (a leaver's last syncs, or one we removed for silence): no fault.
      stream.abort(new SectionError('NotAMember', 'no longer a member of this section'))
      return undefined
    }
    this.parts.reporter.fault(
      remote,
      'NotAMember',
      `peer ${remote.toString()} is not a member of this section`,
    )
    stream.abort(new SectionError('NotAMember', 'not a member of this section'))
    return undefined
  }

  /** Reports a failure on an inbound stream and ends the stream. */
  private end(remote: PeerId, stream: Stream, failure: Failure): void {
    if (failure.kind === 'end') {
      // Not just close(): a partner keeping its side open would keep the stream and its place.
      void endStream(stream, CLOSE_GRACE_MS, failure.message)
      return
    }
    if (failure.kind === 'protocol') this.parts.reporter.protocolFault(remote, failure)
    else this.parts.reporter.linkError(remote, 'inbound', failure.code, failure.message)
    stream.abort(new Error(failure.message))
  }

  private async handleCatchUp(stream: Stream, connection: Connection): Promise<void> {
    const remote = connection.remotePeer
    const { roster } = this.parts
    const messages = new InboundMessages(stream, remote.toString(), {
      maxMessageBytes: C.MAX_CATCHUP_REQUEST_BYTES,
      idleTimeoutMs: this.limits.idleStreamTimeoutMs,
      messageTimeoutMs: this.limits.responseTimeoutMs,
      budget: this.largeMessages,
    })
    if (
      roster.memberOf(remote) === undefined &&
      roster.guestOf(remote) === undefined &&
      roster.wasVoter(remote)
    ) {
      // A member we removed, restarted (its self-check asks): told so, no fault. (A candidate we
      // forgot is refused below without a fault, and comes back with a fresh ticket.)
      try {
        await this.parts.catchUp.refuse(messages)
        await endStream(stream, CLOSE_GRACE_MS, 'not-member')
      } catch (error) {
        stream.abort(toError(error))
      }
      return
    }
    const member = this.member(stream, connection, true)
    if (member === undefined) return
    try {
      await this.parts.catchUp.serve(messages, connection, member)
    } catch (error) {
      if (!this.parts.lifecycle.started) {
        stream.abort(new Error('section stopped'))
        return
      }
      this.end(remote, stream, classify(error, stream, connection, true))
    }
  }

  private async handleSync(stream: Stream, connection: Connection): Promise<void> {
    const { lifecycle, roster, journal, pacing, puller } = this.parts
    const remote = connection.remotePeer
    if (roster.memberOf(remote) === undefined && roster.wasMember(remote)) {
      await this.tellRemoved(stream, remote, 'not-member')
      return
    }
    if (roster.memberOf(remote) === undefined && (this.parts.joining() || this.parts.expected(remote))) {
      // A member that added us before we replayed our Add (or one added since our engine was
      // built), or a joiner that replayed its Add before we agreed it: it backs off and tries
      // again.
      await this.tellRemoved(stream, remote, 'not-ready')
      return
    }
    const member = this.member(stream, connection)
    if (member === undefined) return
    const lp = new InboundMessages(stream, remote.toString(), {
      maxMessageBytes: this.limits.maxMessageBytes,
      idleTimeoutMs: this.limits.idleStreamTimeoutMs,
      messageTimeoutMs: this.limits.responseTimeoutMs,
      budget: this.largeMessages,
    })
    for (;;) {
      let received: DecodedSync
      try {
        const bytes = await lp.read()
        received = decodeSync(bytes, this.limits.maxEventsPerMessage, roster.resolve)
      } catch (error) {
        if (!lifecycle.started) {
          await stream.close().catch(() => {})
          return
        }
        this.end(remote, stream, classify(error, stream, connection, true))
        return
      }
      if (roster.memberOf(remote) === undefined) {
        // Removed while its stream stayed open (a leaver's final syncs come on it): answered as
        // on a new stream, so that it learns it and stops.
        if (roster.wasMember(remote)) await this.signalAndEnd(stream, lp, 'not-member')
        else stream.abort(new SectionError('NotAMember', 'not a member of this section'))
        return
      }
      if (lifecycle.failure !== undefined) {
        // Answering would create an event that cannot be stored.
        stream.abort(lifecycle.failure)
        return
      }
      let reply: Uint8Array
      let news = false
      try {
        if (received.kind !== 'request')
          throw new SectionError('UnexpectedMessage', 'a response where a request was due')
        const { epochs } = this.parts
        // Retired and not removed: an epoch switch under way (the new engine comes next).
        const switching = lifecycle.engine?.isServeOnly === true && !lifecycle.engine.isRemoved
        if (lifecycle.state !== 'running') {
          // Still checking or catching up: no event of ours may be made yet.
          reply = encodeSyncSignal('response', 'not-ready')
        } else if (switching || received.epoch !== epochs.current) {
          // Switching, our retired engine serves a requester still in its epoch (no event of ours),
          // and one already in the next learns we are not there yet (and comes back soon, where
          // `not-ready` backed it off for a second).
          reply = this.otherEpoch(member, received)
        } else if (received.status === 'catch-up') {
          // We lack more than a page of what the partner holds: fetch it in pages.
          reply = encodeSyncSignal('response', 'ok')
          puller.inBackground(remote, member)
        } else {
          this.parts.claims.note(remote, received.known)
          const outcome = this.handleRequest(member, received)
          news = outcome.news
          reply = outcome.reply
        }
      } catch (error) {
        await journal.flush().catch(() => {})
        if (!lifecycle.started) return
        if (isParsecError(error) && error.code === 'InvalidSelfState') {
          // Our own state (e.g. we may not receive gossip): not the sender's fault.
          this.log('cannot take a request from %p: %e', remote, error)
          stream.abort(error)
          return
        }
        if (isParsecError(error) && error.code === 'UnknownOwnEvent') {
          lifecycle.failOnOwnEvent(remote, error)
          stream.abort(error)
          return
        }
        this.end(remote, stream, classify(error, stream, connection, false))
        return
      }
      try {
        await journal.flush()
      } catch (error) {
        // Not persisted: nothing that depends on it may be sent.
        stream.abort(toError(error))
        return
      }
      try {
        await lp.write(reply, { signal: AbortSignal.timeout(this.limits.responseTimeoutMs) })
      } catch (error) {
        if (!lifecycle.started) return
        this.end(remote, stream, classify(error, stream, connection, false))
        return
      }
      if (news) pacing.nudge()
    }
  }

  /**
   * A sync request answered with a signal and the stream ended. `not-member` to a removed member: a
   * leaver whose removal we agreed before it did learns it so (after f+1 such answers its machine
   * confirms it from our chain and drains), instead of retrying a stream that is reset.
   * `not-ready` while we are joining: the partner backs off.
   */
  private async tellRemoved(
    stream: Stream,
    remote: PeerId,
    signal: 'not-member' | 'not-ready',
  ): Promise<void> {
    const lp = new InboundMessages(stream, remote.toString(), {
      maxMessageBytes: this.limits.maxMessageBytes,
      idleTimeoutMs: this.limits.idleStreamTimeoutMs,
      messageTimeoutMs: this.limits.responseTimeoutMs,
      budget: this.largeMessages,
    })
    try {
      await lp.read()
    } catch (error) {
      stream.abort(toError(error))
      return
    }
    await this.signalAndEnd(stream, lp, signal)
  }

  /** Answers the request just read with a signal, and ends the stream. */
  private async signalAndEnd(
    stream: Stream,
    lp: InboundMessages,
    signal: 'not-member' | 'not-ready',
  ): Promise<void> {
    try {
      await lp.write(encodeSyncSignal('response', signal), {
        signal: AbortSignal.timeout(this.limits.responseTimeoutMs),
      })
      await endStream(stream, CLOSE_GRACE_MS, signal)
    } catch (error) {
      stream.abort(toError(error))
    }
  }

  /**
   * A request of another epoch than ours: answered by our previous epoch's retired engine while it
   * drains (`served`: the events the requester lacks, no event of ours, docs/epochs.md §3), or
   * `other-epoch` with ours when we hold no engine of it (we dropped it, or the requester is ahead:
   * we switch once we agree the checkpoint ourselves).
   */
  private otherEpoch(member: PublicId, received: DecodedSync): Uint8Array {
    const { epochs } = this.parts
    const engine = epochs.engineOf(received.epoch)
    if (engine === undefined || received.status !== 'ok')
      return encodeSyncSignal('response', 'other-epoch', epochs.current)
    const step = engine.handleRequest(member, { packedEvents: received.packedEvents, known: received.known })
    if (step.error !== undefined) throw step.error
    const from = { epoch: received.epoch, served: true }
    return (
      encodeSync('response', step.message?.packedEvents ?? [], this.limits.pageBytes, [], from) ??
      encodeSyncSignal('response', 'catch-up', received.epoch)
    )
  }

  /**
   * The engine's part of an inbound exchange: our Request event and the response, or `catch-up`
   * when what the requester lacks does not fit in a page.
   */
  private handleRequest(member: PublicId, received: DecodedSync): { reply: Uint8Array; news: boolean } {
    const engine = this.parts.lifecycle.requireEngine()
    // Removed (our drain, serve-only): the engine answers with what the requester lacks and adds
    // nothing. The others need our last events to decide our removal: at 3 members they cannot
    // without them (a leaver refusing these pulls stalled the section for good).
    const step = engine.handleRequest(member, { packedEvents: received.packedEvents, known: received.known })
    // Events accepted before an error stay: persisted and delivered either way. The error's
    // faults are reported with the error itself (the stream is ended for it).
    const news = this.parts.journal.take(
      step,
      this.parts.roster.peerIdOf(member.name),
      step.error === undefined,
    )
    if (step.error !== undefined) throw step.error
    const epoch = this.parts.epochs.current
    // Our frontier now (the request's events taken): the requester's claim of us is then fresh
    // after every exchange, its own or ours.
    const reply =
      encodeSync('response', step.message?.packedEvents ?? [], this.limits.pageBytes, engine.frontier(), {
        epoch,
      }) ?? encodeSyncSignal('response', 'catch-up', epoch)
    return { reply, news }
  }
}
