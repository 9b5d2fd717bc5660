/**
 * `parsec-peer soak`: runs many simulation seeds spread evenly over the scenario suite (the same
 * scenarios the tests run) and reports every failing scenario and seed.
 */
import {
  allScenarios,
  byzantineScenarios,
  findScenario,
  membershipEpochScenarios,
  membershipScenarios,
  reproduceCommand,
  runScenario,
  type Scenario,
  scenarios,
} from '@parsec-section/simulation'
import { choiceOption, intOption, parse, UsageError } from '../args.js'

const SUITES: Record<'standard' | 'byzantine' | 'membership' | 'epochs' | 'all', readonly Scenario[]> = {
  standard: scenarios,
  byzantine: byzantineScenarios,
  membership: membershipScenarios,
  epochs: membershipEpochScenarios,
  all: allScenarios,
}

const HELP = `usage: parsec-peer soak [--seeds N | --each K] [--from S] [--suite standard|byzantine|membership|epochs|all] [--scenario NAME]
                        [--coin concrete|parity] [--json]

Runs N simulations (default 5 per scenario of the suite; --each K runs K per scenario, N = K times
the suite's size). Run i (from S, default 0, to S+N-1) plays
scenario number i modulo the suite's size with seed i, so the seeds spread evenly over the suite
and an interrupted soak resumes with --from (the progress lines print where to resume). --suite
picks the scenarios: standard (default, the reference's ${scenarios.length}: voting, crashes, churn), byzantine
(the ${byzantineScenarios.length} with Byzantine peers: one per behaviour, the reference's fork, and mixes with churn and
crashes), membership (the ${membershipScenarios.length} hosting the membership machine: joins, leaves, silent members,
operator removals, a Sybil burst), epochs (the ${membershipEpochScenarios.length} of them with epoch switches: checkpoints every
15 blocks under crashes, a fork, a founder killed mid-switch, churn) or all. --scenario NAME runs only that scenario, with seeds S..S+N-1. --coin picks the
peers' coin: concrete (default, the RFC's gradient-leadership coin, spec §16) or parity (the
reference v0.7.3's stand-in).

Failures print their scenario, seed and the command that reruns them. --json prints one JSON
object at the end: {"from","seeds","coin","next","passed","failed","failures":[{"scenario","seed",
"problems","command"}],"scenarios":{NAME:{"runs","failed","ms"}}}; progress then goes to stderr.
Exit status: 0 when every run passed, 1 when any failed, 2 on bad arguments.

Scenarios:
  ${allScenarios.map((s) => `${s.name.padEnd(40)} ${s.summary}`).join('\n  ')}`

interface Failure {
  scenario: string
  seed: number
  problems: string[]
  command: string
}

export const soakCommand = {
  summary: 'run many simulation seeds across the scenario suite',
  async run(args: string[]): Promise<number> {
    const { values } = parse(args, {
      seeds: { type: 'string' },
      each: { type: 'string' },
      from: { type: 'string' },
      scenario: { type: 'string' },
      suite: { type: 'string' },
      coin: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    })
    if (values.help) {
      console.log(HELP)
      return 0
    }
    const suiteName = choiceOption(
      values,
      'suite',
      ['standard', 'byzantine', 'membership', 'epochs', 'all'] as const,
      'standard',
    )
    const suite = SUITES[suiteName]
    if (values.seeds !== undefined && values.each !== undefined) {
      throw new UsageError('--seeds and --each both set the number of runs: give one')
    }
    const perEach = values.scenario === undefined ? suite.length : 1
    const each = intOption(values, 'each', 5, 1, Math.floor(10_000_000 / perEach))
    const count = intOption(values, 'seeds', each * perEach, 1, 10_000_000)
    const from = intOption(values, 'from', 0, 0, 0xffff_ffff)
    if (from + count - 1 > 0xffff_ffff) {
      throw new UsageError('--from + --seeds goes past the largest seed (2^32 - 1)')
    }
    const only = values.scenario === undefined ? undefined : findScenario(String(values.scenario))
    if (values.scenario !== undefined && only === undefined) {
      throw new UsageError(
        `unknown scenario '${values.scenario}' (known: ${allScenarios.map((s) => s.name).join(', ')})`,
      )
    }
    const coin = choiceOption(values, 'coin', ['concrete', 'parity'] as const, 'concrete')
    const json = values.json === true
    const progress = json ? (line: string) => console.error(line) : (line: string) => console.log(line)

    const perScenario = new Map<string, { runs: number; failed: number; ms: number }>()
    const failures: Failure[] = []
    const every = Math.max(1, Math.floor(count / 20))
    const started = performance.now()
    progress(
      `soak: ${count} runs from ${from} over ${only === undefined ? `${suite.length} scenarios (${suiteName})` : `scenario ${only.name}`}, ${coin} coin`,
    )
    for (let n = 0; n < count; n++) {
      const i = from + n
      const scenario = only ?? suite[i % suite.length]
      const t0 = performance.now()
      const outcome = runScenario(scenario, i, { coin })
      const ms = performance.now() - t0
      const stats = perScenario.get(scenario.name) ?? { runs: 0, failed: 0, ms: 0 }
      stats.runs++
      stats.ms += ms
      perScenario.set(scenario.name, stats)
      if (outcome.problems.length > 0) {
        stats.failed++
        const failure = {
          scenario: scenario.name,
          seed: i,
          problems: outcome.problems,
          command: reproduceCommand(scenario.name, i, coin),
        }
        failures.push(failure)
        progress(`FAIL ${scenario.name} seed ${i}: ${outcome.problems[0]}`)
        progress(`     reproduce: ${failure.command}`)
      }
      if ((n + 1) % every === 0 || n + 1 === count) {
        const elapsed = ((performance.now() - started) / 1000).toFixed(1)
        progress(
          `progress: ${n + 1}/${count} runs, ${failures.length} failed, ${elapsed} s (resume with --from ${i + 1})`,
        )
      }
    }

    const scenarioTable = Object.fromEntries(
      [...perScenario].map(([name, s]) => [name, { runs: s.runs, failed: s.failed, ms: Math.round(s.ms) }]),
    )
    if (json) {
      console.log(
        JSON.stringify({
          from,
          seeds: count,
          coin,
          next: from + count,
          passed: count - failures.length,
          failed: failures.length,
          failures,
          scenarios: scenarioTable,
        }),
      )
    } else {
      console.log('')
      console.log(
        `${'scenario'.padEnd(40)} ${'runs'.padStart(5)} ${'failed'.padStart(6)} ${'avg ms'.padStart(8)}`,
      )
      for (const [name, s] of perScenario) {
        console.log(
          `${name.padEnd(40)} ${String(s.runs).padStart(5)} ${String(s.failed).padStart(6)} ${(s.ms / s.runs).toFixed(0).padStart(8)}`,
        )
      }
      console.log('')
      if (failures.length === 0) {
        console.log(`OK: all ${count} runs passed (seeds ${from}..${from + count - 1})`)
      } else {
        console.log(`FAILED: ${failures.length} of ${count} runs`)
        for (const f of failures) console.log(`  ${f.scenario} seed ${f.seed}: ${f.command}`)
      }
    }
    return failures.length === 0 ? 0 : 1
  },
}
