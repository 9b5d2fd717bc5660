/**
 * Finding the other members: their genesis addresses and the bootstrap list come first (the
 * node's peer store and `@libp2p/bootstrap`); members we still cannot reach are looked up by peer
 * id through the DHT shared by every section (shared-dht.ts); every member announces its addresses on
 * the section's gossipsub topic, where a validator drops anything not published by a member.
 * Gossipsub loses messages sent before its mesh forms, so announcements are hints only: the sync
 * protocol never depends on them.
 *
 * A member we know no address for is looked up in the DHT directly (dialling a bare peer id would
 * make libp2p's dialler run the same lookup, holding the dial for its whole timeout), and dialled
 * as soon as an address turns up (a lookup or an announcement). A member still missing after a
 * round is looked up less and less often (capped exponential backoff), until it connects.
 *
 * So that peers outside the section can find it from its id alone, a member provides the section's
 * CID in the shared DHT once started, and again every `C.REPROVIDE_INTERVAL_MS`; a provide that no DHT
 * peer took (none reachable yet) is retried on the lookup backoff (`lookupIntervalMs`, doubling up
 * to the cap). A node without a DHT never provides.
 */
import type {
  ComponentLogger,
  ContentRouting,
  Logger,
  PeerId,
  PeerRouting,
  PeerStore,
} from '@libp2p/interface'
import type { AddressManager, ConnectionManager } from '@libp2p/interface-internal'
import { multiaddr } from '@multiformats/multiaddr'
import * as C from './constants.js'
import type { GenesisMember, SectionGenesis } from './genesis.js'
import { Announcement } from './pb/announce.js'
import { Backoff } from './scheduler.js'
import { provideSection } from './shared-dht.js'

/** The part of `@libp2p/gossipsub` discovery needs (structural, so any pubsub with it works). */
export interface AnnouncePubSub {
  subscribe(topic: string): void
  unsubscribe(topic: string): void
  publish(topic: string, data: Uint8Array): Promise<unknown>
  topicValidators: Map<string, (peer: PeerId, message: AnnounceMessage) => unknown>
  addEventListener(type: 'message', listener: (event: CustomEvent<AnnounceMessage>) => void): void
  removeEventListener(type: 'message', listener: (event: CustomEvent<AnnounceMessage>) => void): void
}

export interface AnnounceMessage {
  readonly type: 'signed' | 'unsigned'
  readonly topic: string
  readonly data: Uint8Array
  readonly from?: PeerId
}

export interface DiscoveryComponents {
  peerId: PeerId
  peerStore: PeerStore
  peerRouting: PeerRouting
  contentRouting: ContentRouting
  addressManager: AddressManager
  connectionManager: ConnectionManager
  logger: ComponentLogger
}

export function announceTopic(sectionId: string): string {
  return `${C.PROTOCOL_PREFIX}/${sectionId}/announce/${C.ANNOUNCE_TOPIC_VERSION}`
}

export class SectionDiscovery {
  private readonly log: Logger
  private readonly topic: string
  private readonly members: Set<string>
  private announceTimer: ReturnType<typeof setTimeout> | undefined
  private lookupTimer: ReturnType<typeof setTimeout> | undefined
  private provideTimer: ReturnType<typeof setTimeout> | undefined
  /** Aborts a provide under way when we stop. */
  private provideAbort: AbortController | undefined
  /** Provides in a row that no DHT peer took: the next one waits longer. */
  private failedProvides = 0
  private seq = 0n
  private running = false
  private readonly lookups = new Set<string>()
  /** Members missing after a lookup: when to look them up again. */
  private readonly backoff: Backoff

