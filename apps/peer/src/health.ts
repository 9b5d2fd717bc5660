/**
 * `GET /health`: whether this peer takes part in its section. Healthy when it runs as a member
 * and reaches a supermajority of the members (itself included), whether or not anything is being
 * agreed: a quiet, idle section is healthy. Otherwise the reason, for a 503.
 */
import type { MembershipStatus, SectionStatus } from '@parsec-section/p2p-section'

export type HealthReason = 'NotRunning' | 'NotMember' | 'Isolated'

export interface Health {
  readonly healthy: boolean
  readonly reason?: HealthReason
  readonly message?: string
  readonly state: SectionStatus['state']
  readonly self: MembershipStatus['self']
  readonly members: number
  /** Members we reach: ourselves and the members we hold a connection to. */
  readonly reached: number
  /** Members we must reach: more than two thirds of them. */
  readonly needed: number
}

export function healthOf(status: SectionStatus, membership: MembershipStatus): Health {
  const members = membership.members.length
  const connected = status.connected.filter((peer) => membership.members.includes(peer)).length
  const isMember = membership.self === 'member'
  const reached = connected + (isMember ? 1 : 0)
  const needed = Math.floor((2 * members) / 3) + 1
  const base = { state: status.state, self: membership.self, members, reached, needed }
  if (status.state !== 'running') {
    const why = status.failure === undefined ? '' : `: ${status.failure.code}`
    return {
      ...base,
      healthy: false,
      reason: 'NotRunning',
      message: `the section service is ${status.state}${why}`,
    }
  }
  if (!isMember) {
    return {
      ...base,
      healthy: false,
      reason: 'NotMember',
      message: `this peer is ${membership.self}, not a member`,
    }
  }
  if (reached < needed) {
    return {
      ...base,
      healthy: false,
      reason: 'Isolated',
      message: `reaching ${reached} of ${members} members (itself included), ${needed} needed`,
    }
  }
  return { ...base, healthy: true }
}
