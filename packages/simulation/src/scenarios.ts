/**
 * The scenario suite (spec §13.2 without DKG), in one place for the tests and the `soak` command.
 * A scenario maps a seed to simulation options and checks what it is about on top of the
 * simulator's invariants (expected blocks, final membership, crashes, Single-mode block counts).
 * `scenarios` are the reference's scenarios without malicious peers; `byzantineScenarios`
 * (byzantine-scenarios.ts) add the malicious ones, one per Byzantine behaviour and mixes.
 */

import { Rng } from '@parsec-section/parsec-core'
import { byzantineScenarios } from './byzantine-scenarios.js'
import { membershipScenarios, membershipSlowScenarios } from './membership-scenarios.js'
import type { SimulationCoin, SimulationOptions } from './options.js'
import type { SimulationResult } from './result.js'
import { checkExpectedBlocks, crashes, finalMembership, singleVotes } from './scenario-checks.js'
import { simulate } from './simulation.js'

export { checkExpectedBlocks }

export interface Scenario {
  /** Kebab-case name, used on the command line (`--scenario NAME`). */
  readonly name: string
  readonly summary: string
  /** The simulation options for `seed` (the options' own `seed` is `seed`). */
  options(seed: number): SimulationOptions
  /** Scenario-specific expectations: the problems found (empty when the run is as expected). */
  check(result: SimulationResult, options: SimulationOptions): string[]
  /**
   * Invariants whose violation is what the scenario documents (a stall it is about: `termination`):
   * they do not fail the run, the check gets the result and must assert them itself.
   */
  readonly expectedViolations?: readonly string[]
}

export interface ScenarioOutcome {
  readonly scenario: string
  readonly seed: number
  readonly options: SimulationOptions
  readonly result: SimulationResult
  /** Invariant violations, then the scenario's own problems; empty when the run passed. */
  readonly problems: string[]
}

// ------------------------------------------------------------------------------------------ suite

const GROWTH = { probAdd: 0.3 } as const

// The add/remove scenarios below keep the engine-level path (`peersToAdd`/`peersToRemove`, voted
// as observations by the run under spec §13.1's rules, joiners built with `fromExisting`): they
// mirror the reference's tests of the engine's own membership and assert exact block sets and
// sizes (3 → 11, 10 peers removing 3 in one step, a crashed peer removed by the operator first).
// Through the membership machine they would test other rules (tickets, probation and the young
// cap, extra traffic, silent members removed for silence); its own versions are in
// membership-scenarios.ts, and `parsec-peer simulate --add/--remove` uses the machine.

