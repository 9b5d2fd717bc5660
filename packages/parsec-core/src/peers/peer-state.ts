/**
 * Peer states as bit flags (spec §8.1). VOTE implies DKG. For us: SEND = may gossip, RECV = may
 * receive. For others: SEND = we accept their gossip, RECV = we may gossip to them.
 */
export const DKG = 0b1000
export const VOTE = 0b1001
export const SEND = 0b0010
export const RECV = 0b0100
export const ACTIVE = VOTE | SEND | RECV
export const INACTIVE = 0

export function hasState(state: number, wanted: number): boolean {
  return (state & wanted) === wanted
}

export function describeState(state: number): string {
  const parts: string[] = []
  if (hasState(state, VOTE)) parts.push('VOTE')
  else if (hasState(state, DKG)) parts.push('DKG')
  if (state & SEND) parts.push('SEND')
  if (state & RECV) parts.push('RECV')
  return parts.length ? parts.join('|') : 'INACTIVE'
}
