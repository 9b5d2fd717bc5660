/**
 * `parsec-peer simulate`: runs a deterministic in-process section (spec §13.1, §13.4) and checks
 * that every honest peer holds every expected block, in the same order.
 */
import type { ConsensusMode } from '@parsec-section/parsec-core'
import {
  checkExpectedBlocks,
  findScenario,
  reproduceCommand,
  runScenario,
  type SimulationOptions,
  type SimulationResult,
  scenarios,
  simulate,
} from '@parsec-section/parsec-core/simulation'
import { choiceOption, intOption, parse, UsageError } from '../args.js'
import { formatBlock } from '../format.js'

const DEFAULTS = { peers: 4, opaque: 3, add: 1, remove: 1, faulty: 0, seed: 1, maxSteps: 3000 } as const
/** Faulty peers crash at a random step in this range. */
const FAILURE_STEPS = { min: 1, max: 50 } as const

const COINS = ['concrete', 'parity'] as const

const HELP = `usage: parsec-peer simulate [--peers N] [--opaque K] [--add A] [--remove R] [--faulty F]
                            [--mode single|supermajority] [--seed S] [--max-steps M]
                            [--coin concrete|parity] [--json]
       parsec-peer simulate --scenario NAME [--seed S] [--coin concrete|parity] [--json]

Runs a seeded, deterministic section of N in-process peers (mock ids Alice, Bob, ...): K opaque
payloads voted, A peers added (joiners replay the history), then R peers removed, F peers crashing
at random steps ${FAILURE_STEPS.min}..${FAILURE_STEPS.max}. Adds and removes wait until more than two thirds of every
possible voter set stays live. The same seed gives the same run.
Defaults: --peers ${DEFAULTS.peers} --opaque ${DEFAULTS.opaque} --add ${DEFAULTS.add} --remove ${DEFAULTS.remove} --faulty ${DEFAULTS.faulty} --mode supermajority --seed ${DEFAULTS.seed} --coin concrete.

--coin picks the genuine-flip coin of every peer: concrete (the RFC's gradient-leadership coin,
spec §16) or parity (the reference v0.7.3's predictable stand-in, what replays use).

--scenario NAME runs one scenario of the test suite instead (what a failing test prints):
  ${scenarios.map((s) => s.name).join('\n  ')}

--json prints one JSON object: {"seed","agreed","honest","peers","steps","events"}, where "peers"
maps every peer (crashed and removed ones included) to its blocks and "events" is the size of the
largest honest gossip graph.
Exit status: 0 when every honest peer holds every expected block in the same order, 1 when not
(or the step bound was reached), 2 on bad arguments or impossible settings.`

/**
 * Whether the membership changes can all happen under the simulator's safety rules (more than
 * two thirds of every possible voter set live), counting the faulty peers as crashed: adds first,
 * then removes one at a time. Returns the reason when they cannot.
 */
function infeasible(peers: number, add: number, remove: number, faulty: number): string | undefined {
  let members = peers
  for (let i = 0; i < add; i++) {
    const live = members - faulty
    if (!(faulty === 0 && live < 3) && !(3 * live > 2 * (members + 1))) {
      return `cannot add peers to ${members} members with ${faulty} faulty: more than two thirds must stay live`
    }
    members++
  }
  for (let i = 0; i < remove; i++) {
    const live = members - faulty - 1
    if (members - 1 < 1 || !(3 * live > 2 * members)) {
      const needed = 3 * faulty + 4
      return `cannot remove ${remove} of ${peers + add} peers${faulty > 0 ? ` with ${faulty} faulty` : ''}: each removal needs at least ${needed} members, to keep more than two thirds of the voters live`
    }
    members--
  }
  return undefined
}

function printHuman(result: SimulationResult, problems: readonly string[]): void {
  console.log(
    `Finished after ${result.steps} steps; largest honest graph ${result.events} events; ` +
      `${result.stats.requests} requests, ${result.stats.responses} responses`,
  )
  for (const [name, blocks] of Object.entries(result.peers)) {
    const status = result.honest.includes(name) ? 'honest' : result.status[name]
    console.log(`\n${name} (${status}): ${blocks.length} blocks`)
    for (const block of blocks) console.log(`  ${formatBlock(block)}`)
  }
  console.log('')
  if (problems.length === 0) {
    const blocks = result.honest.length > 0 ? result.peers[result.honest[0]].length : 0
    console.log(
      `OK: all ${result.honest.length} honest peers hold the same ${blocks} blocks, every expected one included`,
    )
  } else {
    console.log(`FAILED (seed ${result.seed}):`)
    for (const problem of problems) console.log(`  ${problem}`)
  }
}

