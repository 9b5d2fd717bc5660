/**
 * The application's state at a checkpoint over `/parsec/<section id>/snapshot/1.0.0` (the snapshot
 * hook, docs/epochs.md §4). A newcomer asks a member for (position, offset, max bytes) and gets a
 * status, the digest its application computed, the state's length and a chunk of at most
 * `SNAPSHOT_CHUNK_BYTES`; then the next chunk, over the same stream. A request for no bytes asks
 * for the digest only.
 *
 * Anyone may open these streams (a joiner is not a member yet): a new inbound stream first passes
 * a `StreamGuard` (bans, then token buckets per peer and per source network; members count against
 * their own peer's bucket only) and is reset unread when it fails. Serving only reads the
 * application's state. A client never trusts an answer: the chunks must fit the length announced,
 * which must fit `maxStateBytes`, and the whole state is checked against the agreed digest by the
 * caller (snapshot-fetch.ts).
 */
import type { Connection, Logger, PeerId, Startable, Stream } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'
import type { Uint8ArrayList } from 'uint8arraylist'
import * as C from './constants.js'
import { SectionError, toError } from './errors.js'
import { type FramedStream, framed } from './framing.js'
import { CLOSE_GRACE_MS, endStream, InboundMessages, type LargeMessageBudget } from './inbound-stream.js'
import type { StreamGuard } from './limits/stream-guard.js'
import { SnapshotChunk, SnapshotRequest } from './pb/snapshot.js'
import { StateAssembly, safeNumber } from './snapshot-chunks.js'

/** Room for a chunk's fields beside its data. */
const CHUNK_OVERHEAD = 1024

/** What a member answers for a position (`Snapshots.answer`). */
export type SnapshotAnswer =
  | { readonly status: 'ok'; readonly digest: Uint8Array; readonly total: number; readonly data: Uint8Array }
  | { readonly status: 'unknown' | 'not-ready' | 'too-large' }

/** The member's side: its digests and its application's state. */
export interface SnapshotServerHost {
  /** The answer for `position`: the digest, and `maxBytes` of the state from `offset` (0: none). */
  answer(position: number, offset: number, maxBytes: number): Promise<SnapshotAnswer>
}

export interface SnapshotLimits {
  /** The most state bytes in one chunk. */
  readonly chunkBytes: number
  /** The largest state fetched (a larger announced length is refused). */
  readonly maxStateBytes: number
  readonly responseTimeoutMs: number
  readonly idleStreamTimeoutMs: number
}

const STATUS_TO_WIRE: Record<SnapshotAnswer['status'], SnapshotChunk.Status> = {
  ok: SnapshotChunk.Status.OK,
  unknown: SnapshotChunk.Status.UNKNOWN,
  'not-ready': SnapshotChunk.Status.NOT_READY,
  'too-large': SnapshotChunk.Status.TOO_LARGE,
}

/** Decodes a request; a `MalformedMessage` for anything else. */
export function decodeSnapshotRequest(bytes: Uint8Array | Uint8ArrayList): SnapshotRequest {
  try {
    return SnapshotRequest.decode(bytes)
  } catch (error) {
    throw new SectionError('MalformedMessage', `not a snapshot request: ${(error as Error).message}`)
  }
}

/** Decodes a chunk; a `MalformedMessage` for anything else. */
export function decodeSnapshotChunk(bytes: Uint8Array | Uint8ArrayList): SnapshotChunk {
  try {
    return SnapshotChunk.decode(bytes)
  } catch (error) {
    throw new SectionError('MalformedMessage', `not a snapshot chunk: ${(error as Error).message}`)
  }
}

/** An answer on the wire. */
export function encodeSnapshotAnswer(answer: SnapshotAnswer, offset: number): Uint8Array {
  const chunk: SnapshotChunk =
    answer.status === 'ok'
      ? {
          status: SnapshotChunk.Status.OK,
          digest: Uint8Array.from(answer.digest),
          total: BigInt(answer.total),
          offset: BigInt(offset),
          data: Uint8Array.from(answer.data),
        }
      : {
          status: STATUS_TO_WIRE[answer.status],
          digest: new Uint8Array(0),
          total: 0n,
          offset: 0n,
          data: new Uint8Array(0),
        }
  return SnapshotChunk.encode(chunk)
}

/** A digest-only answer: what the member reported, or why it reported none. */
export type DigestReport =
  | { readonly status: 'ok'; readonly digest: Uint8Array }
  | { readonly status: 'unknown' | 'not-ready' | 'too-large' }

function reportOf(chunk: SnapshotChunk): DigestReport {
  switch (chunk.status) {
    case SnapshotChunk.Status.OK:
      if (chunk.digest.length === 0) throw new SectionError('MalformedMessage', 'an ok answer with no digest')
      return { status: 'ok', digest: chunk.digest }
    case SnapshotChunk.Status.NOT_READY:
      return { status: 'not-ready' }
    case SnapshotChunk.Status.TOO_LARGE:
      return { status: 'too-large' }
    default:
      return { status: 'unknown' }
  }
}

export class SnapshotProtocol implements Startable {
  private started = false

