/**
 * The engine's closed error union (spec §11). Every error a call can throw is a `ParsecError`
 * with one of these codes; callers switch on `code`, never on message text.
 */
import type { Fault } from './faults.js'

export type ParsecErrorCode =
  /** A peer id we do not know (sender, creator or recipient). */
  | 'UnknownPeer'
  /** Our own state forbids the call (e.g. we were removed, or have not joined yet). */
  | 'InvalidSelfState'
  /** The other peer's state forbids the call (e.g. gossip from a removed peer). */
  | 'InvalidPeerState'
  /** A malformed request or response (empty, undecodable, or not ending in a known event). */
  | 'InvalidMessage'
  /** An event or vote signature that does not verify. */
  | 'SignatureFailure'
  /** An event whose self-parent we do not hold. */
  | 'UnknownSelfParent'
  /** An event whose other-parent we do not hold. */
  | 'UnknownOtherParent'
  /** An event that breaks the protocol's structural rules. */
  | 'InvalidEvent'
  /**
   * An event signed with our key that we do not hold: our store lost events (a crash, an old
   * backup, a missing data directory) or another process runs with our key. Taking it would fork us.
   */
  | 'UnknownOwnEvent'
  /** Gossip received before we could take part (spec §9.2). */
  | 'PrematureGossip'
  /** We already voted for this observation. */
  | 'DuplicateVote'
  /** A block proof signed a different payload. */
  | 'MismatchedPayload'
  /** A decided key with no stored observation. */
  | 'UnknownPayload'
  /** A caller passed arguments the engine cannot accept (e.g. we are not in the genesis group). */
  | 'InvalidArgument'
  /** An internal invariant failed: a bug, reported rather than crashing. */
  | 'Logic'
  /** This platform lacks what the call needs (libsodium's prebuilt binding, for Ed25519). */
  | 'Unsupported'

export class ParsecError extends Error {
  override readonly name = 'ParsecError'

  constructor(
    readonly code: ParsecErrorCode,
    /** The message without its code. */
    readonly detail: string,
    /**
     * For a failed handle call: the faults found in the message, the sender's (why it failed)
     * included, so the caller can act on them.
     */
    readonly faults: readonly Fault[] = [],
  ) {
    super(`${code}: ${detail}`)
  }
}

export function isParsecError(error: unknown): error is ParsecError {
  return error instanceof ParsecError
}
