/**
 * The membership machine's `keepAlive` and `acceptSync` directives, as libp2p peer-store tags.
 *
 * libp2p's connection manager honours tags in two ways: the pruner (over `maxConnections`) closes
 * the connections of the peers whose tags sum lowest first, and the reconnect queue redials a peer
 * tagged `keep-alive…` when its connection drops (and every such peer when libp2p starts),
 * dropping the tag if 5 attempts fail. So:
 *
 * - `keepAlive` (the agreed members, from their Add or from our own start, until their removal,
 *   or ours) sets `keep-alive-parsec-section` at the highest value (100): a member's connection is
 *   pruned last and redialled when it drops. The machine still wants a member whose redial failed
 *   kept: the tag is set again (libp2p then redials it at its next start; our gossip and discovery
 *   dial it meanwhile);
 * - `acceptSync` (members, and the candidates we admitted while they catch up) sets
 *   `parsec-section-catch-up` at 50: a candidate pulling the section's history from us is pruned
 *   after strangers (it dials us; we never redial it).
 *
 * The peer store persists with a data directory: at start (after the machine said whom it keeps)
 * our tags on anyone else, from an earlier run, are removed. Writes go one at a time, each
 * writing what is wanted when it runs, so a quick on-then-off ends off.
 * Pre-handshake limits are by address, not peer: limits/allow-list.ts.
 */
import type { Libp2pEvents, Logger, PeerId, PeerStore, Startable, TypedEventTarget } from '@libp2p/interface'
import { KEEP_ALIVE } from '@libp2p/interface'

/** Our keep-alive tag (libp2p's reconnect queue redials peers whose tag starts with `keep-alive`). */
export const KEEP_ALIVE_TAG = `${KEEP_ALIVE}-parsec-section`
/** The highest tag value libp2p accepts: members are pruned last. */
export const KEEP_ALIVE_VALUE = 100
/** A candidate we serve catch-up to (and a member, beside its keep-alive). */
export const CATCH_UP_TAG = 'parsec-section-catch-up'
export const CATCH_UP_VALUE = 50

export interface PeerTagsComponents {
  peerId: PeerId
  peerStore: Pick<PeerStore, 'merge' | 'all'>
  events: Pick<TypedEventTarget<Libp2pEvents>, 'addEventListener' | 'removeEventListener'>
}

export class PeerTags implements Startable {
  /** Peers (by string) whose tag is wanted, with their peer id, per tag. */
  private readonly wanted = new Map<string, Map<string, PeerId>>([
    [KEEP_ALIVE_TAG, new Map()],
    [CATCH_UP_TAG, new Map()],
  ])
  private writes: Promise<void> = Promise.resolve()
  private started = false

  constructor(
    private readonly components: PeerTagsComponents,
    private readonly log: Logger,
  ) {}

  isStarted(): boolean {
    return this.started
  }

  /** Removes our tags from peers no longer wanted (an earlier run's), then follows the directives. */
  async start(): Promise<void> {
    this.components.events.addEventListener('peer:reconnect-failure', this.onReconnectFailure)
    this.started = true
    const tags = [...this.wanted.keys()]
    this.enqueue(async () => {
      const tagged = await this.components.peerStore.all({
        filters: [(peer) => tags.some((tag) => peer.tags.has(tag))],
      })
      for (const peer of tagged) await this.write(peer.id)
    })
    await this.settled()
  }

  stop(): void {
    this.started = false
    this.components.events.removeEventListener('peer:reconnect-failure', this.onReconnectFailure)
  }

  /** The machine's `keepAlive`: keep (or stop keeping) a connection to this member. */
  keepAlive(peer: PeerId, on: boolean): void {
    this.set(KEEP_ALIVE_TAG, peer, on)
  }

  /** The machine's `acceptSync`: a peer we serve sync or catch-up to (or no longer). */
  acceptSync(peer: PeerId, on: boolean): void {
    this.set(CATCH_UP_TAG, peer, on)
  }

  /** Whether we keep a connection to this peer (the machine's last `keepAlive` for it). */
  keeps(peer: PeerId | string): boolean {
    return this.wanted.get(KEEP_ALIVE_TAG)?.has(peer.toString()) ?? false
  }

  /** Every write asked so far is done (tests, and start). */
  settled(): Promise<void> {
    return this.writes
  }

  private set(tag: string, peer: PeerId, on: boolean): void {
    if (peer.equals(this.components.peerId)) return
    const peers = this.wanted.get(tag)
    if (peers === undefined || peers.has(peer.toString()) === on) return
    if (on) peers.set(peer.toString(), peer)
    else peers.delete(peer.toString())
    this.enqueue(() => this.write(peer))
  }

  /** libp2p gave up redialling a peer and dropped its keep-alive tag: set again if still wanted. */
  private readonly onReconnectFailure = (event: CustomEvent<PeerId>): void => {
    if (this.keeps(event.detail)) this.enqueue(() => this.write(event.detail))
  }

  private enqueue(write: () => Promise<void>): void {
    this.writes = this.writes.then(write).catch((error: Error) => {
      this.log('cannot write peer tags: %s', error.message)
    })
  }

  /** The peer's tags as wanted now. */
  private async write(peer: PeerId): Promise<void> {
    const key = peer.toString()
    const tags: Record<string, { value: number } | undefined> = {
      [KEEP_ALIVE_TAG]: this.keeps(key) ? { value: KEEP_ALIVE_VALUE } : undefined,
      [CATCH_UP_TAG]: this.wanted.get(CATCH_UP_TAG)?.has(key) ? { value: CATCH_UP_VALUE } : undefined,
    }
    await this.components.peerStore.merge(peer, { tags })
  }
}
