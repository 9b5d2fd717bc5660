/**
 * A ready-made libp2p node for a section peer: TCP, noise, yamux, identify, ping, a server of the
 * DHT shared by every section (shared-dht.ts: loopback and LAN addresses kept), gossipsub, an optional bootstrap
 * list and an optional datastore (LevelDB for a data directory), with the section service.
 * One `PeerBans` list (the membership machine's bans) gates connections, scores gossipsub peers
 * and refuses the section's inbound streams. The agreed members' hosts skip the limits on
 * connections before their handshake (the gater's, and libp2p's through its allow list: see
 * limits/allow-list.ts); once identified, members' connections are protected by peer-store tags
 * (the service's peer-tags.ts).
 */
import { bootstrap } from '@libp2p/bootstrap'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import type { PrivateKey } from '@libp2p/interface'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { yamux } from '@libp2p/yamux'
import { DEFAULTS } from '@parsec-section/membership'
import type { Datastore } from 'interface-datastore'
import { createLibp2p, type Libp2p, type Libp2pOptions } from 'libp2p'
import { MEMBER_DIAL_TIMEOUT_MS } from './constants.js'
import {
  INBOUND_PROTOCOL_NEGOTIATION_TIMEOUT_MS,
  INBOUND_UPGRADE_TIMEOUT_MS,
  MAX_PENDING_INBOUND_CONNECTIONS,
  MAX_PENDING_INBOUND_PER_SOURCE,
  memberHosts,
  PendingInboundPerSource,
} from './inbound-limits.js'
import { parsecSection } from './index.js'
import { followAllowList } from './limits/allow-list.js'
import { combineGaters, PeerBans } from './limits/peer-bans.js'
import type { ParsecSection, ParsecSectionComponents, ParsecSectionInit } from './section/api.js'
import { sharedDht } from './shared-dht.js'
import { sectionTcp } from './tcp-transport.js'

/** libp2p's default inbound connections per host and second. */
const INBOUND_CONNECTION_THRESHOLD = 5

/**
 * The shortest time libp2p's connection monitor waits for a ping's answer before it aborts the
 * connection (libp2p: 5 s; the timeout adapts upwards to slow links, up to 60 s). It pings every
 * connection every 10 s, and a ping unanswered in time closes the connection: with 5 s, a peer
 * whose event loop stalled that long (32 peer processes starting at once on two cores, a long
 * catch-up) lost every connection at once, and the section kept redialling, never all connected.
 * A silent peer is still found dead within 40 s; the section's own timeouts cover a slow partner.
 */
export const CONNECTION_PING_MIN_TIMEOUT_MS = 30_000

/**
 * Ping streams per connection, each way. `@libp2p/ping` allows 1 outbound and 2 inbound (the ping
 * spec's advice for a single pinger), but two pingers share it here, each opening a new stream per
 * ping: libp2p's connection monitor (every connection every 10 s, a ping waiting up to its adaptive
 * timeout of 30-60 s, so up to 6 overlap on a slow link) and kad-dht (a new contact, and the oldest
 * ones of a full bucket: one of each per peer at a time). Over the limit a ping fails with
 * TooManyOutboundProtocolStreamsError, and a failed monitor ping aborts the whole connection: that
 * dropped members' connections at start (kad-dht's and the monitor's pings meeting) and during
 * restarts (pings outlasting the interval). 8 covers all of them at once; inbound is twice that,
 * since a stream finished here may still be open at the other end. A ping stream carries 32 bytes
 * and the answering side gives up after 30 s, so the limits cost next to nothing.
 */
export const PING_MAX_OUTBOUND_STREAMS = 8
export const PING_MAX_INBOUND_STREAMS = 2 * PING_MAX_OUTBOUND_STREAMS

export interface SectionNodeOptions extends ParsecSectionInit {
  readonly privateKey: PrivateKey
  readonly listen: readonly string[]
  readonly bootstrap?: readonly string[]
  readonly datastore?: Datastore
  /** DHT and gossipsub discovery (default true). */
  readonly discovery?: boolean
  /**
   * Start the node at once (default true). Pass false to add `block` listeners first: the
   * genesis block, and on a restart the blocks re-derived from storage, are delivered in `start()`.
   */
  readonly start?: boolean
  /**
   * libp2p's metrics component, e.g. `prometheusMetrics()` of `@libp2p/prometheus-metrics`: the
   * node's metrics and the section's (`parsec_section_*`) then go to its registry.
   */
  readonly metrics?: Libp2pOptions['metrics']
}

export type SectionNode = Libp2p<{ section: ParsecSection } & Record<string, unknown>>

