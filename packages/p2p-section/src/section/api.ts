/**
 * The section service's public shape: its options, the components it takes from libp2p, what it
 * delivers, reports and tells of its state, and the interface embedders call.
 */
import type {
  ComponentLogger,
  ContentRouting,
  Libp2pEvents,
  Metrics,
  PeerId,
  PeerRouting,
  PeerStore,
  PrivateKey,
  TypedEventTarget,
} from '@libp2p/interface'
import type { AddressManager, ConnectionManager, Registrar } from '@libp2p/interface-internal'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { LeaveReason, MembershipConfig, RejectReason } from '@parsec-section/membership'
import type { Block, BlockDescription } from '@parsec-section/parsec-core'
import type { Datastore } from 'interface-datastore'
import type { PullProgress } from '../catchup.js'
import type { LinkErrorCode, SectionError } from '../errors.js'
import type { GenesisMember, SectionGenesis } from '../genesis.js'
import type { PeerBans } from '../limits/peer-bans.js'
import type { RateLimit } from '../limits/source-rate.js'
import type { ShedCounts } from '../limits/stream-guard.js'
import type { SectionFault } from './fault.js'

/**
 * The application's side of epochs (docs/epochs.md §4): a peer that starts at an epoch's start S
 * (a joiner admitted after a checkpoint, or a member that lagged by whole epochs) is never
 * delivered the blocks before S, so it installs the application's state after the checkpoint
 * block at Q = S - 1, fetched from the members and checked against the digest f+1 of them report.
 * Every member of a section must run the same hook (a member without one answers `unknown`).
 */
export interface SnapshotHook {
  /**
   * Member: the digest of the application's state with every block up to and including `position`
   * (a checkpoint block) applied. Called right after that block's `block` event was emitted (and
   * before the next block's), so a synchronous snapshot of the state is the state at `position`.
   */
  digest(position: number): Uint8Array | Promise<Uint8Array>
  /**
   * Member: that state's bytes for a newcomer; undefined if no longer held (keep at least the
   * last two checkpoints' states). Called for every chunk a newcomer asks for: hand the same bytes.
   */
  state(position: number): Uint8Array | undefined | Promise<Uint8Array | undefined>
  /** Newcomer: the digest of `state` as `digest` computes it. */
  digestOf(state: Uint8Array): Uint8Array | Promise<Uint8Array>
  /**
   * Newcomer: install the state at `position`; the block at `position + 1` is the next one
   * delivered. (From then on it is one of the states `state(position)` serves.)
   */
  install(position: number, state: Uint8Array): void | Promise<void>
}

/** A snapshot a newcomer installed (the `snapshot:installed` event, `status().snapshot`). */
export interface SnapshotInstalled {
  /** The checkpoint block's position: the state holds every block up to it. */
  readonly position: number
  readonly bytes: number
  /** The member that served it (its digest was reported by f+1 members). */
  readonly from: PeerId
}

/** Joining a section by its id alone (MEMBERSHIP.md §3): no genesis file on the joiner's side. */
export interface SectionJoin {
  /** The section id (lowercase hex): the joiner checks the genesis record it is served against it. */
  readonly sectionId: string
  /** Where to find members: any member's addresses (with or without `/p2p/<peer id>`). */
  readonly bootstrap: readonly Multiaddr[]
}

