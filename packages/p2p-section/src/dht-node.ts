/**
 * A libp2p node that belongs to no section and only serves the shared DHT (shared-dht.ts): TCP,
 * noise, yamux, identify, ping and a kad-dht server. A bootstrap node for anyone: members of any
 * section provide their section's CID through it, and a joiner that knows only its address and a
 * section id finds the section's members (`findSectionPeers`). `parsec-peer dht` runs one.
 */
import { bootstrap } from '@libp2p/bootstrap'
import { identify } from '@libp2p/identify'
import type { PrivateKey } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { yamux } from '@libp2p/yamux'
import type { Datastore } from 'interface-datastore'
import { createLibp2p, type Libp2p } from 'libp2p'
import { PING_MAX_INBOUND_STREAMS, PING_MAX_OUTBOUND_STREAMS } from './node.js'
import { requirePromiseWithResolvers } from './runtime.js'
import { sharedDht } from './shared-dht.js'
import { sectionTcp } from './tcp-transport.js'

export interface DhtNodeOptions {
  /** The node's identity (a new Ed25519 key when left out). */
  readonly privateKey?: PrivateKey
  readonly listen: readonly string[]
  /** Other DHT peers to join the DHT through (multiaddrs ending in `/p2p/PEERID`). */
  readonly bootstrap?: readonly string[]
  /** Where the DHT keeps provider records (in memory when left out). */
  readonly datastore?: Datastore
  /** Start the node at once (default true). */
  readonly start?: boolean
}

export type DhtNode = Libp2p<{ dht: KadDHT } & Record<string, unknown>>

export async function createDhtNode(options: DhtNodeOptions): Promise<DhtNode> {
  requirePromiseWithResolvers()
  const { privateKey, listen, datastore, start = true } = options
  const peerDiscovery =
    options.bootstrap !== undefined && options.bootstrap.length > 0
      ? [bootstrap({ list: [...options.bootstrap] })]
      : []
  const node = await createLibp2p({
    start,
    ...(privateKey === undefined ? {} : { privateKey }),
    ...(datastore === undefined ? {} : { datastore }),
    addresses: { listen: [...listen] },
    // A connection outlives its dial's timeout (tcp-transport.ts).
    transports: [sectionTcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    peerDiscovery,
    services: {
      identify: identify(),
      // kad-dht and libp2p's connection monitor both ping (see node.ts).
      ping: ping({
        maxOutboundStreams: PING_MAX_OUTBOUND_STREAMS,
        maxInboundStreams: PING_MAX_INBOUND_STREAMS,
      }),
      dht: sharedDht(),
    },
  })
  return node as unknown as DhtNode
}
