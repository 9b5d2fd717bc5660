/** Protocol names, limits and timeouts of the section service; every one can be overridden in init. */

/**
 * `/parsec/<section id>/sync/1.2.0` (spec/MEMBERSHIP.md §3.1). 1.1.0: one voter's Single-mode
 * payloads are agreed in the order voted, which peers of 1.0.0 may not do: they must not gossip
 * together (they would agree different block orders). 1.2.0: Ed25519 verified by libsodium, which
 * refuses signatures that 1.1.0's OpenSSL accepts (a small-order R a member can make with its own
 * key): mixed, a faulty member could have them hold different events.
 */
export const PROTOCOL_PREFIX = 'parsec'
export const SYNC_PROTOCOL_NAME = 'sync'
export const SYNC_PROTOCOL_VERSION = '1.2.0'
/** `/parsec/<section id>/catchup/1.0.0`: paged catch-up and the start-up self-check. */
export const CATCHUP_PROTOCOL_NAME = 'catchup'
export const CATCHUP_PROTOCOL_VERSION = '1.0.0'
/**
 * `/parsec/<section id>/snapshot/1.0.0`: the application's state at a checkpoint, for a peer that
 * starts at an epoch's start (the snapshot hook, docs/epochs.md §4).
 */
export const SNAPSHOT_PROTOCOL_NAME = 'snapshot'
export const SNAPSHOT_PROTOCOL_VERSION = '1.0.0'
/** The most state bytes in one snapshot chunk. */
export const SNAPSHOT_CHUNK_BYTES = 1024 * 1024
/** The largest application state a newcomer fetches and a member serves (`maxSnapshotBytes`). */
export const MAX_SNAPSHOT_BYTES = 256 * 1024 * 1024
/** The largest snapshot request (three varints). */
export const MAX_SNAPSHOT_REQUEST_BYTES = 64
/** Snapshot streams a peer serves at once, per connection. */
export const MAX_SNAPSHOT_STREAMS = 2
/**
 * Inbound snapshot streams a remote peer may open (anyone may: a joiner is no member yet): a
 * newcomer asks each member for a digest, then fetches the state over one stream, a few times at
 * most; a burst of 8, then one every 2 s.
 */
export const SNAPSHOT_RATE_PER_PEER = { capacity: 8, refillPerSecond: 0.5 } as const
/** Inbound snapshot streams from one source network (/24, /48) together, members excepted. */
export const SNAPSHOT_RATE_PER_NETWORK = { capacity: 32, refillPerSecond: 2 } as const
/** A newcomer's first and longest wait before asking the members for a digest again. */
export const SNAPSHOT_RETRY_MS = 500
export const SNAPSHOT_MAX_RETRY_MS = 10_000
/**
 * `/parsec/<section id>/decided/1.0.0`: which of a rebased member's own payloads were decided in
 * the blocks it missed (docs/epochs.md §4).
 */
export const DECIDED_PROTOCOL_NAME = 'decided'
export const DECIDED_PROTOCOL_VERSION = '1.0.0'
/** The most blocks one decided request covers (a member scans its delivered blocks in memory). */
export const MAX_DECIDED_RANGE = 10_000
/** The most payload keys in one decided request. */
export const MAX_DECIDED_KEYS = 1_024
/** A payload's key: its SHA-256 digest. */
export const DECIDED_KEY_BYTES = 32
/** The largest decided request: the range and the keys, with their framing. */
export const MAX_DECIDED_REQUEST_BYTES = MAX_DECIDED_KEYS * (DECIDED_KEY_BYTES + 2) + 64
/** Decided streams a peer serves at once, per connection. */
export const MAX_DECIDED_STREAMS = 2
/** Inbound decided streams a member may open: a few per rebase; a burst of 8, then one a second. */
export const DECIDED_RATE_PER_PEER = { capacity: 8, refillPerSecond: 1 } as const
/** A rebased member's first and longest wait before asking the members again. */
export const DECIDED_RETRY_MS = 500
export const DECIDED_MAX_RETRY_MS = 10_000
/** Membership messages between peers (LeaveRequest, JoinInfo and the join messages): one per stream. */
export const MEMBERSHIP_PROTOCOL_NAME = 'membership'
export const MEMBERSHIP_PROTOCOL_VERSION = '1.0.0'
/** Concurrent membership streams per connection: messages are rare and small. */
export const MAX_MEMBERSHIP_STREAMS = 8
/** The longest membership message (a JoinInfo carries the whole membership chain). */
export const MAX_MEMBERSHIP_MESSAGE_BYTES = 16 * 1024 * 1024
/**
 * The longest membership message a member reads from a non-member: everything a non-member sends
 * a member (JoinInfoRequest, JoinRequest, Ready) is small, and the machine's decoder holds every
 * kind but JoinInfo to 64 KiB anyway; only members' and, while we are not a member, anyone's
 * messages (a JoinInfo we asked for) may take `MAX_MEMBERSHIP_MESSAGE_BYTES`.
 */
