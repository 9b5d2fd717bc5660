/**
 * What an inbound connection may hold before its handshake has told us who is on the other end.
 *
 * libp2p takes at most `maxIncomingPendingConnections` connections into their handshake at once
 * (noise, then the muxer) and gives each `inboundUpgradeTimeout`. A non-member that opens idle TCP
 * connections and sends nothing fills those slots for as long as the timeout, refilling them as
 * they expire: live, about 10 such connections per port kept a restarted member out of its section
 * for as long as the flood lasted. Three limits keep members in:
 *
 * - the agreed members' addresses form libp2p's allow list: a connection from one of them skips
 *   the pending-connection cap, the per-host rate limit and the connection limit (and is never
 *   pruned), so members reach each other however full the slots are. libp2p's list is fixed when
 *   the node is made (the genesis members' hosts): limits/allow-list.ts makes it ask the hosts this
 *   gater holds, which follow the agreed members (`allow`);
 * - the handshake must finish sooner than libp2p's default, so a slot held by a silent connection
 *   frees sooner;
 * - each other source address (an IPv4 address, an IPv6 /64) may hold only a few connections in
 *   their handshake at once, so one host cannot take every slot.
 */
import type { ConnectionGater, MultiaddrConnection } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { type IpHost, ipOf, type NetworkPrefixes, sourceNetwork } from './limits/source-network.js'

export type { IpHost } from './limits/source-network.js'

/**
 * How long an inbound connection has to finish its handshake (libp2p's default: 10 s, kept). A
 * handshake is 1.5 round trips and two protocol negotiations: well under a second on a LAN and a
 * few seconds on the slowest links, but up to 7 s when every peer of a section of 24 handshakes
 * with every other at once on two busy cores: at 5 s, many of those were cut off and redialled.
 * Members skip the slots this holds (the allow list); a silent stranger holds one 10 s.
 */
export const INBOUND_UPGRADE_TIMEOUT_MS = 10_000
/** Inbound connections in their handshake at once, all sources but the allow list together (libp2p: 10). */
export const MAX_PENDING_INBOUND_CONNECTIONS = 32
/** Of those, per source address: an honest peer dials us once (twice when both sides dial at once). */
export const MAX_PENDING_INBOUND_PER_SOURCE = 2
/**
 * An accepted stream must name its protocol within this time (libp2p's default: 10 s, kept):
 * streams come only over authenticated connections, so this bounds what a connected non-member's
 * silent streams hold. At 5 s, peers stalled by a whole section starting at once on two busy
 * cores reset each other's ping streams, and libp2p's connection monitor closes a connection whose
 * ping fails.
 */
export const INBOUND_PROTOCOL_NEGOTIATION_TIMEOUT_MS = 10_000

/**
 * The IP addresses the members' addresses start with (names and 0.0.0.0 or :: left out): of a
 * genesis, or of the agreed members (`ParsecSectionInit.onMembers`).
 */
export function memberHosts(section: {
  readonly members: readonly { readonly addrs: readonly Multiaddr[] }[]
}): IpHost[] {
  const hosts = new Map<string, IpHost>()
  for (const member of section.members) {
    for (const addr of member.addrs) {
      const host = ipOf(addr)
      if (host !== undefined && host.address !== '0.0.0.0' && host.address !== '::')
        hosts.set(host.address, host)
    }
  }
  return [...hosts.values()]
}

/**
 * Who a limit per source applies to: an IPv4 address (an IPv4-mapped IPv6 one included), or the
 * /64 an IPv6 address belongs to (one host commonly holds a whole /64).
 */
const PENDING_SOURCE_PREFIXES: NetworkPrefixes = { ip4: 32, ip6: 64 }

function sourceOf(host: IpHost): string {
  return sourceNetwork(host.address, PENDING_SOURCE_PREFIXES) ?? host.address
}

/**
 * A connection gater that refuses an inbound connection from a source already holding
 * `maxPerSource` connections in their handshake. Sources in `allowed` (the members' addresses,
 * replaced by `allow` as the members change) are never refused. A connection stops counting once its handshake completes or it closes.
 */
export class PendingInboundPerSource implements ConnectionGater {
  private readonly pending = new Map<string, number>()
  private readonly release = new WeakMap<MultiaddrConnection, () => void>()
  private allowed: ReadonlySet<string>

  constructor(
    allowed: readonly IpHost[],
    private readonly maxPerSource: number,
  ) {
    this.allowed = new Set(allowed.map((host) => host.address))
    this.denyInboundConnection = this.denyInboundConnection.bind(this)
    this.denyInboundUpgradedConnection = this.denyInboundUpgradedConnection.bind(this)
  }

  /** The members' hosts are now these (the agreed members changed). */
  allow(hosts: readonly IpHost[]): void {
    this.allowed = new Set(hosts.map((host) => host.address))
  }

  /** Whether a host (an IP address as libp2p writes it) is a member's: libp2p's allow list asks too. */
  isAllowed(address: string): boolean {
    return this.allowed.has(address)
  }

  denyInboundConnection(maConn: MultiaddrConnection): boolean {
    const host = ipOf(maConn.remoteAddr)
    if (host === undefined || this.allowed.has(host.address)) return false
    const source = sourceOf(host)
    const held = this.pending.get(source) ?? 0
    if (held >= this.maxPerSource) return true
    this.pending.set(source, held + 1)
    let released = false
    const release = (): void => {
      if (released) return
      released = true
      const left = (this.pending.get(source) ?? 1) - 1
      if (left > 0) this.pending.set(source, left)
      else this.pending.delete(source)
      maConn.removeEventListener('close', release)
    }
    this.release.set(maConn, release)
    maConn.addEventListener('close', release)
    return false
  }

  denyInboundUpgradedConnection(_peer: unknown, maConn: MultiaddrConnection): boolean {
    this.release.get(maConn)?.()
    this.release.delete(maConn)
    return false
  }
}
