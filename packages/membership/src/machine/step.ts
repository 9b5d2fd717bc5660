/**
 * The one output of every input to the membership machine (hbbft's `Step`): what to vote, send,
 * tell the engine, the peer layer and discovery, what happened, what was wrong, and when to wake
 * the machine next. Steps merge, so a host may drive several inputs and flush once.
 */
import type { Observation, PublicId } from '../engine-exports.js'
import type { FoldWarning } from '../state/section-state.js'
import type { MessageKind, RejectReason } from '../wire/messages.js'

export interface OutboundMessage {
  readonly to: PublicId
  readonly kind: MessageKind
  readonly bytes: Uint8Array
}

/** Where an epoch's engine starts (docs/epochs.md): what `construct`, `newEpoch` and `rebase` carry. */
export interface EpochStart {
  readonly epoch: number
  /** The epoch's voter set (`SectionState.epochVoters`): the record's group in epoch 0. */
  readonly genesis: readonly PublicId[]
  /** The epoch's genesis related info: the record's in epoch 0, then the checkpoint's bytes. */
  readonly relatedInfo: Uint8Array
  /** The first global position the epoch's engine delivers (0 in epoch 0). */
  readonly start: number
}

export type EngineDirective =
  /**
   * Build `Parsec.fromExisting({ us, genesis, section, relatedInfo })` as an observer of epoch
   * `epoch` (a joiner, once admitted; again when its replay crosses a checkpoint before its Add).
   * The engine's genesis block is at position `start` in epoch 0; in a later epoch it is not
   * delivered (the checkpoint block at `start - 1` stands for it) and its block i ≥ 1 goes to the
   * machine at position `start + i - 1`.
   */
  | ({
      readonly kind: 'construct'
      /** The current members (the verified chain's end). */
      readonly section: readonly PublicId[]
    } & EpochStart)
  /**
   * A voter folded the Checkpoint block at `start - 1`: build `Parsec.fromGenesis({ us, genesis,
   * relatedInfo })` for epoch `epoch` if we are in `genesis`, retire the old engine (serve-only),
   * and deliver the new engine's block i ≥ 1 at position `start + i - 1` (its genesis block is not
   * delivered). The same step's `votes` then re-cast our undecided membership votes: apply it first.
   */
  | ({ readonly kind: 'newEpoch' } & EpochStart)
  /**
   * We lagged by whole epochs (`EngineSelfReport.aheadEpoch`): our state starts again at the
   * section's last checkpoint; build the engine of that epoch (as at `newEpoch`) and deliver from
   * `start` on. The blocks in between are skipped; nothing is re-cast (whether our old votes reached
   * the others before their graphs were dropped is not known). A joiner gets it too, with
   * `self:joined`, when a verified chain shows its Add agreed before the last checkpoint (its
   * replay's epoch may be gone): its engine, observer or none, is replaced by a voter's.
   */
  | ({ readonly kind: 'rebase' } & EpochStart)
  /** Pull the graph (observer ingest) from this member, in its insertion order; one at a time. */
  | { readonly kind: 'catchUp'; readonly from: PublicId }
  /** We were removed: answer pulls and push final syncs, create no event (the drain). */
  | { readonly kind: 'serveOnly' }
  /** The drain is over: stop the engine. */
  | { readonly kind: 'stop' }

export type PeerDirective =
  | { readonly kind: 'keepAlive'; readonly peer: PublicId; readonly on: boolean }
  /** Deny the peer until `untilMs` (`NEVER` for an agreed ban). */
  | { readonly kind: 'ban'; readonly peer: PublicId; readonly untilMs: number; readonly agreed: boolean }
  | { readonly kind: 'partnerWeight'; readonly peer: PublicId; readonly weight: number }
  /** Whether to accept sync (or catch-up pulls) from this peer. */
  | { readonly kind: 'acceptSync'; readonly peer: PublicId; readonly accept: boolean }

