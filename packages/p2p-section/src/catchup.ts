/**
 * Paged catch-up over `/parsec/<section id>/catchup/1.0.0`: the one path by which a peer fetches
 * more than a page of events (a member back from an absence of any length, a restarted one, one
 * told `catch-up` in a sync; joiners and peers lagging behind an epoch later). The requester sends
 * what it holds (its frontier) and where to resume; the server answers with one bounded page of
 * the events it lacks, in the server's insertion order (parents first), until a page says `done`.
 * The requester adds each page (verified like gossip, no sync event made) and persists it before
 * asking for the next, so an interrupted catch-up resumes where it stopped.
 *
 * The same request with no page asks only for the latest event of the requester the server holds:
 * the start-up self-check (see `SelfCheck`).
 */
import type { Connection, Logger, PeerId, Stream } from '@libp2p/interface'
import type { ConnectionManager } from '@libp2p/interface-internal'
import type { Frontier, Parsec, PublicId, Step } from '@parsec-section/parsec-core'
import type { Uint8ArrayList } from 'uint8arraylist'
import { decodeEvents, frontierEntryToWire, frontierFromWire, packedEventBytes } from './codec.js'
import * as C from './constants.js'
import { OtherEpochError, SectionError } from './errors.js'
import { type FramedStream, framed } from './framing.js'
import { CatchUpPage, CatchUpRequest } from './pb/catchup.js'

/** Protobuf overhead per repeated entry: tag + length varint. */
const ENTRY_OVERHEAD = 6

export interface CatchUpLimits {
  readonly maxMessageBytes: number
  readonly pageBytes: number
  readonly maxEventsPerMessage: number
  readonly responseTimeoutMs: number
  readonly idleStreamTimeoutMs: number
}

/** What a member answered about us (the self-check) and about its graph. */
export interface PeerStatus {
  readonly graphSize: number
  /** The latest event of ours it holds: chain position and hash. */
  readonly ourLatest: { readonly index: number; readonly hash: Uint8Array } | undefined
}

/** Progress of a pull, reported after each page. */
export interface PullProgress {
  readonly peer: PeerId
  readonly pages: number
  /** Events added so far by this pull. */
  readonly events: number
  /** The server's graph size when it sent the last page. */
  readonly serverGraphSize: number
  readonly done: boolean
}

/** How the server reads requests and writes pages (the section's bounded inbound reader). */
export interface RequestReader {
  read(): Promise<Uint8ArrayList>
  write(data: Uint8Array, options?: { signal?: AbortSignal }): Promise<void>
}

/** What the section lends the catch-up: its engine and what to do with what arrives. */
export interface CatchUpHost {
  /** Our current engine and its epoch. */
  engine(): Parsec | undefined
  epoch(): number
  /** Our engine of `epoch`: the current one, or the previous one while it drains (serve-only). */
  engineOf(epoch: number): Parsec | undefined
  /** The member's engine id for a peer id, undefined for a non-member. */
  memberOf(peer: PeerId): PublicId | undefined
  /** A member's engine id by engine name (hex public key). */
  resolve(name: string): PublicId | undefined
  /** An engine step's output (events to persist, blocks, faults), for the next flush. */
  take(step: Step<unknown>, from: PeerId): void
  /** Persist, then deliver (what every call's output goes through). */
  flush(): Promise<void>
  /** A requester's frontier: what it holds (section/claimed-frontiers.ts). */
  claimed?(peer: PeerId, frontier: Frontier): void
}

/** A page with nothing in it, for the answers that are only a status. */
const EMPTY_PAGE: CatchUpPage = {
  events: [],
  next: 0n,
  done: false,
  graphSize: 0n,
  requesterLastHash: new Uint8Array(0),
  notMember: false,
  otherEpoch: false,
  epoch: 0n,
}

