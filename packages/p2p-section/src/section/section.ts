/**
 * The section service: drives a PARSEC engine over libp2p with direct request/response gossip.
 *
 * - One long-lived outbound stream per partner carries our requests and its responses; the
 *   partner's requests arrive on its own stream to us (measured ~7x faster than a stream per
 *   exchange on this stack).
 * - Everything the engine produces is persisted (one atomic batch per call) before anything that
 *   depends on it is sent, so a restarted peer never forks itself.
 * - Input from the network never throws out of a handler: provably bad input becomes a typed
 *   `fault` event, a broken link (reset, closed connection, timeout) a `link:error` event; either
 *   way the stream is reset and gossip with everyone else goes on.
 * - A partner is dialled only when we hold an address for it, our gossip (a new signed event) is
 *   created only once a stream to it is open, and a partner we failed to reach or to sync with is
 *   left alone for a capped exponential backoff.
 */
import type { Connection, Counter, Logger, PeerId, Startable, Stream } from '@libp2p/interface'
import { serviceCapabilities, TypedEventEmitter } from '@libp2p/interface'
import {
  type Block,
  type BlockDescription,
  decodePackedEvent,
  describeBlock,
  ed25519Scheme,
  encodeObservation,
  isParsecError,
  opaque,
  type PackedEvent,
  Parsec,
  ParsecError,
  type PublicId,
  type Step,
  supermajority,
} from '@parsec-section/parsec-core'
import type { Uint8ArrayList } from 'uint8arraylist'
import { equals } from 'uint8arrays'
import { CatchUp, type PullProgress } from '../catchup.js'
import { type DecodedSync, decodeSync, encodeSync, encodeSyncSignal, packedEventBytes } from '../codec.js'
import * as C from '../constants.js'
import { type AnnouncePubSub, SectionDiscovery } from '../discovery.js'
import { isSectionError, LinkError, type LinkErrorCode, SectionError, toError } from '../errors.js'
import { type FramedStream, framed } from '../framing.js'
import type { SectionGenesis } from '../genesis.js'
import { secretIdFromPrivateKey } from '../identity.js'
import { CLOSE_GRACE_MS, endStream, InboundMessages, LargeMessageBudget } from '../inbound-stream.js'
import { Backoff, type GossipMode, GossipScheduler } from '../scheduler.js'
import { runSelfCheck } from '../self-check.js'
import { SectionStorage } from '../storage.js'
import { VerifyStats } from '../verify-stats.js'
import type {
  DeliveredBlock,
  ParsecSection,
  ParsecSectionComponents,
  ParsecSectionEvents,
  ParsecSectionInit,
  SectionState,
  SectionStatus,
} from './api.js'
import { classify, type Failure } from './failure.js'
import { type GossipPartner, Roster, type RosterMember } from './roster.js'

/**
 * Stored events decoded one at a time as the engine takes them. A module function: a closure in
 * `start` holding stored bytes would keep them alive as long as any closure made in `start` (they
 * share its context).
 */
function* decodeEach(stored: readonly Uint8Array[]): Generator<PackedEvent> {
  for (const bytes of stored) yield decodePackedEvent(bytes, ed25519Scheme)
}

/** Every delivered block is kept: its description (twice the payload's size) is built when read. */
class Delivered implements DeliveredBlock {
  constructor(
    readonly position: number,
    readonly block: Block,
  ) {}

  get description(): BlockDescription {
    return describeBlock(this.block)
  }
}

interface Channel {
  readonly stream: Stream
  readonly lp: FramedStream
}

