/**
 * What the machine's parts share: identity, configuration, the clock reading, our role, the agreed
 * state and the policy, plus the small helpers every part uses to write a Step.
 */
import { checkpointRuleOf, type MembershipConfig } from '../defaults.js'
import type { PeerIdDecoder } from '../encoding/peer-ids.js'
import type { PublicId, SecretId } from '../engine-exports.js'
import { MembershipError } from '../errors.js'
import type { AdmissionPolicy } from '../join/policies.js'
import type { GenesisRecord } from '../state/genesis-record.js'
import { type ChainEntry, SectionState } from '../state/section-state.js'
import { decodeMessageOf, encodeMessage, type MembershipMessage, type MessageKind } from '../wire/messages.js'
import type { EpochStart, FaultKind, Step } from './step.js'

/** Our own place in the section's life. */
export type Role =
  | 'outsider'
  | 'requesting'
  | 'candidate'
  | 'ready'
  | 'member'
  | 'leaving'
  | 'draining'
  | 'removed'

export interface MachineContext {
  readonly us: SecretId
  readonly config: MembershipConfig
  readonly ids: PeerIdDecoder
  readonly rng: () => number
  readonly sectionId: Uint8Array
  /** Our own addresses (tickets, announcements). */
  readonly addrs: readonly string[]
  now: number
  role: Role
  state: SectionState | undefined
  policy: AdmissionPolicy
}

export function requireState(ctx: MachineContext): SectionState {
  if (ctx.state === undefined) throw new MembershipError('InvalidArgument', 'no section state yet')
  return ctx.state
}

/** A voter: it votes, suspects and judges. */
export function isVoter(ctx: MachineContext): boolean {
  return ctx.role === 'member' || ctx.role === 'leaving'
}

/** A voter that folded genesis: it may answer JoinInfo and judge join requests. */
export function isServing(ctx: MachineContext): boolean {
  return isVoter(ctx) && (ctx.state?.seq ?? 0) > 0
}

/** The Remove round: `⌊agreedBlocks / suspicionWindow⌋`. */
export function currentRound(ctx: MachineContext): number {
  return Math.floor(requireState(ctx).agreedBlocks / ctx.config.suspicionWindow)
}

export function send(step: Step, to: PublicId, message: MembershipMessage): void {
  step.messages.push({ to, kind: message.kind, bytes: encodeMessage(message) })
}

export function fault(step: Step, offender: PublicId, kind: FaultKind, detail: string): void {
  step.faults.push({ offender, kind, detail })
}

/** Decodes a message of one kind; malformed bytes become a fault naming the sender, never a throw. */
export function decodeFrom<K extends MessageKind>(
  ctx: MachineContext,
  bytes: Uint8Array,
  kind: K,
  from: PublicId,
  step: Step,
): Extract<MembershipMessage, { kind: K }> | undefined {
  try {
    return decodeMessageOf(bytes, kind, ctx.ids)
  } catch (error) {
    if (!(error instanceof MembershipError)) throw error
    fault(step, from, 'MalformedMessage', `${kind}: ${error.code}: ${error.detail}`)
    return undefined
  }
}

/**
 * A verified chain's state at its last checkpoint, with our config (undefined when no checkpoint
 * of the chain started an epoch): where a joiner or a rebased member starts.
 */
export function stateAtLastCheckpoint(
  ctx: MachineContext,
  record: GenesisRecord,
  chain: readonly ChainEntry[],
): SectionState | undefined {
  return SectionState.atLastCheckpoint(
    record,
    chain,
    ctx.config.historyWindow,
    ctx.ids,
    checkpointRuleOf(ctx.config),
  )
}

/** Where the engine of `state`'s current epoch starts (what `construct`, `newEpoch` and `rebase` carry). */
export function epochStartOf(state: SectionState): EpochStart {
  return {
    epoch: state.epoch,
    genesis: state.epochVoters,
    relatedInfo: state.epochRelatedInfo,
    start: state.epochStart,
  }
}