export interface ParsecSectionInit {
  /**
   * The section's genesis (see `parseGenesis`/`createGenesis`): a member of its group founds the
   * section (or resumes it from its store); anyone else joins it through the members' addresses.
   * Either this or `join`.
   */
  readonly genesis?: SectionGenesis
  /**
   * Join the section with this id through these addresses (or, with a store of an earlier run of
   * ours that joined it, resume as a member). Either this or `genesis`.
   */
  readonly join?: SectionJoin
  /** Persist the graph and delivered blocks in the node's datastore (default true). */
  readonly persist?: boolean
  /**
   * Keep only the last N delivered blocks (N ≥ 1), in memory and in the store: older ones are
   * deleted in the batches that write new ones (and at a restart, down to N). Positions never
   * change: `blocks()` answers the retained ones (from `retainedFrom`), and every block is still
   * delivered (the `block` event) once. Undefined (the default): every block is kept.
   */
  readonly blockRetention?: number
  /**
   * Epochs (docs/epochs.md): every `checkpointBlocks` agreed blocks the members agree a checkpoint
   * and start a new engine, so memory and disk stay bounded (the membership machine's
   * `checkpointBlocks`, set through `membership`: 1,000 by default, 0 runs without epochs; and
   * `checkpointBytes`, 64 MiB by default (0 when `checkpointBlocks` is 0): also once an epoch's
   * agreed payloads reach it; every member of a section must use the same values). The retired
   * engine serves members that have not switched for `epochDrainMs` (default 60 s), then its graph
   * is dropped from memory and from the store.
   */
  readonly epochDrainMs?: number
  /**
   * Sync each batch to disk before anything that depends on it is sent (default true; a
   * LevelDB datastore). False only to measure what syncing costs: a crash may then lose events
   * that peers have seen, and the restarted peer would fork.
   */
  readonly syncWrites?: boolean
  /** The one message size limit of every protocol (frames and read buffers). */
  readonly maxMessageBytes?: number
  /** The most event bytes in one message; a partner lacking more catches up in pages of this size. */
  readonly pageBytes?: number
  /** See `constants.SELF_CHECK_TIMEOUT_MS`. */
  readonly selfCheckTimeoutMs?: number
  readonly selfCheckRetryMs?: number
  readonly maxEventsPerMessage?: number
  readonly maxInboundStreams?: number
  readonly maxOutboundStreams?: number
  readonly responseTimeoutMs?: number
  readonly idleStreamTimeoutMs?: number
  /** The fastest gossip pace (a large backlog); see `constants.GOSSIP_INTERVAL_MS`. */
  readonly gossipIntervalMs?: number
  /** The slowest busy pace (one observation pending); see `constants.LIGHT_GOSSIP_INTERVAL_MS`. */
  readonly lightGossipIntervalMs?: number
  /** The backlog at which gossip reaches its fastest pace. */
  readonly backlogForFastestGossip?: number
  /**
   * The section size the busy pace is set for: a larger section gossips proportionally slower per
   * peer; see `constants.GOSSIP_REFERENCE_VOTERS` (0: the same pace at any size).
   */
  readonly gossipReferenceVoters?: number
  /** The pace while observations are pending but no decision is possible. */
  readonly idleGossipIntervalMs?: number
  readonly maxGossipPerSecond?: number
  readonly maxConcurrentExchanges?: number
  /** Name of the node's gossipsub service used for announcements (default `pubsub`); absent: none. */
  readonly pubsubService?: string
  /**
   * The addresses we advertise instead of the address manager's (our listen addresses, or libp2p's
   * `addresses.announce`): in announcements and in the tickets and JoinRequests the membership
   * machine signs. For a listener on 0.0.0.0 or behind a port mapping. `createSectionNode` also
   * makes them libp2p's `addresses.announce` (identify, the DHT's provider records).
   */
  readonly announce?: readonly Multiaddr[]
  /** How often members announce themselves (the machine's `announceIntervalMs` unless `membership` sets it). */
  readonly announceIntervalMs?: number
  readonly lookupIntervalMs?: number
  readonly maxLookupIntervalMs?: number
  /** See `constants.PROGRESS_WINDOW_MS`. */
  readonly progressWindowMs?: number
  /** First and longest wait before a partner that failed is tried again. */
  readonly partnerBackoffMs?: number
  readonly partnerBackoffMaxMs?: number
  /**
   * The membership machine's timers and limits (MEMBERSHIP.md §8; `@parsec-section/membership`'s
   * `MembershipConfig`), e.g. a shorter `unresponsiveMs` and `unresponsiveDecisions` in tests.
   */
  readonly membership?: Partial<MembershipConfig>
  /** The longest wait between two clock readings given to the membership machine (default 1 s). */
  readonly membershipTickMs?: number
  /**
   * Called with the members (peer id, engine id, the addresses they are known by) when the service
   * starts and whenever the agreed members change: `createSectionNode` lets their hosts past its
   * handshake limits (inbound-limits.ts) with it.
   */
  readonly onMembers?: (members: readonly GenesisMember[]) => void
  /**
   * The peers this node refuses (the membership machine's bans). `createSectionNode` makes one and
   * also gives it to libp2p's connection gater and gossipsub's scoring; an embedder building its
   * own node passes the same list here and `bans.gater()` to libp2p (README, "Bans"). Absent:
   * the service keeps its own, refusing banned peers' streams and closing their connections only.
   */
  readonly bans?: PeerBans
  /** Inbound membership streams per remote peer; see `constants.MEMBERSHIP_RATE_PER_PEER`. */
  readonly membershipRatePerPeer?: RateLimit
  /** Inbound membership streams per source network (/24, /48); see `constants.MEMBERSHIP_RATE_PER_NETWORK`. */
  readonly membershipRatePerNetwork?: RateLimit
  /** A joiner's wait between two catch-up pulls that found nothing more (`constants.JOIN_PULL_INTERVAL_MS`). */
  readonly joinPullIntervalMs?: number
  /**
   * The application's snapshot hook (epochs): digests of its state at each checkpoint, served to
   * newcomers, and the state a newcomer installs before its first block. Absent: a newcomer starts
   * delivering at the epoch's start with no state (the application fetches it its own way).
   */
  readonly snapshot?: SnapshotHook
  /** The largest application state fetched or served (`constants.MAX_SNAPSHOT_BYTES`, 256 MiB). */
  readonly maxSnapshotBytes?: number
  /**
   * Transactions (`submit`): how long a first transaction waits for others before its batch is
   * voted (`constants.TRANSACTION_WINDOW_MS`, 5 ms). While `transactionOpenBatches` of ours are
   * open the next one fills and is voted as soon as one of them is delivered.
   */
  readonly transactionWindowMs?: number
  /**
   * Transactions: batches of ours voted and not delivered at once, at most
   * (`constants.TRANSACTION_OPEN_BATCHES`, 4); at least 1.
   */
  readonly transactionOpenBatches?: number
  /** The largest batch payload (`constants.TRANSACTION_BATCH_BYTES`, 256 KiB; at most `MAX_PAYLOAD_BYTES`). */
  readonly transactionBatchBytes?: number
  /** The most transaction bytes queued and not yet voted (`constants.MAX_QUEUED_TRANSACTION_BYTES`, 16 MiB). */
  readonly maxQueuedTransactionBytes?: number
}

