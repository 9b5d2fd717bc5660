/**
 * The membership package's closed error union. Bad input from the network becomes a
 * `MembershipError` with a `code` (callers switch on it, never on message text); the Step machine
 * turns those into faults and replies, so a peer never crashes on network input.
 */

export type MembershipErrorCode =
  /** Bytes that do not decode: truncated, trailing bytes, a length beyond what remains, bad UTF-8. */
  | 'Malformed'
  /** A message or field above its size limit (checked before anything is allocated). */
  | 'TooLarge'
  /** A message or record version we do not speak. */
  | 'UnsupportedVersion'
  /** A message kind byte we do not know. */
  | 'UnknownKind'
  /** A GenesisRecord whose hash is not the expected section id. */
  | 'WrongSectionId'
  /** The chain's first block is not the GenesisRecord's genesis observation. */
  | 'GenesisMismatch'
  /** A vote signature that does not verify, or a proof over another payload. */
  | 'ForgedSignature'
  /** A proof signed by a peer that was not a voter when the block was decided. */
  | 'NotAVoter'
  /** Fewer valid signatures than a supermajority of the voters that decided the block. */
  | 'NoSupermajority'
  /** A valid chain that ends before a head we already know (a liar serving an old chain). */
  | 'StaleChain'
  /** A chain entry whose summary does not match the signed observation bytes. */
  | 'InconsistentEntry'
  /** A caller passed arguments that cannot be accepted (misuse; thrown, never network input). */
  | 'InvalidArgument'

export class MembershipError extends Error {
  override readonly name = 'MembershipError'

  constructor(
    readonly code: MembershipErrorCode,
    /** The message without its code. */
    readonly detail: string,
  ) {
    super(`${code}: ${detail}`)
  }
}

export function isMembershipError(error: unknown): error is MembershipError {
  return error instanceof MembershipError
}