  constructor(
    private readonly components: DiscoveryComponents,
    private readonly genesis: SectionGenesis,
    private readonly pubsub: AnnouncePubSub | undefined,
    private readonly isConnected: (peer: PeerId) => boolean,
    private readonly options: {
      announceIntervalMs: number
      lookupIntervalMs: number
      maxLookupIntervalMs?: number
      /** A banned peer's announcements are rejected (see `PeerBans`). */
      isBanned?: (peer: PeerId) => boolean
      /** See `C.REPROVIDE_INTERVAL_MS`. */
      reprovideIntervalMs?: number
    },
  ) {
    this.log = components.logger.forComponent('parsec-section:discovery')
    this.backoff = new Backoff(
      options.lookupIntervalMs,
      Math.max(options.lookupIntervalMs, options.maxLookupIntervalMs ?? C.DISCOVERY_MAX_INTERVAL_MS),
    )
    this.topic = announceTopic(genesis.sectionId)
    this.members = new Set(genesis.members.map((m) => m.peerId.toString()))
    this.onMessage = this.onMessage.bind(this)
  }

  start(): void {
    this.running = true
    if (this.pubsub !== undefined) {
      this.pubsub.topicValidators.set(this.topic, (_peer, message) =>
        message.type === 'signed' &&
        message.from !== undefined &&
        this.members.has(message.from.toString()) &&
        this.options.isBanned?.(message.from) !== true
          ? 'accept'
          : 'reject',
      )
      this.pubsub.addEventListener('message', this.onMessage)
      this.pubsub.subscribe(this.topic)
      this.scheduleAnnounce(1_000)
    }
    this.scheduleLookup(0)
    this.scheduleProvide(0)
  }

  stop(): void {
    this.running = false
    clearTimeout(this.announceTimer)
    clearTimeout(this.lookupTimer)
    clearTimeout(this.provideTimer)
    this.provideAbort?.abort()
    if (this.pubsub !== undefined) {
      this.pubsub.removeEventListener('message', this.onMessage)
      this.pubsub.topicValidators.delete(this.topic)
      try {
        this.pubsub.unsubscribe(this.topic)
      } catch (error) {
        // Gossipsub may already be stopped (it throws "Pubsub is not started"): nothing to undo.
        this.log('unsubscribe: %e', error)
      }
    }
  }

  /** Publish our addresses now (also called after each membership change). */
  async announce(graphSize = 0): Promise<void> {
    if (this.pubsub === undefined || !this.running) return
    const addrs = this.components.addressManager.getAddresses().map((a) => a.decapsulateCode(421).bytes)
    this.seq++
    try {
      await this.pubsub.publish(
        this.topic,
        Announcement.encode({ addrs, seq: this.seq, graphSize: BigInt(graphSize) }),
      )
    } catch (error) {
      this.log('announcement not published: %e', error)
    }
  }

  private scheduleAnnounce(delay: number): void {
    if (!this.running) return
    this.announceTimer = setTimeout(() => {
      void this.announce().finally(() => {
        const interval = this.options.announceIntervalMs
        this.scheduleAnnounce(interval * (0.8 + 0.4 * Math.random()))
      })
    }, delay)
    this.announceTimer.unref?.()
  }

  private onMessage(event: CustomEvent<AnnounceMessage>): void {
    const message = event.detail
    if (message.topic !== this.topic || message.from === undefined) return
    const from = message.from
    if (!this.members.has(from.toString()) || from.equals(this.components.peerId)) return
    try {
      const { addrs } = Announcement.decode(message.data, { limits: { addrs: 32 } })
      const multiaddrs = addrs.map((bytes) => multiaddr(bytes))
      if (multiaddrs.length === 0) return
      void this.components.peerStore
        .merge(from, { multiaddrs })
        .then(async () => {
          // A member we miss just told us where it is: dial it now rather than at the next round.
          if (!this.running || this.isConnected(from)) return
          this.backoff.succeed(from.toString())
          await this.connect(from)
        })
        .catch(() => {})
    } catch (error) {
      this.log('bad announcement from %p: %e', from, error)
    }
  }

  private scheduleProvide(delay: number): void {
    if (!this.running) return
    this.provideTimer = setTimeout(() => {
      void this.provide().then((next) => {
        if (next !== undefined) this.scheduleProvide(next)
      })
    }, delay)
    this.provideTimer.unref?.()
  }