  constructor(
    private readonly components: {
      registrar: Registrar
      connectionManager: Pick<ConnectionManager, 'openStream'>
    },
    readonly protocol: string,
    private readonly host: SnapshotServerHost,
    private readonly guard: StreamGuard,
    private readonly budget: LargeMessageBudget,
    private readonly limits: SnapshotLimits,
    private readonly log: Logger,
  ) {
    this.handle = this.handle.bind(this)
  }

  isStarted(): boolean {
    return this.started
  }

  async start(): Promise<void> {
    await this.components.registrar.handle(this.protocol, this.handle, {
      maxInboundStreams: C.MAX_SNAPSHOT_STREAMS,
      maxOutboundStreams: C.MAX_SNAPSHOT_STREAMS,
    })
    this.started = true
  }

  async stop(): Promise<void> {
    this.started = false
    await this.components.registrar.unhandle(this.protocol)
  }

  // ---------------------------------------------------------------- server

  /** Serves one requester's requests until it closes the stream or stays idle. Never throws. */
  private async handle(stream: Stream, connection: Connection): Promise<void> {
    const remote = connection.remotePeer
    if (this.guard.admit(connection) !== 'allowed') {
      stream.abort(new Error('refused'))
      return
    }
    const messages = new InboundMessages(stream, remote.toString(), {
      maxMessageBytes: C.MAX_SNAPSHOT_REQUEST_BYTES,
      idleTimeoutMs: this.limits.idleStreamTimeoutMs,
      messageTimeoutMs: this.limits.responseTimeoutMs,
      budget: this.budget,
    })
    try {
      for (;;) {
        let bytes: Uint8ArrayList
        try {
          bytes = await messages.read()
        } catch {
          // Closed, idle or cut off between requests: the stream simply ends.
          await endStream(stream, CLOSE_GRACE_MS, 'done')
          return
        }
        const request = decodeSnapshotRequest(bytes)
        if (!this.started) throw new SectionError('NotStarted', 'the section service stopped')
        const offset = safeNumber(request.offset, 'offset')
        const maxBytes = Math.min(request.maxBytes, this.limits.chunkBytes)
        const answer = await this.host.answer(safeNumber(request.position, 'position'), offset, maxBytes)
        await messages.write(encodeSnapshotAnswer(answer, offset), {
          signal: AbortSignal.timeout(this.limits.responseTimeoutMs),
        })
      }
    } catch (error) {
      // A bad request costs the requester its stream (a stranger's is no fault of a member's).
      this.log('snapshot stream from %p: %s', remote, toError(error).message)
      stream.abort(toError(error))
    }
  }

  // ---------------------------------------------------------------- client

  private async open(peer: PeerId): Promise<{ stream: Stream; lp: FramedStream }> {
    const stream = await this.components.connectionManager.openStream(peer, this.protocol, {
      signal: AbortSignal.timeout(C.OPEN_STREAM_TIMEOUT_MS),
      negotiateFully: true,
    })
    return { stream, lp: framed(stream, this.limits.chunkBytes + CHUNK_OVERHEAD) }
  }

  private async ask(
    lp: FramedStream,
    position: number,
    offset: number,
    maxBytes: number,
  ): Promise<SnapshotChunk> {
    const signal = AbortSignal.timeout(this.limits.responseTimeoutMs)
    const request: SnapshotRequest = { position: BigInt(position), offset: BigInt(offset), maxBytes }
    await lp.write(SnapshotRequest.encode(request), { signal })
    return decodeSnapshotChunk(await lp.read({ signal }))
  }

  /** Runs `body` on a new stream to `peer`, closing it after (aborting it on failure). */
  private async session<T>(peer: PeerId, body: (lp: FramedStream) => Promise<T>): Promise<T> {
    const { stream, lp } = await this.open(peer)
    try {
      const result = await body(lp)
      await stream
        .close({ signal: AbortSignal.timeout(this.limits.responseTimeoutMs) })
        .catch(() => stream.abort(new Error('closing')))
      return result
    } catch (error) {
      stream.abort(toError(error))
      throw error
    }
  }

  /** The digest `peer` reports for the state at `position`, or why it reports none. */
  digest(peer: PeerId, position: number): Promise<DigestReport> {
    return this.session(peer, async (lp) => reportOf(await this.ask(lp, position, 0, 0)))
  }

  /**
   * The state at `position` from `peer`, chunk by chunk, which must carry `digest` (what f+1 members
   * reported; the caller checks the bytes against it). Typed errors for answers that break the
   * protocol (`MalformedMessage`, `MessageTooLarge`), a `not-ready`/`unknown` answer as `undefined`.
   */
  fetch(peer: PeerId, position: number, digest: Uint8Array): Promise<Uint8Array | undefined> {
    return this.session(peer, async (lp) => {
      const assembly = new StateAssembly(digest, this.limits.maxStateBytes, this.limits.chunkBytes)
      for (;;) {
        const taken = assembly.take(await this.ask(lp, position, assembly.offset, this.limits.chunkBytes))
        if (taken === 'gone') return undefined
        if (taken !== 'more') return taken
      }
    })
  }
}