function decodeRequest(bytes: Uint8Array | Uint8ArrayList): CatchUpRequest {
  try {
    return CatchUpRequest.decode(bytes, { limits: { known: C.MAX_FRONTIER_ENTRIES } })
  } catch (error) {
    throw new SectionError('MalformedMessage', `not a catch-up request: ${(error as Error).message}`)
  }
}

function decodePage(bytes: Uint8Array | Uint8ArrayList, maxEvents: number): CatchUpPage {
  try {
    return CatchUpPage.decode(bytes, { limits: { events: maxEvents } })
  } catch (error) {
    throw new SectionError('MalformedMessage', `not a catch-up page: ${(error as Error).message}`)
  }
}

export class CatchUp {
  constructor(
    private readonly host: CatchUpHost,
    private readonly connectionManager: ConnectionManager,
    readonly protocol: string,
    private readonly limits: CatchUpLimits,
    private readonly log: Logger,
  ) {}

  // ---------------------------------------------------------------- server

  /**
   * Serves one requester's pages on its stream (read through `messages`, which bounds what a
   * request may hold and how long it may take) until the requester closes it or stays idle: the
   * read's error ends the loop, for the caller to classify and end the stream. Reads only
   * (`exportEvents`): serving never changes our graph.
   */
  async serve(messages: RequestReader, connection: Connection, member: PublicId): Promise<void> {
    for (;;) {
      const request = decodeRequest(await messages.read())
      if (this.host.engine() === undefined)
        throw new SectionError('NotStarted', 'the section service is not started')
      const epoch = request.epoch > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(request.epoch)
      const engine = this.host.engineOf(epoch)
      const page =
        engine === undefined
          ? { ...EMPTY_PAGE, done: true, otherEpoch: true, epoch: BigInt(this.host.epoch()) }
          : this.page(engine, member, request, connection.remotePeer, epoch)
      await messages.write(CatchUpPage.encode(page), {
        signal: AbortSignal.timeout(this.limits.responseTimeoutMs),
      })
      this.log.trace('catch-up page for %p: %d events', connection.remotePeer, page.events.length)
    }
  }

  /**
   * Answers a request of a peer that is no longer a member (its removal is agreed here) with a
   * `notMember` page: a restarted peer removed while it was down learns it at its self-check.
   */
  async refuse(messages: RequestReader): Promise<void> {
    decodeRequest(await messages.read())
    const page: CatchUpPage = { ...EMPTY_PAGE, done: true, notMember: true }
    await messages.write(CatchUpPage.encode(page), {
      signal: AbortSignal.timeout(this.limits.responseTimeoutMs),
    })
  }

  private page(
    engine: Parsec,
    member: PublicId,
    request: CatchUpRequest,
    requester: PeerId,
    epoch: number,
  ): CatchUpPage {
    const known = frontierFromWire(request.known, (name) => this.host.resolve(name))
    // What it holds of our current graph (a frontier of an older epoch's says nothing of it).
    if (epoch === this.host.epoch()) this.host.claimed?.(requester, known)
    const maxBytes = Math.min(request.maxBytes, this.limits.pageBytes)
    const from = request.from > BigInt(Number.MAX_SAFE_INTEGER) ? engine.graphSize : Number(request.from)
    const latest = engine.latestEventOf(member)
    const status = {
      graphSize: BigInt(engine.graphSize),
      requesterLast: latest === undefined ? undefined : BigInt(latest.index),
      requesterLastHash: latest === undefined ? new Uint8Array(0) : Uint8Array.from(latest.hash),
    }
    const tail = { notMember: false, otherEpoch: false, epoch: BigInt(epoch) }
    if (maxBytes === 0) return { events: [], next: request.from, done: false, ...status, ...tail }
    let bytes = 0
    const exported = engine.exportEvents(known, from, (event, taken) => {
      bytes += packedEventBytes(event).length + ENTRY_OVERHEAD
      return bytes <= maxBytes && taken < this.limits.maxEventsPerMessage
    })
    return {
      events: exported.events.map(packedEventBytes),
      next: BigInt(exported.next),
      done: exported.done,
      ...status,
      ...tail,
    }
  }