export interface ParsecSectionComponents {
  peerId: PeerId
  privateKey: PrivateKey
  registrar: Registrar
  connectionManager: ConnectionManager
  peerStore: PeerStore
  events: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
  datastore: Datastore
  peerRouting: PeerRouting
  contentRouting: ContentRouting
  addressManager: AddressManager
  metrics?: Metrics
}

/**
 * A transaction as delivered to the application (the `transaction` event, `transactions()`): once,
 * in agreed order, right after the `block` event of the batch that carries it.
 */
export interface DeliveredTransaction {
  /** The position of the block carrying its batch. */
  readonly position: number
  /** Its index in that batch (0-based). */
  readonly index: number
  /** A view into the block's payload (the block is kept: do not change it; copy to keep it apart). */
  readonly tx: Uint8Array
  /** The peer that submitted it (the batch's voter). */
  readonly proposer?: PeerId
}

/** A block as delivered to the application, once, in agreed order. */
export interface DeliveredBlock {
  /** 0-based position in the section's agreed order (the genesis block is 0). */
  readonly position: number
  readonly block: Block
  /** JSON-friendly form: kind, payload (hex and text), voters. */
  readonly description: BlockDescription
}

export type { FaultEvidence, MessageFaultCode, SectionFault, SectionFaultCode } from './fault.js'

/**
 * A transport-level failure with a peer: stream reset, connection closed or lost (a message cut
 * short by it included), no answer in time, not reachable. Says nothing about the peer's honesty:
 * an honest peer that is killed, restarted or cut off gives these.
 */
export interface SectionLinkError {
  readonly peer: PeerId
  readonly kind: 'transport'
  readonly code: LinkErrorCode
  readonly message: string
  /** During our exchange with the peer (`outbound`) or its exchange with us (`inbound`). */
  readonly direction: 'inbound' | 'outbound'
  /** Outbound: how long we leave this peer alone before trying it again. */
  readonly retryInMs?: number
}

/**
 * Where the service is: `checking` (the start-up self-check), `catching-up` (fetching what it
 * lacks before its first event), `running`, `failed` (it makes no more events: see `ready()`),
 * `stopped`.
 */
export type SectionState = 'checking' | 'catching-up' | 'running' | 'failed' | 'stopped'

