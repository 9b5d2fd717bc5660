/**
 * The peers this node refuses: agreed bans (an accusation the section decided: forever) and local
 * bans (a non-member abusing the join protocol, MEMBERSHIP.md §4: until an expiry, which lifts
 * them). Both come from the membership machine's `ban` peer directives; on a restart the agreed
 * ones come back from the agreed blocks the machine folds, so they are never persisted here.
 *
 * One list serves every gate: libp2p's connection gater (`gater()`: dials to a banned peer and its
 * connections, inbound or outbound, are denied once the handshake names it), gossipsub's scoring
 * (`gossipScore`: a banned peer is graylisted), the announcement validator and the service's
 * inbound handlers. It is made before the libp2p node (the gater is part of its configuration) and
 * given to the section service (`ParsecSectionInit.bans`), which closes a newly banned peer's
 * open connections (`onBan`).
 */
import type { ConnectionGater, PeerId } from '@libp2p/interface'

/** `untilMs` of a ban that never ends (the machine's `NEVER`). */
export const FOREVER = Number.MAX_SAFE_INTEGER

/** Local bans kept at most (the machine keeps as many): the oldest is forgotten past it. */
export const MAX_BANS = 4096

/** The application score gossipsub gives a banned peer: weighted (x10), far below graylisting (-80). */
export const BANNED_GOSSIP_SCORE = -1_000

export type BanListener = (peer: string, untilMs: number) => void

export class PeerBans {
  /** Peer id (text) to the time its ban ends (`FOREVER` for an agreed one). */
  private readonly until = new Map<string, number>()
  private readonly listeners = new Set<BanListener>()

  constructor(private readonly now: () => number = Date.now) {}

  /** Bans `peer` until `untilMs` (a later end wins over an earlier one); listeners hear of it. */
  ban(peer: PeerId | string, untilMs: number = FOREVER): void {
    const key = peer.toString()
    if (untilMs <= this.now()) return
    const current = this.until.get(key)
    if (current !== undefined && current >= untilMs) return
    this.until.delete(key)
    this.until.set(key, untilMs)
    if (this.until.size > MAX_BANS) this.forgetOne()
    for (const listener of this.listeners) {
      try {
        listener(key, untilMs)
      } catch {
        // A listener's failure (closing connections) never stops the ban itself.
      }
    }
  }

  /** Whether `peer` is banned now: an agreed ban, or a local one not expired (an expired one lifts). */
  isBanned(peer: PeerId | string): boolean {
    const key = peer.toString()
    const until = this.until.get(key)
    if (until === undefined) return false
    if (until > this.now()) return true
    this.until.delete(key)
    return false
  }

  /** Peers banned now. */
  list(): string[] {
    return [...this.until.keys()].filter((peer) => this.isBanned(peer))
  }

  /** Calls `listener` on every new or longer ban; returns its removal. */
  onBan(listener: BanListener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** Gossipsub's `appSpecificScore`: graylists a banned peer (its messages and control ignored). */
  readonly gossipScore = (peer: string): number => (this.isBanned(peer) ? BANNED_GOSSIP_SCORE : 0)

  /** The connection gater part: dials to a banned peer, and its connections once authenticated. */
  gater(): ConnectionGater {
    const denied = (peer: PeerId): boolean => this.isBanned(peer)
    return {
      denyDialPeer: denied,
      denyInboundEncryptedConnection: denied,
      denyOutboundEncryptedConnection: denied,
      denyInboundUpgradedConnection: denied,
      denyOutboundUpgradedConnection: denied,
    }
  }

  /** Past `MAX_BANS`: forgets an expired ban, else the local ban set first (never an agreed one). */
  private forgetOne(): void {
    const now = this.now()
    let oldestLocal: string | undefined
    for (const [peer, until] of this.until) {
      if (until <= now) {
        this.until.delete(peer)
        return
      }
      if (oldestLocal === undefined && until !== FOREVER) oldestLocal = peer
    }
    if (oldestLocal !== undefined) this.until.delete(oldestLocal)
  }
}

/** The gater hooks that deny (`filterMultiaddrForPeer` allows instead, and is not combined). */
const DENY_HOOKS = [
  'denyDialPeer',
  'denyDialMultiaddr',
  'denyInboundConnection',
  'denyOutboundConnection',
  'denyInboundEncryptedConnection',
  'denyOutboundEncryptedConnection',
  'denyInboundUpgradedConnection',
  'denyOutboundUpgradedConnection',
  'denyInboundRelayReservation',
  'denyOutboundRelayedConnection',
  'denyInboundRelayedConnection',
] as const

type DenyHook = (...args: unknown[]) => Promise<boolean> | boolean

/**
 * Gaters in one: a connection is denied when any of them denies it, asked in order (each hook of
 * the first is asked first, so a gater counting connections sees every one the others see).
 */
export function combineGaters(...gaters: ConnectionGater[]): ConnectionGater {
  const combined: Partial<Record<(typeof DENY_HOOKS)[number], DenyHook>> = {}
  for (const hook of DENY_HOOKS) {
    const denies = gaters.flatMap((gater) => {
      const deny = gater[hook] as DenyHook | undefined
      return deny === undefined ? [] : [deny.bind(gater)]
    })
    if (denies.length === 0) continue
    combined[hook] = async (...args: unknown[]) => {
      for (const deny of denies) if (await deny(...args)) return true
      return false
    }
  }
  return combined as ConnectionGater
}
