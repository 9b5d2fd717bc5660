/**
 * The section service: drives a PARSEC engine over libp2p with direct request/response gossip.
 * A thin class composing one part per concern (kad-dht's shape), each in its own file:
 *
 * - `Roster`: who the members are (whose streams we accept, whom we gossip to, which voters count
 *   as live, where members are reached);
 * - `Journal`: every engine step's output, persisted (one atomic batch) before its blocks are
 *   delivered and before anything that depends on it is sent, so a restarted peer never forks;
 * - `Inbound`: the sync and catch-up handlers; `Outbound` and its `StreamCache`: the exchanges we
 *   start, one long-lived stream per partner (measured ~7x faster than a stream per exchange);
 * - `Pacing`: when to gossip; `Connections`: which members are connected; `Puller`: paged
 *   catch-ups; `StartUp`: the self-check and catch-up before our first event;
 * - `MembershipHost`: the membership machine (who the members are, joining, leaving, removing the
 *   silent), fed by the journal, its messages carried by `MembershipProtocol`, its discovery
 *   directives (provide, announce, find members) by `SectionDiscovery`, which follows the roster,
 *   its keep-alive and catch-up peers by `PeerTags` (peer-store tags the connection manager honours);
 *   the final syncs of our drain by `Drain`;
 *   `Joining`: a joiner's contacts, engine and catch-up, until its Add is agreed;
 * - `Lifecycle`: where the service is and how it fails; `Reporter`: events, faults, link errors.
 */
import type { Logger, PeerId, Startable } from '@libp2p/interface'
import { serviceCapabilities, TypedEventEmitter } from '@libp2p/interface'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import {
  decodeGenesisRecord,
  ed25519PeerIds,
  encodeChain,
  encodeGenesisRecord,
  type GenesisRecord,
  genesisRecord,
  sectionIdOf as sectionIdOfRecord,
} from '@parsec-section/membership'
import {
  type ConsensusMode,
  ed25519Id,
  opaque,
  Parsec,
  ParsecError,
  type PublicId,
} from '@parsec-section/parsec-core'
import { dumpDot } from '@parsec-section/parsec-core/dot'
import { fromString as bytesFromString, toString as bytesToString } from 'uint8arrays'
import { CatchUp } from '../catchup.js'
import * as C from '../constants.js'
import { DecidedProtocol } from '../decided.js'
import { type AnnouncePubSub, SectionDiscovery } from '../discovery.js'
import { SectionError } from '../errors.js'
import type { SectionGenesis } from '../genesis.js'
import { peerIdFromPublicId, secretIdFromPrivateKey } from '../identity.js'
import { LargeMessageBudget } from '../inbound-stream.js'
import { PeerBans } from '../limits/peer-bans.js'
import { StreamGuard } from '../limits/stream-guard.js'
import { Backoff } from '../scheduler.js'
import { SnapshotProtocol } from '../snapshot.js'
import { SectionStorage, type StoredEpoch } from '../storage.js'
import { isBatch } from '../transactions/batch-codec.js'
import { VerifyStats } from '../verify-stats.js'
import type {
  DeliveredBlock,
  DeliveredTransaction,
  MembershipStatus,
  ParsecSection,
  ParsecSectionComponents,
  ParsecSectionEvents,
  ParsecSectionInit,
  SectionStatus,
  SelfState,
} from './api.js'
import { ClaimedFrontiers } from './claimed-frontiers.js'
import { Connections } from './connections.js'
import { DecidedLookup } from './decided-lookup.js'
import { Drain } from './drain.js'
import { checkpointBlockOf, type EpochStart, EpochSwitch } from './epoch-switch.js'
import { Epochs } from './epochs.js'
import { Inbound } from './inbound.js'
import { Joining } from './joining.js'
import { Journal } from './journal.js'
import { Lifecycle } from './lifecycle.js'
import { MembershipHost, type MembershipStart, removedError } from './membership-host.js'
import { MembershipProtocol } from './membership-protocol.js'
import { MissedPayloads } from './missed-payloads.js'
import { Outbound } from './outbound.js'
import { OwnVotes } from './own-votes.js'
import { Pacing } from './pacing.js'
import { PeerTags } from './peer-tags.js'
import { Puller } from './puller.js'
import { Reporter } from './reporter.js'
import { Roster } from './roster.js'
import { SectionMetrics } from './section-metrics.js'
import { SnapshotFetch } from './snapshot-fetch.js'
import { SnapshotNewcomer } from './snapshot-newcomer.js'
import { Snapshots } from './snapshots.js'
import { StartUp } from './start-up.js'
import { StreamCache } from './stream-cache.js'
import { Transactions } from './transactions.js'

/**
 * The addresses we advertise (announcements, tickets, JoinRequests): `announce` when given (a
 * listener on 0.0.0.0, a port mapping), each ending in our `/p2p/` id as libp2p's own do; else the
 * address manager's (libp2p's own `addresses.announce` when the node sets it, else what it listens on).
 */