export const scenarios: readonly Scenario[] = [
  {
    name: 'minimal-network',
    summary: '4 peers, 1 opaque payload',
    options: (seed) => ({ seed, genesisSize: 4, opaque: 1 }),
    check: (r, o) => checkExpectedBlocks(r, o),
  },
  {
    name: 'multiple-votes-before-gossip',
    summary: '4 peers vote 10 opaque payloads before any gossip',
    options: (seed) => ({ seed, genesisSize: 4, opaque: 10, votesBeforeGossip: true }),
    check: (r, o) => checkExpectedBlocks(r, o),
  },
  {
    name: 'multiple-votes-during-gossip',
    summary: '4 peers vote 10 opaque payloads spread over the gossip',
    options: (seed) => ({ seed, genesisSize: 4, opaque: 10, probOpaque: 0.3 }),
    check: (r, o) => checkExpectedBlocks(r, o),
  },
  {
    name: 'duplicate-vote-is-reduced-to-single',
    summary: 'peers try to vote payloads twice: refused, and each payload is one block',
    options: (seed) => ({
      seed,
      genesisSize: 4,
      opaque: 5,
      votesBeforeGossip: true,
      probVoteDuplication: 0.5,
    }),
    check: (r, o) => [
      ...checkExpectedBlocks(r, o),
      ...(r.stats.duplicateVotesRefused > 0 ? [] : ['no duplicate vote was attempted']),
    ],
  },
  {
    name: 'faulty-third-never-gossips',
    summary: '10 peers, 3 of them crash at step 0',
    options: (seed) => ({ seed, genesisSize: 10, opaque: 5, failures: [{ at: 0 }, { at: 0 }, { at: 0 }] }),
    check: (r, o) => [...checkExpectedBlocks(r, o), ...crashes(r, 3, 10)],
  },
  {
    name: 'faulty-third-terminate-concurrently',
    summary: '10 peers, 3 of them crash at random steps 10..50',
    options: (seed) => {
      const at = { min: 10, max: 50 }
      return { seed, genesisSize: 10, opaque: 5, failures: [{ at }, { at }, { at }] }
    },
    check: (r, o) => [...checkExpectedBlocks(r, o), ...crashes(r, 3, 10)],
  },
  {
    name: 'faulty-nodes-terminate-at-random-points',
    summary: '7 peers, 2 of them crash at random points of the run',
    options: (seed) => {
      const at = { min: 0, max: 80 }
      return { seed, genesisSize: 7, opaque: 5, probOpaque: 0.1, failures: [{ at }, { at }] }
    },
    check: (r, o) => [...checkExpectedBlocks(r, o), ...crashes(r, 2, 7)],
  },
  {
    name: 'random-schedule-no-delays',
    summary: '4 peers, messages handled in the step they are sent',
    options: (seed) => ({ seed, genesisSize: 4, opaque: 5, delay: { min: 0, max: 0 } }),
    check: (r, o) => checkExpectedBlocks(r, o),
  },
  {
    name: 'add-many-peers',
    summary: '3 peers add 8 more',
    options: (seed) => ({ seed, genesisSize: 3, opaque: 1, peersToAdd: 8, ...GROWTH }),
    check: (r, o) => [...checkExpectedBlocks(r, o), ...finalMembership(r, 11)],
  },
  {
    name: 'add-few-peers-and-vote',
    summary: '4 peers add 2 while voting 5 payloads',
    options: (seed) => ({ seed, genesisSize: 4, opaque: 5, peersToAdd: 2 }),
    check: (r, o) => [...checkExpectedBlocks(r, o), ...finalMembership(r, 6)],
  },
  {
    name: 'add-many-peers-and-vote',
    summary: '4 peers add 5 while voting 5 payloads',
    options: (seed) => ({ seed, genesisSize: 4, opaque: 5, peersToAdd: 5, ...GROWTH }),
    check: (r, o) => [...checkExpectedBlocks(r, o), ...finalMembership(r, 9)],
  },
  {
    name: 'remove-one-peer',
    summary: '5 peers remove 1 while voting 3 payloads',
    options: (seed) => ({ seed, genesisSize: 5, opaque: 3, peersToRemove: 1 }),
    check: (r, o) => [...checkExpectedBlocks(r, o), ...finalMembership(r, 4)],
  },
  {
    name: 'remove-many-peers-at-once',
    summary: '10 peers remove 3 in the same step',
    options: (seed) => ({ seed, genesisSize: 10, opaque: 3, peersToRemove: 3, probRemove: 1 }),
    check: (r, o) => {
      const problems = [...checkExpectedBlocks(r, o), ...finalMembership(r, 7)]
      return problems
    },
  },
  {
    name: 'fail-add-remove',
    summary: '7 peers, 1 crashes early; 2 added, then 2 removed (the crashed one first)',
    options: (seed) => ({
      seed,
      genesisSize: 7,
      opaque: 3,
      peersToAdd: 2,
      peersToRemove: 2,
      membershipOrder: 'adds-first',
      removeCrashedFirst: true,
      failures: [{ at: { min: 0, max: 20 } }],
    }),
    check: (r, o) => {
      const problems = [...checkExpectedBlocks(r, o), ...finalMembership(r, 7)]
      const crashed = r.expected.crashed[0]
      if (crashed === undefined || !r.expected.removed.includes(crashed)) {
        problems.push(`the crashed peer (${crashed ?? 'none'}) was not removed`)
      }
      return problems
    },
  },
  {
    name: 'consensus-mode-single',
    summary: 'Single mode: 4 peers, each of 5 payloads voted by one random peer',
    options: (seed) => ({ seed, genesisSize: 4, opaque: 5, consensusMode: 'single' }),
    check: (r, o) => [...checkExpectedBlocks(r, o), ...singleVotes(r)],
  },
  {
    name: 'consensus-mode-single-all-vote-same',
    summary: 'Single mode: 8 peers all vote each of 2 payloads, one block per voter',
    options: (seed) => ({ seed, genesisSize: 8, opaque: 2, consensusMode: 'single', voteForSame: true }),
    check: (r, o) => {
      const problems = [...checkExpectedBlocks(r, o), ...singleVotes(r)]
      for (const name of r.honest) {
        for (const payload of r.expected.opaque) {
          const voters = r.peers[name]
            .filter((b) => b.kind === 'opaque' && b.payload === payload)
            .flatMap((b) => b.voters)
            .sort()
          if (voters.join(',') !== [...r.honest].sort().join(',')) {
            problems.push(`${name}: "${payload}" decided for voters ${voters.join(',')}, expected every peer`)
          }
        }
      }
      return problems
    },
  },
  {
    name: 'extensive-dynamic-membership',
    summary: '4 peers grow to 9, then churn down to 6, while voting 4 payloads',
    options: (seed) => ({
      seed,
      genesisSize: 4,
      opaque: 4,
      peersToAdd: 5,
      peersToRemove: 3,
      membershipOrder: 'adds-first',
      ...GROWTH,
    }),
    check: (r, o) => [...checkExpectedBlocks(r, o), ...finalMembership(r, 6)],
  },
  {
    name: 'grow-network-from-two-nodes',
    summary: '2 peers add 4 more while voting 2 payloads',
    options: (seed) => ({ seed, genesisSize: 2, opaque: 2, peersToAdd: 4, ...GROWTH }),
    check: (r, o) => [...checkExpectedBlocks(r, o), ...finalMembership(r, 6)],
  },
  {
    name: 'grow-network-from-one-node',
    summary: '1 peer adds 4 more while voting 2 payloads',
    options: (seed) => ({ seed, genesisSize: 1, opaque: 2, peersToAdd: 4, ...GROWTH }),
    check: (r, o) => [...checkExpectedBlocks(r, o), ...finalMembership(r, 5)],
  },
  {
    name: 'agreement-under-various-conditions',
    summary: 'property: 4-10 peers, 1-10 payloads, up to a third crashing, varied delays, gossip and mode',
    options: variedConditions,
    check: (r, o) => {
      const failures = o.failures?.length ?? 0
      const problems = [...checkExpectedBlocks(r, o), ...crashes(r, failures, o.genesisSize ?? 4)]
      if (o.consensusMode === 'single') problems.push(...singleVotes(r))
      return problems
    },
  },
]

