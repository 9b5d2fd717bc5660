/**
 * The `membership` protocol under the section id: one membership message per stream (the
 * machine's wire bytes, framed), answered by an empty acknowledgement once the receiver took it.
 * Replies are messages of their own (the machine addresses them), so no exchange spans two
 * messages. The sender a message claims is checked by the machine against the stream's
 * authenticated remote peer, which is what it is given as `from`.
 *
 * Anyone may open these streams (joiners are not members yet), so a new inbound stream first
 * passes the `StreamGuard` (bans, then token buckets per peer and per source network) and is reset
 * unread when it fails; then at most `maxMessageBytesFrom(peer)` are read (refused from the length
 * prefix: a member reads 64 KiB from a non-member) within `responseTimeoutMs`. libp2p resets
 * streams past `MAX_MEMBERSHIP_STREAMS` per connection.
 */
import type { Connection, Logger, PeerId, Startable, Stream } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'
import * as C from '../constants.js'
import { framed } from '../framing.js'
import { endStream } from '../inbound-stream.js'
import type { StreamGuard } from '../limits/stream-guard.js'

export interface MembershipProtocolLimits {
  readonly maxMessageBytes: number
  /** The longest message read from `peer` (default `maxMessageBytes`), refused from its length prefix. */
  readonly maxMessageBytesFrom?: (peer: PeerId) => number
  readonly responseTimeoutMs: number
}

export type MembershipReceiver = (from: PeerId, bytes: Uint8Array, remoteAddr: string | undefined) => void

export class MembershipProtocol implements Startable {
  private started = false

  constructor(
    private readonly components: {
      registrar: Registrar
      connectionManager: Pick<ConnectionManager, 'openStream'>
    },
    readonly protocol: string,
    private readonly limits: MembershipProtocolLimits,
    private readonly receive: MembershipReceiver,
    private readonly guard: StreamGuard,
    private readonly log: Logger,
  ) {
    this.handle = this.handle.bind(this)
  }

  isStarted(): boolean {
    return this.started
  }

  async start(): Promise<void> {
    await this.components.registrar.handle(this.protocol, this.handle, {
      maxInboundStreams: C.MAX_MEMBERSHIP_STREAMS,
      maxOutboundStreams: C.MAX_MEMBERSHIP_STREAMS,
    })
    this.started = true
  }

  async stop(): Promise<void> {
    this.started = false
    await this.components.registrar.unhandle(this.protocol)
  }

  /** Sends one message; resolves once the receiver acknowledged it, rejects on any failure. */
  async send(peer: PeerId, bytes: Uint8Array): Promise<void> {
    const signal = AbortSignal.timeout(this.limits.responseTimeoutMs)
    const stream = await this.components.connectionManager.openStream(peer, this.protocol, {
      signal: AbortSignal.timeout(C.OPEN_STREAM_TIMEOUT_MS),
      negotiateFully: true,
    })
    try {
      const lp = framed(stream, this.limits.maxMessageBytes)
      await lp.write(bytes, { signal })
      await lp.read({ signal })
      await stream.close().catch(() => stream.abort(new Error('closing')))
    } catch (error) {
      stream.abort(error instanceof Error ? error : new Error(String(error)))
      throw error
    }
  }

  private async handle(stream: Stream, connection: Connection): Promise<void> {
    const verdict = this.guard.admit(connection)
    if (verdict !== 'allowed') {
      stream.abort(new Error(verdict === 'banned' ? 'banned' : 'rate limited'))
      return
    }
    const signal = AbortSignal.timeout(this.limits.responseTimeoutMs)
    try {
      const maxBytes = this.limits.maxMessageBytesFrom?.(connection.remotePeer) ?? this.limits.maxMessageBytes
      const lp = framed(stream, maxBytes)
      const message = await lp.read({ signal })
      // The machine decodes and judges it; bad bytes are its fault report, never a throw here.
      if (this.started)
        this.receive(connection.remotePeer, message.subarray(), connection.remoteAddr.toString())
      await lp.write(new Uint8Array(0), { signal })
      void endStream(stream, 1_000, 'done')
    } catch (error) {
      this.log('membership stream from %p failed: %s', connection.remotePeer, (error as Error).message)
      stream.abort(error instanceof Error ? error : new Error(String(error)))
    }
  }
}
