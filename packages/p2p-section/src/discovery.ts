/**
 * Finding the other members and being found, as the roster (the agreed SectionState) says who they
 * are. The members' agreed addresses and the bootstrap list come first (the node's peer store and
 * `@libp2p/bootstrap`); members we still cannot reach are looked up by peer id through the DHT shared
 * by every section (shared-dht.ts); members' announcements on the section's gossipsub topic
 * (announcement.ts) add addresses, behind a topic validator that rejects non-members and bad
 * signatures. Gossipsub loses messages sent before its mesh forms, so announcements are hints only:
 * the sync protocol never depends on them.
 *
 * A member we know no address for is looked up in the DHT directly (dialling a bare peer id would
 * make libp2p's dialler run the same lookup, holding the dial for its whole timeout), and dialled
 * as soon as an address turns up (a lookup or an announcement). A member still missing after a
 * round is looked up less and less often (capped exponential backoff), until it connects.
 *
 * The membership machine decides the rest (its discovery directives, carried out by the membership
 * host): `provide` (a member provides the section's CID in the shared DHT, at once and again every
 * `C.REPROVIDE_INTERVAL_MS`; a provide that no DHT peer took is retried on the lookup backoff),
 * `cancelProvide` (a removed member stops), `announce` (publish the machine's signed bytes; the
 * machine times them, and the latest goes out again when a peer subscribes to the topic) and
 * `findMembers` (find-members.ts). A node without a DHT never provides.
 */
import type {
  ComponentLogger,
  ContentRouting,
  Logger,
  PeerId,
  PeerRouting,
  PeerStore,
} from '@libp2p/interface'
import type { ConnectionManager } from '@libp2p/interface-internal'
import { LIMITS, MAX_CONTACTS } from '@parsec-section/membership'
import type { PublicId } from '@parsec-section/parsec-core'
import { fromString as bytesFromString } from 'uint8arrays'
import { type AnnouncementMessage, announcedAddrs, checkAnnouncement } from './announcement.js'
import * as C from './constants.js'
import { findMembers } from './find-members.js'
import { Backoff } from './scheduler.js'
import type { RosterMember } from './section/roster.js'
import { provideSection, sectionCid } from './shared-dht.js'

/** The part of `@libp2p/gossipsub` discovery needs (structural, so any pubsub with it works). */
export interface AnnouncePubSub {
  subscribe(topic: string): void
  unsubscribe(topic: string): void
  publish(topic: string, data: Uint8Array): Promise<unknown>
  topicValidators: Map<string, (peer: PeerId, message: AnnounceMessage) => unknown>
  addEventListener(type: 'message', listener: (event: CustomEvent<AnnounceMessage>) => void): void
  addEventListener(
    type: 'subscription-change',
    listener: (event: CustomEvent<AnnounceSubscriptions>) => void,
  ): void
  removeEventListener(type: 'message', listener: (event: CustomEvent<AnnounceMessage>) => void): void
  removeEventListener(
    type: 'subscription-change',
    listener: (event: CustomEvent<AnnounceSubscriptions>) => void,
  ): void
}

/** A peer's subscriptions changed (gossipsub's `subscription-change`). */
export interface AnnounceSubscriptions {
  readonly peerId: PeerId
  readonly subscriptions: readonly { readonly topic: string; readonly subscribe: boolean }[]
}

export interface AnnounceMessage extends AnnouncementMessage {
  readonly topic: string
}

export interface DiscoveryComponents {
  peerId: PeerId
  peerStore: PeerStore
  peerRouting: PeerRouting
  contentRouting: ContentRouting
  connectionManager: ConnectionManager
  logger: ComponentLogger
}

/** What discovery asks of the section: who the members are now, and how far our chain is. */
export interface DiscoveryRoster {
  /** Every member but us. */
  others(): readonly RosterMember[]
  memberOf(peer: PeerId): RosterMember | undefined
  wasMember(peer: PeerId): boolean
  /** The `seq` of our membership chain (undefined before the machine runs). */
  chainSeq(): number | undefined
}

export interface DiscoveryOptions {
  lookupIntervalMs: number
  maxLookupIntervalMs?: number
  /** See `C.REPROVIDE_INTERVAL_MS`. */
  reprovideIntervalMs?: number
  /** See `C.ANNOUNCE_REPEAT_MIN_MS`. */
  announceRepeatMinMs?: number
  /** A banned peer's announcements are rejected (see `PeerBans`). */
  isBanned?: (peer: PeerId) => boolean
}

