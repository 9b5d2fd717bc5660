/**
 * The difference the coin makes (spec §15 "fake, predictable coin — no liveness against an adaptive
 * scheduler", §16). One and the same adversary plays against both coins: the adversarial scheduler
 * (every message delivered within 40 steps of its sending) with one Byzantine accomplice among 4
 * peers, believing the coin is the parity coin. It waits for an election whose first estimates it
 * can split two against two, then keeps them split stage after stage.
 *
 * - Parity coin: it guesses every coin right, so the election it attacks stays undecided past a
 *   step bound far beyond what the concrete coin needs to finish everything.
 * - Concrete coin (spec §16): same seeds, same runs up to the first coin toss (the coin only acts
 *   there), but about half the coins are not what it planned, the split collapses and every seed
 *   terminates.
 *
 * COIN_SEEDS sets the number of seeds (default 6, seeds 1..N). Each seed prints its rounds; the
 * rounds-to-decision distributions of both coins are reported at the end.
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { type SimulationOptions, type SimulationResult, simulate } from '@parsec-section/simulation'

const SEEDS = Number(process.env.COIN_SEEDS ?? 6)
/** The parity run's step bound: the concrete runs usually finish every election in well under it. */
const PARITY_STEPS = 250
const CONCRETE_STEPS = 3000
/** The attacked election must be undecided after at least this many rounds under the parity coin. */
const STALLED_ROUNDS = 6
/** Seeds in which the adversary must find a split to attack (it needs first estimates two against two). */
const MIN_ATTACKED = 0.75

function options(seed: number, coin: 'parity' | 'concrete', maxSteps: number): SimulationOptions {
  return {
    seed,
    coin,
    genesisSize: 4,
    opaque: 6,
    probGossip: 1,
    byzantine: [{ behaviours: [] }],
    adversarialScheduler: true,
    maxSteps,
    stallSteps: maxSteps,
  }
}

function reproduce(seed: number, coin: string, steps: number): string {
  return `simulate(${JSON.stringify(options(seed, coin as 'parity', steps))}) (or: pnpm exec parsec-peer simulate --scenario adversarial-scheduler --seed ${seed} --coin ${coin})`
}

function histogram(values: readonly number[]): string {
  const counts = new Map<number, number>()
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1)
  return [...counts]
    .sort((a, b) => a[0] - b[0])
    .map(([v, n]) => `${v}: ${n}`)
    .join(', ')
}

const seeds = Array.from({ length: SEEDS }, (_, i) => i + 1)
const parityRuns = new Map<number, SimulationResult>()
/** Rounds reached by the attacked election when the parity run hit its bound. */
const parityStalled: number[] = []
/** Rounds-to-decision of the attacked election, and of every election, under the concrete coin. */
const concreteAttacked: number[] = []
const concreteAll: number[] = []
/** Steps the concrete runs took to finish everything. */
const concreteSteps: number[] = []

describe('the coin against an adversarial scheduler (4 peers, 1 accomplice)', () => {
  it(`parity coin: an attacked election stays undecided past ${PARITY_STEPS} steps`, () => {
    const failures: string[] = []
    let attacked = 0
    for (const seed of seeds) {
      const result = simulate(options(seed, 'parity', PARITY_STEPS))
      parityRuns.set(seed, result)
      const attack = result.adversary?.attacks.find((a) => a.outcome === 'running')
      const others = result.violations.filter((v) => v.invariant !== 'termination')
      if (others.length > 0) {
        failures.push(
          `  seed ${seed}: ${others[0].invariant}: ${others[0].detail}\n    reproduce: ${reproduce(seed, 'parity', PARITY_STEPS)}`,
        )
        continue
      }
      // No first estimates it could split: it never attacked, and the run is like any other.
      if (attack === undefined) continue
      attacked++
      const rounds = Math.floor(attack.stage / 3)
      parityStalled.push(rounds)
      if (result.agreed || rounds < STALLED_ROUNDS) {
        failures.push(
          `  seed ${seed}: election #${attack.election} reached only round ${rounds} (agreed ${result.agreed})\n    reproduce: ${reproduce(seed, 'parity', PARITY_STEPS)}`,
        )
      }
    }
    assert.equal(failures.length, 0, failures.join('\n'))
    assert.ok(
      attacked >= MIN_ATTACKED * seeds.length,
      `the adversary found a split in only ${attacked} of ${seeds.length} seeds`,
    )
  })

  it('concrete coin: every seed terminates, the attacked election included', () => {
    const failures: string[] = []
    for (const seed of seeds) {
      const result = simulate(options(seed, 'concrete', CONCRETE_STEPS))
      if (!result.agreed) {
        const v = result.violations[0]
        failures.push(
          `  seed ${seed}: ${v?.invariant}: ${v?.detail}\n    reproduce: ${reproduce(seed, 'concrete', CONCRETE_STEPS)}`,
        )
        continue
      }
      concreteAll.push(...result.stats.decisionRounds)
      concreteSteps.push(result.steps)
      // Up to the first coin toss both runs are the same: the same election is attacked.
      const parity = parityRuns.get(seed)?.adversary?.attacks.find((a) => a.outcome === 'running')
      if (parity === undefined) continue
      const attack = result.adversary?.attacks.find((a) => a.election === parity.election)
      assert.ok(
        attack !== undefined,
        `seed ${seed}: election #${parity.election} not attacked under the concrete coin`,
      )
      assert.equal(attack.voter, parity.voter, `seed ${seed}`)
      assert.notEqual(attack.outcome, 'running', `seed ${seed}`)
      concreteAttacked.push(result.stats.decisionRounds[attack.election])
    }
    assert.equal(failures.length, 0, failures.join('\n'))
  })

  after(() => {
    console.log(
      [
        `coin difference over ${seeds.length} seeds (4 peers, 1 accomplice, messages held up to 40 steps):`,
        `  parity coin, rounds reached by the attacked election at step ${PARITY_STEPS} (undecided): ${histogram(parityStalled)}`,
        `  concrete coin, rounds-to-decision of the attacked election: ${histogram(concreteAttacked)}`,
        `  concrete coin, rounds-to-decision of every election: ${histogram(concreteAll)}`,
        `  concrete coin, steps to finish every election: ${concreteSteps.join(' ')}`,
      ].join('\n'),
    )
  })
})
