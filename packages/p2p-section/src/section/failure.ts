/**
 * Sorting what went wrong on a stream or in an engine call: provably bad input (a `fault`), a
 * broken link (a `link:error`), or a partner simply ending its stream between messages.
 */
import type { Connection, Stream } from '@libp2p/interface'
import { type Fault, isParsecError, type ParsecErrorCode } from '@parsec-section/parsec-core'
import { isSectionError, LinkError, type LinkErrorCode, toError } from '../errors.js'
import { isMessageFaultCode, type MessageFaultCode } from './fault.js'

/** How a failed read, write or engine call is reported. */
export type Failure =
  /** The partner closed (or we timed out) a stream between messages: nothing to report. */
  | { readonly kind: 'end'; readonly message: string }
  /**
   * Provably bad input from a live peer: a `fault`. `faults` are the engine's, naming their real
   * offenders (empty for a fault of the message itself).
   */
  | {
      readonly kind: 'protocol'
      readonly code: MessageFaultCode | ParsecErrorCode
      readonly message: string
      readonly faults: readonly Fault[]
    }
  /** A broken link: a `link:error`. */
  | { readonly kind: 'transport'; readonly code: LinkErrorCode; readonly message: string }

/** libp2p error names that are transport-level, by the link error code they map to. */
const TRANSPORT_ERRORS: Readonly<Record<string, LinkErrorCode>> = {
  TimeoutError: 'Timeout',
  AbortError: 'Timeout',
  StreamResetError: 'StreamReset',
  StreamAbortedError: 'StreamReset',
  StreamClosedError: 'ConnectionClosed',
  StreamStateError: 'ConnectionClosed',
  ConnectionClosedError: 'ConnectionClosed',
  ConnectionClosingError: 'ConnectionClosed',
  MuxerClosedError: 'ConnectionClosed',
  UnsupportedProtocolError: 'UnsupportedProtocol',
}

/** Whether the stream (and its connection, when known) were still up when a read failed. */
function linkAlive(stream: Stream | undefined, connection: Connection | undefined): boolean {
  return (stream === undefined || stream.status === 'open') && (connection?.status ?? 'open') === 'open'
}

/**
 * Sorts a failure into protocol (the peer sent something provably bad over a working link) and
 * transport (the link broke: nobody's fault). Only this package's message faults, the engine's
 * errors (with the faults they carry), an oversized length prefix, and a frame cut short by the
 * peer closing its stream while the connection stays up are protocol faults; anything else is
 * transport, since it cannot be told from a crash, a restart or a network cut.
 *
 * @param between - no message was under way (a read for the next request or response)
 */
export function classify(
  error: unknown,
  stream: Stream | undefined,
  connection: Connection | undefined,
  between: boolean,
): Failure {
  if (error instanceof LinkError) return { kind: 'transport', code: error.code, message: error.message }
  if (isSectionError(error)) {
    if (error.code === 'Timeout') return { kind: 'transport', code: 'Timeout', message: error.message }
    if (isMessageFaultCode(error.code))
      return { kind: 'protocol', code: error.code, message: error.message, faults: [] }
    // Our own state (e.g. stopped while serving): no fault of the peer's.
    return { kind: 'transport', code: 'LinkFailure', message: error.message }
  }
  if (isParsecError(error)) {
    return { kind: 'protocol', code: error.code, message: error.message, faults: error.faults }
  }
  if (!(error instanceof Error)) {
    // e.g. a stream's 'close' event, which a write that waits for 'drain' is rejected with
    if (error instanceof Event) return classify(toError(error), stream, connection, between)
    return { kind: 'transport', code: 'LinkFailure', message: String(error) }
  }
  const { name, message } = error
  if (name === 'InvalidDataLengthError' || name === 'InvalidDataLengthLengthError') {
    return { kind: 'protocol', code: 'MessageTooLarge', message, faults: [] }
  }
  if (name === 'UnexpectedEOFError') {
    // lpStream reads the length prefix a byte at a time: EOF before its first byte is a close
    // between messages.
    if (/ 0\/1 bytes/.test(message)) {
      return between && linkAlive(stream, connection)
        ? { kind: 'end', message }
        : { kind: 'transport', code: 'ConnectionClosed', message: `link closed: ${message}` }
    }
    // Cut short mid-frame: by the peer closing its stream over a live connection (a malformed
    // message), or by the connection dying under it (a crash or a cut: not a fault).
    return linkAlive(stream, connection)
      ? { kind: 'protocol', code: 'MalformedMessage', message: `truncated message: ${message}`, faults: [] }
      : { kind: 'transport', code: 'ConnectionClosed', message: `connection lost mid-message: ${message}` }
  }
  if (between && (name === 'StreamClosedError' || name === 'StreamResetError'))
    return { kind: 'end', message }
  if (between && name === 'TimeoutError') return { kind: 'end', message: `idle: ${message}` }
  return { kind: 'transport', code: TRANSPORT_ERRORS[name] ?? 'LinkFailure', message: `${name}: ${message}` }
}