  /** Provides the section's CID; resolves with the wait before the next provide (none: never again). */
  private async provide(): Promise<number | undefined> {
    const abort = new AbortController()
    this.provideAbort = abort
    try {
      const stored = await provideSection(this.components.contentRouting, this.genesis.sectionId, {
        signal: AbortSignal.any([abort.signal, AbortSignal.timeout(C.PROVIDE_TIMEOUT_MS)]),
      })
      if (stored > 0) {
        this.log('section CID provided to %d DHT peers', stored)
        this.failedProvides = 0
        return this.options.reprovideIntervalMs ?? C.REPROVIDE_INTERVAL_MS
      }
      this.log('section CID provided to no DHT peer yet')
    } catch (error) {
      if ((error as Error).name === 'NoContentRoutersError') return undefined
      this.log('providing the section CID failed: %e', error)
    } finally {
      if (this.provideAbort === abort) this.provideAbort = undefined
    }
    const cap = Math.max(
      this.options.lookupIntervalMs,
      this.options.maxLookupIntervalMs ?? C.DISCOVERY_MAX_INTERVAL_MS,
    )
    const wait = Math.min(cap, this.options.lookupIntervalMs * 2 ** this.failedProvides)
    this.failedProvides++
    return wait
  }

  private scheduleLookup(delay: number): void {
    if (!this.running) return
    this.lookupTimer = setTimeout(() => {
      void this.lookupMissing().finally(() => this.scheduleLookup(this.options.lookupIntervalMs))
    }, delay)
    this.lookupTimer.unref?.()
  }

  /**
   * Dial members we are not connected to (those we know an address for), and look up in the DHT
   * those we know none for or whose addresses fail; dial what the lookup finds. A member still
   * missing waits longer before its next lookup (`lookupIntervalMs`, doubling up to the cap).
   */
  private async lookupMissing(): Promise<void> {
    const now = Date.now()
    const missing: GenesisMember[] = []
    for (const member of this.genesis.members) {
      if (member.peerId.equals(this.components.peerId)) continue
      const key = member.peerId.toString()
      if (this.isConnected(member.peerId)) {
        this.backoff.succeed(key)
        continue
      }
      if (this.backoff.ready(key, now)) missing.push(member)
    }
    await Promise.all(
      missing.map(async ({ peerId }) => {
        const key = peerId.toString()
        if (this.lookups.has(key)) return
        this.lookups.add(key)
        try {
          if ((await this.hasAddress(peerId)) && (await this.connect(peerId))) return
          const info = await this.components.peerRouting.findPeer(peerId, {
            useCache: false,
            signal: AbortSignal.timeout(C.FIND_PEER_TIMEOUT_MS),
          })
          if (info.multiaddrs.length > 0) {
            await this.components.peerStore.merge(peerId, { multiaddrs: info.multiaddrs })
            if (await this.connect(peerId)) return
          }
          this.backoff.fail(key)
        } catch (error) {
          this.log('member %p not found yet: %e', peerId, error)
          this.backoff.fail(key)
        } finally {
          this.lookups.delete(key)
        }
      }),
    )
  }

  /** Dials `peerId` at its known addresses; true when connected. */
  private async connect(peerId: PeerId): Promise<boolean> {
    if (!this.running) return false
    try {
      await this.components.connectionManager.openConnection(peerId, {
        signal: AbortSignal.timeout(C.OPEN_STREAM_TIMEOUT_MS),
      })
      this.backoff.succeed(peerId.toString())
      return true
    } catch (error) {
      this.log('dialling member %p failed: %e', peerId, error)
      return false
    }
  }

  private async hasAddress(peerId: PeerId): Promise<boolean> {
    try {
      return (await this.components.peerStore.get(peerId)).addresses.length > 0
    } catch {
      return false
    }
  }
}
