/**
 * Which of a member's own payloads were decided in a range of blocks, over
 * `/parsec/<section id>/decided/1.0.0` (docs/epochs.md §4). A member that rebased (it lagged by
 * whole epochs and started again at the last checkpoint) asks the others about the blocks it never
 * saw; those that f+1 of them say were not decided it votes again (section/decided-lookup.ts).
 *
 * Only members may ask, and only about their own votes: a block counts when its payload has one of
 * the keys and the requester's signature is among its proofs. One request and one answer per
 * stream; a request covers at most `MAX_DECIDED_RANGE` blocks and `MAX_DECIDED_KEYS` keys. A
 * client never trusts one answer: the caller compares the answers of several members.
 */
import type { Connection, Logger, PeerId, Startable, Stream } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'
import type { Uint8ArrayList } from 'uint8arraylist'
import * as C from './constants.js'
import { SectionError, toError } from './errors.js'
import { framed } from './framing.js'
import { CLOSE_GRACE_MS, endStream, InboundMessages, type LargeMessageBudget } from './inbound-stream.js'
import type { StreamGuard } from './limits/stream-guard.js'
import { DecidedAnswer, DecidedRequest } from './pb/decided.js'
import { safeNumber } from './snapshot-chunks.js'

/** A payload of the requester's decided in the range: its key and where. */
export interface DecidedPayload {
  readonly key: Uint8Array
  readonly position: number
}

/** What a member answers about a range. */
export type DecidedReport =
  | { readonly status: 'ok'; readonly found: readonly DecidedPayload[] }
  | { readonly status: 'not-retained'; readonly retainedFrom: number }
  | { readonly status: 'not-ready' }

/** The member's side: its delivered blocks. */
export interface DecidedServerHost {
  /**
   * Which of `keys` were decided in [from, to) with `requester`'s vote; undefined when `requester`
   * is not a member (refused).
   */
  answer(requester: PeerId, from: number, to: number, keys: readonly Uint8Array[]): DecidedReport | undefined
}

export interface DecidedLimits {
  readonly responseTimeoutMs: number
}

/** The largest answer: every key found, each with its position and framing. */
const MAX_ANSWER_BYTES = C.MAX_DECIDED_KEYS * (C.DECIDED_KEY_BYTES + 24) + 64

/** Decodes a request and checks its bounds; a `MalformedMessage` for anything else. */
export function decodeDecidedRequest(bytes: Uint8Array | Uint8ArrayList): {
  from: number
  to: number
  keys: Uint8Array[]
} {
  let request: DecidedRequest
  try {
    request = DecidedRequest.decode(bytes, { limits: { keys: C.MAX_DECIDED_KEYS } })
  } catch (error) {
    throw new SectionError('MalformedMessage', `not a decided request: ${(error as Error).message}`)
  }
  const from = safeNumber(request.from, 'from')
  const to = safeNumber(request.to, 'to')
  if (to < from || to - from > C.MAX_DECIDED_RANGE) {
    throw new SectionError(
      'MalformedMessage',
      `a decided request for [${from}, ${to}): at most ${C.MAX_DECIDED_RANGE} blocks`,
    )
  }
  if (request.keys.some((key) => key.length !== C.DECIDED_KEY_BYTES)) {
    throw new SectionError('MalformedMessage', `a decided request's keys take ${C.DECIDED_KEY_BYTES} bytes`)
  }
  return { from, to, keys: request.keys }
}

/** Decodes an answer; a `MalformedMessage` for anything else. */
export function decodeDecidedAnswer(bytes: Uint8Array | Uint8ArrayList): DecidedReport {
  let answer: DecidedAnswer
  try {
    answer = DecidedAnswer.decode(bytes, { limits: { found: C.MAX_DECIDED_KEYS } })
  } catch (error) {
    throw new SectionError('MalformedMessage', `not a decided answer: ${(error as Error).message}`)
  }
  switch (answer.status) {
    case DecidedAnswer.Status.OK:
      return {
        status: 'ok',
        found: answer.found.map((f) => ({ key: f.key, position: safeNumber(f.position, 'position') })),
      }
    case DecidedAnswer.Status.NOT_RETAINED:
      return { status: 'not-retained', retainedFrom: safeNumber(answer.retainedFrom, 'retained from') }
    case DecidedAnswer.Status.NOT_READY:
      return { status: 'not-ready' }
    default:
      throw new SectionError('MalformedMessage', `a decided answer of status ${String(answer.status)}`)
  }
}

