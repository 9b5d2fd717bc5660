/**
 * Typed errors of the section service. Faults found in what peers send are reported as `fault`
 * events carrying one of these codes (or the engine's `ParsecError` code), never thrown out of a
 * stream handler. A `fault` is provably bad input from a live peer; a broken link is not one (see
 * `LinkErrorCode`).
 */
export type SectionErrorCode =
  /** The remote peer of the connection is not a member of this section. */
  | 'NotAMember'
  /** Bytes that do not decode as a sync message. */
  | 'MalformedMessage'
  /** A message over the size or event-count limit. */
  | 'MessageTooLarge'
  /** A response where a request was due, or the reverse. */
  | 'UnexpectedMessage'
  /** A partner did not answer in time (reported as a link error, never as a fault). */
  | 'Timeout'
  /** The genesis file or record is invalid. */
  | 'InvalidGenesis'
  /** Our key is not that of a genesis member. */
  | 'NotInGenesis'
  /** Stored data belongs to another identity or section, or is damaged. */
  | 'StorageMismatch'
  /** The service is not running. */
  | 'NotStarted'
  /** An argument outside its domain. */
  | 'InvalidArgument'

/**
 * Transport-level failures, reported as `link:error` events and never as faults: a peer that was
 * killed, restarted, cut off or slow gives these without having sent anything wrong.
 */
export type LinkErrorCode =
  /** No answer (or no stream) within the time limit. */
  | 'Timeout'
  /** The peer or its muxer reset the stream. */
  | 'StreamReset'
  /** The connection closed or died (a message cut short by it included). */
  | 'ConnectionClosed'
  /** Neither a connection nor a dial worked (no known address, refused, unreachable). */
  | 'Unreachable'
  /** The peer does not serve this section's sync protocol (not started yet, or stopping). */
  | 'UnsupportedProtocol'
  /** We had no room for another large message partly received (the partner retries later). */
  | 'Busy'
  /** Any other I/O failure. */
  | 'LinkFailure'

export class SectionError extends Error {
  override readonly name = 'SectionError'
  constructor(
    readonly code: SectionErrorCode,
    message: string,
  ) {
    super(message)
  }
}

export function isSectionError(error: unknown): error is SectionError {
  return error instanceof SectionError
}

/** A transport-level failure (internal: reported as a `link:error` event, never as a fault). */
export class LinkError extends Error {
  override readonly name = 'LinkError'
  constructor(
    readonly code: LinkErrorCode,
    message: string,
  ) {
    super(message)
  }
}
