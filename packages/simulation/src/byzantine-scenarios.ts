/**
 * Scenarios with Byzantine peers: the reference's `consensus_with_fork` (spec §13.2), one scenario
 * per behaviour, and mixes (with churn, with crashes). Each checks that its behaviour took effect,
 * not only that the honest peers still agreed: the fork reached honest peers and was accused, the
 * forged signatures arrived and were refused, the spam arrived at more than ten times the honest
 * rate and was refused beyond the inbound limit, and so on.
 *
 * The accusation checks (`accused`) need the engine's malice detection (spec §9); the others do not.
 */
import type { MaliceType } from '@parsec-section/parsec-core'
import { type Behaviour, DEFAULT_BEHAVIOURS } from './misbehaviour.js'
import type { SimulationOptions } from './options.js'
import type { SimulationResult } from './result.js'
import { checkExpectedBlocks, finalMembership } from './scenario-checks.js'
import type { Scenario } from './scenarios.js'

// ------------------------------------------------------------------------------------------ checks

/** The Byzantine peers of the run that have `behaviour`. */
function byzantineWith(result: SimulationResult, behaviour: Behaviour): string[] {
  return Object.entries(result.byzantine)
    .filter(([, behaviours]) => behaviours.includes(behaviour))
    .map(([name]) => name)
}

function actions(result: SimulationResult, peer: string, behaviour: Behaviour) {
  return result.misbehaviour.filter((m) => m.peer === peer && m.behaviour === behaviour)
}

/**
 * Each peer with `behaviour` did it, its evidence reached an honest peer, and every honest peer
 * agreed on an accusation of it (of type `malice`, or of any provable type when absent).
 */
function accused(result: SimulationResult, behaviour: Behaviour, malice?: MaliceType): string[] {
  const problems: string[] = []
  for (const peer of byzantineWith(result, behaviour)) {
    const done = actions(result, peer, behaviour)
    if (done.length === 0) {
      problems.push(`${peer} never did ${behaviour}`)
      continue
    }
    if (!done.some((m) => (m.reached?.length ?? 0) > 0)) {
      problems.push(`${behaviour} by ${peer} never reached an honest peer`)
    }
    for (const name of result.honest) {
      const held = result.peers[name].some(
        (b) =>
          b.kind === 'accusation' && b.offender === peer && (malice === undefined || b.malice === malice),
      )
      const kind = malice === undefined ? '' : `${malice} `
      if (!held) problems.push(`${name} holds no ${kind}accusation of ${peer} (${behaviour})`)
    }
  }
  return problems
}

/** Peers with `behaviour` only (nothing provable) are never accused. */
function notAccused(result: SimulationResult, behaviour: Behaviour): string[] {
  return byzantineWith(result, behaviour)
    .filter((peer) => result.accused.includes(peer))
    .map((peer) => `${peer} was accused, but only did unprovable things`)
}

/** Each peer with `behaviour` did it at least once. */
function acted(result: SimulationResult, behaviour: Behaviour): string[] {
  return byzantineWith(result, behaviour)
    .filter((peer) => actions(result, peer, behaviour).length === 0)
    .map((peer) => `${peer} never did ${behaviour}`)
}

/** The honest peers refused Byzantine messages with one of `codes`. */
function refusedWith(result: SimulationResult, codes: readonly string[], what: string): string[] {
  const count = codes.reduce((sum, code) => sum + (result.stats.rejected[code] ?? 0), 0)
  return count > 0 ? [] : [`no honest peer refused ${what} (${codes.join('/')})`]
}

/** Forged signatures were sent, refused by the honest peers, and none got into an honest graph. */
function signaturesRefused(result: SimulationResult): string[] {
  const problems = [...acted(result, 'invalid-signature')]
  problems.push(...refusedWith(result, ['SignatureFailure'], 'a forged signature'))
  if (result.stats.forgedEventsAccepted > 0) {
    problems.push(`${result.stats.forgedEventsAccepted} events with bad signatures got into honest graphs`)
  }
  return problems
}

/** Messages with missing events were sent and refused for their unknown parents. */
function skippedRefused(result: SimulationResult): string[] {
  return [
    ...acted(result, 'skip-events'),
    ...refusedWith(result, ['UnknownSelfParent', 'UnknownOtherParent'], 'a message with missing events'),
  ]
}

/** The silent peers went silent, and honest peers' messages to them went unanswered. */
function silenceFelt(result: SimulationResult): string[] {
  const problems = acted(result, 'silent')
  if (result.stats.silenced === 0) problems.push('no message ever reached a silent peer')
  return problems
}

