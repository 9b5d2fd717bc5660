/**
 * Admission policies (spec §3.4): who may join. A policy names the work it asks for and judges the
 * request against agreed state; the checks every request passes (signature, freshness, bans, no
 * resurrection) and the capacity rules (size, budget, candidates, young cap, spacing) apply under
 * every policy, so invariants M4, M6 and M7 hold whichever is chosen. Policies should depend on the
 * request and agreed state only: a local-only verdict splits votes (a harmless failed add).
 */

import type { MembershipConfig } from '../defaults.js'
import { NEVER } from '../defaults.js'
import { bytesEqual } from '../engine-exports.js'
import type { SectionState } from '../state/section-state.js'
import { type JoinRequest, verifyInvitation } from '../wire/messages.js'
import { ADMIT, type Admission, reject } from './admission.js'

export interface PolicyContext {
  readonly state: SectionState
  readonly config: MembershipConfig
  readonly now: number
}

export interface AdmissionPolicy {
  readonly name: string
  /** Leading zero bits of proof of work this policy asks for (advertised in JoinInfo). */
  requiredWork(config: MembershipConfig): number
  evaluate(request: JoinRequest, context: PolicyContext): Admission
}

/** The default: anyone who did the work (`config.powBits`, or `powBits` if given). */
export function openWithWork(powBits?: number): AdmissionPolicy {
  return {
    name: 'openWithWork',
    requiredWork: (config) => powBits ?? config.powBits,
    evaluate: () => ADMIT,
  }
}

/** Only the listed peer names (ids' `name`), with `powBits` of work (none by default). */
export function allowlist(names: Iterable<string>, powBits = 0): AdmissionPolicy {
  const allowed = new Set(names)
  return {
    name: 'allowlist',
    requiredWork: () => powBits,
    evaluate: (request) => (allowed.has(request.peer.name) ? ADMIT : reject('NotAllowed', NEVER)),
  }
}

/**
 * A current member's signed invitation for this peer. Each member's admissions are counted in
 * agreed state (the inviter is in the admission record), so the quota is the same everywhere.
 */
export function invitation(quota?: number, powBits = 0): AdmissionPolicy {
  return {
    name: 'invitation',
    requiredWork: () => powBits,
    evaluate(request, { state, config }) {
      const token = request.invitation
      const limit = quota ?? config.invitesPerMember
      if (token === undefined) return reject('BadInvitation', NEVER)
      if (
        !bytesEqual(token.sectionId, state.sectionId) ||
        token.invitee.name !== request.peer.name ||
        !state.isMember(token.inviter.name) ||
        token.serial >= limit ||
        !verifyInvitation(token)
      ) {
        return reject('BadInvitation', NEVER)
      }
      if (state.invitesUsed(token.inviter.name) >= limit) return reject('InvitationQuota', NEVER)
      return ADMIT
    },
  }
}

/** An application's own rule. */
export function customPolicy(
  name: string,
  evaluate: (request: JoinRequest, context: PolicyContext) => Admission,
  powBits = 0,
): AdmissionPolicy {
  return { name, requiredWork: () => powBits, evaluate }
}
