/**
 * MEMBERSHIP.md §7's adversarial and failure scenarios of the membership machine, hosted by the
 * simulation: a joiner silent after its Add, a Sybil burst, a leaver crashing mid-drain, a forker
 * accused and banned, a resurrection with an old ticket, forged or stale JoinInfo served to a
 * joiner, and the live defaults. Each checks what it is about, on top of M1-M7 and agreement.
 * The knobs they use are in `membership-options.ts`; the adversary's side in `membership-adversary.ts`.
 */

import type { BlockDescription } from '@parsec-section/parsec-core'
import { SIMULATION_MEMBERSHIP } from './membership-options.js'
import type { SimulationResult } from './result.js'
import type { Scenario } from './scenarios.js'

/** The members every honest peer's machine holds at the end (problems when they differ). */
function agreedMembers(result: SimulationResult, problems: string[]): string[] {
  const lists = Object.values(result.membership?.members ?? {})
  if (lists.length === 0) {
    problems.push('no honest member at the end')
    return []
  }
  if (new Set(lists.map((l) => l.join(','))).size > 1) problems.push('honest members hold different members')
  return lists[0]
}

/** Every honest peer holds the same blocks (the agreement invariant checks prefixes; this, the end). */
function sameBlocks(result: SimulationResult, problems: string[]): void {
  const counts = new Set(result.honest.map((name) => result.peers[name].length))
  if (counts.size > 1)
    problems.push(`honest peers end with different block counts (${[...counts].join('/')})`)
}

/** Position of the first block of `kind` about `peer` in `blocks`, or -1. */
function positionOf(blocks: readonly BlockDescription[], kind: 'add' | 'remove', peer: string): number {
  return blocks.findIndex((b) => b.kind === kind && b.peer === peer)
}

/** The outsider a run's only join (or silent join) named: the first name after the founders. */
function onlyJoiner(result: SimulationResult): string | undefined {
  const timing = result.membership?.joins[0]
  return timing?.peer
}

export const membershipAdversarialScenarios: readonly Scenario[] = [
  {
    name: 'membership-silent-joiner-removed',
    summary: '4 founders; a joiner goes silent once its Add is decided: removed after its join grace (N ≥ 4)',
    options: (seed) => ({
      seed,
      genesisSize: 4,
      opaque: 3,
      maxSteps: 3000,
      membership: { silentJoins: 1, window: 300 },
    }),
    check: (r) => {
      const problems: string[] = []
      const members = agreedMembers(r, problems)
      sameBlocks(r, problems)
      const m = r.membership!
      const joiner = onlyJoiner(r)
      if (joiner === undefined) return [...problems, 'no joiner asked']
      if (members.includes(joiner)) problems.push(`${joiner} is still a member`)
      if (!m.unresponsive.includes(joiner)) problems.push(`${joiner} is not among the unresponsive removed`)
      if (m.joined.includes(joiner)) problems.push(`${joiner} reported self:joined though silent`)
      const grace = SIMULATION_MEMBERSHIP.joinGraceBlocks ?? 0
      for (const name of r.honest) {
        const add = positionOf(r.peers[name], 'add', joiner)
        const remove = positionOf(r.peers[name], 'remove', joiner)
        if (add < 0 || remove < 0) problems.push(`${name} holds no Add and Remove of ${joiner}`)
        else if (remove - add <= grace) {
          problems.push(`${name}: ${joiner} removed ${remove - add} blocks after its Add, within its grace`)
        }
      }
      return problems
    },
  },
  {
    name: 'membership-silent-joiner-fragile-stall',
    summary:
      '2 founders; the third member goes silent after its Add: the documented fragile-phase stall (reported, not removed)',
    options: (seed) => ({
      seed,
      genesisSize: 2,
      opaque: 3,
      maxSteps: 1500,
      membership: { silentJoins: 1, window: 200 },
    }),
    // MEMBERSHIP.md §5: a joiner dying right after its Add freezes a section growing from 2 to 3;
    // losing a member at N ≤ 3 stalls (recovery is an out-of-band re-genesis). The run cannot end.
    expectedViolations: ['termination'],
    check: (r) => {
      const problems: string[] = []
      const stall = r.violations.find((v) => v.invariant === 'termination')
      const m = r.membership!
      const joiner = onlyJoiner(r)
      if (joiner === undefined) return ['no joiner asked']
      if (stall === undefined) problems.push('the run did not stall')
      else if (!stall.detail.includes(`silent-join(${joiner})`)) {
        problems.push(`the stall is not the silent joiner's: ${stall.detail.slice(0, 200)}`)
      }
      const members = agreedMembers(r, problems)
      if (members.length !== 3 || !members.includes(joiner)) {
        problems.push(`expected the 2 founders and ${joiner} as members, got ${members.join(',')}`)
      }
      if (m.unresponsive.includes(joiner)) problems.push(`${joiner} was removed`)
      for (const name of Object.keys(m.members)) {
        if (m.fragile[name] !== 3) problems.push(`${name} did not report the section fragile at 3 members`)
      }
      // Votes went on (traffic) but were never agreed: the two live voters are not a supermajority of 3.
      if (stall !== undefined && !/lacks opaque/.test(stall.detail))
        problems.push('no vote was left undecided')
      for (const name of r.honest) {
        if (positionOf(r.peers[name], 'add', joiner) < 0) problems.push(`${name} holds no Add of ${joiner}`)
      }
      sameBlocks(r, problems)
      return problems
    },
  },
]