export const MAX_MEMBERSHIP_REQUEST_BYTES = 64 * 1024
/** The longest wait between two clock readings given to the membership machine. */
export const MEMBERSHIP_TICK_MS = 1_000
/**
 * Inbound membership streams a remote peer may open: a burst of 16, then 4 a second. A joiner
 * sends a handful of messages (JoinInfoRequest, JoinRequest, Ready, a few retries), a member a
 * LeaveRequest and replies; more is a flood, reset before the stream is read.
 */
export const MEMBERSHIP_RATE_PER_PEER = { capacity: 16, refillPerSecond: 4 } as const
/**
 * Inbound membership streams from one source network (/24 of IPv4, /48 of IPv6) together, members
 * of the section excepted (they count against their own peer's bucket only): a burst of 64, then
 * 16 a second. Peer ids cost nothing, so this is what holds a flood of fresh identities.
 */
export const MEMBERSHIP_RATE_PER_NETWORK = { capacity: 64, refillPerSecond: 16 } as const
/** Peers, and as many networks, whose buckets are tracked (least recently used forgotten first). */
export const MEMBERSHIP_RATE_KEYS = 4096
/** Shed streams are logged at most once per this interval (a count since the last line). */
export const SHED_LOG_INTERVAL_MS = 10_000
export const ANNOUNCE_TOPIC_VERSION = '1'

/**
 * The one message size limit, of every protocol of the service: a larger message is refused from
 * its length prefix, before it is read, and the stream's read buffer is sized to it.
 */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024
/**
 * The most event bytes one message carries: a sync whose events would take more is not sent;
 * the partner fetches what it lacks in pages of this size over the catch-up protocol instead.
 */
export const PAGE_BYTES = 1024 * 1024
/** The largest payload `vote()` takes: its event must fit in a page with room to spare. */
export const MAX_PAYLOAD_BYTES = 512 * 1024
/** Transactions: how long a first transaction waits for others before its batch is voted. */
export const TRANSACTION_WINDOW_MS = 5
/** Transactions: the largest batch payload (below `MAX_PAYLOAD_BYTES`). */
export const TRANSACTION_BATCH_BYTES = 256 * 1024
/**
 * Transactions: batches of ours voted and not delivered at once, at most. The engine agrees one
 * voter's payloads in the order voted, so batches need not wait for each other; the bound keeps
 * the next ones filling (fewer, larger vote events) while these are agreed.
 */
export const TRANSACTION_OPEN_BATCHES = 4
/** Transactions: the most bytes submitted at a peer and not voted yet. */
export const MAX_QUEUED_TRANSACTION_BYTES = 16 * 1024 * 1024
/** At most this many frontier entries in one message (one per creator). */
export const MAX_FRONTIER_ENTRIES = 4096
/** At most this many events in one message (a cheap bound checked while decoding). */
export const MAX_EVENTS_PER_MESSAGE = 100_000
/** Inbound sync streams at once, per connection (one long-lived stream per partner is the norm). */
export const MAX_INBOUND_STREAMS = 4
export const MAX_OUTBOUND_STREAMS = 4

