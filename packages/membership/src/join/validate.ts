/**
 * The checks of a join request (spec §3.3), cheapest first: section, sender, signature, proof of
 * work, freshness, not a member, not banned, no resurrection by an old ticket, rejoin cooldown;
 * then the policy. Capacity is judged separately (`capacityVerdict`), since it changes with time
 * while these do not.
 */

import { NEVER } from '../defaults.js'
import { bytesEqual } from '../engine-exports.js'
import type { SectionState } from '../state/section-state.js'
import { type JoinRequest, verifyJoinRequest } from '../wire/messages.js'
import type { AdmissionRecord } from '../wire/records.js'
import type { Admission } from './admission.js'
import { reject } from './admission.js'
import type { AdmissionPolicy, PolicyContext } from './policies.js'
import { hasWork } from './pow.js'

export interface JoinCheckContext extends PolicyContext {
  readonly policy: AdmissionPolicy
  /** Our local cooldown for this peer (when we folded its removal + rejoinCooldown). */
  readonly rejoinAllowedAt?: number
}

/** The ticket's proofs: section, work (one hash, so first), then the signature. */
export function checkProofs(request: JoinRequest, context: JoinCheckContext): Admission {
  const { state, config, policy } = context
  if (!bytesEqual(request.sectionId, state.sectionId)) return reject('WrongSection', NEVER)
  if (!hasWork(request, request.powNonce, policy.requiredWork(config))) return reject('InsufficientWork', 0)
  if (!verifyJoinRequest(request)) return reject('BadSignature', NEVER)
  return { kind: 'admit' }
}

/**
 * The requester's standing in agreed state and our local view: a fresh ticket, not a member, not
 * banned, not named by a membership block after its head, past the cooldown; then the policy. These
 * change as blocks arrive, so a deferred request is judged by them again (its proofs do not change).
 */
export function checkStanding(request: JoinRequest, context: JoinCheckContext): Admission {
  const { state, config, policy, now } = context
  const name = request.peer.name
  if (!state.isFreshHead(request.head, config.ticketMaxAge)) return reject('StaleTicket', 0)
  if (state.isMember(name)) return reject('AlreadyMember', NEVER)
  if (state.isBanned(name)) return reject('Banned', NEVER)
  // The engine never re-adds a removed id: a departed peer comes back under a new key.
  if (state.wasRemoved(name)) return reject('Resurrection', NEVER)
  if (state.mentionedAfter(request.head, name)) return reject('Resurrection', 0)
  if (context.rejoinAllowedAt !== undefined && now < context.rejoinAllowedAt) {
    return reject('RejoinCooldown', context.rejoinAllowedAt - now)
  }
  return policy.evaluate(request, context)
}

/** Every check but the sender's transport identity. */
export function checkTicket(request: JoinRequest, context: JoinCheckContext): Admission {
  const proofs = checkProofs(request, context)
  return proofs.kind === 'admit' ? checkStanding(request, context) : proofs
}

/** All checks of a request received from `from` (the transport-authenticated sender). */
export function checkJoinRequest(request: JoinRequest, from: string, context: JoinCheckContext): Admission {
  if (!bytesEqual(request.sectionId, context.state.sectionId)) return reject('WrongSection', NEVER)
  if (request.peer.name !== from) return reject('PeerMismatch', NEVER)
  return checkTicket(request, context)
}

/** The record an admitted request puts in `Add.relatedInfo`: a function of the request only. */
export function admissionRecordOf(request: JoinRequest): AdmissionRecord {
  const base = {
    sectionId: request.sectionId,
    peer: request.peer,
    addrs: request.addrs,
    head: request.head,
    nonce: request.nonce,
  }
  return request.invitation === undefined ? base : { ...base, inviter: request.invitation.inviter }
}

/**
 * The checks a member can make of an Add it did not admit (seconding, spec §3.4): the record's
 * section, freshness, bans and resurrection. Signature and work were checked by the f+1 voters.
 */
export function checkRecord(record: AdmissionRecord, state: SectionState, ticketMaxAge: number): Admission {
  const name = record.peer.name
  if (!bytesEqual(record.sectionId, state.sectionId)) return reject('WrongSection', NEVER)
  if (!state.isFreshHead(record.head, ticketMaxAge)) return reject('StaleTicket', 0)
  if (state.isMember(name)) return reject('AlreadyMember', NEVER)
  if (state.isBanned(name)) return reject('Banned', NEVER)
  if (state.wasRemoved(name)) return reject('Resurrection', NEVER)
  if (state.mentionedAfter(record.head, name)) return reject('Resurrection', 0)
  return { kind: 'admit' }
}