/**
 * While flooding, each spammer sent requests at more than ten times an average honest peer's rate,
 * the spam reached honest peers, and the inbound limit refused part of it (it never refuses honest
 * requests: the simulation's `containment` invariant).
 */
function spamContained(result: SimulationResult): string[] {
  const problems: string[] = []
  const honestSent = result.honest.map((name) => result.stats.requestsSent[name] ?? 0)
  const honestRate = honestSent.reduce((a, b) => a + b, 0) / Math.max(1, honestSent.length) / result.steps
  for (const peer of byzantineWith(result, 'spam')) {
    // One `spam` record per flooding step, its detail starting with the number of extra requests.
    const flooding = actions(result, peer, 'spam')
    const extra = flooding.reduce((sum, m) => sum + Number.parseInt(m.detail, 10), 0)
    const rate = flooding.length === 0 ? 0 : extra / flooding.length
    if (rate < 10 * honestRate) {
      problems.push(
        `${peer} flooded at ${rate.toFixed(2)} requests per step, less than ten times an honest peer's ${honestRate.toFixed(2)}`,
      )
    }
  }
  const { sent, arrived, refused } = result.stats.spam
  if (arrived === 0 || arrived < sent / 2) problems.push(`only ${arrived} of ${sent} spam requests arrived`)
  if (refused === 0) problems.push(`none of the ${arrived} spam requests that arrived was refused`)
  return problems
}

/** The honest peers at the end are the non-Byzantine genesis members (nobody else crashed or left). */
function honestAreTheRest(result: SimulationResult, options: SimulationOptions): string[] {
  const expected = (options.genesisSize ?? 4) - (options.byzantine?.length ?? 0)
  return result.honest.length === expected
    ? []
    : [`${result.honest.length} honest peers at the end (${result.honest.join(',')}), expected ${expected}`]
}

// ------------------------------------------------------------------------------------------ suite

function withByzantine(
  seed: number,
  genesisSize: number,
  behaviours: readonly (readonly Behaviour[])[],
  more: Partial<SimulationOptions> = {},
): SimulationOptions {
  return { seed, genesisSize, opaque: 4, byzantine: behaviours.map((b) => ({ behaviours: b })), ...more }
}

