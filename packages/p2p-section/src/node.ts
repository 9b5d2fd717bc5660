/**
 * A ready-made libp2p node for a section peer: TCP, noise, yamux, identify, ping, kad-dht on the
 * section's private protocol (loopback and LAN addresses kept), gossipsub, an optional bootstrap
 * list and an optional datastore (LevelDB for a data directory), with the section service.
 */
import './polyfill.js'
import { bootstrap } from '@libp2p/bootstrap'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import type { PrivateKey } from '@libp2p/interface'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import type { Datastore } from 'interface-datastore'
import { createLibp2p, type Libp2p } from 'libp2p'
import { PROTOCOL_PREFIX } from './constants.js'
import { parsecSection } from './index.js'
import type { ParsecSection, ParsecSectionInit } from './section.js'

/** libp2p's default inbound connections per host and second. */
const INBOUND_CONNECTION_THRESHOLD = 5

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
}

export type SectionNode = Libp2p<{ section: ParsecSection } & Record<string, unknown>>

export async function createSectionNode(options: SectionNodeOptions): Promise<SectionNode> {
  const { privateKey, listen, datastore, discovery = true, start = true, ...section } = options
  const peerDiscovery =
    options.bootstrap !== undefined && options.bootstrap.length > 0
      ? [bootstrap({ list: [...options.bootstrap] })]
      : []
  const extra = discovery
    ? {
        dht: kadDHT({
          protocol: `/${PROTOCOL_PREFIX}/${section.genesis.sectionId}/kad/1.0.0`,
          clientMode: false,
          peerInfoMapper: passthroughMapper,
          initialQuerySelfInterval: 0,
        }),
        pubsub: gossipsub({ allowPublishToZeroTopicPeers: true }),
      }
    : {}
  const node = await createLibp2p({
    start,
    privateKey,
    ...(datastore === undefined ? {} : { datastore }),
    addresses: { listen: [...listen] },
    connectionManager: {
      // libp2p refuses a host's 6th inbound connection within a second (a per-IP rate limit).
      // Members sharing a host (one machine, one process, a NAT) all dial us at start, each
      // possibly twice (simultaneous dials): a refused member stayed unconnected until the next
      // discovery round. Allow each member two connections a second.
      inboundConnectionThreshold: Math.max(INBOUND_CONNECTION_THRESHOLD, 2 * section.genesis.members.length),
    },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    peerDiscovery,
    services: {
      identify: identify(),
      ping: ping(),
      ...extra,
      section: parsecSection(section),
    },
  })
  return node as unknown as SectionNode
}