/** A promise with its settle functions (Node 20 has no `Promise.withResolvers`). */
function deferred(): { promise: Promise<void>; resolve: () => void; reject: (error: Error) => void } {
  let resolve: () => void = () => {}
  let reject: (error: Error) => void = () => {}
  const promise = new Promise<void>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

function isAnnouncePubSub(value: unknown): value is AnnouncePubSub {
  const candidate = value as Partial<AnnouncePubSub> | undefined
  return (
    typeof candidate?.subscribe === 'function' &&
    typeof candidate.publish === 'function' &&
    candidate.topicValidators instanceof Map
  )
}

export class ParsecSectionService
  extends TypedEventEmitter<ParsecSectionEvents>
  implements ParsecSection, Startable
{
  readonly [Symbol.toStringTag] = '@parsec-section/p2p-section'
  readonly [serviceCapabilities]: string[] = ['@parsec-section/section']

  readonly sectionId: string
  readonly protocol: string
  readonly catchUpProtocol: string
  private readonly log: Logger
  private readonly genesis: SectionGenesis
  private readonly roster: Roster
  private readonly storage: SectionStorage | undefined
  private readonly scheduler: GossipScheduler
  private discovery: SectionDiscovery | undefined
  private readonly channels = new Map<string, Promise<Channel>>()
  private readonly inFlight = new Set<string>()
  private readonly connected = new Set<string>()
  private readonly delivered: DeliveredBlock[] = []
  private readonly counters: Partial<Record<'faults' | 'linkErrors' | 'exchanges' | 'blocks', Counter>> = {}
  /** Partners (by peer id) left alone for a while after a failed dial or exchange. */
  private readonly backoff: Backoff
  /** When a new event by each member (by engine name) last reached us. */
  private engine: Parsec | undefined
  private persistedEvents = 0
  private persistedBlocks = 0
  /** Events the engine's steps produced, encoded, not yet persisted (in insertion order). */
  private unpersistedEvents: Uint8Array[] = []
  private decided: Block[] = []
  private flushing: Promise<void> = Promise.resolve()
  private queuedFlush: Promise<void> | undefined
  private started = false
  private state: SectionState = 'stopped'
  private failure: SectionError | undefined
  private readonly readiness = deferred()
  private readonly catchUp: CatchUp
  /** A paged catch-up under way (outbound gossip waits for it). */
  private pulling = false
  private lastPull: PullProgress | undefined
  private startUp: AbortController | undefined
  private faultCount = 0
  private linkErrorCount = 0
  private readonly exchangeTimes: number[] = []
  private readonly verifyStats = new VerifyStats()
  /** Large inbound messages partly received, over all partners' streams (see inbound-stream.ts). */
  private readonly largeMessages = new LargeMessageBudget()
  private cpuAtStart = process.cpuUsage()

  private readonly maxMessageBytes: number
  private readonly pageBytes: number
  private readonly maxEventsPerMessage: number
  private readonly responseTimeoutMs: number
  private readonly idleStreamTimeoutMs: number
  private readonly progressWindowMs: number
  /** Decided blocks and observations seen, as of `lastProgressAt`. */
  private progressMark = ''
  private lastProgressAt = 0

  constructor(
    private readonly components: ParsecSectionComponents,
    private readonly init: ParsecSectionInit,
  ) {
    super()
    this.genesis = init.genesis
    this.sectionId = init.genesis.sectionId
    this.protocol = `/${C.PROTOCOL_PREFIX}/${this.sectionId}/${C.SYNC_PROTOCOL_NAME}/${C.SYNC_PROTOCOL_VERSION}`
    this.catchUpProtocol = `/${C.PROTOCOL_PREFIX}/${this.sectionId}/${C.CATCHUP_PROTOCOL_NAME}/${C.CATCHUP_PROTOCOL_VERSION}`
    this.log = components.logger.forComponent('parsec-section')
    this.roster = new Roster(components, init.genesis.members, () => this.engine)
    this.storage =
      init.persist === false
        ? undefined
        : new SectionStorage(components.datastore, this.sectionId, { sync: init.syncWrites ?? true })
    this.maxMessageBytes = init.maxMessageBytes ?? C.MAX_MESSAGE_BYTES
    this.pageBytes = Math.min(init.pageBytes ?? C.PAGE_BYTES, this.maxMessageBytes - 64 * 1024)
    if (this.pageBytes <= 0) throw new SectionError('InvalidArgument', 'maxMessageBytes must exceed 64 KiB')
    this.maxEventsPerMessage = init.maxEventsPerMessage ?? C.MAX_EVENTS_PER_MESSAGE
    this.responseTimeoutMs = init.responseTimeoutMs ?? C.RESPONSE_TIMEOUT_MS
    this.idleStreamTimeoutMs = init.idleStreamTimeoutMs ?? C.IDLE_STREAM_TIMEOUT_MS
    this.progressWindowMs = init.progressWindowMs ?? C.PROGRESS_WINDOW_MS
    this.backoff = new Backoff(
      init.partnerBackoffMs ?? C.PARTNER_BACKOFF_MS,
      init.partnerBackoffMaxMs ?? C.PARTNER_BACKOFF_MAX_MS,
    )
    this.scheduler = new GossipScheduler(
      {
        intervalMs: init.gossipIntervalMs ?? C.GOSSIP_INTERVAL_MS,
        lightIntervalMs: init.lightGossipIntervalMs ?? C.LIGHT_GOSSIP_INTERVAL_MS,
        backlogForFastest: init.backlogForFastestGossip ?? C.BACKLOG_FOR_FASTEST_GOSSIP,
        idleIntervalMs: init.idleGossipIntervalMs ?? C.IDLE_GOSSIP_INTERVAL_MS,
        jitter: C.GOSSIP_JITTER,
        maxPerSecond: init.maxGossipPerSecond ?? C.MAX_GOSSIP_PER_SECOND,
        maxConcurrent: init.maxConcurrentExchanges ?? C.MAX_CONCURRENT_EXCHANGES,
      },
      {
        mode: () => this.gossipMode(),
        backlog: () => this.engine?.pendingObservationCount ?? 0,
        startExchange: () => this.startExchange(),
      },
    )
    this.catchUp = new CatchUp(
      {
        engine: () => this.engine,
        memberOf: (peer) => this.roster.memberOf(peer)?.publicId,
        resolve: this.roster.resolve,
        take: (step, peer) => this.take(step, peer),
        flush: () => this.flush(),
      },
      components.connectionManager,
      this.catchUpProtocol,
      {
        maxMessageBytes: this.maxMessageBytes,
        pageBytes: this.pageBytes,
        maxEventsPerMessage: this.maxEventsPerMessage,
        responseTimeoutMs: this.responseTimeoutMs,
        idleStreamTimeoutMs: this.idleStreamTimeoutMs,
      },
      this.log,
    )
    // Nobody may be left with an unhandled rejection when no caller awaits ready().
    this.readiness.promise.catch(() => {})
    this.handleSync = this.handleSync.bind(this)
    this.handleCatchUp = this.handleCatchUp.bind(this)
    this.onPeerConnect = this.onPeerConnect.bind(this)
    this.onPeerDisconnect = this.onPeerDisconnect.bind(this)
  }

  isStarted(): boolean {
    return this.started
  }

  async start(): Promise<void> {
    if (this.started) return
    const us = this.components.peerId.toString()
    if (this.roster.memberOf(us) === undefined) {
      throw new SectionError('NotInGenesis', `peer ${us} is not a member of section ${this.sectionId}`)
    }
    const secret = secretIdFromPrivateKey(this.components.privateKey)
    this.cpuAtStart = process.cpuUsage()
    const restoring = Parsec.restoring({
      us: secret,
      genesis: this.genesis.members.map((m) => this.verifyStats.wrap(m.publicId)),
      relatedInfo: this.genesis.relatedInfo,
      consensusMode: this.genesis.mode,
    })
    const storedEvents =
      this.storage === undefined
        ? 0
        : await this.storage.load(this.components.peerId, (batch) => restoring.add(decodeEach(batch)))
    this.engine = restoring.finish()
    // Blocks re-derived from the stored graph: those already delivered must match the record and
    // are not delivered again.
    this.pollEngine()
    const storedBlocks =
      this.storage === undefined
        ? 0
        : await this.storage.loadBlocks((batch, first) => this.redeliver(batch, first))
    this.persistedEvents = storedEvents
    this.persistedBlocks = storedBlocks
    if (storedEvents > 0) {
      this.log(
        'resumed section %s: %d events, %d blocks delivered',
        this.sectionId,
        storedEvents,
        storedBlocks,
      )
    }
    const metrics = this.components.metrics
    if (metrics !== undefined) {
      this.counters.faults = metrics.registerCounter('parsec_section_faults_total')
      this.counters.linkErrors = metrics.registerCounter('parsec_section_link_errors_total')
      this.counters.exchanges = metrics.registerCounter('parsec_section_exchanges_total')
      this.counters.blocks = metrics.registerCounter('parsec_section_blocks_total')
    }
    await this.flush()
    await this.components.registrar.handle(this.protocol, this.handleSync, {
      maxInboundStreams: this.init.maxInboundStreams ?? C.MAX_INBOUND_STREAMS,
      maxOutboundStreams: this.init.maxOutboundStreams ?? C.MAX_OUTBOUND_STREAMS,
    })
    await this.components.registrar.handle(this.catchUpProtocol, this.handleCatchUp, {
      maxInboundStreams: C.MAX_CATCHUP_STREAMS,
      maxOutboundStreams: C.MAX_CATCHUP_STREAMS,
    })
    await this.roster.start()
    this.components.events.addEventListener('peer:connect', this.onPeerConnect)
    this.components.events.addEventListener('peer:disconnect', this.onPeerDisconnect)
    for (const connection of this.components.connectionManager.getConnections()) {
      this.onPeerConnect(new CustomEvent('peer:connect', { detail: connection.remotePeer }))
    }
    this.started = true
    this.state = 'checking'
    let pubsub: unknown
    try {
      // libp2p's components proxy throws for a service that is not configured.
      pubsub = (this.components as unknown as Record<string, unknown>)[this.init.pubsubService ?? 'pubsub']
    } catch {
      pubsub = undefined
    }
    this.discovery = new SectionDiscovery(
      this.components,
      this.genesis,
      isAnnouncePubSub(pubsub) ? pubsub : undefined,
      (peer) => this.connected.has(peer.toString()),
      {
        announceIntervalMs: this.init.announceIntervalMs ?? C.ANNOUNCE_INTERVAL_MS,
        lookupIntervalMs: this.init.lookupIntervalMs ?? C.DISCOVERY_INTERVAL_MS,
        maxLookupIntervalMs: this.init.maxLookupIntervalMs ?? C.DISCOVERY_MAX_INTERVAL_MS,
      },
    )
    this.discovery.start()
  }

  /** Stored blocks from position `first` on: each must be the block re-derived there; kept as delivered. */
  private redeliver(stored: readonly Uint8Array[], first: number): void {
    for (let i = 0; i < stored.length; i++) {
      const position = first + i
      const block = this.decided[position]
      if (block === undefined || !equals(encodeObservation(block.payload), stored[i])) {
        throw new SectionError('StorageMismatch', `stored block ${position} does not match the stored graph`)
      }
      this.delivered.push(new Delivered(position, block))
    }
  }

  /** Once libp2p listens and dials: the self-check and catch-up, then our first event and gossip. */
  afterStart(): void {
    if (!this.started || this.startUp !== undefined) return
    const controller = new AbortController()
    this.startUp = controller
    this.runStartUp(controller.signal).catch((error) => {
      if (!this.started) return
      this.fail(
        isSectionError(error)
          ? error
          : new SectionError('StorageMismatch', `start-up failed: ${(error as Error).message}`),
      )
    })
  }

  private async runStartUp(signal: AbortSignal): Promise<void> {
    const engine = this.requireEngine()
    const us = engine.ourId
    const others = this.roster.others()
    const check = await runSelfCheck({
      others,
      ask: (peer) => this.catchUp.status(peer),
      ourLatest: engine.latestEventOf(us),
      ourEventAt: (index) => engine.ourEventAt(index),
      timeoutMs: this.init.selfCheckTimeoutMs ?? C.SELF_CHECK_TIMEOUT_MS,
      retryMs: this.init.selfCheckRetryMs ?? C.SELF_CHECK_RETRY_MS,
      signal,
      onUnreachable: (peer, error) => this.log('self-check: %p not reached yet: %e', peer, error),
    })
    if (signal.aborted) return
    if (check.answers.length === 0 && check.needed > 0) {
      this.log.error('self-check: no member answered; going on (the whole section may be restarting)')
      this.safeDispatch('selfcheck:unanswered', { asked: others.length, answered: 0 })
    }
    this.state = 'catching-up'
    // From the member that holds the most, what we lack (nothing much after a short absence).
    const sources = [...check.answers].sort((a, b) => b.status.graphSize - a.status.graphSize)
    for (const source of sources) {
      if (source.status.graphSize <= engine.graphSize || signal.aborted) break
      if (await this.pull(source.peerId, source.publicId)) break
    }
    if (signal.aborted || this.failure !== undefined) return
    this.take(engine.begin())
    await this.flush()
    if (signal.aborted || this.failure !== undefined) return
    this.state = 'running'
    this.scheduler.start()
    this.readiness.resolve()
  }

  /**
   * Fetches what we lack from `peerId` in pages; false when it failed (reported). Outbound gossip
   * waits meanwhile: every exchange would otherwise ask for what the pages bring.
   */
  private async pull(peerId: PeerId, member: PublicId): Promise<boolean> {
    if (this.pulling) return false
    this.pulling = true
    try {
      this.lastPull = await this.catchUp.pull(peerId, member, (progress) => {
        this.lastPull = progress
        this.safeDispatch('catchup:progress', progress)
      })
      return true
    } catch (error) {
      if (!this.started) return false
      if (isParsecError(error) && error.code === 'UnknownOwnEvent') {
        this.failOnOwnEvent(peerId, error)
        return false
      }
      for (const fault of isParsecError(error) ? error.faults : []) {
        const code = fault.kind === 'malice' ? fault.malice.type : fault.code
        this.reportFault(this.roster.peerIdOf(fault.offender.name) ?? peerId, code, code)
      }
      const failure = classify(error, undefined, undefined, false)
      if (failure.kind === 'protocol' && !isParsecError(error))
        this.reportFault(peerId, failure.code, failure.message)
      else if (failure.kind === 'transport')
        this.reportLinkError(peerId, 'outbound', failure.code, `catch-up: ${failure.message}`)
      return false
    } finally {
      this.pulling = false
      this.scheduler.nudge(true)
    }
  }

  /** Starts a paged catch-up from `peerId` in the background (a sync said we lack too much). */
  private pullInBackground(peerId: PeerId, member: PublicId): void {
    if (this.pulling || this.state !== 'running') return
    this.pull(peerId, member).catch((error) => this.log.error('catch-up from %p failed: %e', peerId, error))
  }

  /** Someone holds an event of ours we do not: making more would fork us. */
  private failOnOwnEvent(peerId: PeerId, error: unknown): void {
    this.fail(
      new SectionError(
        'SelfCheckFailed',
        `member ${peerId.toString()} sent an event of ours that our store does not hold ` +
          `(${(error as Error).message}): this data directory is behind this key's last run, or ` +
          'another process runs with this key. No more events are made (they would fork us). Start ' +
          'with the right data directory (or stop the other process); a member whose store is lost ' +
          'can only leave and join again under a new key (once membership lands).',
      ),
    )
  }

  /** Stops making events for good: gossip stops, votes are refused, `ready()` rejects. */
  private fail(error: SectionError): void {
    if (this.failure !== undefined) return
    this.failure = error
    this.state = 'failed'
    this.scheduler.stop()
    this.log.error('section failed: %s', error.message)
    this.readiness.reject(error)
    this.safeDispatch('failed', error)
  }

  ready(): Promise<void> {
    return this.readiness.promise
  }

  /** Before libp2p stops its services (gossipsub among them): stop gossiping and announcing. */
  beforeStop(): void {
    this.startUp?.abort()
    this.scheduler.stop()
    this.discovery?.stop()
    this.discovery = undefined
  }

  async stop(): Promise<void> {
    if (!this.started) return
    this.started = false
    this.beforeStop()
    if (this.state !== 'failed') this.state = 'stopped'
    this.readiness.reject(new SectionError('NotStarted', 'the section service stopped'))
    this.components.events.removeEventListener('peer:connect', this.onPeerConnect)
    this.components.events.removeEventListener('peer:disconnect', this.onPeerDisconnect)
    await this.components.registrar.unhandle(this.protocol)
    await this.components.registrar.unhandle(this.catchUpProtocol)
    this.roster.stop()
    const channels = [...this.channels.values()]
    this.channels.clear()
    for (const pending of channels) {
      pending.then((channel) => channel.stream.abort(new Error('section stopped'))).catch(() => {})
    }
    await this.flushing.catch(() => {})
  }

  // ---------------------------------------------------------------- application API

  async vote(payload: Uint8Array): Promise<void> {
    if (payload.length > C.MAX_PAYLOAD_BYTES) {
      throw new SectionError('InvalidArgument', `a payload takes at most ${C.MAX_PAYLOAD_BYTES} bytes`)
    }
    this.requireEngine()
    await this.ready()
    const engine = this.requireEngine()
    const step = engine.voteFor(opaque(Uint8Array.from(payload)))
    this.take(step)
    if (step.warnings.some((warning) => warning.kind === 'duplicate-vote')) {
      // Our application's caller learns of it (the engine only warns).
      throw new ParsecError('DuplicateVote', 'we already voted for this payload')
    }
    await this.flush()
    this.scheduler.nudge(true)
  }

  blocks(from = 0, limit = Number.POSITIVE_INFINITY): DeliveredBlock[] {
    const start = Math.max(0, Math.floor(from))
    return this.delivered.slice(start, start + Math.max(0, limit))
  }

  status(): SectionStatus {
    const engine = this.engine
    const now = Date.now()
    const recent = this.exchangeTimes.filter((t) => now - t <= 10_000).length
    return {
      sectionId: this.sectionId,
      peerId: this.components.peerId.toString(),
      state: this.state,
      ...(this.failure === undefined
        ? {}
        : { failure: { code: this.failure.code, message: this.failure.message } }),
      ...(this.lastPull === undefined
        ? {}
        : {
            catchUp: {
              peer: this.lastPull.peer.toString(),
              pages: this.lastPull.pages,
              events: this.lastPull.events,
              serverGraphSize: this.lastPull.serverGraphSize,
              done: this.lastPull.done,
            },
          }),
      mode: this.genesis.mode,
      members: this.roster.members().map((m) => m.peerId.toString()),
      connected: [...this.connected],
      graphSize: engine?.graphSize ?? 0,
      decidedBlocks: engine?.decidedBlockCount ?? 0,
      deliveredBlocks: this.delivered.length,
      pendingObservations: engine?.pendingObservationCount ?? 0,
      gossipRate: recent / 10,
      faults: this.faultCount,
      linkErrors: this.linkErrorCount,
      backingOff: this.backoff.failing(),
      verifications: { count: this.verifyStats.count, totalMs: this.verifyStats.totalMs },
      forkedMembers: this.forkedMembers(),
      cpuMs: (() => {
        const cpu = process.cpuUsage(this.cpuAtStart)
        return (cpu.user + cpu.system) / 1000
      })(),
    }
  }

  private forkedMembers(): string[] {
    if (this.engine === undefined) return []
    const forked = new Set(
      this.engine
        .view()
        .peers.filter((peer) => peer.forked)
        .map((peer) => peer.id.name),
    )
    return this.roster
      .members()
      .filter((m) => forked.has(m.publicId.name))
      .map((m) => m.peerId.toString())
  }

  /** The engine, for tools (graph dumps, inspection); undefined before start. */
  get parsec(): Parsec | undefined {
    return this.engine
  }

  // ---------------------------------------------------------------- persistence and delivery

  private requireEngine(): Parsec {
    if (this.failure !== undefined) throw this.failure
    if (this.engine === undefined || !this.started)
      throw new SectionError('NotStarted', 'the section service is not started')
    return this.engine
  }

  /** Blocks agreed outside a step (re-derived by the restore). */
  private pollEngine(): void {
    const engine = this.engine
    if (engine === undefined) return
    for (let block = engine.poll(); block !== undefined; block = engine.poll()) this.decided.push(block)
  }

  /**
   * Takes an engine step's output for the next flush: its events to persist, its blocks to
   * deliver, its faults to report (blaming `from`, the peer whose input it was, when the offender
   * is not a member). A step with an error has its faults reported by whoever handles the error.
   * Returns whether any new event came from a peer (not just our own).
   */
  private take(step: Step<unknown>, from?: PeerId, reportFaults = step.error === undefined): boolean {
    const us = this.engine?.ourId.name
    let news = false
    for (const event of step.events) {
      this.unpersistedEvents.push(packedEventBytes(event))
      if (event.creator.name !== us) news = true
    }
    for (const { block } of step.blocks) this.decided.push(block)
    for (const fault of reportFaults ? step.faults : []) {
      const code = fault.kind === 'malice' ? fault.malice.type : fault.code
      const offender = this.roster.peerIdOf(fault.offender.name) ?? from
      if (offender !== undefined) this.reportFault(offender, code, code)
    }
    return news
  }

  /**
   * Persists every event and block produced so far (one batch, chained after earlier ones so
   * the store is always a prefix), then delivers the new blocks. Await it before sending.
   */
  private flush(): Promise<void> {
    // Calls made while a flush waits its turn share it: it covers everything made before it runs.
    if (this.queuedFlush !== undefined) return this.queuedFlush
    const flush = this.flushing
      .then(() => {
        this.queuedFlush = undefined
        return this.flushNow()
      })
      .catch((error) => {
        throw this.failStore(error)
      })
    this.queuedFlush = flush
    this.flushing = flush.catch(() => {})
    return flush
  }

  private async flushNow(): Promise<void> {
    // Once a write failed, nothing made after it may be sent: every later flush fails too.
    if (this.failure !== undefined) throw this.failure
    const engine = this.engine
    if (engine === undefined) return
    const firstEvent = this.persistedEvents
    const firstBlock = this.persistedBlocks
    const events = this.unpersistedEvents
    this.unpersistedEvents = []
    const endEvents = firstEvent + events.length
    const endBlocks = this.decided.length
    if (endEvents !== engine.graphSize) {
      // Every event comes out of a step we took: anything else would corrupt the store.
      throw new SectionError('StorageMismatch', `${engine.graphSize - endEvents} events of no step`)
    }
    if (this.storage !== undefined && (endEvents > firstEvent || endBlocks > firstBlock)) {
      const blocks = this.decided.slice(firstBlock, endBlocks).map((b) => encodeObservation(b.payload))
      await this.storage.append(events, firstEvent, blocks, firstBlock)
    }
    this.persistedEvents = endEvents
    this.persistedBlocks = endBlocks
    for (let i = this.delivered.length; i < endBlocks; i++) {
      const block = this.decided[i]
      const delivered = new Delivered(i, block)
      this.delivered.push(delivered)
      this.counters.blocks?.increment()
      this.safeDispatch('block', delivered)
    }
  }

  /**
   * Persisting failed: stop creating events for good (the unstored ones are never sent, so a
   * restart with a working store resumes our chain without a fork) and report it once.
   */
  private failStore(error: unknown): SectionError {
    if (this.failure !== undefined) return this.failure
    const cause = error instanceof Error ? error : new Error(String(error))
    const code = (cause as { code?: unknown }).code
    const failure =
      isSectionError(cause) && cause.code === 'StorageFailed'
        ? cause
        : new SectionError(
            'StorageFailed',
            `writing to the store failed (${typeof code === 'string' ? `${code}: ` : ''}${cause.message}); ` +
              'no more events are created: fix the cause (e.g. free disk space) and restart the peer',
            { cause },
          )
    this.fail(failure)
    return failure
  }

  private safeDispatch<K extends keyof ParsecSectionEvents>(
    type: K,
    detail: ParsecSectionEvents[K] extends CustomEvent<infer D> ? D : never,
  ): void {
    try {
      this.safeDispatchEvent(type, { detail })
    } catch (error) {
      this.log.error('a %s listener threw: %e', type, error)
    }
  }

  /** Provably bad input from `peer`. */
  private reportFault(peer: PeerId, code: string, message: string): void {
    this.faultCount++
    this.counters.faults?.increment()
    this.log('fault by %p: %s %s', peer, code, message)
    this.safeDispatch('fault', { peer, kind: 'protocol', code, message })
  }

  /** A broken link with `peer`: not a fault. */
  private reportLinkError(
    peer: PeerId,
    direction: 'inbound' | 'outbound',
    code: LinkErrorCode,
    message: string,
    retryInMs?: number,
  ): void {
    this.linkErrorCount++
    this.counters.linkErrors?.increment()
    this.log('link error with %p (%s): %s %s', peer, direction, code, message)
    this.safeDispatch('link:error', {
      peer,
      kind: 'transport',
      code,
      message,
      direction,
      ...(retryInMs === undefined ? {} : { retryInMs }),
    })
  }

  /** Reports a failure on an inbound stream and ends the stream. */
  private endInbound(remote: PeerId, stream: Stream, failure: Failure): void {
    if (failure.kind === 'end') {
      // Not just close(): a partner keeping its side open would keep the stream and its place.
      void endStream(stream, CLOSE_GRACE_MS, failure.message)
      return
    }
    if (failure.kind === 'protocol') this.reportFault(remote, failure.code, failure.message)
    else this.reportLinkError(remote, 'inbound', failure.code, failure.message)
    stream.abort(new Error(failure.message))
  }

  // ---------------------------------------------------------------- liveness

  /**
   * Gossip in proportion to the work: none while no observation is pending anywhere we know of
   * (a peer with work gossips to us, and then we have it too); the slow pace while one is pending
   * but no decision is possible (too few voters connected, or no progress for a while); else the
   * backlog's pace.
   */
  private gossipMode(): GossipMode {
    const engine = this.engine
    if (engine === undefined) return 'idle'
    if (engine.pendingObservationCount === 0) {
      // Nothing left to decide here; but a connected member that may not know of a vote (we
      // decided without its events) would never learn of it if everyone went quiet: gossip to it.
      return this.laggingPartners().length > 0 ? 'busy' : 'idle'
    }
    return this.supermajorityConnected() && this.progressing() ? 'busy' : 'stalled'
  }

  /** Connected members whose latest event we hold does not descend from every vote we hold. */
  private laggingPartners(): string[] {
    const engine = this.engine
    if (engine === undefined) return []
    const out: string[] = []
    for (const id of engine.peersLackingVotes()) {
      const peerId = this.roster.peerIdOf(id.name)
      if (peerId !== undefined && this.connected.has(peerId.toString())) out.push(id.name)
    }
    return out
  }

  /** A block was decided or a new observation seen within the progress window. */
  private progressing(): boolean {
    const engine = this.engine
    if (engine === undefined) return false
    const now = Date.now()
    const mark = `${engine.decidedBlockCount}:${engine.observationCount}`
    if (mark !== this.progressMark) {
      this.progressMark = mark
      this.lastProgressAt = now
    }
    return now - this.lastProgressAt <= this.progressWindowMs
  }

  /**
   * More than two thirds of the voters (us included) are connected to us: only then can anything
   * be decided, so only then is the busy pace worth it. Below that (most members down or not found
   * yet), every exchange would only add sync events: gossip stays at the slow pace until they are
   * back. Liveness comes from the transport (connections, which libp2p's connection monitor pings
   * and closes when dead), not from events: an idle section makes none.
   */
  private supermajorityConnected(): boolean {
    const engine = this.engine
    if (engine === undefined) return false
    const voters = this.roster.voters()
    const us = engine.ourId.name
    let live = 0
    for (const voter of voters) {
      const peerId = this.roster.peerIdOf(voter.name)
      if (voter.name === us || (peerId !== undefined && this.connected.has(peerId.toString()))) live++
    }
    return supermajority(voters.length, live)
  }

  // ---------------------------------------------------------------- inbound

  /** The member an inbound stream comes from; a non-member is a fault and its stream is reset. */
  private inboundMember(stream: Stream, connection: Connection): RosterMember | undefined {
    const remote = connection.remotePeer
    const member = this.roster.memberOf(remote)
    if (member !== undefined && this.engine !== undefined) return member
    this.reportFault(remote, 'NotAMember', `peer ${remote.toString()} is not a member of this section`)
    stream.abort(new SectionError('NotAMember', 'not a member of this section'))
    return undefined
  }

  private async handleCatchUp(stream: Stream, connection: Connection): Promise<void> {
    const remote = connection.remotePeer
    const member = this.inboundMember(stream, connection)
    if (member === undefined) return
    const messages = new InboundMessages(stream, remote.toString(), {
      maxMessageBytes: C.MAX_CATCHUP_REQUEST_BYTES,
      idleTimeoutMs: this.idleStreamTimeoutMs,
      messageTimeoutMs: this.responseTimeoutMs,
      budget: this.largeMessages,
    })
    try {
      await this.catchUp.serve(messages, connection, member.publicId)
    } catch (error) {
      if (!this.started) {
        stream.abort(new Error('section stopped'))
        return
      }
      this.endInbound(remote, stream, classify(error, stream, connection, true))
    }
  }

  private async handleSync(stream: Stream, connection: Connection): Promise<void> {
    const remote = connection.remotePeer
    const member = this.inboundMember(stream, connection)
    if (member === undefined) return
    const lp = new InboundMessages(stream, remote.toString(), {
      maxMessageBytes: this.maxMessageBytes,
      idleTimeoutMs: this.idleStreamTimeoutMs,
      messageTimeoutMs: this.responseTimeoutMs,
      budget: this.largeMessages,
    })
    for (;;) {
      let received: DecodedSync
      try {
        const bytes = await lp.read()
        received = decodeSync(bytes, this.maxEventsPerMessage, this.roster.resolve)
      } catch (error) {
        if (!this.started) {
          await stream.close().catch(() => {})
          return
        }
        this.endInbound(remote, stream, classify(error, stream, connection, true))
        return
      }
      if (this.failure !== undefined) {
        // Answering would create an event that cannot be stored.
        stream.abort(this.failure)
        return
      }
      let reply: Uint8Array
      let news = false
      try {
        if (received.kind !== 'request')
          throw new SectionError('UnexpectedMessage', 'a response where a request was due')
        if (this.state !== 'running') {
          // Still checking or catching up: no event of ours may be made yet.
          reply = encodeSyncSignal('response', 'not-ready')
        } else if (received.status === 'catch-up') {
          // We lack more than a page of what the partner holds: fetch it in pages.
          reply = encodeSyncSignal('response', 'ok')
          this.pullInBackground(remote, member.publicId)
        } else {
          const outcome = this.handleRequest(member.publicId, received)
          news = outcome.news
          reply = outcome.reply
        }
      } catch (error) {
        await this.flush().catch(() => {})
        if (!this.started) return
        if (isParsecError(error) && error.code === 'InvalidSelfState') {
          // Our own state (e.g. we may not receive gossip): not the sender's fault.
          this.log('cannot take a request from %p: %e', remote, error)
          stream.abort(error)
          return
        }
        if (isParsecError(error) && error.code === 'UnknownOwnEvent') {
          this.failOnOwnEvent(remote, error)
          stream.abort(error)
          return
        }
        this.endInbound(remote, stream, classify(error, stream, connection, false))
        return
      }
      try {
        await this.flush()
      } catch (error) {
        // Not persisted: nothing that depends on it may be sent.
        stream.abort(toError(error))
        return
      }
      try {
        await lp.write(reply, { signal: AbortSignal.timeout(this.responseTimeoutMs) })
      } catch (error) {
        if (!this.started) return
        this.endInbound(remote, stream, classify(error, stream, connection, false))
        return
      }
      if (news) this.scheduler.nudge()
    }
  }

  /**
   * The engine's part of an inbound exchange: our Request event and the response, or `catch-up`
   * when what the requester lacks does not fit in a page.
   */
  private handleRequest(member: PublicId, received: DecodedSync): { reply: Uint8Array; news: boolean } {
    const engine = this.requireEngine()
    if (engine.isRemoved) {
      // Removed (an agreed accusation): the drain of serve-only answers is membership's (part 2).
      throw new ParsecError('InvalidSelfState', 'we were removed from the section')
    }
    const step = engine.handleRequest(member, { packedEvents: received.packedEvents, known: received.known })
    // Events accepted before an error stay: persisted and delivered either way. The error's
    // faults are reported with the error itself (the stream is ended for it).
    const news = this.take(step, this.roster.peerIdOf(member.name), step.error === undefined)
    if (step.error !== undefined) throw step.error
    const reply =
      encodeSync('response', step.message?.packedEvents ?? [], this.pageBytes) ??
      encodeSyncSignal('response', 'catch-up')
    return { reply, news }
  }

  // ---------------------------------------------------------------- outbound

  /** Starts one exchange with a partner not already busy nor backed off; false when there is none. */
  private startExchange(): boolean {
    const engine = this.engine
    if (engine === undefined || !this.started || this.state !== 'running' || this.pulling) return false
    // Removed: no gossip (the final syncs of a drain are membership's, part 2).
    if (engine.isRemoved) return false
    const now = Date.now()
    const candidates: GossipPartner[] = []
    // With nothing pending, only a partner that lacks a vote is worth an exchange.
    const only = engine.pendingObservationCount === 0 ? new Set(this.laggingPartners()) : undefined
    for (const partner of this.roster.gossipPartners()) {
      if (this.inFlight.has(partner.id.name) || (only !== undefined && !only.has(partner.id.name))) continue
      if (!this.backoff.ready(partner.peerId.toString(), now)) continue
      candidates.push(partner)
    }
    if (candidates.length === 0) return false
    // Any partner not backing off: one we are not connected to is dialled if we hold an address
    // for it (finding the others is discovery's business); if that fails it is left alone for
    // 1 s, 2 s, 4 s... so a dead member costs a dial now and then, never a gossip.
    const { id: partner, peerId } = candidates[Math.floor(Math.random() * candidates.length)]
    this.inFlight.add(partner.name)
    this.exchangeTimes.push(now)
    if (this.exchangeTimes.length > 4096) this.exchangeTimes.splice(0, 2048)
    this.exchange(partner, peerId)
      .catch((error) => this.log.error('exchange with %p failed: %e', peerId, error))
      .finally(() => {
        this.inFlight.delete(partner.name)
        this.scheduler.exchangeDone()
      })
    return true
  }

  /**
   * One exchange: a stream first (dialling only a known address), then our gossip (a new signed
   * event, persisted before it is sent), then the partner's response. A failure leaves the
   * partner alone for a while (capped exponential backoff) and does not nudge the scheduler.
   */
  private async exchange(partner: PublicId, peerId: PeerId): Promise<void> {
    const engine = this.requireEngine()
    const key = peerId.toString()
    let channel: Channel
    try {
      channel = await this.channel(peerId)
    } catch (error) {
      if (!this.started) return
      const failure = classify(error, undefined, undefined, false)
      const retryInMs = this.backoff.fail(key)
      if (failure.kind === 'transport' && failure.code === 'Unreachable' && error instanceof LinkError) {
        // No connection and no address: nothing was tried, so there is nothing to report.
        this.log('no way to reach %p yet, next try in %d ms', peerId, retryInMs)
        return
      }
      const code =
        failure.kind === 'transport' && (failure.code === 'Timeout' || failure.code === 'UnsupportedProtocol')
          ? failure.code
          : 'Unreachable'
      this.reportLinkError(
        peerId,
        'outbound',
        code,
        `cannot open a sync stream: ${failure.message}`,
        retryInMs,
      )
      return
    }
    const abandon = (error: unknown): void => {
      this.channels.delete(key)
      channel.stream.abort(toError(error))
    }
    // The service may have failed (or be catching up) while the stream opened: no event then.
    if (this.state !== 'running' || this.pulling) return
    // The partner may have left our recipients while the stream opened.
    if (!this.roster.isGossipPartner(partner.name)) {
      this.log('exchange with %p not possible: no longer a gossip recipient', peerId)
      return
    }
    let bytes: Uint8Array
    try {
      // The stream is open: only now is our Requesting event created.
      const step = engine.createGossip(partner)
      this.take(step)
      // More than a page for the partner: it fetches it in pages (our Requesting event reaches it
      // among them).
      bytes =
        encodeSync('request', step.message?.packedEvents ?? [], this.pageBytes, engine.frontier()) ??
        encodeSyncSignal('request', 'catch-up')
      await this.flush()
    } catch (error) {
      this.log.error('cannot prepare gossip for %p: %e', peerId, error)
      return
    }
    let reply: Uint8ArrayList | Uint8Array
    try {
      const signal = AbortSignal.timeout(this.responseTimeoutMs)
      await channel.lp.write(bytes, { signal })
      reply = await channel.lp.read({ signal })
    } catch (error) {
      // Classified before the stream is aborted: its state tells a crash from a truncation.
      const failure = classify(error, channel.stream, undefined, false)
      abandon(error)
      if (!this.started) return
      this.outboundFailed(peerId, failure)
      return
    }
    if (this.failure !== undefined) {
      // Taking the response would create an event that cannot be stored.
      abandon(this.failure)
      return
    }
    let news = false
    try {
      const received = decodeSync(reply, this.maxEventsPerMessage, this.roster.resolve)
      if (received.kind !== 'response')
        throw new SectionError('UnexpectedMessage', 'a request where a response was due')
      if (received.status !== 'ok' || received.packedEvents.length === 0) {
        // No events: an acknowledgement of our catch-up signal, a partner still starting, or one
        // telling us to catch up.
        if (received.status === 'catch-up') this.pullInBackground(peerId, partner)
        else if (received.status === 'not-ready') this.backoff.fail(key)
        return
      }
      const step = engine.handleResponse(partner, { packedEvents: received.packedEvents })
      // Events accepted before an error stay: persisted and delivered either way.
      news = this.take(step, peerId)
      await this.flush()
      if (step.error !== undefined) throw step.error
    } catch (error) {
      const failure = classify(error, channel.stream, undefined, false)
      abandon(error)
      // Our store failing (reported by the `failed` event) is not the partner's fault.
      if (!this.started || error === this.failure) return
      if (isParsecError(error) && (error.code === 'InvalidSelfState' || error.code === 'InvalidPeerState')) {
        this.log('exchange with %p not possible: %e', peerId, error)
        return
      }
      if (isParsecError(error) && error.code === 'UnknownOwnEvent') {
        this.failOnOwnEvent(peerId, error)
        return
      }
      this.outboundFailed(peerId, failure)
      return
    }
    this.backoff.succeed(key)
    this.counters.exchanges?.increment()
    if (news) this.scheduler.nudge()
  }

  /** An outbound exchange failed: back off from the partner and report what happened. */
  private outboundFailed(peerId: PeerId, failure: Failure): void {
    const retryInMs = this.backoff.fail(peerId.toString())
    if (failure.kind === 'protocol') this.reportFault(peerId, failure.code, failure.message)
    else if (failure.kind === 'transport')
      this.reportLinkError(peerId, 'outbound', failure.code, failure.message, retryInMs)
    else this.log('sync stream to %p closed: %s', peerId, failure.message)
  }

  /** Our long-lived stream to `peerId`: the open one, or a new one if it was closed on either side. */
  private async channel(peerId: PeerId): Promise<Channel> {
    const key = peerId.toString()
    const cached = this.channels.get(key)
    if (cached !== undefined) {
      const channel = await cached.catch(() => undefined)
      const stream = channel?.stream
      if (
        stream?.status === 'open' &&
        stream.writeStatus === 'writable' &&
        stream.remoteWriteStatus === 'writable' &&
        stream.readStatus !== 'closed'
      ) {
        return channel as Channel
      }
      // E.g. the partner closed it after its idle timeout: a request on it would go unanswered.
      if (this.channels.get(key) === cached) this.channels.delete(key)
      stream?.abort(new Error('stale sync stream'))
    }
    const pending = this.openChannel(peerId)
    this.channels.set(key, pending)
    pending.catch(() => {
      if (this.channels.get(key) === pending) this.channels.delete(key)
    })
    return pending
  }

  private async openChannel(peerId: PeerId): Promise<Channel> {
    const connectionManager = this.components.connectionManager
    if (connectionManager.getConnections(peerId).length === 0 && !(await this.hasAddress(peerId))) {
      // Dialling a bare peer id would start a DHT lookup inside the dialler; discovery does that.
      throw new LinkError('Unreachable', 'no connection and no known address')
    }
    // Negotiated fully (once per long-lived stream) so that a peer not serving the protocol fails
    // here, before any gossip is created for it.
    const stream = await connectionManager.openStream(peerId, this.protocol, {
      signal: AbortSignal.timeout(C.OPEN_STREAM_TIMEOUT_MS),
      negotiateFully: true,
    })
    stream.addEventListener('close', () => {
      const current = this.channels.get(peerId.toString())
      current?.then((c) => c.stream === stream && this.channels.delete(peerId.toString())).catch(() => {})
    })
    return { stream, lp: framed(stream, this.maxMessageBytes) }
  }

  private async hasAddress(peerId: PeerId): Promise<boolean> {
    try {
      const peer = await this.components.peerStore.get(peerId)
      return peer.addresses.length > 0
    } catch {
      return false
    }
  }

  // ---------------------------------------------------------------- peers

  private onPeerConnect(event: CustomEvent<PeerId>): void {
    const key = event.detail.toString()
    if (this.roster.memberOf(key) === undefined || this.connected.has(key)) return
    this.connected.add(key)
    this.backoff.succeed(key)
    this.safeDispatch('peer:connected', event.detail)
    this.scheduler.nudge(true)
  }

  private onPeerDisconnect(event: CustomEvent<PeerId>): void {
    const key = event.detail.toString()
    if (!this.connected.delete(key)) return
    this.channels.delete(key)
    this.safeDispatch('peer:disconnected', event.detail)
  }
}