export const byzantineScenarios: readonly Scenario[] = [
  {
    name: 'consensus-with-fork',
    summary: 'reference: 5 peers, 1 malicious forks once (to two peers), then ignores all input',
    options: (seed) => withByzantine(seed, 5, [['fork', 'silent']], { opaque: 5 }),
    check: (r, o) => [...checkExpectedBlocks(r, o), ...honestAreTheRest(r, o), ...accused(r, 'fork', 'Fork')],
  },
  {
    name: 'byzantine-fork',
    summary: '4 peers, 1 forks once and keeps gossiping on one branch: accused of Fork',
    options: (seed) => withByzantine(seed, 4, [['fork']]),
    check: (r, o) => [...checkExpectedBlocks(r, o), ...honestAreTheRest(r, o), ...accused(r, 'fork', 'Fork')],
  },
  {
    name: 'byzantine-duplicate-vote',
    summary: '4 peers, 1 votes a payload twice: accused of DuplicateVote',
    options: (seed) => withByzantine(seed, 4, [['duplicate-vote']], { probOpaque: 0.4 }),
    check: (r, o) => [
      ...checkExpectedBlocks(r, o),
      ...honestAreTheRest(r, o),
      ...accused(r, 'duplicate-vote', 'DuplicateVote'),
    ],
  },
  {
    name: 'byzantine-invalid-signature',
    summary: '4 peers, 1 corrupts signatures (its own events and relayed ones): refused, never accepted',
    options: (seed) => withByzantine(seed, 4, [['invalid-signature']]),
    check: (r, o) => [
      ...checkExpectedBlocks(r, o),
      ...honestAreTheRest(r, o),
      ...signaturesRefused(r),
      ...notAccused(r, 'invalid-signature'),
    ],
  },
  {
    name: 'byzantine-invalid-accusation',
    summary: '4 peers, 1 accuses an honest peer of a fork that never happened: accused of InvalidAccusation',
    options: (seed) => withByzantine(seed, 4, [['invalid-accusation']]),
    check: (r, o) => [
      ...checkExpectedBlocks(r, o),
      ...honestAreTheRest(r, o),
      ...accused(r, 'invalid-accusation', 'InvalidAccusation'),
    ],
  },
  {
    name: 'byzantine-skip-events',
    summary: '4 peers, 1 leaves events out of its messages: refused for unknown parents',
    options: (seed) => withByzantine(seed, 4, [['skip-events']]),
    check: (r, o) => [
      ...checkExpectedBlocks(r, o),
      ...honestAreTheRest(r, o),
      ...skippedRefused(r),
      ...notAccused(r, 'skip-events'),
    ],
  },
  {
    name: 'byzantine-silent',
    summary: '4 peers, 1 goes silent at a random step 0..20 (never gossips nor answers again)',
    options: (seed) => withByzantine(seed, 4, [['silent']]),
    check: (r, o) => [
      ...checkExpectedBlocks(r, o),
      ...honestAreTheRest(r, o),
      ...silenceFelt(r),
      ...notAccused(r, 'silent'),
    ],
  },
  {
    name: 'byzantine-spam',
    summary: '4 peers, 1 floods one victim per step with valid requests: contained by the inbound limit',
    options: (seed) => withByzantine(seed, 4, [['spam']]),
    check: (r, o) => [
      ...checkExpectedBlocks(r, o),
      ...honestAreTheRest(r, o),
      ...spamContained(r),
      ...notAccused(r, 'spam'),
    ],
  },
  {
    name: 'byzantine-mix',
    summary: '7 peers, 2 Byzantine doing everything but silence: both accused, the rest refused',
    options: (seed) => withByzantine(seed, 7, [DEFAULT_BEHAVIOURS, DEFAULT_BEHAVIOURS]),
    check: (r, o) => [...checkExpectedBlocks(r, o), ...honestAreTheRest(r, o), ...accused(r, 'fork')],
  },
  {
    name: 'byzantine-mix-unthrottled',
    summary:
      '7 peers, 2 Byzantine forking, double-voting, forging signatures, lying in accusations and skipping events (no spam, so nothing is throttled): both accused, no honest peer blamed',
    options: (seed) => {
      const behaviours = DEFAULT_BEHAVIOURS.filter((b) => b !== 'spam')
      return withByzantine(seed, 7, [behaviours, behaviours], { opaque: 4 })
    },
    check: (r, o) => [...checkExpectedBlocks(r, o), ...honestAreTheRest(r, o), ...accused(r, 'fork')],
  },
  {
    name: 'byzantine-mix-with-churn',
    summary: '7 peers, 1 Byzantine doing everything but silence; 2 added, then 2 removed',
    options: (seed) =>
      withByzantine(seed, 7, [DEFAULT_BEHAVIOURS], {
        opaque: 3,
        peersToAdd: 2,
        peersToRemove: 2,
        membershipOrder: 'adds-first',
        probAdd: 0.3,
      }),
    check: (r, o) => [...checkExpectedBlocks(r, o), ...finalMembership(r, 6), ...accused(r, 'fork')],
  },
  {
    name: 'adversarial-scheduler',
    summary:
      '4 peers, 1 Byzantine accomplice of a scheduler holding messages up to 40 steps to keep views split at the coin step: terminates with the concrete coin (not with --coin parity)',
    options: (seed) =>
      withByzantine(seed, 4, [[]], { opaque: 2, probGossip: 1, adversarialScheduler: true, maxSteps: 2000 }),
    check: (r, o) => {
      const problems = [...checkExpectedBlocks(r, o), ...honestAreTheRest(r, o)]
      if ((r.adversary?.longestHold ?? 0) < 2) problems.push('the scheduler never held a message')
      for (const attack of r.adversary?.attacks ?? []) {
        if (attack.outcome === 'running')
          problems.push(`the attack on ${attack.voter}'s election never ended`)
      }
      return problems
    },
  },
  {
    name: 'byzantine-third-with-crash',
    summary: '10 peers: 1 silent, 1 spamming with bad messages, 1 crashing: a third faulty',
    options: (seed) =>
      withByzantine(seed, 10, [['silent'], ['spam', 'skip-events', 'invalid-signature']], {
        opaque: 3,
        failures: [{ at: { min: 0, max: 40 } }],
      }),
    check: (r, o) => {
      const problems = [...checkExpectedBlocks(r, o), ...silenceFelt(r), ...spamContained(r)]
      if (r.honest.length !== 7) problems.push(`${r.honest.length} honest peers at the end, expected 7`)
      return problems
    },
  },
]
