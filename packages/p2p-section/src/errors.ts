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
  /** Stored data belongs to another identity or section, or disagrees with itself. */
  | 'StorageMismatch'
  /**
   * The store is damaged: a record fails its checksum, a record is missing, or the LevelDB
   * directory is incomplete. Nothing was changed; the message names what is damaged.
   */
  | 'StorageCorrupt'
  /** The store was written in a storage format this version does not read (a newer one). */
  | 'StorageVersion'
  /**
   * Writing to the store failed (a full disk, an I/O error): the service creates no more
   * events and sends nothing that depends on what was not stored. Restart it once the cause
   * is fixed.
   */
  | 'StorageFailed'
  /** The service is not running. */
  | 'NotStarted'
  /**
   * The start-up self-check (or later gossip) showed that the section holds an event of ours our
   * store does not: our data directory is behind this key's last run, or another process runs with
   * our key. We make no event (it would fork us).
   */
  | 'SelfCheckFailed'
  /**
   * This key is no member of the section any more: its removal (a leave, a removal for silence, a
   * ban) is agreed, in our own blocks or in the members' chain. The service does not run it as a
   * member (`self()` says `removed` or `banned`); joining again takes a new key.
   */
  | 'Removed'
  /** An argument outside its domain. */
  | 'InvalidArgument'
  /** `leave()` was refused (a `LeaveRefusedError`, whose `reason` says why). */
  | 'LeaveRefused'
  /**
   * The partner holds no engine of our epoch (docs/epochs.md §3): it dropped it (we lag by whole
   * epochs and catch up from checkpoints) or we are ahead of it (it switches soon). Not a fault.
   */
  | 'OtherEpoch'
  /**
   * A member served application state (the snapshot hook) whose digest is not the one it and f
   * other members reported for that checkpoint.
   */
  | 'SnapshotMismatch'
  /** `submit()` in a section that is not Single-mode: transactions belong to Single-mode sections. */
  | 'TransactionsNeedSingleMode'
  /** `vote()` of a payload starting with the transaction batch magic (batch-codec.ts): reserved. */
  | 'ReservedPayload'
  /** `submit()` while this peer holds `maxQueuedTransactionBytes` not yet voted: try again later. */
  | 'TransactionQueueFull'

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
    options?: ErrorOptions,
  ) {
    super(message, options)
  }
}

/** Why `leave()` was refused. */
export type LeaveRefusal =
  /** The only member: a section never becomes empty. */
  | 'LastMember'
  /** Our Remove is voted or agreed already. */
  | 'AlreadyLeaving'
  /** We were removed or banned. */
  | 'Removed'
  /** We are not a voter (an outsider or a candidate). */
  | 'NotAMember'
  /** The genesis block is not agreed yet: there are no members to agree on our Remove. */
  | 'GenesisNotAgreed'

/** `leave()` refused; nothing was voted. */
export class LeaveRefusedError extends SectionError {
  constructor(
    readonly reason: LeaveRefusal,
    message: string,
  ) {
    super('LeaveRefused', message)
  }
}

/** A member holds no engine of the epoch asked about; `epoch` is its own (docs/epochs.md §3). */
export class OtherEpochError extends SectionError {
  constructor(
    readonly epoch: number,
    message: string,
  ) {
    super('OtherEpoch', message)
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

/**
 * A rejection reason as an error that says what happened. libp2p's byte streams wait for 'drain'
 * with p-event, which rejects with the stream's 'close' event itself when the stream closes during
 * a write: a `StreamCloseEvent`, whose `error` (when it did not close cleanly) says why and whose
 * `local` says which side closed it. `String()` of such an event is "[object Event]".
 */
export function toError(reason: unknown): Error {
  if (reason instanceof Error) return reason
  if (!(reason instanceof Event)) return new Error(String(reason))
  const { error, local } = reason as Event & { error?: unknown; local?: unknown }
  const event = `'${reason.type}' event`
  const what =
    local === true
      ? `stream closed on our side (${event})`
      : local === false
        ? `stream closed by the remote peer (${event})`
        : event
  if (error instanceof Error) {
    // Keeps the carried error's name, which is how the failure is classified (e.g. a reset).
    const described = new Error(`${what}: ${error.message}`, { cause: error })
    described.name = error.name
    return described
  }
  if (error !== undefined && error !== null) return new LinkError('LinkFailure', `${what}: ${String(error)}`)
  return new LinkError('ConnectionClosed', `${what} while a message was under way`)
}
