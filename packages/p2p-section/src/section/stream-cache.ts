/**
 * Our long-lived outbound sync streams, one per partner (a stream per exchange costs ~7x more
 * on this stack): reused while open on both sides, replaced once either side closed it, dropped
 * when the partner disconnects or an exchange on it fails, aborted when the service stops. A
 * partner is dialled only when we hold a connection to it or an address for it.
 */
import type { PeerId, PeerStore, Startable, Stream } from '@libp2p/interface'
import type { ConnectionManager } from '@libp2p/interface-internal'
import * as C from '../constants.js'
import { LinkError } from '../errors.js'
import { type FramedStream, framed } from '../framing.js'

/** A partner's stream and its length-prefixed framing. */
export interface Channel {
  readonly stream: Stream
  readonly lp: FramedStream
}

export interface StreamCacheComponents {
  connectionManager: ConnectionManager
  peerStore: PeerStore
}

export class StreamCache implements Startable {
  private readonly channels = new Map<string, Promise<Channel>>()
  private started = false

  constructor(
    private readonly components: StreamCacheComponents,
    private readonly protocol: string,
    private readonly maxMessageBytes: number,
  ) {}

  isStarted(): boolean {
    return this.started
  }

  start(): void {
    this.started = true
  }

  /** Aborts every stream. */
  stop(): void {
    this.started = false
    const channels = [...this.channels.values()]
    this.channels.clear()
    for (const pending of channels) {
      pending.then((channel) => channel.stream.abort(new Error('section stopped'))).catch(() => {})
    }
  }

  /** Forgets the stream to `peer` (closed, failed or disconnected). */
  drop(peer: PeerId | string): void {
    this.channels.delete(peer.toString())
  }

  /** Our long-lived stream to `peerId`: the open one, or a new one if it was closed on either side. */
  async get(peerId: PeerId): Promise<Channel> {
    const key = peerId.toString()
    const cached = this.channels.get(key)
    if (cached !== undefined) {
      const channel = await cached.catch(() => undefined)
      const stream = channel?.stream
      if (
        stream?.status === 'open' &&
        stream.writeStatus === 'writable' &&
        stream.remoteWriteStatus === 'writable' &&
        stream.readStatus !== 'closed'
      ) {
        return channel as Channel
      }
      // E.g. the partner closed it after its idle timeout: a request on it would go unanswered.
      if (this.channels.get(key) === cached) this.channels.delete(key)
      stream?.abort(new Error('stale sync stream'))
    }
    const pending = this.open(peerId)
    this.channels.set(key, pending)
    pending.catch(() => {
      if (this.channels.get(key) === pending) this.channels.delete(key)
    })
    return pending
  }

  private async open(peerId: PeerId): Promise<Channel> {
    const connectionManager = this.components.connectionManager
    if (connectionManager.getConnections(peerId).length === 0 && !(await this.hasAddress(peerId))) {
      // Dialling a bare peer id would start a DHT lookup inside the dialler; discovery does that.
      throw new LinkError('Unreachable', 'no connection and no known address')
    }
    // Negotiated fully (once per long-lived stream) so that a peer not serving the protocol fails
    // here, before any gossip is created for it.
    const stream = await connectionManager.openStream(peerId, this.protocol, {
      signal: AbortSignal.timeout(C.OPEN_STREAM_TIMEOUT_MS),
      negotiateFully: true,
    })
    stream.addEventListener('close', () => {
      const current = this.channels.get(peerId.toString())
      current?.then((c) => c.stream === stream && this.channels.delete(peerId.toString())).catch(() => {})
    })
    return { stream, lp: framed(stream, this.maxMessageBytes) }
  }

  private async hasAddress(peerId: PeerId): Promise<boolean> {
    try {
      const peer = await this.components.peerStore.get(peerId)
      return peer.addresses.length > 0
    } catch {
      return false
    }
  }
}