export async function createSectionNode(options: SectionNodeOptions): Promise<SectionNode> {
  const {
    privateKey,
    listen,
    datastore,
    discovery = true,
    start = true,
    metrics,
    ...sectionOptions
  } = options
  const bans = sectionOptions.bans ?? new PeerBans()
  const section = { ...sectionOptions, bans }
  const peerDiscovery =
    options.bootstrap !== undefined && options.bootstrap.length > 0
      ? [bootstrap({ list: [...options.bootstrap] })]
      : []
  const extra = discovery
    ? {
        dht: sharedDht(),
        // A banned peer is graylisted: its messages and control are ignored.
        pubsub: gossipsub({
          allowPublishToZeroTopicPeers: true,
          scoreParams: { appSpecificScore: bans.gossipScore },
        }),
      }
    : {}
  // Limits on connections still in their handshake (see inbound-limits.ts): room reserved for
  // the members, a short handshake, a cap per source address. The gater holds the agreed
  // members' hosts (the genesis members' until the service says), and libp2p's allow list asks it.
  const members = section.genesis === undefined ? [] : memberHosts(section.genesis)
  const gater = new PendingInboundPerSource(members, MAX_PENDING_INBOUND_PER_SOURCE)
  const init: ParsecSectionInit = {
    ...section,
    onMembers: (agreed) => {
      gater.allow(memberHosts({ members: agreed }))
      section.onMembers?.(agreed)
    },
  }
  const maxMembers = Math.max(
    section.genesis?.members.length ?? 0,
    section.membership?.maxSize ?? DEFAULTS.maxSize,
  )
  const node = await createLibp2p({
    start,
    privateKey,
    ...(datastore === undefined ? {} : { datastore }),
    ...(metrics === undefined ? {} : { metrics }),
    // `announce` (the addresses we advertise) also goes to libp2p: identify and the DHT's provider
    // records then carry them rather than the listen addresses.
    addresses: {
      listen: [...listen],
      ...(section.announce === undefined || section.announce.length === 0
        ? {}
        : { announce: section.announce.map((a) => a.toString()) }),
    },
    // Banned peers: no dial to them, no connection of theirs once its handshake names them.
    connectionGater: combineGaters(gater, bans.gater()),
    connectionManager: {
      // A connection from a member's address skips every limit below (and pruning), from its
      // first byte: members reach each other however many connections others hold open. These
      // are the genesis hosts; the service's factory below makes the list follow the agreed ones.
      allow: members.map((host) => `/${host.family}/${host.address}`),
      // A silent connection holds a handshake slot this long at most.
      inboundUpgradeTimeout: INBOUND_UPGRADE_TIMEOUT_MS,
      // One address of a dial may take this long (libp2p: 6 s): see the constant.
      addressDialTimeout: MEMBER_DIAL_TIMEOUT_MS,
      // More slots than libp2p's 10, at most MAX_PENDING_INBOUND_PER_SOURCE per source (the
      // gater): filling them takes many source addresses, not one.
      maxIncomingPendingConnections: MAX_PENDING_INBOUND_CONNECTIONS,
      // A stream must name its protocol this soon.
      inboundStreamProtocolNegotiationTimeout: INBOUND_PROTOCOL_NEGOTIATION_TIMEOUT_MS,
      // libp2p refuses a host's 6th inbound connection within a second (a per-IP rate limit).
      // Members sharing a host (one machine, one process, a NAT) all dial us at start, each
      // possibly twice (simultaneous dials): a refused member stayed unconnected until the next
      // discovery round. Allow each member (as many as the section may hold) two connections a second.
      inboundConnectionThreshold: Math.max(INBOUND_CONNECTION_THRESHOLD, 2 * maxMembers),
    },
    // A connection outlives its dial's timeout (tcp-transport.ts).
    transports: [sectionTcp()],
    // A ping must go unanswered longer before its connection is aborted (see the constant).
    connectionMonitor: { pingTimeout: { minTimeout: CONNECTION_PING_MIN_TIMEOUT_MS } },
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    peerDiscovery,
    services: {
      identify: identify(),
      ping: ping({
        maxOutboundStreams: PING_MAX_OUTBOUND_STREAMS,
        maxInboundStreams: PING_MAX_INBOUND_STREAMS,
        // The answering side resets a ping not done by then (@libp2p/ping: 10 s), which fails
        // the monitor's ping as surely as its own timeout: the same patience both ways.
        timeout: CONNECTION_PING_MIN_TIMEOUT_MS,
      }),
      ...extra,
      section: (components: ParsecSectionComponents) => {
        // Before libp2p starts (the connection manager exists before services are made).
        if (!followAllowList(components.connectionManager, (host) => gater.isAllowed(host)))
          components.logger
            .forComponent('parsec-section')
            .error("libp2p's allow list not found: it stays the genesis members' hosts")
        return parsecSection(init)(components)
      },
    },
  })
  return node as unknown as SectionNode
}