/**
 * Before a peer makes its first event after a start it asks the other members for the latest
 * event of ours they hold, and waits for more than a third of them to answer or for this long.
 */
export const SELF_CHECK_TIMEOUT_MS = 30_000
/** Between two attempts to reach a member that has not answered the self-check yet. */
export const SELF_CHECK_RETRY_MS = 500
/** The largest catch-up request (a frontier of `MAX_FRONTIER_ENTRIES` fits). */
export const MAX_CATCHUP_REQUEST_BYTES = 256 * 1024
/** Catch-up streams a peer serves at once, per connection. */
export const MAX_CATCHUP_STREAMS = 2

/** Waiting for a partner's response to our request. */
export const RESPONSE_TIMEOUT_MS = 10_000
/** How long a retired epoch's engine serves members that have not switched (docs/epochs.md §2). */
export const EPOCH_DRAIN_MS = 60_000

/**
 * Agreed blocks per epoch when the service's `membership.checkpointBlocks` is not set (docs/epochs.md;
 * 0 turns epochs off). Every member of a section must use the same value: a checkpoint is a
 * supermajority decision, and the members that find it due hold their payloads for it.
 */
export const CHECKPOINT_BLOCKS = 1_000

/**
 * An epoch's checkpoint also falls due once its agreed observations reach this many bytes (a proxy
 * of its graph's size: large payloads fill memory with few blocks); 0 turns this trigger off. The
 * same at every member, as `CHECKPOINT_BLOCKS`.
 */
export const CHECKPOINT_BYTES = 64 * 1024 * 1024
/** A long-lived inbound stream with no request for this long is closed (the partner reopens). */
export const IDLE_STREAM_TIMEOUT_MS = 60_000
/** Opening a stream (dial included). */
export const OPEN_STREAM_TIMEOUT_MS = 5_000
/**
 * Dialling a member we are not connected to (discovery), and libp2p's limit on one address of a
 * dial (its `addressDialTimeout`, 6 s by default). A handshake is a few round trips, but when a
 * whole section starts at once each peer handshakes with every other at the same time: 24 peer
 * processes on two busy cores took up to 7 s, and a dial given up at 5 s threw that work away,
 * only to start it again. A dial that is not progressing still fails sooner (a refused or reset
 * connection).
 */
export const MEMBER_DIAL_TIMEOUT_MS = 20_000

/**
 * Gossip pace while decisions are under way: from `LIGHT_GOSSIP_INTERVAL_MS` per peer with one
 * observation pending down to `GOSSIP_INTERVAL_MS` with `BACKLOG_FOR_FASTEST_GOSSIP` or more. A
 * decision takes a few gossip rounds whatever the pace, so a slower pace under a light load lets
 * each decision carry more payloads for the same events (about 10 events per payload at 4 peers and
 * 5 votes/s, against 50-90 at a fixed 50 ms); a large backlog gets the fast pace for throughput.
 * Nothing pending: no gossip at all. Jitter is a fraction of the interval.
 */
export const GOSSIP_INTERVAL_MS = 50
export const LIGHT_GOSSIP_INTERVAL_MS = 500
export const BACKLOG_FOR_FASTEST_GOSSIP = 50
/**
 * The section size the busy pace above is set for. In a larger section each peer gossips
 * `voters / GOSSIP_REFERENCE_VOTERS` times less often and needs as many times the backlog for its
 * fastest pace, so the section as a whole makes about as many exchanges per second (and so sync
 * events, each verified by every other peer) whatever its size: at 16 peers and a fixed 50 ms,
 * 320 exchanges/s of 3 events each, each event verified 15 times, leave the cores nothing but
 * signature checks. See `busyInterval` (scheduler.ts).
 */