export interface SectionStatus {
  readonly sectionId: string
  readonly peerId: string
  readonly state: SectionState
  /** Why the service failed (`state` is `failed`). */
  readonly failure?: { readonly code: string; readonly message: string }
  /** The paged catch-up under way or last finished. */
  readonly catchUp?: CatchUpStatus
  /** Undefined while a joiner has not been served the genesis record yet. */
  readonly mode?: SectionGenesis['mode']
  /** The current agreed voters' peer ids, sorted (as `membershipStatus().members`). */
  readonly members: readonly string[]
  readonly connected: readonly string[]
  readonly graphSize: number
  readonly decidedBlocks: number
  /** The next position to deliver: every block before it was delivered (kept or not). */
  readonly deliveredBlocks: number
  /** The first delivered block still kept (0 unless block retention dropped earlier ones). */
  readonly retainedFrom: number
  /** The epoch our engine is in (docs/epochs.md; 0 without epochs). */
  readonly epoch: number
  /** Every event our graphs held, across the epochs (`graphSize` is the current epoch's). */
  readonly eventsCreated: number
  /** How many of the last blocks are kept (`blockRetention`); null: all. */
  readonly blockRetention: number | null
  /** Observations carried by some event that are not decided yet. */
  readonly pendingObservations: number
  /** Exchanges we started per second, over the last 10 s. */
  readonly gossipRate: number
  /**
   * Events the sync messages we handled carried since we started, and of those, the ones we held
   * already (sent to us in vain: a partner could not know we had them); `inRequests`, the part of
   * both that came in the requests we answered (the rest came in the responses to ours).
   */
  readonly gossipReceived: GossipReceived
  /** `fault` events so far (provably bad input). */
  readonly faults: number
  /** `link:error` events so far (broken links: not faults). */
  readonly linkErrors: number
  /**
   * Members whose last dial or exchange failed: each is tried again only after its backoff
   * (capped exponential); a success or a new connection removes it.
   */
  readonly backingOff: readonly string[]
  /** Signature verifications by the engine, and the time they took. */
  readonly verifications: { readonly count: number; readonly totalMs: number }
  /** Members of whom our graph holds a fork (two events with one self-parent). */
  readonly forkedMembers: readonly string[]
  /** This process's CPU time (user + system) since the service started. */
  readonly cpuMs: number
  /** Inbound membership streams reset unread, by cause (README: "What a non-member can hold"). */
  readonly shed: ShedCounts
  /** Peers banned now (agreed, or local and not expired). */
  readonly banned: readonly string[]
  /**
   * With a snapshot hook, a newcomer's application state: `fetching` (its blocks wait) until
   * `installed` (`from`: the member that served it).
   */
  readonly snapshot?: SnapshotStatus
}

export interface SnapshotStatus {
  readonly state: 'fetching' | 'installed'
  readonly position: number
  readonly bytes?: number
  readonly from?: string
}

export interface CatchUpStatus {
  readonly peer: string
  readonly pages: number
  readonly events: number
  readonly serverGraphSize: number
  readonly done: boolean
}

/**
 * Our own state in the section (MEMBERSHIP.md §2): `outsider` (not admitted), `candidate`
 * (admitted, catching up), `joining` (voted in, not heard yet), `member`, `leaving` (our Remove
 * voted, or decided and draining), `removed`, `banned`.
 */
export type SelfState = 'outsider' | 'candidate' | 'joining' | 'member' | 'leaving' | 'removed' | 'banned'

/** Our membership and the section's, as this peer sees them (`ParsecSection.membershipStatus()`). */
export interface MembershipStatus {
  readonly self: SelfState
  /** The current agreed voters' peer ids, sorted (before the genesis block is agreed: the founders). */
  readonly members: readonly string[]
  /** Membership blocks (Genesis, Add, Remove, Accusation) agreed so far: the chain's length. */
  readonly seq: number
  /** The membership chain's head, as hex (at `seq` 0 the section id); null before we know the chain. */
  readonly head: string | null
  /** Peers on their way in: candidates we admitted and peers of live Add votes, sorted. */
  readonly candidates: readonly string[]
  /** Members we suspect of silence now (the unresponsive window or the join grace passed), sorted. */
  readonly suspected: readonly string[]
}

/** A member added, removed or banned by an agreed block at `position`. */
export interface MemberChange {
  readonly peer: PeerId
  readonly position: number
}

export interface MemberLeft extends MemberChange {
  /** `left` (it asked), `removed` (voted out, e.g. for silence), `banned`. */
  readonly reason: LeaveReason
}

export interface JoinRejected {
  readonly peer: PeerId
  readonly by?: PeerId
  readonly reason: RejectReason
  readonly retryAfterMs: number
}