/** The property scenario's options: drawn from the seed with a stream of their own. */
function variedConditions(seed: number): SimulationOptions {
  const rng = new Rng((seed ^ 0x5eed_c0de) >>> 0)
  const genesisSize = rng.range(4, 10)
  const failures = Array.from({ length: rng.range(0, Math.floor((genesisSize - 1) / 3)) }, () => {
    const from = rng.range(0, 60)
    return { at: { min: from, max: from + rng.range(0, 40) } }
  })
  return {
    seed,
    genesisSize,
    opaque: rng.range(1, 10),
    consensusMode: rng.chance(0.5) ? 'single' : 'supermajority',
    votesBeforeGossip: rng.chance(0.25),
    probOpaque: 0.1 + rng.float() * 0.4,
    probGossip: 0.15 + rng.float() * 0.35,
    delay: { min: 0, max: rng.range(0, 3) },
    voteDelay: { min: 0, max: rng.range(0, 10) },
    failures,
  }
}

export { byzantineScenarios, membershipScenarios, membershipSlowScenarios }

/** Every scenario: the reference's, the Byzantine ones, then the membership ones. */
export const allScenarios: readonly Scenario[] = [
  ...scenarios,
  ...byzantineScenarios,
  ...membershipScenarios,
  ...membershipSlowScenarios,
]

export function findScenario(name: string): Scenario | undefined {
  return allScenarios.find((s) => s.name === name)
}

/** The command line that reruns one scenario seed (with `coin` when it is not the default). */
export function reproduceCommand(scenario: string, seed: number, coin?: 'parity' | 'concrete'): string {
  const coinArgument = coin === undefined || coin === 'concrete' ? '' : ` --coin ${coin}`
  return `pnpm exec parsec-peer simulate --scenario ${scenario} --seed ${seed}${coinArgument}`
}

/** How a scenario is run, on top of its own options. */
export interface ScenarioRun {
  /** Progress lines of the simulation. */
  readonly log?: (line: string) => void
  /** The peers' coin (default the simulation's: `concrete`). */
  readonly coin?: SimulationCoin
  /** Simulated milliseconds per step (changes no outcome). */
  readonly stepMs?: number
  /** Called with every peer's engine once the run ended (see `SimulationOptions.atEnd`). */
  readonly atEnd?: SimulationOptions['atEnd']
}

/** Runs `scenario` with `seed`: the invariants' violations and the scenario's problems. */
export function runScenario(scenario: Scenario, seed: number, run: ScenarioRun = {}): ScenarioOutcome {
  const base = scenario.options(seed)
  const options: SimulationOptions = {
    ...base,
    ...(run.coin === undefined ? {} : { coin: run.coin }),
    ...(run.log === undefined ? {} : { log: run.log }),
    ...(run.stepMs === undefined ? {} : { stepMs: run.stepMs }),
    ...(run.atEnd === undefined ? {} : { atEnd: run.atEnd }),
  }
  const result = simulate(options)
  const expected = new Set(scenario.expectedViolations ?? [])
  const problems = result.violations
    .filter((v) => !expected.has(v.invariant))
    .map((v) => `${v.invariant} (step ${v.step}): ${v.detail}`)
  if (problems.length === 0) problems.push(...scenario.check(result, options))
  return { scenario: scenario.name, seed, options, result, problems }
}