  // ---------------------------------------------------------------- client

  private async open(peer: PeerId): Promise<{ stream: Stream; lp: FramedStream }> {
    const stream = await this.connectionManager.openStream(peer, this.protocol, {
      signal: AbortSignal.timeout(C.OPEN_STREAM_TIMEOUT_MS),
      negotiateFully: true,
    })
    return { stream, lp: framed(stream, this.limits.maxMessageBytes) }
  }

  /** One request and its page; `NotAMember` when the server removed us. */
  private async ask(lp: FramedStream, request: CatchUpRequest): Promise<CatchUpPage> {
    const signal = AbortSignal.timeout(this.limits.responseTimeoutMs)
    await lp.write(CatchUpRequest.encode(request), { signal })
    const page = decodePage(await lp.read({ signal }), this.limits.maxEventsPerMessage)
    if (page.notMember)
      throw new SectionError('NotAMember', 'the member no longer counts us as one (removed)')
    if (page.otherEpoch)
      throw new OtherEpochError(
        Number(page.epoch),
        `the member holds no graph of epoch ${request.epoch} (it is in epoch ${page.epoch})`,
      )
    return page
  }

  /** The self-check question: the latest event of ours `peer` holds, and its graph size. */
  async status(peer: PeerId): Promise<PeerStatus> {
    const { stream, lp } = await this.open(peer)
    try {
      const page = await this.ask(lp, { known: [], from: 0n, maxBytes: 0, epoch: BigInt(this.host.epoch()) })
      // Bounded: a partner that never closes its side must not hold the self-check up.
      await stream
        .close({ signal: AbortSignal.timeout(this.limits.responseTimeoutMs) })
        .catch(() => stream.abort(new Error('closing')))
      return {
        graphSize: Number(page.graphSize),
        ourLatest:
          page.requesterLast === undefined
            ? undefined
            : { index: Number(page.requesterLast), hash: Uint8Array.from(page.requesterLastHash) },
      }
    } catch (error) {
      stream.abort(error instanceof Error ? error : new Error(String(error)))
      throw error
    }
  }

  /**
   * Fetches from `peer` every event we lack, a page at a time, adding and persisting each page
   * before asking for the next. Throws the engine's `ParsecError` for a page it refuses (events
   * before the bad one stay), typed errors for bad messages, and transport errors as they come.
   */
  async pull(
    peer: PeerId,
    member: PublicId,
    onPage: (progress: PullProgress) => void,
  ): Promise<PullProgress> {
    const { stream, lp } = await this.open(peer)
    let progress: PullProgress = { peer, pages: 0, events: 0, serverGraphSize: 0, done: false }
    try {
      let from = 0n
      const epoch = this.host.epoch()
      for (;;) {
        const engine = this.host.engine()
        if (engine === undefined) throw new SectionError('NotStarted', 'the section service stopped')
        // We switched epochs meanwhile: this graph is done with (the next pull is the new one's).
        if (this.host.epoch() !== epoch) break
        const page = await this.ask(lp, {
          known: engine.frontier().map(frontierEntryToWire),
          from,
          maxBytes: this.limits.pageBytes,
          epoch: BigInt(epoch),
        })
        if (this.host.epoch() !== epoch) break
        const step = engine.ingest(member, decodeEvents(page.events))
        // The events before a bad one stay: persisted either way, then the error is thrown.
        this.host.take(step, peer)
        await this.host.flush()
        if (step.error !== undefined) throw step.error
        progress = {
          peer,
          pages: progress.pages + 1,
          events: progress.events + step.events.length,
          serverGraphSize: Number(page.graphSize),
          done: page.done,
        }
        onPage(progress)
        if (page.done || page.events.length === 0) break
        from = page.next
      }
      await stream.close().catch(() => stream.abort(new Error('closing')))
      return progress
    } catch (error) {
      stream.abort(error instanceof Error ? error : new Error(String(error)))
      throw error
    }
  }
}