export function announceTopic(sectionId: string): string {
  return `${C.PROTOCOL_PREFIX}/${sectionId}/announce/${C.ANNOUNCE_TOPIC_VERSION}`
}

export class SectionDiscovery {
  private readonly log: Logger
  private readonly topic: string
  private readonly sectionIdBytes: Uint8Array
  private pubsub: AnnouncePubSub | undefined
  private lookupTimer: ReturnType<typeof setTimeout> | undefined
  private provideTimer: ReturnType<typeof setTimeout> | undefined
  /** Aborts a provide under way when we stop or cancel. */
  private provideAbort: AbortController | undefined
  /** Provides in a row that no DHT peer took: the next one waits longer. */
  private failedProvides = 0
  /** The machine asked us to provide (and has not cancelled). */
  private providing = false
  /** Bumped by every cancel and start: a provide loop of an earlier round does not go on. */
  private provideRound = 0
  private running = false
  /** The machine's latest announcement, published again to a peer that newly subscribes. */
  private lastAnnouncement: Uint8Array | undefined
  private lastPublishedAt = Number.NEGATIVE_INFINITY
  private readonly lookups = new Set<string>()
  /** Members missing after a lookup: when to look them up again. */
  private readonly backoff: Backoff

  constructor(
    private readonly components: DiscoveryComponents,
    private readonly sectionId: string,
    private readonly roster: DiscoveryRoster,
    /** The node's gossipsub, looked up at start (none: no announcements). */
    private readonly findPubSub: () => AnnouncePubSub | undefined,
    private readonly isConnected: (peer: PeerId) => boolean,
    private readonly options: DiscoveryOptions,
  ) {
    this.log = components.logger.forComponent('parsec-section:discovery')
    this.backoff = new Backoff(
      options.lookupIntervalMs,
      Math.max(options.lookupIntervalMs, options.maxLookupIntervalMs ?? C.DISCOVERY_MAX_INTERVAL_MS),
    )
    this.topic = announceTopic(sectionId)
    this.sectionIdBytes = bytesFromString(sectionId, 'base16')
    this.onMessage = this.onMessage.bind(this)
    this.onSubscriptions = this.onSubscriptions.bind(this)
    this.validate = this.validate.bind(this)
  }

  start(): void {
    this.running = true
    this.pubsub = this.findPubSub()
    if (this.pubsub !== undefined) {
      this.pubsub.topicValidators.set(this.topic, this.validate)
      this.pubsub.addEventListener('message', this.onMessage)
      this.pubsub.addEventListener('subscription-change', this.onSubscriptions)
      this.pubsub.subscribe(this.topic)
    }
    this.scheduleLookup(0)
    this.provideRound++
    if (this.providing) this.scheduleProvide(0)
  }

  stop(): void {
    this.running = false
    clearTimeout(this.lookupTimer)
    clearTimeout(this.provideTimer)
    this.provideAbort?.abort()
    const pubsub = this.pubsub
    this.pubsub = undefined
    if (pubsub !== undefined) {
      pubsub.removeEventListener('message', this.onMessage)
      pubsub.removeEventListener('subscription-change', this.onSubscriptions)
      pubsub.topicValidators.delete(this.topic)
      try {
        pubsub.unsubscribe(this.topic)
      } catch (error) {
        // Gossipsub may already be stopped (it throws "Pubsub is not started"): nothing to undo.
        this.log('unsubscribe: %e', error)
      }
    }
  }

  // ---------------------------------------------------------------- the machine's directives

  /** `provide`: provide the section's CID now (or once started) and keep it provided. */
  provide(): void {
    if (this.providing) return
    this.providing = true
    this.failedProvides = 0
    if (this.running) this.scheduleProvide(0)
  }

  /** `cancelProvide`: no more provides, and the DHT stops re-providing our record. */
  cancelProvide(): void {
    if (!this.providing) return
    this.providing = false
    this.provideRound++
    clearTimeout(this.provideTimer)
    this.provideAbort?.abort()
    const cid = sectionCid(this.sectionId)
    Promise.resolve()
      .then(() => this.components.contentRouting.cancelReprovide(cid))
      .catch((error: Error) => this.log('cancelling the reprovide failed: %e', error))
  }

  /** Whether we provide the section's CID (the machine asked and did not cancel). */
  get isProviding(): boolean {
    return this.providing
  }

