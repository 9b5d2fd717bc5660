/**
 * Rate limits per peer and per source network, for the protocols a non-member may open (join,
 * catch-up): a request is let through only while both the peer's bucket and its network's (/24,
 * /48) hold a token. A peer id costs nothing to make, so the per-network bucket is what holds a
 * flood of fresh identities from one network; the per-peer bucket keeps one peer from taking its
 * whole network's share. Checked first thing on a new stream, before reading, decoding or
 * verifying anything.
 */
import type { PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { type NetworkPrefixes, SOURCE_NETWORK_PREFIXES, sourceNetwork } from './source-network.js'
import { TokenBuckets } from './token-bucket.js'

/** A bucket's shape: the burst it allows and its sustained rate. */
export interface RateLimit {
  readonly capacity: number
  readonly refillPerSecond: number
}

export interface SourceRateLimits {
  readonly perPeer: RateLimit
  readonly perNetwork: RateLimit
  /** Peers tracked at most, and as many networks (least recently used forgotten first). */
  readonly maxKeys: number
  /** Where a source network is cut (default /24 and /48). */
  readonly prefixes?: NetworkPrefixes
}

/** What a check says: let through, or refused for the peer's rate or for its network's. */
export type RateVerdict = 'allowed' | 'peer' | 'network'

/** What a check needs of a connection (a libp2p `Connection` is one). */
export interface RateLimitedSource {
  readonly remotePeer: PeerId
  readonly remoteAddr: Multiaddr
}

export class SourceRateLimiter {
  private readonly peers: TokenBuckets
  private readonly networks: TokenBuckets
  private readonly prefixes: NetworkPrefixes
  /** Source networks by connection, derived once per connection (null: not an IP address). */
  private readonly networkOf = new WeakMap<RateLimitedSource, string | null>()

  constructor(limits: SourceRateLimits) {
    this.peers = new TokenBuckets({ ...limits.perPeer, maxKeys: limits.maxKeys })
    this.networks = new TokenBuckets({ ...limits.perNetwork, maxKeys: limits.maxKeys })
    this.prefixes = limits.prefixes ?? SOURCE_NETWORK_PREFIXES
  }

  /**
   * Spends `cost` of `peer`'s tokens and of its network's at `now` (milliseconds) if both hold
   * them; nothing is spent when either refuses. `network` undefined (not an IP source, e.g. a
   * relayed or in-memory connection): the peer's bucket alone.
   */
  take(peer: string, network: string | undefined, now: number, cost = 1): RateVerdict {
    if (network !== undefined && this.networks.available(network, now) < cost) {
      this.networks.take(network, now, cost) // marks it recently used: a flooding network stays tracked
      return 'network'
    }
    if (!this.peers.take(peer, now, cost)) return 'peer'
    if (network !== undefined) this.networks.take(network, now, cost)
    return 'allowed'
  }

  /** `take` for a connection's remote peer and address (its network derived once per connection). */
  takeFor(source: RateLimitedSource, now: number, cost = 1): RateVerdict {
    let network = this.networkOf.get(source)
    if (network === undefined) {
      network = sourceNetwork(source.remoteAddr, this.prefixes) ?? null
      this.networkOf.set(source, network)
    }
    return this.take(source.remotePeer.toString(), network ?? undefined, now, cost)
  }

  /** Peers and networks tracked now. */
  get tracked(): { readonly peers: number; readonly networks: number } {
    return { peers: this.peers.size, networks: this.networks.size }
  }
}
