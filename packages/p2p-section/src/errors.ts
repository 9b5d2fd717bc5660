/**
 * Typed errors of the section service. Faults found in what peers send are reported as `fault`
 * events carrying one of these codes (or the engine's `ParsecError` code), never thrown out of a
 * stream handler.
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
  /** A partner did not answer in time. */
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