  /** `announce`: publish the machine's signed Announce bytes on the section's topic. */
  async announce(bytes: Uint8Array): Promise<void> {
    this.lastAnnouncement = bytes
    await this.publish(bytes)
  }

  private async publish(bytes: Uint8Array): Promise<void> {
    if (this.pubsub === undefined || !this.running) return
    this.lastPublishedAt = Date.now()
    try {
      await this.pubsub.publish(this.topic, bytes)
    } catch (error) {
      this.log('announcement not published: %e', error)
    }
  }

  /**
   * A peer subscribed to our topic (a member that just started, a joiner): gossipsub lost what we
   * published before it was there, so our latest announcement goes out again, at most every
   * `announceRepeatMinMs` (the machine's timing is otherwise its own).
   */
  private onSubscriptions(event: CustomEvent<AnnounceSubscriptions>): void {
    const { subscriptions } = event.detail
    if (!subscriptions.some((s) => s.topic === this.topic && s.subscribe)) return
    const bytes = this.lastAnnouncement
    if (
      bytes === undefined ||
      Date.now() - this.lastPublishedAt < (this.options.announceRepeatMinMs ?? C.ANNOUNCE_REPEAT_MIN_MS)
    )
      return
    void this.publish(bytes)
  }

  /**
   * `findMembers` (a joiner's): the section's providers in the shared DHT as engine ids, for the
   * machine's `addContacts` (find-members.ts); at most `MAX_CONTACTS`, within `C.FIND_MEMBERS_TIMEOUT_MS`.
   */
  findMembers(): Promise<PublicId[]> {
    return findMembers(this.components, this.sectionId, {
      exclude: this.components.peerId,
      limit: MAX_CONTACTS,
      signal: AbortSignal.timeout(C.FIND_MEMBERS_TIMEOUT_MS),
    })
  }

  // ---------------------------------------------------------------- announcements of others

  /** The topic validator (see announcement.ts for the verdicts). */
  private validate(_peer: PeerId, message: AnnounceMessage): 'accept' | 'ignore' | 'reject' {
    if (message.type === 'signed' && message.from !== undefined && this.options.isBanned?.(message.from)) {
      this.log('announcement from %p: reject, banned', message.from)
      return 'reject'
    }
    const checked = checkAnnouncement(message, {
      sectionId: this.sectionIdBytes,
      isMember: (peer) => this.roster.memberOf(peer) !== undefined,
      wasMember: (peer) => this.roster.wasMember(peer),
      chainSeq: () => this.roster.chainSeq(),
    })
    if (checked.verdict !== 'accept')
      this.log('announcement from %p: %s, %s', message.from, checked.verdict, checked.reason)
    return checked.verdict
  }

  /** An accepted announcement (gossipsub dispatches only those): its addresses into the peer store. */
  private onMessage(event: CustomEvent<AnnounceMessage>): void {
    const message = event.detail
    if (message.topic !== this.topic || message.from === undefined) return
    const from = message.from
    if (from.equals(this.components.peerId)) return
    // Checked again: the roster may have changed since gossipsub validated it.
    const checked = checkAnnouncement(message, {
      sectionId: this.sectionIdBytes,
      isMember: (peer) => this.roster.memberOf(peer) !== undefined,
      wasMember: () => false,
      chainSeq: () => undefined,
    })
    if (checked.verdict !== 'accept' || checked.announce === undefined) return
    const multiaddrs = announcedAddrs(checked.announce, from, LIMITS.maxAddrs)
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
  }

  private scheduleProvide(delay: number): void {
    if (!this.running || !this.providing) return
    clearTimeout(this.provideTimer)
    const round = this.provideRound
    this.provideTimer = setTimeout(() => {
      void this.provideOnce().then((next) => {
        // A cancel (or a stop and start) since began a new round: this one ends here.
        if (next !== undefined && round === this.provideRound) this.scheduleProvide(next)
      })
    }, delay)
    this.provideTimer.unref?.()
  }

  /** Provides the section's CID; resolves with the wait before the next provide (none: never again). */
  private async provideOnce(): Promise<number | undefined> {
    const abort = new AbortController()
    this.provideAbort = abort
    try {
      const stored = await provideSection(this.components.contentRouting, this.sectionId, {
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
    const missing: RosterMember[] = []
    for (const member of this.roster.others()) {
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
        signal: AbortSignal.timeout(C.MEMBER_DIAL_TIMEOUT_MS),
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