function jsonSummary(result: SimulationResult, problems: readonly string[]): string {
  return JSON.stringify({
    seed: result.seed,
    agreed: problems.length === 0,
    honest: result.honest,
    peers: result.peers,
    steps: result.steps,
    events: result.events,
  })
}

export const simulateCommand = {
  summary: 'run a deterministic in-process section (seeded)',
  async run(args: string[]): Promise<number> {
    const { values } = parse(args, {
      peers: { type: 'string' },
      opaque: { type: 'string' },
      add: { type: 'string' },
      remove: { type: 'string' },
      faulty: { type: 'string' },
      mode: { type: 'string' },
      seed: { type: 'string' },
      'max-steps': { type: 'string' },
      coin: { type: 'string' },
      scenario: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    })
    if (values.help) {
      console.log(HELP)
      return 0
    }
    const json = values.json === true
    const seed = intOption(values, 'seed', DEFAULTS.seed, 0, 0xffff_ffff)
    const coin = choiceOption(values, 'coin', COINS, 'concrete')
    const log = json ? undefined : (line: string) => console.log(line)

    if (values.scenario !== undefined) {
      const name = String(values.scenario)
      const scenario = findScenario(name)
      if (scenario === undefined) {
        throw new UsageError(`unknown scenario '${name}' (known: ${scenarios.map((s) => s.name).join(', ')})`)
      }
      const clash = ['peers', 'opaque', 'add', 'remove', 'faulty', 'mode', 'max-steps'].filter(
        (k) => values[k] !== undefined,
      )
      if (clash.length > 0) {
        throw new UsageError(`--scenario fixes the settings; drop --${clash.join(', --')}`)
      }
      if (!json) {
        console.log(`Scenario ${scenario.name}: ${scenario.summary}`)
        console.log(`Using seed ${seed}, ${coin} coin`)
      }
      const outcome = runScenario(scenario, seed, { log, coin })
      if (json) console.log(jsonSummary(outcome.result, outcome.problems))
      else printHuman(outcome.result, outcome.problems)
      if (outcome.problems.length > 0 && json) {
        for (const problem of outcome.problems) console.error(`${scenario.name} seed ${seed}: ${problem}`)
      }
      if (outcome.problems.length > 0) {
        console.error(`reproduce: ${reproduceCommand(scenario.name, seed, coin)}`)
      }
      return outcome.problems.length === 0 ? 0 : 1
    }

    const peers = intOption(values, 'peers', DEFAULTS.peers, 1, 200)
    const opaque = intOption(values, 'opaque', DEFAULTS.opaque, 0, 1000)
    const add = intOption(values, 'add', DEFAULTS.add, 0, 200)
    const remove = intOption(values, 'remove', DEFAULTS.remove, 0, 200)
    const faulty = intOption(values, 'faulty', DEFAULTS.faulty, 0, 200)
    const maxSteps = intOption(values, 'max-steps', DEFAULTS.maxSteps, 1, 1_000_000)
    const mode: ConsensusMode = choiceOption(
      values,
      'mode',
      ['single', 'supermajority'] as const,
      'supermajority',
    )
    if (3 * faulty >= peers) {
      throw new UsageError(
        `--faulty ${faulty}: a section of ${peers} peers tolerates fewer than a third faulty (at most ${Math.floor((peers - 1) / 3)})`,
      )
    }
    const reason = infeasible(peers, add, remove, faulty)
    if (reason !== undefined) throw new UsageError(reason)

    const options: SimulationOptions = {
      seed,
      genesisSize: peers,
      opaque,
      peersToAdd: add,
      peersToRemove: remove,
      membershipOrder: 'adds-first',
      consensusMode: mode,
      failures: Array.from({ length: faulty }, () => ({ at: FAILURE_STEPS })),
      maxSteps,
      coin,
      log,
    }
    if (!json) {
      console.log(
        `Parameters: peers ${peers}, opaque ${opaque}, add ${add}, remove ${remove}, faulty ${faulty}, mode ${mode}, max steps ${maxSteps}, coin ${coin}`,
      )
      console.log(`Using seed ${seed}`)
    }
    const result = simulate(options)
    const problems = result.violations.map((v) => `${v.invariant} (step ${v.step}): ${v.detail}`)
    if (problems.length === 0) problems.push(...checkExpectedBlocks(result, options))
    if (json) {
      console.log(jsonSummary(result, problems))
      for (const problem of problems) console.error(`seed ${seed}: ${problem}`)
    } else {
      printHuman(result, problems)
    }
    return problems.length === 0 ? 0 : 1
  },
}