function advertisedAddrs(
  components: Pick<ParsecSectionComponents, 'peerId' | 'addressManager'>,
  announce: readonly Multiaddr[] | undefined,
): string[] {
  if (announce === undefined || announce.length === 0)
    return components.addressManager.getAddresses().map((a) => a.toString())
  const suffix = `/p2p/${components.peerId.toString()}`
  return announce.map((a) => {
    const text = a.toString()
    return text.endsWith(suffix) ? text : `${text}${suffix}`
  })
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
  readonly membershipProtocol: string
  readonly snapshotProtocol: string
  readonly decidedProtocol: string
  private readonly log: Logger
  /** Undefined for a joiner: it learns the genesis record from the members (JoinInfo). */
  private readonly genesis: SectionGenesis | undefined
  private readonly lifecycle: Lifecycle
  /** The epoch our engine is in, and the previous epoch's retired engine while it drains. */
  private readonly epochs: Epochs
  private readonly reporter: Reporter
  private readonly metrics: SectionMetrics
  private readonly roster: Roster
  private readonly journal: Journal
  private readonly connections: Connections
  private readonly pacing: Pacing
  private readonly puller: Puller
  private readonly streams: StreamCache
  private readonly outbound: Outbound
  private readonly drain: Drain
  private readonly inbound: Inbound
  private readonly startUp: StartUp
  private readonly membershipWire: MembershipProtocol
  private readonly membership: MembershipHost
  private readonly tags: PeerTags
  /** The peers we refuse (shared with the node's connection gater and gossipsub when it made them). */
  private readonly bans: PeerBans
  private readonly membershipGuard: StreamGuard
  private unsubscribeBans: (() => void) | undefined
  private readonly joining: Joining
  private readonly storage: SectionStorage | undefined
  private discoveryStarted = false
  /** Partners (by peer id) left alone for a while after a failed dial or exchange. */
  private readonly backoff: Backoff
  /** What each partner last said it holds (claimed-frontiers.ts). */
  private readonly claims = new ClaimedFrontiers()
  /** Our application's payloads not delivered yet (an epoch switch votes them again). */
  private readonly ownVotes = new OwnVotes()
  private readonly epochSwitch: EpochSwitch
  private readonly discovery: SectionDiscovery
  private readonly verifyStats = new VerifyStats()
  /** The snapshot hook: our digests at checkpoints, the protocol serving them, a newcomer's fetch. */
  private readonly snapshots: Snapshots
  private readonly snapshotWire: SnapshotProtocol | undefined
  private readonly newcomer: SnapshotNewcomer
  /** After a rebase: which of our payloads the blocks we missed hold (and the members' answers). */
  private readonly missedPayloads: MissedPayloads
  private readonly decidedWire: DecidedProtocol
  /** `submit`: the batcher, and delivered batches read back into transactions. */
  private readonly transactionsPart: Transactions
  /** Settles when the latest `castVote` has voted (or failed): the next one's turn. */
  private voteTurn: Promise<void> = Promise.resolve()
  /** A due checkpoint a vote waited for in vain: later votes do not wait for it again. */
  private checkpointWaitGivenUp: object | undefined
  private cpuAtStart = process.cpuUsage()

  constructor(
    private readonly components: ParsecSectionComponents,
    private readonly init: ParsecSectionInit,
  ) {
    super()
    this.genesis = init.genesis
    this.sectionId = sectionIdOf(init)
    this.protocol = `/${C.PROTOCOL_PREFIX}/${this.sectionId}/${C.SYNC_PROTOCOL_NAME}/${C.SYNC_PROTOCOL_VERSION}`
    this.catchUpProtocol = `/${C.PROTOCOL_PREFIX}/${this.sectionId}/${C.CATCHUP_PROTOCOL_NAME}/${C.CATCHUP_PROTOCOL_VERSION}`
    this.membershipProtocol = `/${C.PROTOCOL_PREFIX}/${this.sectionId}/${C.MEMBERSHIP_PROTOCOL_NAME}/${C.MEMBERSHIP_PROTOCOL_VERSION}`
    this.snapshotProtocol = `/${C.PROTOCOL_PREFIX}/${this.sectionId}/${C.SNAPSHOT_PROTOCOL_NAME}/${C.SNAPSHOT_PROTOCOL_VERSION}`
    this.decidedProtocol = `/${C.PROTOCOL_PREFIX}/${this.sectionId}/${C.DECIDED_PROTOCOL_NAME}/${C.DECIDED_PROTOCOL_VERSION}`
    this.log = components.logger.forComponent('parsec-section')
    const maxMessageBytes = init.maxMessageBytes ?? C.MAX_MESSAGE_BYTES
    const pageBytes = Math.min(init.pageBytes ?? C.PAGE_BYTES, maxMessageBytes - 64 * 1024)
    if (pageBytes <= 0) throw new SectionError('InvalidArgument', 'maxMessageBytes must exceed 64 KiB')
    const limits = {
      maxMessageBytes,
      pageBytes,
      maxEventsPerMessage: init.maxEventsPerMessage ?? C.MAX_EVENTS_PER_MESSAGE,
      responseTimeoutMs: init.responseTimeoutMs ?? C.RESPONSE_TIMEOUT_MS,
      idleStreamTimeoutMs: init.idleStreamTimeoutMs ?? C.IDLE_STREAM_TIMEOUT_MS,
    }
    this.backoff = new Backoff(
      init.partnerBackoffMs ?? C.PARTNER_BACKOFF_MS,
      init.partnerBackoffMaxMs ?? C.PARTNER_BACKOFF_MAX_MS,
    )
    const engine = (): Parsec | undefined => this.lifecycle.engine
    const epochSwitch = () => this.epochSwitch
    this.reporter = new Reporter(this, components, this.log)
    this.metrics = new SectionMetrics(components, {
      status: () => this.status(),
      ownEvents: () => this.lifecycle.engine?.ownEventCount ?? 0,
    })
    this.addEventListener('block', ({ detail }) => this.metrics.delivered([detail], Date.now()))
    this.lifecycle = new Lifecycle(this.reporter, this.log, () => this.pacing.stop())
    this.epochs = new Epochs(this.lifecycle)
    this.roster = new Roster(components, init.genesis?.members ?? [], engine)
    this.roster.onChange(() => init.onMembers?.(this.roster.members()))
    const storage = (this.storage =
      init.persist === false
        ? undefined
        : new SectionStorage(components.datastore, this.sectionId, { sync: init.syncWrites ?? true }))
    this.journal = new Journal(storage, this.lifecycle, this.reporter, this.log, init.blockRetention)
    // As delivered, not as emitted: an epoch switch while block events are held (a newcomer
    // installing its state) must not vote a delivered payload of ours again.
    this.journal.onDelivered(({ block }) => {
      const us = this.lifecycle.engine?.ourId
      if (us === undefined) return
      const open = this.ownVotes.size
      this.ownVotes.delivered(block, us)
      // One of ours settled: our next transaction batch may go (after this delivery's turn).
      if (this.ownVotes.size < open) queueMicrotask(() => this.transactionsPart.kick())
    })
    const mode = () => this.genesis?.mode ?? this.membership.machine?.state?.record.mode
    this.transactionsPart = new Transactions(
      {
        mode,
        ready: () => this.ready(),
        started: () => this.lifecycle.started,
        vote: (payload) => this.castVote(payload),
        openBatches: () => this.ownVotes.count(isBatch),
        batchAside: () => this.ownVotes.someAside(isBatch),
        proposerOf: (block) => {
          const voter = block.proofs[0]?.publicId
          return voter === undefined
            ? undefined
            : (this.roster.peerIdOf(voter.name) ?? peerIdFromPublicId(voter))
        },
        blocks: (from, limit) => this.journal.blocks(from, limit),
      },
      {
        windowMs: init.transactionWindowMs ?? C.TRANSACTION_WINDOW_MS,
        batchBytes: Math.min(init.transactionBatchBytes ?? C.TRANSACTION_BATCH_BYTES, C.MAX_PAYLOAD_BYTES),
        openBatches: init.transactionOpenBatches ?? C.TRANSACTION_OPEN_BATCHES,
        maxQueuedBytes: init.maxQueuedTransactionBytes ?? C.MAX_QUEUED_TRANSACTION_BYTES,
      },
      this.log,
    )
    const maxSnapshotBytes = init.maxSnapshotBytes ?? C.MAX_SNAPSHOT_BYTES
    this.snapshots = new Snapshots(
      init.snapshot,
      maxSnapshotBytes,
      () => this.journal.deliveredCount,
      this.log,
    )
    // An agreed checkpoint always ends an epoch: the application's digest of its state there.
    this.journal.onEmitted((delivered) => {
      const { position, block } = delivered
      if (block.payload.kind === 'checkpoint') this.snapshots.checkpointDelivered(position)
      // Each transaction of a batch, right after its block's event.
      else if (this.listenerCount('transaction') > 0) {
        for (const tx of this.transactionsPart.of(delivered)) {
          this.safeDispatchEvent('transaction', { detail: tx })
        }
      }
    })
    this.epochSwitch = new EpochSwitch(
      {
        lifecycle: this.lifecycle,
        journal: this.journal,
        epochs: this.epochs,
        claims: this.claims,
        storage,
        ownVotes: this.ownVotes,
        secret: () => secretIdFromPrivateKey(this.components.privateKey),
        consensusMode: () =>
          this.genesis?.mode ?? this.membership.machine?.state?.record.mode ?? 'supermajority',
        wrap: (id) => this.verifyStats.wrap(id),
        chain: () => this.membership.machine?.state?.chain ?? [],
        nudge: () => this.pacing.nudge(true),
        startedAt: (next) => this.newcomer.begin(next.start, next.genesis),
        crossed: (next) => this.newcomer.crossed(next.start, next.genesis),
        checkpointBlock: (position) =>
          checkpointBlockOf(this.membership.machine?.state?.chain ?? [], position),
        missed: {
          keptWith: (missed) => this.missedPayloads.keptWith(missed),
          begin: (missed) => this.missedPayloads.begin(missed),
        },
      },
      init.epochDrainMs ?? C.EPOCH_DRAIN_MS,
      this.log,
    )
    this.connections = new Connections(components, this.roster, this.reporter, {
      connected: (peer) => {
        this.backoff.succeed(peer.toString())
        this.pacing.nudge(true)
      },
      disconnected: (peer) => {
        this.streams.drop(peer)
        this.claims.forget(peer)
      },
    })
    this.pacing = new Pacing(
      engine,
      this.roster,
      this.connections,
      {
        schedule: {
          intervalMs: init.gossipIntervalMs ?? C.GOSSIP_INTERVAL_MS,
          lightIntervalMs: init.lightGossipIntervalMs ?? C.LIGHT_GOSSIP_INTERVAL_MS,
          backlogForFastest: init.backlogForFastestGossip ?? C.BACKLOG_FOR_FASTEST_GOSSIP,
          referenceVoters: init.gossipReferenceVoters ?? C.GOSSIP_REFERENCE_VOTERS,
          idleIntervalMs: init.idleGossipIntervalMs ?? C.IDLE_GOSSIP_INTERVAL_MS,
          jitter: C.GOSSIP_JITTER,
          maxPerSecond: init.maxGossipPerSecond ?? C.MAX_GOSSIP_PER_SECOND,
          maxConcurrent: init.maxConcurrentExchanges ?? C.MAX_CONCURRENT_EXCHANGES,
        },
        progressWindowMs: init.progressWindowMs ?? C.PROGRESS_WINDOW_MS,
        // Our transactions under way (a batch carries many), or an epoch switch: the fastest pace.
        extraBacklog: () =>
          this.transactionsPart.busy() || this.switching() ? this.pacing.backlogForFastest() : 0,
      },
      () => this.outbound.startExchange(),
    )
    const catchUp = new CatchUp(
      {
        engine,
        epoch: () => this.epochs.current,
        engineOf: (epoch) => this.epochs.engineOf(epoch),
        memberOf: (peer) => this.roster.memberOf(peer)?.publicId,
        resolve: this.roster.resolve,
        take: (step, peer) => this.journal.take(step, peer),
        flush: () => this.journal.flush(),
        claimed: (peer, frontier) => this.claims.note(peer, frontier),
      },
      components.connectionManager,
      this.catchUpProtocol,
      limits,
      this.log,
    )
    this.puller = new Puller(
      catchUp,
      this.lifecycle,
      this.reporter,
      this.pacing,
      this.log,
      (member, epoch) => this.membership.aheadEpoch(member, epoch),
      () => this.epochs.current,
    )
    this.streams = new StreamCache(components, this.protocol, maxMessageBytes)
    const parts = {
      lifecycle: this.lifecycle,
      roster: this.roster,
      journal: this.journal,
      reporter: this.reporter,
      pacing: this.pacing,
      puller: this.puller,
      claims: this.claims,
      epochs: this.epochs,
    }
    this.outbound = new Outbound(
      {
        ...parts,
        streams: this.streams,
        backoff: this.backoff,
        notMemberOf: (partner) => this.membership.notMemberOf(partner),
        aheadEpoch: (partner, epoch) => this.membership.aheadEpoch(partner, epoch),
        reached: (partner, ok) => this.membership.reached(partner, ok),
        draining: () => this.drain.begun,
      },
      limits,
      this.log,
    )
    this.drain = new Drain(
      {
        lifecycle: this.lifecycle,
        roster: this.roster,
        streams: this.streams,
        exchanging: (name) => this.outbound.exchanging(name),
        epoch: () => this.epochs.current,
      },
      { ...limits, intervalMs: C.FINAL_SYNC_INTERVAL_MS },
      this.log,
    )
    this.inbound = new Inbound(
      components,
      {
        ...parts,
        catchUp,
        joining: () => this.joining.active,
        expected: (peer) => this.membership.expects(peer),
      },
      { sync: this.protocol, catchUp: this.catchUpProtocol },
      {
        ...limits,
        maxInboundStreams: init.maxInboundStreams ?? C.MAX_INBOUND_STREAMS,
        maxOutboundStreams: init.maxOutboundStreams ?? C.MAX_OUTBOUND_STREAMS,
      },
      this.log,
    )
    this.startUp = new StartUp(
      {
        ...parts,
        catchUp,
        outbound: this.outbound,
        removed: () => ['removed', 'banned'].includes(this.membership.self()),
        notMemberOf: (member) => this.membership.notMemberOf(member),
        aheadEpoch: (member, epoch) => this.membership.aheadEpoch(member, epoch),
        epoch: () => this.epochs.current,
      },
      {
        timeoutMs: init.selfCheckTimeoutMs ?? C.SELF_CHECK_TIMEOUT_MS,
        retryMs: init.selfCheckRetryMs ?? C.SELF_CHECK_RETRY_MS,
      },
      this.log,
    )
    this.bans = init.bans ?? new PeerBans()
    this.membershipGuard = new StreamGuard(
      'membership',
      this.bans,
      {
        rates: {
          perPeer: init.membershipRatePerPeer ?? C.MEMBERSHIP_RATE_PER_PEER,
          perNetwork: init.membershipRatePerNetwork ?? C.MEMBERSHIP_RATE_PER_NETWORK,
          maxKeys: C.MEMBERSHIP_RATE_KEYS,
        },
        logIntervalMs: C.SHED_LOG_INTERVAL_MS,
        isMember: (peer) => this.roster.memberOf(peer) !== undefined,
      },
      this.log,
    )
    const snapshotLimits = {
      chunkBytes: C.SNAPSHOT_CHUNK_BYTES,
      maxStateBytes: maxSnapshotBytes,
      responseTimeoutMs: limits.responseTimeoutMs,
      idleStreamTimeoutMs: limits.idleStreamTimeoutMs,
    }
    const snapshotGuard = new StreamGuard(
      'snapshot',
      this.bans,
      {
        rates: {
          perPeer: C.SNAPSHOT_RATE_PER_PEER,
          perNetwork: C.SNAPSHOT_RATE_PER_NETWORK,
          maxKeys: C.MEMBERSHIP_RATE_KEYS,
        },
        logIntervalMs: C.SHED_LOG_INTERVAL_MS,
        isMember: (peer) => this.roster.memberOf(peer) !== undefined,
      },
      this.log,
    )
    const hook = init.snapshot
    const wire = (this.snapshotWire =
      hook === undefined
        ? undefined
        : new SnapshotProtocol(
            components,
            this.snapshotProtocol,
            this.snapshots,
            snapshotGuard,
            new LargeMessageBudget(),
            snapshotLimits,
            this.log,
          ))
    const fetch =
      hook === undefined || wire === undefined
        ? undefined
        : new SnapshotFetch(
            {
              digest: (peer, position) => wire.digest(peer, position),
              fetch: (peer, position, digest) => wire.fetch(peer, position, digest),
            },
            hook,
            {
              mismatch: (peer, message) => this.reporter.fault(peer, 'SnapshotMismatch', message),
              failed: (peer, error) => this.newcomer.failed(peer, error),
            },
            { retryMs: C.SNAPSHOT_RETRY_MS, maxRetryMs: C.SNAPSHOT_MAX_RETRY_MS },
            this.log,
          )
    this.newcomer = new SnapshotNewcomer(
      fetch,
      this.journal,
      this.snapshots,
      this.reporter,
      components.peerId,
      this.log,
    )
    const decidedWire = (this.decidedWire = new DecidedProtocol(
      components,
      this.decidedProtocol,
      { answer: (requester, from, to, keys) => this.missedPayloads.answer(requester, from, to, keys) },
      new StreamGuard(
        'decided',
        this.bans,
        {
          rates: {
            perPeer: C.DECIDED_RATE_PER_PEER,
            perNetwork: C.SNAPSHOT_RATE_PER_NETWORK,
            maxKeys: C.MEMBERSHIP_RATE_KEYS,
          },
          logIntervalMs: C.SHED_LOG_INTERVAL_MS,
          isMember: (peer) => this.roster.memberOf(peer) !== undefined,
        },
        this.log,
      ),
      new LargeMessageBudget(),
      { responseTimeoutMs: limits.responseTimeoutMs },
      this.log,
    ))
    this.missedPayloads = new MissedPayloads(
      {
        journal: this.journal,
        roster: this.roster,
        ownVotes: this.ownVotes,
        storage,
        vote: (payload) => this.castVote(payload),
        settled: () => this.transactionsPart.kick(),
        voters: () => this.memberPeerIds(),
        us: components.peerId,
      },
      new DecidedLookup(
        { ask: (peer, from, to, keys) => decidedWire.ask(peer, from, to, keys) },
        (peer, error) => this.reporter.requestFailed(peer, error, 'decided'),
        { retryMs: C.DECIDED_RETRY_MS, maxRetryMs: C.DECIDED_MAX_RETRY_MS },
        this.log,
      ),
      this.log,
    )
    this.membershipWire = new MembershipProtocol(
      components,
      this.membershipProtocol,
      {
        maxMessageBytes: C.MAX_MEMBERSHIP_MESSAGE_BYTES,
        // A member reads only small messages from non-members (a JoinInfo comes from members).
        maxMessageBytesFrom: (peer) => {
          const self = this.membership.self()
          const weAreMember = self === 'member' || self === 'leaving'
          return weAreMember && this.roster.memberOf(peer) === undefined
            ? C.MAX_MEMBERSHIP_REQUEST_BYTES
            : C.MAX_MEMBERSHIP_MESSAGE_BYTES
        },
        responseTimeoutMs: limits.responseTimeoutMs,
      },
      (from, bytes, remoteAddr) => this.membership.receive(from, bytes, remoteAddr),
      this.membershipGuard,
      this.log,
    )
    this.discovery = new SectionDiscovery(
      components,
      this.sectionId,
      {
        others: () => this.roster.others(),
        memberOf: (peer) => this.roster.memberOf(peer),
        wasMember: (peer) => this.roster.wasMember(peer),
        chainSeq: () => this.membership.machine?.state?.seq,
      },
      () => this.pubsub(),
      (peer: PeerId) => this.connections.has(peer),
      {
        isBanned: (peer) => this.bans.isBanned(peer),
        lookupIntervalMs: init.lookupIntervalMs ?? C.DISCOVERY_INTERVAL_MS,
        maxLookupIntervalMs: init.maxLookupIntervalMs ?? C.DISCOVERY_MAX_INTERVAL_MS,
      },
    )
    this.joining = new Joining(
      components,
      parts,
      {
        begin: () => this.membership.startJoining(),
        addContacts: (ids) => this.membership.addContacts(ids),
        transportFailed: (id) => this.membership.transportFailed(id),
        build: (genesis, section, record, epoch) => this.buildJoiner(genesis, section, record, epoch),
        // The next epoch right after ours: a crossing; further (our attempt restarted while the
        // section moved on by epochs): start again at that checkpoint.
        crossed: (next, section) =>
          next.epoch === this.epochs.current + 1 && next.start === this.journal.decidedCount
            ? this.epochSwitch.begin(next, [], section)
            : this.epochSwitch.rebase(next, section),
        joined: () => this.startDiscovery(),
      },
      {
        bootstrap: bootstrapOf(init),
        pullIntervalMs: init.joinPullIntervalMs ?? C.JOIN_PULL_INTERVAL_MS,
        retryMs: C.JOIN_RETRY_MS,
        maxRetryMs: C.JOIN_MAX_RETRY_MS,
      },
      this.log,
    )
    const announceIntervalMs = init.announceIntervalMs ?? C.ANNOUNCE_INTERVAL_MS
    this.tags = new PeerTags(components, this.log)
    this.membership = new MembershipHost(
      components,
      {
        ...parts,
        wire: this.membershipWire,
        discovery: this.discovery,
        bans: this.bans,
        tags: this.tags,
        joining: this.joining,
        keepRemoval: async (removal) => {
          try {
            await this.storage?.saveRemoved(removal)
          } catch (error) {
            throw this.lifecycle.failStore(error)
          }
        },
        drain: this.drain,
        epochSwitch: {
          stored: () => this.storage?.epoch,
          begin: (next, votes) => this.epochSwitch.begin(next, votes),
          rebase: (next) => this.epochSwitch.rebase(next),
          get active() {
            return epochSwitch().active
          },
          queue: (vote) => this.epochSwitch.queue(vote),
          get electionBase() {
            return epochSwitch().electionBase
          },
        },
      },
      {
        config: {
          announceIntervalMs,
          checkpointBlocks: C.CHECKPOINT_BLOCKS,
          // `checkpointBlocks: 0` alone turns epochs off, the size trigger with them.
          checkpointBytes: init.membership?.checkpointBlocks === 0 ? 0 : C.CHECKPOINT_BYTES,
          ...init.membership,
        },
        tickMs: init.membershipTickMs ?? C.MEMBERSHIP_TICK_MS,
        addrs: () => advertisedAddrs(components, init.announce),
      },
      this.log,
    )
  }

  isStarted(): boolean {
    return this.lifecycle.started
  }

  async start(): Promise<void> {
    if (this.lifecycle.started) return
    const us = this.components.peerId.toString()
    const secret = secretIdFromPrivateKey(this.components.privateKey)
    this.cpuAtStart = process.cpuUsage()
    const genesis = this.genesis
    let how: MembershipStart
    if (genesis !== undefined && this.roster.memberOf(us) !== undefined) {
      // A founder: the engine starts from the section's genesis group, whoever the members are now.
      const restoring = (epoch: StoredEpoch | undefined) =>
        epoch === undefined
          ? Parsec.restoring({
              us: secret,
              genesis: genesis.members.map((m) => this.verifyStats.wrap(m.publicId)),
              relatedInfo: genesis.relatedInfo,
              consensusMode: genesis.mode,
            })
          : this.epochRestoring(epoch, genesis.mode)
      await this.journal.restore(this.components.peerId, restoring, this.sectionId)
      how = { kind: 'founder', record: recordOf(genesis) }
    } else {
      // A peer that joined in an earlier run resumes from its store; anyone else joins: its
      // engine is built once a member admitted it (`buildJoiner`).
      const joined = await this.storage?.loadJoined()
      if (joined === undefined) how = { kind: 'join', sectionId: bytesFromString(this.sectionId, 'base16') }
      else {
        const record = decodeGenesisRecord(joined.record, ed25519PeerIds)
        if (bytesToString(sectionIdOfRecord(record), 'base16') !== this.sectionId) {
          throw new SectionError('StorageMismatch', "the stored genesis record is not this section's")
        }
        await this.buildJoiner(
          record.group,
          joined.section.map((key) => ed25519Id(key)),
          record,
        )
        how = { kind: 'joined', record }
      }
    }
    this.reporter.start()
    this.metrics.start()
    // A newly banned peer's open connections close (the gater refuses new ones).
    this.unsubscribeBans = this.bans.onBan((peer) => this.disconnect(peer))
    // The epoch the store is in; a previous epoch's events a crash left during its drain go.
    this.epochs.current = this.journal.epoch
    this.epochs.eventsBefore = this.storage?.epoch?.eventsBefore ?? 0
    this.restoreOwnVotes()
    // A rebase's payloads set aside and not settled when we stopped: asked about again.
    const missed = (await this.storage?.loadMissed()) ?? []
    if (missed.length > 0) this.missedPayloads.resume(missed, this.ready())
    if (this.journal.epoch > 0) {
      this.storage
        ?.dropEvents(this.journal.epoch - 1)
        .catch((error) => this.log.error('dropping epoch %d failed: %e', this.journal.epoch - 1, error))
    }
    // A joined peer whose store holds no Add of its own (stopped as a candidate) joins again. One
    // whose removal is known (its blocks agree it, or its store kept it) is not run as a member.
    const opened = this.membership.open(how, await this.storage?.loadRemoved())
    if (opened === 'join') this.joining.begin()
    // After the machine said whom it keeps: an earlier run's tags on anyone else go.
    await this.tags.start()
    await this.journal.flush()
    await this.inbound.start()
    await this.membershipWire.start()
    await this.snapshotWire?.start()
    await this.decidedWire.start()
    await this.roster.start()
    this.init.onMembers?.(this.roster.members())
    this.streams.start()
    this.connections.start()
    this.lifecycle.started = true
    this.lifecycle.state = 'checking'
    const removal = this.membership.removedAtStart
    if (removal !== undefined) {
      // Told at once (`failed`, `self()`, `ready()` rejects): no self-check, no event, no discovery.
      this.lifecycle.fail(removedError(removal, bytesFromString(this.sectionId, 'base16')))
      return
    }
    // A joiner looks members up by its bootstrap addresses until it joined (`startDiscovery`).
    if (genesis !== undefined || (how.kind === 'joined' && !this.joining.active)) this.startDiscovery()
  }

  /**
   * Discovery (members' addresses, announcements, providing the section in the shared DHT), for a
   * founder from the start and for a joined peer once it is a member (it follows the roster).
   */
  private startDiscovery(): void {
    if (this.discoveryStarted || !this.lifecycle.started) return
    this.discoveryStarted = true
    this.discovery.start()
  }

  /** The node's gossipsub service for announcements, if it has one. */
  private pubsub(): AnnouncePubSub | undefined {
    let pubsub: unknown
    try {
      // libp2p's components proxy throws for a service that is not configured.
      pubsub = (this.components as unknown as Record<string, unknown>)[this.init.pubsubService ?? 'pubsub']
    } catch {
      return undefined
    }
    return isAnnouncePubSub(pubsub) ? pubsub : undefined
  }

  /** Once libp2p listens and dials: the self-check and catch-up, then our first event and gossip. */
  afterStart(): void {
    if (this.lifecycle.failure !== undefined) return
    if (this.joining.active) this.joining.start()
    else this.startUp.afterStart()
  }

  /**
   * A joiner admitted by a member: its engine, an observer replaying the section from genesis
   * (`Parsec.fromExisting`, through the journal's restore so its store holds what it replays).
   */
  private async buildJoiner(
    genesis: readonly PublicId[],
    section: readonly PublicId[],
    record: GenesisRecord,
    /** The epoch the verified chain ends in (a restart: epoch 0's, the store says which). */
    epoch: EpochStart = { epoch: 0, genesis, relatedInfo: record.relatedInfo, start: 0 },
  ): Promise<void> {
    // Restored from our store (a candidate that restarted): it goes on replaying.
    if (this.lifecycle.engine !== undefined) return
    // A later epoch: our engine replays it only, and we deliver from its start on.
    if (epoch.epoch > 0) this.journal.restoringEpoch(epoch.epoch, epoch.start)
    const restoring = (stored: StoredEpoch | undefined) =>
      stored === undefined
        ? Parsec.restoring({
            us: secretIdFromPrivateKey(this.components.privateKey),
            genesis: genesis.map((id) => this.verifyStats.wrap(id)),
            section: section.map((id) => this.verifyStats.wrap(id)),
            relatedInfo: epoch.relatedInfo,
            consensusMode: record.mode,
          })
        : this.epochRestoring(stored, record.mode, section)
    const stored = await this.journal.restore(this.components.peerId, restoring, this.sectionId)
    this.epochs.current = this.journal.epoch
    // Starting at a checkpoint: the application's state there comes before our first block.
    if (stored === 0 && epoch.epoch > 0) this.newcomer.begin(epoch.start, epoch.genesis)
    // Before any event of the engine: a restart rebuilds the same engine from it.
    if (stored === 0) {
      await this.storage?.saveJoined(
        encodeGenesisRecord(record),
        section.map((id) => id.encoded),
      )
      if (epoch.epoch > 0 && this.storage?.epoch === undefined) {
        await this.storage?.saveEpoch({
          ...epoch,
          eventsBefore: 0,
          genesis: epoch.genesis.map((id) => id.encoded),
          chain: encodeChain(this.membership.machine?.state?.chain ?? []),
        })
      }
    }
  }

  /**
   * Our payloads the restored engine holds votes of and no decided block carries yet: an epoch
   * switch must vote them again (what `vote()` accepted before the restart is not lost with the
   * old epoch).
   */
  private restoreOwnVotes(): void {
    const engine = this.lifecycle.engine
    if (engine === undefined) return
    const us = engine.ourId
    for (const event of engine.packedEvents(0)) {
      if (event.creator.name !== us.name || event.cause.kind !== 'observation') continue
      const vote = event.cause.vote.payload
      if (vote.kind === 'opaque') this.ownVotes.voted(vote.payload)
    }
    for (const block of this.journal.restoredBlocks().blocks) this.ownVotes.delivered(block, us)
  }

  /**
   * The engine a stored epoch's events rebuild (docs/epochs.md §5): from the epoch's genesis group
   * and related info; a peer outside that group joined during the epoch, its engine built with the
   * members it was admitted into (`section`).
   */
  private epochRestoring(epoch: StoredEpoch, consensusMode: ConsensusMode, section?: readonly PublicId[]) {
    const us = secretIdFromPrivateKey(this.components.privateKey)
    const genesis = epoch.genesis.map((key) => this.verifyStats.wrap(ed25519Id(key)))
    const member = genesis.some((id) => id.name === us.publicId.name)
    return Parsec.restoring({
      us,
      genesis,
      relatedInfo: epoch.relatedInfo,
      consensusMode,
      ...(member ? {} : { section: (section ?? []).map((id) => this.verifyStats.wrap(id)) }),
    })
  }

  ready(): Promise<void> {
    return this.lifecycle.ready()
  }

  /** Before libp2p stops its services (gossipsub among them): stop gossiping and announcing. */
  beforeStop(): void {
    this.startUp.beforeStop()
    this.pacing.stop()
    this.drain.stop()
    if (this.discoveryStarted) this.discovery.stop()
    this.discoveryStarted = false
  }

  async stop(): Promise<void> {
    if (!this.lifecycle.started) return
    this.lifecycle.started = false
    this.beforeStop()
    this.lifecycle.stopped()
    this.joining.stop()
    this.connections.stop()
    this.unsubscribeBans?.()
    this.unsubscribeBans = undefined
    this.membership.stop()
    this.epochSwitch.stop()
    this.newcomer.stop()
    this.missedPayloads.stop()
    this.transactionsPart.stop()
    // A batch waiting for one set aside gives up (`voteInEngine`).
    this.ownVotes.wake()
    await this.inbound.stop()
    await this.membershipWire.stop()
    await this.snapshotWire?.stop()
    await this.decidedWire.stop()
    this.roster.stop()
    this.streams.stop()
    this.reporter.stop()
    this.tags.stop()
    await this.tags.settled()
    await this.journal.settled()
    await this.storage?.settled()
  }

  // ---------------------------------------------------------------- application API

  async vote(payload: Uint8Array): Promise<void> {
    if (payload.length > C.MAX_PAYLOAD_BYTES) {
      throw new SectionError('InvalidArgument', `a payload takes at most ${C.MAX_PAYLOAD_BYTES} bytes`)
    }
    // Never taken for a transaction batch (batch-codec.ts: why a reserved prefix).
    if (isBatch(payload)) {
      throw new SectionError(
        'ReservedPayload',
        'payloads starting with f5505458 are transaction batches: submit() makes them',
      )
    }
    return this.castVote(payload)
  }

  submit(tx: Uint8Array): Promise<void> {
    return this.transactionsPart.submit(tx)
  }

  transactions(from = 0, limit = Number.POSITIVE_INFINITY): DeliveredTransaction[] {
    return this.transactionsPart.list(from, limit)
  }

  /**
   * Votes a payload (checked by `vote`, or a transaction batch). Votes reach the engine in the
   * order of the calls (each waits its turn), and the engine agrees them in that order.
   */
  private async castVote(payload: Uint8Array): Promise<void> {
    if (!this.lifecycle.started) throw new SectionError('NotStarted', 'the section service is not started')
    const turn = this.voteTurn
    let done = (): void => {}
    this.voteTurn = new Promise<void>((resolve) => {
      done = resolve
    })
    try {
      await turn
      await this.voteInEngine(payload)
    } finally {
      done()
    }
    await this.journal.flush()
    this.pacing.nudge(true)
  }

  /** `castVote`'s turn: waits for the engine that takes the vote, then votes. */
  private async voteInEngine(payload: Uint8Array): Promise<void> {
    await this.ready()
    // An epoch switch under way: the vote goes to the new engine.
    await this.epochSwitch.settled()
    const due = this.checkpointPending() ? this.membership.machine?.state?.dueCheckpoint : undefined
    if (due !== undefined && due !== this.checkpointWaitGivenUp) {
      // Our epoch's checkpoint is due: a payload voted in this engine now would most likely be
      // decided after the checkpoint, never delivered, and voted again in the next epoch (a
      // saturated section re-cast about as many payloads per switch as an epoch holds, each vote an
      // event wasted). It waits for the next engine (a round of agreement), at most a while; once
      // for a checkpoint that stalls (votes take turns: each waiting again would add up).
      await this.epochSwitch.nextSwitch(C.CHECKPOINT_VOTE_WAIT_MS)
      await this.epochSwitch.settled()
      if (this.membership.machine?.state?.dueCheckpoint === due) this.checkpointWaitGivenUp = due
    }
    // A batch of ours set aside by a rebase is voted again (if it was not decided) once its fate is
    // known: a later batch waits for that, or it would be agreed first.
    if (isBatch(payload)) {
      while (this.ownVotes.someAside(isBatch)) {
        await this.ownVotes.asideChanged()
        if (!this.lifecycle.started) throw new SectionError('NotStarted', 'the section service stopped')
      }
    }
    const engine = this.lifecycle.requireEngine()
    const step = engine.voteFor(opaque(Uint8Array.from(payload)))
    this.journal.take(step)
    if (step.warnings.some((warning) => warning.kind === 'duplicate-vote')) {
      // Our application's caller learns of it (the engine only warns).
      throw new ParsecError('DuplicateVote', 'we already voted for this payload')
    }
    this.ownVotes.voted(payload)
    this.metrics.voted(payload, Date.now())
  }

  /**
   * Our epoch's checkpoint is due, or our engine decided no payload since the switch (its first
   * block is the epoch's genesis). Votes wait for the switch (`castVote`), so the backlog drains,
   * and the light pace of a small backlog would slow the checkpoint's decision and the new
   * engine's first: a saturated 4-peer section agreed a quarter fewer payloads per second
   * (BENCHMARKS.md, "what a switch costs").
   */
  private switching(): boolean {
    if (this.checkpointPending()) return true
    const engine = this.lifecycle.engine
    const epoch = this.membership.machine?.state?.epoch ?? 0
    return engine !== undefined && epoch > 0 && engine.decidedBlockCount <= 1
  }

  /** We are a voter and our epoch's checkpoint is due (voted, not agreed yet). */
  private checkpointPending(): boolean {
    const machine = this.membership.machine
    return machine?.role === 'member' && machine.state?.dueCheckpoint !== undefined
  }

  graphDot(options: { lastEvents?: number } = {}): string {
    const engine = this.lifecycle.engine
    if (engine === undefined) throw new SectionError('NotStarted', 'no gossip graph yet')
    return dumpDot(engine, {
      ...options,
      nameOf: (id) => (this.roster.peerIdOf(id.name) ?? peerIdFromPublicId(id)).toString(),
    })
  }

  members(): string[] {
    return this.memberPeerIds().map((peer) => peer.toString())
  }

  private memberPeerIds(): PeerId[] {
    const state = this.membership.machine?.state
    // Before the genesis block is agreed: the genesis group.
    if (state === undefined || state.agreedBlocks === 0) return this.roster.members().map((m) => m.peerId)
    return state.memberIds().map((id) => this.roster.peerIdOf(id.name) ?? peerIdFromPublicId(id))
  }

  self(): SelfState {
    return this.membership.self()
  }

  membershipStatus(): MembershipStatus {
    return this.membership.status()
  }

  async leave(): Promise<void> {
    if (!this.lifecycle.started) throw new SectionError('NotStarted', 'the section service is not started')
    await this.ready()
    this.membership.leave()
    await this.journal.flush()
    this.pacing.nudge(true)
  }

  blocks(from = 0, limit = Number.POSITIVE_INFINITY): DeliveredBlock[] {
    return this.journal.blocks(from, limit)
  }

  get retainedFrom(): number {
    return this.journal.retainedFrom
  }

  status(): SectionStatus {
    const { engine, failure } = this.lifecycle
    const lastPull = this.puller.last
    return {
      sectionId: this.sectionId,
      peerId: this.components.peerId.toString(),
      state: this.lifecycle.state,
      ...(failure === undefined ? {} : { failure: { code: failure.code, message: failure.message } }),
      ...(lastPull === undefined
        ? {}
        : {
            catchUp: {
              peer: lastPull.peer.toString(),
              pages: lastPull.pages,
              events: lastPull.events,
              serverGraphSize: lastPull.serverGraphSize,
              done: lastPull.done,
            },
          }),
      mode: this.genesis?.mode ?? this.membership.machine?.state?.record.mode,
      members: this.membership.status().members,
      connected: this.connections.list(),
      graphSize: engine?.graphSize ?? 0,
      decidedBlocks: engine?.decidedBlockCount ?? 0,
      deliveredBlocks: this.journal.deliveredCount,
      retainedFrom: this.journal.retainedFrom,
      epoch: this.epochs.current,
      eventsCreated: this.epochs.eventsCreated,
      blockRetention: this.init.blockRetention ?? null,
      pendingObservations: engine?.pendingObservationCount ?? 0,
      gossipRate: this.outbound.gossipRate(Date.now()),
      gossipReceived: this.epochs.gossipReceived,
      faults: this.reporter.faults,
      linkErrors: this.reporter.linkErrors,
      backingOff: this.backoff.failing(),
      verifications: { count: this.verifyStats.count, totalMs: this.verifyStats.totalMs },
      forkedMembers: this.forkedMembers(),
      cpuMs: (() => {
        const cpu = process.cpuUsage(this.cpuAtStart)
        return (cpu.user + cpu.system) / 1000
      })(),
      shed: this.membershipGuard.shed,
      banned: this.bans.list(),
      ...(this.newcomer.status === undefined ? {} : { snapshot: this.newcomer.status }),
    }
  }

  /** Closes every connection to a banned peer (libp2p's gater only sees new ones). */
  private disconnect(peer: string): void {
    const { connectionManager } = this.components
    const connections = connectionManager.getConnections().filter((c) => c.remotePeer.toString() === peer)
    for (const connection of connections) connection.abort(new Error('peer banned'))
    if (connections.length > 0) this.log('closed %d connections of banned peer %s', connections.length, peer)
  }

  private forkedMembers(): string[] {
    const engine = this.lifecycle.engine
    if (engine === undefined) return []
    const forked = new Set(
      engine
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
    return this.lifecycle.engine
  }
}

/** The section id an init names (its genesis's, or the one to join: both must agree). */
function sectionIdOf(init: ParsecSectionInit): string {
  const fromGenesis = init.genesis?.sectionId
  const toJoin = init.join?.sectionId.toLowerCase()
  if (toJoin !== undefined && !/^[0-9a-f]{64}$/.test(toJoin)) {
    throw new SectionError('InvalidArgument', `not a section id: ${JSON.stringify(init.join?.sectionId)}`)
  }
  if (fromGenesis !== undefined && toJoin !== undefined && fromGenesis !== toJoin) {
    throw new SectionError('InvalidArgument', 'the genesis and the section to join differ')
  }
  const id = fromGenesis ?? toJoin
  if (id === undefined)
    throw new SectionError('InvalidArgument', 'a section service needs a genesis or a join')
  return id
}

/** The same record the section id hashes (genesis.ts): founders, related info, mode. */
function recordOf(genesis: SectionGenesis): GenesisRecord {
  return genesisRecord(
    genesis.members.map((m) => m.publicId),
    genesis.relatedInfo,
    genesis.mode,
  )
}

/** Where a joiner finds members: its bootstrap addresses, then the genesis members' addresses. */
function bootstrapOf(init: ParsecSectionInit): Multiaddr[] {
  const out = [...(init.join?.bootstrap ?? [])]
  for (const member of init.genesis?.members ?? []) {
    for (const addr of member.addrs) {
      const named = addr.getComponents().some((c) => c.name === 'p2p')
      out.push(named ? addr : addr.encapsulate(multiaddr(`/p2p/${member.peerId.toString()}`)))
    }
  }
  return out
}
