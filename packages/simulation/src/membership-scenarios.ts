/**
 * Membership scenarios (MEMBERSHIP.md §7): the simulation hosts the membership machine, M1-M7 are
 * checked after every step, and each scenario checks what it is about on top. A scenario is
 * options plus a check, so the rest of §7's list is added here the same way.
 */

import { agreedMembers } from './membership-checks.js'
import {
  membershipAdversarialScenarios,
  membershipLiveDefaultsScenario,
} from './membership-scenarios-adversarial.js'
import { membershipChangeScenarios } from './membership-scenarios-changes.js'
import { membershipEpochScenarios } from './membership-scenarios-epochs.js'
import type { Scenario } from './scenarios.js'

export const membershipScenarios: readonly Scenario[] = [
  {
    name: 'membership-grow-from-1',
    summary: 'a genesis of 1 grows to 4: outsiders join through the protocol (fragile phase)',
    options: (seed) => ({ seed, genesisSize: 1, opaque: 3, maxSteps: 4000, membership: { joins: 3 } }),
    check: (r) => {
      const problems: string[] = []
      const members = agreedMembers(r, problems)
      if (members.length !== 4) problems.push(`expected 4 members, got ${members.join(',')}`)
      if (r.membership?.joined.length !== 3)
        problems.push(`expected 3 joins, got ${r.membership?.joined.join(',')}`)
      return problems
    },
  },
  {
    name: 'membership-churn',
    summary: '4 founders; 3 outsiders join, 1 member leaves gracefully, 1 goes silent and is removed',
    options: (seed) => ({
      seed,
      genesisSize: 4,
      opaque: 3,
      maxSteps: 5000,
      membership: { joins: 3, leaves: 1, unresponsive: 1 },
    }),
    check: (r) => {
      const problems: string[] = []
      const members = agreedMembers(r, problems)
      const m = r.membership!
      for (const name of [...m.left, ...m.unresponsive]) {
        if (members.includes(name)) problems.push(`${name} left but is still a member`)
      }
      if (m.unsettled.some((c) => !c.endsWith('deferred')))
        problems.push(`unsettled: ${m.unsettled.join(', ')}`)
      return problems
    },
  },
  {
    name: 'membership-313-remove-deferred-leave-drains',
    summary: '3 founders: an operator removal is deferred by the budget rule (#313), a graceful leave drains',
    options: (seed) => ({
      seed,
      genesisSize: 3,
      opaque: 3,
      maxSteps: 4000,
      membership: { proposeRemoves: 1, leaves: 1 },
    }),
    check: (r) => {
      const problems: string[] = []
      agreedMembers(r, problems)
      const m = r.membership!
      if (m.left.length !== 1) problems.push(`expected one graceful leave, got ${m.left.join(',') || 'none'}`)
      if (m.deferred < 1) problems.push('the removal at 3 members was not deferred')
      return problems
    },
  },
  {
    name: 'membership-sybil-burst',
    summary: '4 founders; 6 proof-of-work-valid candidates ask at once (young cap and limits hold: M7)',
    options: (seed) => ({ seed, genesisSize: 4, opaque: 3, maxSteps: 6000, membership: { sybil: 6 } }),
    check: (r) => {
      const problems: string[] = []
      agreedMembers(r, problems)
      return problems
    },
  },
  ...membershipChangeScenarios,
  ...membershipAdversarialScenarios,
  ...membershipEpochScenarios,
]

/** Scenarios too slow for the sweeps (the live defaults): run by name. */
export const membershipSlowScenarios: readonly Scenario[] = [membershipLiveDefaultsScenario]
