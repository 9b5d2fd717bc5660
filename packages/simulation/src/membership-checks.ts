/** Checks shared by the membership scenarios (what every one of them expects at the end). */

import type { SimulationResult } from './result.js'

/** The members every honest peer's machine holds at the end (problems when they differ). */
export function agreedMembers(result: SimulationResult, problems: string[]): string[] {
  const lists = Object.values(result.membership?.members ?? {})
  if (lists.length === 0) {
    problems.push('no honest member at the end')
    return []
  }
  if (new Set(lists.map((l) => l.join(','))).size > 1) problems.push('honest members hold different members')
  return lists[0]
}

/** Every honest peer holds the same blocks (the agreement invariant checks prefixes; this, the end). */
export function sameBlocks(result: SimulationResult, problems: string[]): void {
  const counts = new Set(result.honest.map((name) => result.peers[name].length))
  if (counts.size > 1)
    problems.push(`honest peers end with different block counts (${[...counts].join('/')})`)
}