export type DiscoveryDirective =
  | { readonly kind: 'provide' }
  | { readonly kind: 'cancelProvide' }
  /** A joiner needs contacts: look up the section's providers and announcements, then `addContacts`. */
  | { readonly kind: 'findMembers' }
  /** Publish these signed Announce bytes on the section's topic. */
  | { readonly kind: 'announce'; readonly bytes: Uint8Array }

export type LeaveReason = 'left' | 'removed' | 'banned'

export type MembershipEvent =
  | { readonly type: 'member:joined'; readonly peer: PublicId; readonly position: number }
  | {
      readonly type: 'member:left'
      readonly peer: PublicId
      readonly position: number
      readonly reason: LeaveReason
    }
  | { readonly type: 'member:banned'; readonly peer: PublicId; readonly position: number }
  | { readonly type: 'self:joined'; readonly position: number; readonly seq: number }
  | { readonly type: 'self:removed'; readonly reason: LeaveReason }
  /** Member side: we refused `peer`. Joiner side: `by` refused us. */
  | {
      readonly type: 'join:rejected'
      readonly peer: PublicId
      readonly by?: PublicId
      readonly reason: RejectReason
      readonly retryAfterMs: number
    }
  | { readonly type: 'section:fragile'; readonly members: number }
  /** A change we would vote is held back by a rule (budget, young cap, limits...). */
  | {
      readonly type: 'change:deferred'
      readonly change: 'add' | 'remove'
      readonly peer: PublicId
      readonly reason: string
    }

export type FaultKind =
  | 'MalformedMessage'
  | 'BadSignature'
  | 'PeerMismatch'
  | 'InsufficientWork'
  | 'WrongSection'
  | 'InvalidReady'
  | 'InvalidLeave'
  | 'ForgedChain'
  | 'StaleChain'
  /** Our replayed state disagrees with the verified chain at our own Add: fatal for this join. */
  | 'StateMismatch'

/** Provably bad input (or a fatal inconsistency), naming the offender. */
export interface MembershipFault {
  readonly offender: PublicId
  readonly kind: FaultKind
  readonly detail: string
}

export type Warning =
  | { readonly kind: 'fold'; readonly warning: FoldWarning }
  | { readonly kind: 'LeaveRefused'; readonly detail: string }
  | { readonly kind: 'Dropped'; readonly detail: string }

export interface Step {
  /**
   * Observations to vote, in order. A host applies the step's `engine` directives BEFORE these: a
   * `newEpoch` is followed here by the re-cast of our undecided votes, for the new engine.
   */
  readonly votes: Observation[]
  readonly messages: OutboundMessage[]
  readonly engine: EngineDirective[]
  readonly peers: PeerDirective[]
  readonly discovery: DiscoveryDirective[]
  readonly events: MembershipEvent[]
  readonly faults: MembershipFault[]
  readonly warnings: Warning[]
  /** When to call `tick` at the latest (undefined: nothing timed is pending). */
  nextWakeupAt: number | undefined
}

export function emptyStep(): Step {
  return {
    votes: [],
    messages: [],
    engine: [],
    peers: [],
    discovery: [],
    events: [],
    faults: [],
    warnings: [],
    nextWakeupAt: undefined,
  }
}

/** Concatenates steps in order; the earliest wake-up wins. */
export function mergeSteps(...steps: readonly Step[]): Step {
  const out = emptyStep()
  for (const step of steps) {
    out.votes.push(...step.votes)
    out.messages.push(...step.messages)
    out.engine.push(...step.engine)
    out.peers.push(...step.peers)
    out.discovery.push(...step.discovery)
    out.events.push(...step.events)
    out.faults.push(...step.faults)
    out.warnings.push(...step.warnings)
    if (
      step.nextWakeupAt !== undefined &&
      (out.nextWakeupAt === undefined || step.nextWakeupAt < out.nextWakeupAt)
    ) {
      out.nextWakeupAt = step.nextWakeupAt
    }
  }
  return out
}
