/**
 * Runs named scenarios of the shared suite (packages/simulation/src/scenarios.ts) over
 * many seeds: one test per scenario, failing with every failing seed and the command that reruns it.
 * SCENARIO_SEEDS sets the number of seeds (default 10, seeds 1..N: CI runs seeds 11..40 in a step of
 * its own, outside the README's 10-minute test command); SCENARIO_FROM the first seed;
 * SCENARIO_COIN the peers' coin (`concrete`, the default, or `parity`).
 */
import assert from 'node:assert/strict'
import { it } from 'node:test'
import { findScenario, reproduceCommand, runScenario } from '@parsec-section/simulation'

function envInt(name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw)
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new Error(`${name} must be an unsigned integer, not '${raw}'`)
  }
  return value
}

export const SEEDS = envInt('SCENARIO_SEEDS', 10)
export const FROM = envInt('SCENARIO_FROM', 1)

function envCoin(): 'concrete' | 'parity' {
  const raw = process.env.SCENARIO_COIN
  if (raw === undefined || raw === '' || raw === 'concrete') return 'concrete'
  if (raw === 'parity') return 'parity'
  throw new Error(`SCENARIO_COIN must be concrete or parity, not '${raw}'`)
}

export const COIN = envCoin()

/** One test: scenario `name` over seeds FROM..FROM+SEEDS-1. */
export function scenarioTest(name: string): void {
  const scenario = findScenario(name)
  it(`${name} (${SEEDS} seeds, ${COIN} coin)`, () => {
    assert.ok(scenario, `no scenario named ${name}`)
    const failures: string[] = []
    for (let seed = FROM; seed < FROM + SEEDS; seed++) {
      const outcome = runScenario(scenario, seed, { coin: COIN })
      if (outcome.problems.length > 0) {
        failures.push(
          `  seed ${seed}: ${outcome.problems.slice(0, 3).join('; ')}\n    reproduce: ${reproduceCommand(name, seed, COIN)}`,
        )
      }
    }
    assert.equal(
      failures.length,
      0,
      `${name}: ${failures.length} of ${SEEDS} seeds failed\n${failures.join('\n')}`,
    )
  })
}