export interface ParsecSectionEvents {
  'member:joined': CustomEvent<MemberChange>
  'member:left': CustomEvent<MemberLeft>
  'member:banned': CustomEvent<MemberChange>
  /** Our own Add was agreed (a founder: never). */
  'self:joined': CustomEvent<{ readonly position: number; readonly seq: number }>
  /** Our removal was agreed and our drain is over: we gossip no more. */
  'self:removed': CustomEvent<{ readonly reason: LeaveReason }>
  'join:rejected': CustomEvent<JoinRejected>
  block: CustomEvent<DeliveredBlock>
  /**
   * Single-mode sections: each transaction of a delivered batch, in agreed order, right after its
   * block's `block` event.
   */
  transaction: CustomEvent<DeliveredTransaction>
  /**
   * A newcomer installed the application's state at a checkpoint (the snapshot hook): the blocks
   * after it follow.
   */
  'snapshot:installed': CustomEvent<SnapshotInstalled>
  /** After each page of a paged catch-up. */
  'catchup:progress': CustomEvent<PullProgress>
  /** The start-up self-check got no answer in time and went on (a whole section restarting). */
  'selfcheck:unanswered': CustomEvent<{ readonly asked: number; readonly answered: number }>
  fault: CustomEvent<SectionFault>
  'link:error': CustomEvent<SectionLinkError>
  'peer:connected': CustomEvent<PeerId>
  'peer:disconnected': CustomEvent<PeerId>
  /**
   * The service stopped making events for good: `StorageFailed` (writing to the store failed: it
   * sends nothing that depends on what was not stored; restart once the cause, e.g. a full disk,
   * is fixed) or `SelfCheckFailed` (the section holds an event of ours our store does not).
   * `vote` and `ready()` reject with this error.
   */
  failed: CustomEvent<SectionError>
}

export interface ParsecSection extends TypedEventTarget<ParsecSectionEvents> {
  readonly sectionId: string
  readonly protocol: string
  /**
   * Resolves once the service runs (its self-check and start-up catch-up done); rejects with the
   * `SectionError` that stopped it, e.g. `SelfCheckFailed` when the section holds an event of ours
   * our store does not (a wrong data directory, or our key running elsewhere).
   */
  ready(): Promise<void>
  /**
   * Votes for an application payload (at most `MAX_PAYLOAD_BYTES`); waits for `ready()`, resolves
   * once our vote is stored (and may be gossiped). A payload starting with the transaction batch
   * magic (0xF5 "PTX", never UTF-8 text) is refused (`ReservedPayload`): `submit` makes those.
   */
  vote(payload: Uint8Array): Promise<void>
  /**
   * Submits an application transaction (1 byte up to about `transactionBatchBytes`) in a
   * Single-mode section: it is batched with others submitted here within `transactionWindowMs`,
   * voted as one payload, and delivered at every peer as a `transaction` event, once, in agreed
   * order; the transactions submitted at one peer are delivered in the order submitted.
   * Resolves once the batch holding it is voted and stored: from then on it is delivered exactly
   * once, across a restart of this peer and across epoch switches. One that had not resolved when
   * the peer stopped or crashed may be lost (submit it again). Rejects with a `SectionError`:
   * `TransactionsNeedSingleMode` in a Supermajority section, `InvalidArgument` (empty or too
   * large), `TransactionQueueFull` (`maxQueuedTransactionBytes` not voted yet), `NotStarted`.
   */
  submit(tx: Uint8Array): Promise<void>
  /**
   * The transactions of the delivered blocks kept, from block position `from` on: whole blocks,
   * until at least `limit` transactions (so the next call starts at the last one's position + 1).
   */
  transactions(from?: number, limit?: number): DeliveredTransaction[]
  /**
   * Delivered blocks from position `from` on (at most `limit`), of those kept: with block
   * retention, a `from` before `retainedFrom` answers from `retainedFrom` on.
   */
  blocks(from?: number, limit?: number): DeliveredBlock[]
  /** The first delivered block kept (`blocks()` answers none before it): 0 without retention. */
  readonly retainedFrom: number
  status(): SectionStatus
  /**
   * Our gossip graph in the reference's DOT layout, peers named by peer id: the whole graph by
   * default (`parsec-peer replay` reads it back), or a view of the last `lastEvents` events (not
   * replayable). Throws `NotStarted` while we hold no engine (a joiner before its admission).
   */
  graphDot(options?: { lastEvents?: number }): string
  /** The current agreed voters' peer ids, in engine id order. */
  members(): string[]
  /** Our own state in the section. */
  self(): SelfState
  /** Our state, the agreed voters, the membership chain's `seq` and `head`, candidates, suspects. */
  membershipStatus(): MembershipStatus
  /**
   * Leaves gracefully: votes our own Remove (and asks the members to), keeps gossiping until it is
   * agreed, serves for the drain, then `self:removed` and no more gossip. Resolves once the leave
   * is under way; rejects with a `LeaveRefusedError` (code `LeaveRefused`) whose `reason` says why
   * it was refused: `LastMember`, `AlreadyLeaving`, `Removed`, `NotAMember`, `GenesisNotAgreed`.
   */
  leave(): Promise<void>
}

/** See `SectionStatus.gossipReceived`. */
export interface GossipReceived {
  readonly events: number
  readonly duplicates: number
  readonly inRequests: { readonly events: number; readonly duplicates: number }
}