export const GOSSIP_REFERENCE_VOTERS = 4
/** The pace while observations are pending but no decision is possible (see `PROGRESS_WINDOW_MS`). */
export const IDLE_GOSSIP_INTERVAL_MS = 1_000
export const GOSSIP_JITTER = 0.3
/** Rate cap: at most this many exchanges started per second, however much arrives. */
export const MAX_GOSSIP_PER_SECOND = 200
/** Exchanges in flight at once (each with a different partner). */
export const MAX_CONCURRENT_EXCHANGES = 2

/**
 * Pending observations keep gossip fast only while consensus makes progress: a block decided or a
 * new observation seen within this window. An observation that can never be decided (in
 * Supermajority mode, a payload voted at too few members) would otherwise keep every member
 * gossiping at full rate forever; after the window gossip falls back to the slow (stalled) pace.
 */
export const PROGRESS_WINDOW_MS = 10_000

/**
 * A partner we could not reach, or whose exchange failed, is not tried again for 1 s, then 2 s,
 * 4 s... up to 30 s (each ±20%); a success or a new connection resets it.
 */
export const PARTNER_BACKOFF_MS = 1_000
export const PARTNER_BACKOFF_MAX_MS = 30_000

/**
 * A partner still in our previous epoch (it has not agreed the checkpoint yet) is tried again after
 * this, not backed off: it switches within a round or two of gossip.
 */
export const EPOCH_LAG_RETRY_MS = 50

/**
 * A payload voted while our epoch's checkpoint is due waits for the next epoch's engine at most this
 * long (the checkpoint is agreed within a round or two of gossip; a stalled section votes it in the
 * old engine after this, as before).
 */
export const CHECKPOINT_VOTE_WAIT_MS = 5_000

/**
 * A draining peer (its removal agreed, serve-only) tells each remaining member to pull its last
 * events again this often, until the member answers `not-member` or the drain ends (see drain.ts).
 */
export const FINAL_SYNC_INTERVAL_MS = 1_000

/**
 * Announcements on the section's gossipsub topic: the membership machine's `announceIntervalMs`
 * (±`announceJitter`) unless `membership` sets it, and after each membership change.
 */
export const ANNOUNCE_INTERVAL_MS = 60_000
/**
 * Our latest announcement is published again when a peer subscribes to the topic (it missed the
 * earlier ones), at most this often.
 */
export const ANNOUNCE_REPEAT_MIN_MS = 5_000
/**
 * Looking up a member's addresses through the DHT (members we cannot reach): every 5 s, and for
 * a member still missing after that, 10 s, 20 s... up to 60 s between its lookups.
 */
export const DISCOVERY_INTERVAL_MS = 5_000
export const DISCOVERY_MAX_INTERVAL_MS = 60_000
export const FIND_PEER_TIMEOUT_MS = 5_000

/** A joiner's lookup of the section's providers (`findMembers`) ends after this long at most. */
export const FIND_MEMBERS_TIMEOUT_MS = 30_000

/** The kad-dht protocol of every section and of DHT-only peers (shared-dht.ts). */
export const SHARED_DHT_PROTOCOL = '/parsec-section/kad/1.0.0'
/** What the section id is prefixed with before hashing it into the section's CID. */
export const SECTION_CID_PREFIX = 'parsec-section/v1/'
/**
 * A member provides its section's CID again this often. kad-dht re-provides its own records before
 * they expire (48 h), but the peers closest to the CID change as peers come and go, and our
 * addresses may change: a record refreshed every 10 minutes keeps joiners' lookups short.
 */
export const REPROVIDE_INTERVAL_MS = 10 * 60_000
/** A provide waits for a DHT peer (an empty routing table) and then stores the record, this long at most. */
export const PROVIDE_TIMEOUT_MS = 30_000

/**
 * A joiner's catch-up (joining.ts): the wait between two pulls from its server once a pull found
 * nothing more (the section moves on meanwhile; Ready goes out within `readyLag` blocks of it).
 */
export const JOIN_PULL_INTERVAL_MS = 250
/** First and longest wait before a joiner dials a bootstrap address or pulls again after a failure. */
export const JOIN_RETRY_MS = 500
export const JOIN_MAX_RETRY_MS = 10_000