/** An answer on the wire. */
export function encodeDecidedAnswer(report: DecidedReport): Uint8Array {
  switch (report.status) {
    case 'ok':
      return DecidedAnswer.encode({
        status: DecidedAnswer.Status.OK,
        retainedFrom: 0n,
        found: report.found.map((f) => ({ key: Uint8Array.from(f.key), position: BigInt(f.position) })),
      })
    case 'not-retained':
      return DecidedAnswer.encode({
        status: DecidedAnswer.Status.NOT_RETAINED,
        retainedFrom: BigInt(report.retainedFrom),
        found: [],
      })
    default:
      return DecidedAnswer.encode({ status: DecidedAnswer.Status.NOT_READY, retainedFrom: 0n, found: [] })
  }
}

export class DecidedProtocol implements Startable {
  private started = false

  constructor(
    private readonly components: {
      registrar: Registrar
      connectionManager: Pick<ConnectionManager, 'openStream'>
    },
    readonly protocol: string,
    private readonly host: DecidedServerHost,
    private readonly guard: StreamGuard,
    private readonly budget: LargeMessageBudget,
    private readonly limits: DecidedLimits,
    private readonly log: Logger,
  ) {
    this.handle = this.handle.bind(this)
  }

  isStarted(): boolean {
    return this.started
  }

  async start(): Promise<void> {
    await this.components.registrar.handle(this.protocol, this.handle, {
      maxInboundStreams: C.MAX_DECIDED_STREAMS,
      maxOutboundStreams: C.MAX_DECIDED_STREAMS,
    })
    this.started = true
  }

  async stop(): Promise<void> {
    this.started = false
    await this.components.registrar.unhandle(this.protocol)
  }

  /** Answers one request. Never throws. */
  private async handle(stream: Stream, connection: Connection): Promise<void> {
    const remote = connection.remotePeer
    if (this.guard.admit(connection) !== 'allowed') {
      stream.abort(new Error('refused'))
      return
    }
    const messages = new InboundMessages(stream, remote.toString(), {
      maxMessageBytes: C.MAX_DECIDED_REQUEST_BYTES,
      idleTimeoutMs: this.limits.responseTimeoutMs,
      messageTimeoutMs: this.limits.responseTimeoutMs,
      budget: this.budget,
    })
    try {
      const { from, to, keys } = decodeDecidedRequest(await messages.read())
      if (!this.started) throw new SectionError('NotStarted', 'the section service stopped')
      const report = this.host.answer(remote, from, to, keys)
      if (report === undefined) throw new SectionError('NotAMember', `${remote.toString()} is not a member`)
      await messages.write(encodeDecidedAnswer(report), {
        signal: AbortSignal.timeout(this.limits.responseTimeoutMs),
      })
      await endStream(stream, CLOSE_GRACE_MS, 'done')
    } catch (error) {
      this.log('decided stream from %p: %s', remote, toError(error).message)
      stream.abort(toError(error))
    }
  }

  /** Asks `peer` which of `keys` were decided in [from, to) with our vote. */
  async ask(peer: PeerId, from: number, to: number, keys: readonly Uint8Array[]): Promise<DecidedReport> {
    const signal = AbortSignal.timeout(this.limits.responseTimeoutMs)
    const stream = await this.components.connectionManager.openStream(peer, this.protocol, {
      signal: AbortSignal.timeout(C.OPEN_STREAM_TIMEOUT_MS),
      negotiateFully: true,
    })
    try {
      const lp = framed(stream, MAX_ANSWER_BYTES)
      const request: DecidedRequest = {
        from: BigInt(from),
        to: BigInt(to),
        keys: keys.map((k) => Uint8Array.from(k)),
      }
      await lp.write(DecidedRequest.encode(request), { signal })
      const report = decodeDecidedAnswer(await lp.read({ signal }))
      await stream.close({ signal }).catch(() => stream.abort(new Error('closing')))
      return report
    } catch (error) {
      stream.abort(toError(error))
      throw error
    }
  }
}
