/**
 * What a `fault` event says: who misbehaved (`offender`), who showed it to us (`peer`, the sender
 * of the message or stream), and what proves it (`evidence`, and for malice the engine's typed
 * `malice`). Remove and ban votes rest on the offender and the evidence, so malice found in an
 * event that a member relayed is blamed on the event's creator, never on the relaying member.
 */
import type { PeerId } from '@libp2p/interface'
import type { FaultKind as MembershipFaultKind } from '@parsec-section/membership'
import {
  type Fault,
  type Malice,
  type MaliceType,
  type ParsecErrorCode,
  toHex,
} from '@parsec-section/parsec-core'
import type { SectionErrorCode } from '../errors.js'
import { peerIdFromPublicId } from '../identity.js'

/** Faults of a message or stream itself, found before the engine sees it. */
export type MessageFaultCode = Extract<
  SectionErrorCode,
  'NotAMember' | 'MalformedMessage' | 'MessageTooLarge' | 'UnexpectedMessage' | 'SnapshotMismatch'
>

const MESSAGE_FAULT_CODES: ReadonlySet<string> = new Set<MessageFaultCode>([
  'NotAMember',
  'MalformedMessage',
  'MessageTooLarge',
  'UnexpectedMessage',
  'SnapshotMismatch',
])

export function isMessageFaultCode(code: string): code is MessageFaultCode {
  return MESSAGE_FAULT_CODES.has(code)
}

/**
 * What proves a fault:
 * - `message`: the message or stream itself (undecodable, oversized, cut short by the peer,
 *   unexpected, or a stream from a non-member); the offender is the sender.
 * - `rejected`: input the engine refused without an accusation (a bad signature, an unknown
 *   parent, a malformed gossip message); the offender is the sender, who should never have sent
 *   or relayed it.
 * - `malice`: a provable misbehaviour the engine found in an event and accuses (`malice` holds the
 *   evidence); the offender is the event's creator, who may be a third peer whose event the
 *   sender only relayed.
 * - `membership`: a membership message the membership machine refused (a bad signature, too
 *   little work, a forged chain...); the offender is the peer the message claims to come from,
 *   which the stream's authenticated sender must be.
 */
export type FaultEvidence = 'message' | 'rejected' | 'malice' | 'membership'

interface FaultCommon {
  readonly kind: 'protocol'
  /** The peer whose message or stream showed the fault (our link partner). */
  readonly peer: PeerId
  /** The peer at fault: `peer` itself, or for malice the creator of the event `peer` relayed. */
  readonly offender: PeerId
  /** What it is about, beyond the fields (the code, the offender and the peer are not repeated). */
  readonly message: string
}

/**
 * Provably bad input over a working link, never a broken link (see `SectionLinkError`). `code`
 * says what was wrong; its type follows `evidence`.
 */
export type SectionFault =
  | (FaultCommon & { readonly evidence: 'message'; readonly code: MessageFaultCode })
  | (FaultCommon & { readonly evidence: 'rejected'; readonly code: ParsecErrorCode })
  | (FaultCommon & { readonly evidence: 'malice'; readonly code: MaliceType; readonly malice: Malice })
  | (FaultCommon & { readonly evidence: 'membership'; readonly code: MembershipFaultKind })

/**
 * Every fault code: a `MessageFaultCode` (evidence `message`), an engine `ParsecErrorCode`
 * (`rejected`), an engine `MaliceType` (`malice`) or the membership machine's `FaultKind`
 * (`membership`). `DuplicateVote` is both an error code and a
 * malice type: `evidence` tells them apart.
 */
export type SectionFaultCode = SectionFault['code']

const short = (bytes: Uint8Array): string => toHex(bytes).slice(0, 16)

/** The malice's evidence in a few words. */
/** What a malice is about, without its type (the fault's `code`) or its offender (a field too). */
function describeMalice(malice: Malice): string {
  switch (malice.type) {
    case 'DuplicateVote':
      return `events ${short(malice.first)} and ${short(malice.second)}`
    case 'Accomplice':
      return `event ${short(malice.event)} endorses ${malice.malice.type} (${describeMalice(malice.malice)})`
    case 'Unprovable':
      return 'no proof carried'
    default:
      return 'event' in malice
        ? `event ${short(malice.event)}`
        : `a packed event of ${malice.packedEvent.byteLength} bytes`
  }
}

/** One engine fault found in what `from` sent us (`from` undefined: the offender's own input). */
export function engineFault(fault: Fault, from: PeerId | undefined): SectionFault {
  const offender = peerIdFromPublicId(fault.offender)
  const peer = from ?? offender
  // The message says what the fields do not: code, offender and peer are fields of their own.
  if (fault.kind === 'rejected') {
    return { kind: 'protocol', evidence: 'rejected', code: fault.code, peer, offender, message: fault.detail }
  }
  const message = describeMalice(fault.malice)
  return {
    kind: 'protocol',
    evidence: 'malice',
    code: fault.malice.type,
    malice: fault.malice,
    peer,
    offender,
    message,
  }
}
