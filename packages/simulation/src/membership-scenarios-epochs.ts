/**
 * Epoch scenarios (docs/epochs.md §7): the section agrees a checkpoint every `checkpointBlocks`
 * blocks and every voter switches to a new engine, re-casting what the old one had not delivered.
 * The block invariants hold across the switches after every step (one agreed sequence with global
 * positions, no block twice, every block voted; `checkpoint`: every checkpoint signed by a
 * supermajority of its epoch's voters); each scenario checks on top that every payload was
 * delivered exactly once and that the section went through its epochs.
 */

import { agreedMembers, sameBlocks } from './membership-checks.js'
import type { SimulationResult } from './result.js'
import type { Scenario } from './scenarios.js'

/** Short epochs, so a run of a few hundred blocks crosses several. */
const EPOCH_BLOCKS = 15

/**
 * Every honest peer holds each payload once (Single mode: once per honest voter), and at least
 * `minCheckpoints` checkpoints; the peers switched and re-cast.
 */
export function epochProblems(r: SimulationResult, minCheckpoints: number, single = false): string[] {
  const problems: string[] = []
  sameBlocks(r, problems)
  for (const name of r.honest) {
    const blocks = r.peers[name]
    const checkpoints = blocks.filter((b) => b.kind === 'checkpoint').length
    if (checkpoints < minCheckpoints) problems.push(`${name} went through ${checkpoints} checkpoints`)
    for (const payload of r.expected.opaque) {
      const held = blocks.filter((b) => b.kind === 'opaque' && b.payload === payload)
      const voters = held.flatMap((b) => b.voters)
      if (!single) {
        if (held.length !== 1) problems.push(`${name} holds "${payload}" ${held.length} times`)
        continue
      }
      if (new Set(voters).size !== voters.length)
        problems.push(`${name} holds "${payload}" twice from one voter`)
      for (const voter of r.expected.votes[payload] ?? []) {
        if (r.honest.includes(voter) && !voters.includes(voter))
          problems.push(`${name} lacks "${payload}" by ${voter}`)
      }
    }
  }
  if (r.stats.epochSwitches === 0) problems.push('no peer switched epochs')
  return problems
}

export const membershipEpochScenarios: readonly Scenario[] = [
  {
    name: 'epochs-steady',
    summary: `4 founders vote 120 payloads; a checkpoint every ${EPOCH_BLOCKS} blocks: each payload once across the epochs`,
    options: (seed) => ({
      seed,
      genesisSize: 4,
      opaque: 120,
      maxSteps: 20_000,
      membership: { config: { checkpointBlocks: EPOCH_BLOCKS } },
    }),
    check: (r) => epochProblems(r, 2),
  },
  {
    name: 'epochs-single',
    summary: '5 founders, Single mode: every voter re-casts its own payloads at each switch',
    options: (seed) => ({
      seed,
      genesisSize: 5,
      consensusMode: 'single',
      opaque: 120,
      maxSteps: 20_000,
      membership: { config: { checkpointBlocks: EPOCH_BLOCKS } },
    }),
    check: (r) => epochProblems(r, 2, true),
  },
  {
    name: 'epochs-churn',
    summary:
      '4 founders; 3 outsiders join (from the last checkpoint, or crossing one while they replay) and 1 leaves, across the epochs',
    options: (seed) => ({
      seed,
      genesisSize: 4,
      opaque: 120,
      maxSteps: 30_000,
      membership: { joins: 3, leaves: 1, unresponsive: 1, config: { checkpointBlocks: EPOCH_BLOCKS } },
    }),
    check: (r) => {
      const problems = epochProblems(r, 2)
      const members = agreedMembers(r, problems)
      const m = r.membership!
      for (const name of m.left) {
        if (members.includes(name)) problems.push(`${name} left but is still a member`)
      }
      if (m.unsettled.some((c) => !c.endsWith('deferred')))
        problems.push(`unsettled: ${m.unsettled.join(', ')}`)
      if (new Set(Object.values(m.epochs)).size !== 1) problems.push(`members end in different epochs`)
      return problems
    },
  },
  {
    name: 'epochs-crash',
    summary: '5 founders, one crashes during the run: the others go on through the epochs without it',
    options: (seed) => ({
      seed,
      genesisSize: 5,
      opaque: 120,
      maxSteps: 20_000,
      failures: [{ at: { min: 50, max: 400 } }],
      membership: { config: { checkpointBlocks: EPOCH_BLOCKS } },
    }),
    check: (r) => epochProblems(r, 2),
  },
  {
    name: 'epochs-restart',
    summary:
      '5 founders; one is killed as it delivers a checkpoint (before its switch is stored, then after) and restarts into the right epoch',
    options: (seed) => ({
      seed,
      genesisSize: 5,
      opaque: 120,
      maxSteps: 20_000,
      membership: { epochRestarts: 2, config: { checkpointBlocks: EPOCH_BLOCKS } },
    }),
    check: (r) => {
      const problems = epochProblems(r, 2)
      const m = r.membership!
      if (m.restarts.length !== 2) problems.push(`${m.restarts.length} kills at a switch, expected 2`)
      const epochs = new Set(Object.values(m.epochs))
      if (epochs.size !== 1) problems.push(`members end in different epochs: ${JSON.stringify(m.epochs)}`)
      const killed = m.restarts[0]?.split('@')[0]
      if (killed !== undefined && !r.honest.includes(killed)) problems.push(`${killed} did not come back`)
      return problems
    },
  },
  {
    name: 'epochs-byzantine',
    summary: '5 founders, one forks; the honest four agree every payload once across the epochs',
    options: (seed) => ({
      seed,
      genesisSize: 5,
      opaque: 120,
      maxSteps: 20_000,
      byzantine: [{ behaviours: ['fork'] }],
      membership: { config: { checkpointBlocks: EPOCH_BLOCKS } },
    }),
    check: (r) => {
      const problems = epochProblems(r, 2)
      agreedMembers(r, problems)
      return problems
    },
  },
]
