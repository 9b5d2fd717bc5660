/**
 * `parsec-peer simulate`: runs a deterministic in-process section (spec §13.1, §13.4) and checks
 * that every honest peer holds every expected block, in the same order.
 */
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { type ConsensusMode, type Parsec, supermajority } from '@parsec-section/parsec-core'
import { dumpDot } from '@parsec-section/parsec-core/dot'
import {
  allScenarios,
  BEHAVIOURS,
  type Behaviour,
  DEFAULT_BEHAVIOURS,
  findScenario,
  isBehaviour,
  PROVABLE_MALICE,
  reproduceCommand,
  runScenario,
  type SimulationOptions,
  type SimulationResult,
  shortenedDefaults,
  simulate,
} from '@parsec-section/simulation'
import { choiceOption, intOption, parse, UsageError } from '../args.js'
import { formatBlock } from '../format.js'

const DEFAULTS = {
  peers: 4,
  opaque: 3,
  add: 1,
  remove: 1,
  faulty: 0,
  malicious: 0,
  seed: 1,
  maxSteps: 6000,
  stepMs: 10,
} as const
/** Faulty peers crash at a random step in this range. */
const FAILURE_STEPS = { min: 1, max: 50 } as const

const COINS = ['concrete', 'parity'] as const
/** Steps within which the operator's --add/--remove commands are drawn in runs without joiners. */
const OPERATOR_WINDOW = 60

const HELP = `usage: parsec-peer simulate [--peers N] [--opaque K] [--add A] [--remove R] [--faulty F]
                            [--malicious M] [--behaviour LIST] [--adversarial-scheduler]
                            [--mode single|supermajority] [--join J] [--leave L] [--unresponsive U]
                            [--sybil S] [--live-membership] [--trace FILE] [--seed S] [--max-steps M]
                            [--step-ms MS] [--coin concrete|parity] [--dump DIR] [--json]
       parsec-peer simulate --scenario NAME [--seed S] [--step-ms MS] [--coin concrete|parity]
                            [--dump DIR] [--json]

--dump DIR writes every peer's gossip graph at the end to DIR/NAME.dot in the reference's DOT
layout; with --coin parity (the reference's coin) 'parsec-peer replay DIR/NAME.dot' replays it
to that peer's blocks.

Runs a seeded, deterministic section of N in-process peers (mock ids Alice, Bob, ...): K opaque
payloads voted, A peers added (they replay the history), then R peers removed, F peers crashing at
random steps ${FAILURE_STEPS.min}..${FAILURE_STEPS.max}, M founding members Byzantine. Every peer runs the membership machine
beside its engine, and every membership change goes through it (see "Membership" below): a change
its rules hold back is reported as deferred, not refused. The same seed gives the same run.
Defaults: --peers ${DEFAULTS.peers} --opaque ${DEFAULTS.opaque} --add ${DEFAULTS.add} --remove ${DEFAULTS.remove} (0 and 0 with --join, --leave,
--unresponsive or --sybil) --faulty ${DEFAULTS.faulty} --malicious ${DEFAULTS.malicious} --mode supermajority --seed ${DEFAULTS.seed} --max-steps ${DEFAULTS.maxSteps} --step-ms ${DEFAULTS.stepMs} --coin concrete.

--step-ms MS sets the simulated time one step stands for (default ${DEFAULTS.stepMs} ms): what the simulated
peers read from their clock, and the run's simulated duration in the output. The engines ignore it,
but the membership machines' timers (in ms) run on this clock: without membership changes (--add 0
--remove 0 and no --join, --leave, --unresponsive, --sybil or --faulty) the same seed gives the same
blocks and steps whatever MS is; with them a seed may schedule differently.

--malicious M makes M random founding members Byzantine: they run the engine but misbehave, each
doing every behaviour of --behaviour LIST (comma-separated; default: ${DEFAULT_BEHAVIOURS.join(',')}):
  fork                two events with one self-parent, shown to two different honest peers
  duplicate-vote      votes an observation it already voted
  invalid-signature   corrupts the signature of events in some of its messages
  invalid-accusation  accuses an honest peer of a fork that never happened
  skip-events         leaves events out of some of its messages
  silent              from a random step on, neither gossips nor answers
  spam                requests at more than ten times the honest rate
Crash-faulty and Byzantine peers together must be fewer than a third of the peers. Byzantine peers
are never honest. Honest peers accuse what they can prove (${Object.keys(PROVABLE_MALICE).join(', ')}); an agreed
accusation removes its offender and is a block {"kind":"accusation","offender":NAME,"malice":TYPE}.

--adversarial-scheduler delivers every message itself, within 40 steps of its sending, choosing the
order so as to keep the peers' estimates split at the coin step (it believes in the parity coin);
peers then gossip every step, and the --malicious peers (without --behaviour) are its accomplices,
sending and handling messages only when it says. With --coin parity it keeps an election undecided;
with the concrete coin the election still decides.

--coin picks the genuine-flip coin of every peer: concrete (the RFC's gradient-leadership coin,
spec §16) or parity (the reference v0.7.3's predictable stand-in, what replays use).

Membership: every peer runs the membership machine beside its engine, and peers join and leave by
exchanging membership messages over the simulated network (join requests with proof of work, catch-up
as an observer, Ready, Add votes; LeaveRequest, Remove, the drain; suspicion of silent members, so
crashed members are removed for silence), with MEMBERSHIP.md §7's invariants M1-M7 checked after
every step. --peers N is the genesis size (1 works).
  --add A            the operator names A outsiders to every member (an allowlist admission; with
                     --join or --sybil the open policy admits them too), and each joins through the
                     protocol, replaying the history as an observer before its Add is voted
  --remove R         the operator tells every member to propose removing a random live member,
                     once every add happened or was held back (repeated while open)
  --join J           J outsiders join through the protocol, at random steps
  --leave L          L members leave gracefully
  --unresponsive U   U members go silent and must be removed for it
  --sybil S          S proof-of-work-valid candidates ask to join in one burst
  --trace FILE       JSON lines of every membership event with its step, for plotting
  --live-membership  MEMBERSHIP.md §8's live defaults instead of the shortened ones
The run goes on until every requested change happened or was reported rejected or deferred (a change
a rule holds back, e.g. the budget rule or the young cap, is reported, not an error), or the step
bound (exit 1). The simulation shortens these membership defaults (live value in brackets; one
step is --step-ms, 10 ms by default): ${shortenedDefaults().join(', ')}. --json adds "members" (per honest peer, its sorted voters at the end), "joined",
"left", "unresponsive", "banned" (peer names) and the counts "rejected" and "deferred"; exit 0 iff
every honest peer holds the same blocks and the same members. --add and --remove are judged by the
machines' rules (the budget rule, the young cap, the spacing of adds, the size limit, #313's refusal
at 3 members): a change they hold back is deferred, not refused.

--scenario NAME runs one scenario of the test suite instead (what a failing test prints):
  ${allScenarios.map((s) => s.name).join('\n  ')}

--json prints one JSON object: {"seed","agreed","honest","peers","steps","simulatedMs","events",
"accused"} and the membership fields above, where "peers" maps every peer (crashed, removed and Byzantine ones included) to its
blocks, "simulatedMs" is the simulated duration (steps × --step-ms), "events" is the size of the
largest honest gossip graph and "accused" lists the offenders of agreed accusations.
Exit status: 0 when every honest peer holds the same blocks in the same order and the same members,
1 when not (or the step bound was reached), 2 on bad arguments (a third or more faulty or malicious
peers included).`

/** `--behaviour LIST`: known behaviours, each once. */
function parseBehaviours(raw: unknown): Behaviour[] {
  if (raw === undefined) return [...DEFAULT_BEHAVIOURS]
  const names = String(raw)
    .split(',')
    .map((name) => name.trim())
  const unknown = names.filter((name) => !isBehaviour(name))
  if (unknown.length > 0 || names.length === 0) {
    throw new UsageError(
      `--behaviour: unknown behaviour '${unknown[0] ?? ''}' (known: ${BEHAVIOURS.join(', ')})`,
    )
  }
  return [...new Set(names as Behaviour[])]
}

function counts(record: Record<string, number>): string {
  const entries = Object.entries(record)
  return entries.length === 0 ? 'none' : entries.map(([key, n]) => `${key} ${n}`).join(', ')
}

function printHuman(result: SimulationResult, problems: readonly string[]): void {
  console.log(
    `Finished after ${result.steps} steps (${result.simulatedMs / 1000} s simulated); largest honest graph ${result.events} events; ` +
      `${result.stats.requests} requests, ${result.stats.responses} responses`,
  )
  const byzantine = Object.entries(result.byzantine)
  if (byzantine.length > 0) {
    for (const [name, behaviours] of byzantine) console.log(`Byzantine ${name}: ${behaviours.join(', ')}`)
    console.log(`Accused (agreed): ${result.accused.length === 0 ? 'nobody' : result.accused.join(', ')}`)
    console.log(`Refused Byzantine messages: ${counts(result.stats.rejected)}`)
    console.log(`Faults reported by honest peers: ${counts(result.stats.faults)}`)
    const { sent, arrived, refused } = result.stats.spam
    if (sent > 0) console.log(`Spam: ${sent} requests sent, ${arrived} arrived, ${refused} refused`)
  }
  if (result.adversary !== undefined) {
    console.log(`Adversarial scheduler: messages held up to ${result.adversary.longestHold} steps`)
    for (const attack of result.adversary.attacks) {
      const rounds = Math.floor(attack.stage / 3)
      const end =
        attack.outcome === 'running'
          ? 'still undecided at the end'
          : `until step ${attack.endStep} (${attack.outcome})`
      console.log(
        `  kept the votes on ${attack.voter} split in election #${attack.election} from step ${attack.startStep} for ${rounds} rounds, ${end}`,
      )
    }
  }
  if (result.stats.decisionRounds.length > 0) {
    console.log(`Rounds to decision, per election: ${result.stats.decisionRounds.join(' ')}`)
  }
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
    simulatedMs: result.simulatedMs,
    events: result.events,
    accused: result.accused,
    ...(result.membership === undefined
      ? {}
      : {
          members: result.membership.members,
          joined: result.membership.joined,
          left: result.membership.left,
          unresponsive: result.membership.unresponsive,
          banned: result.membership.banned,
          rejected: result.membership.rejected,
          deferred: result.membership.deferred,
        }),
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
      malicious: { type: 'string' },
      behaviour: { type: 'string' },
      'adversarial-scheduler': { type: 'boolean' },
      mode: { type: 'string' },
      seed: { type: 'string' },
      'max-steps': { type: 'string' },
      'step-ms': { type: 'string' },
      coin: { type: 'string' },
      scenario: { type: 'string' },
      json: { type: 'boolean' },
      join: { type: 'string' },
      leave: { type: 'string' },
      unresponsive: { type: 'string' },
      sybil: { type: 'string' },
      trace: { type: 'string' },
      dump: { type: 'string' },
      'live-membership': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    })
    if (values.help) {
      console.log(HELP)
      return 0
    }
    const json = values.json === true
    const seed = intOption(values, 'seed', DEFAULTS.seed, 0, 0xffff_ffff)
    const coin = choiceOption(values, 'coin', COINS, 'concrete')
    const stepMs = intOption(values, 'step-ms', DEFAULTS.stepMs, 1, 3_600_000)
    const log = json ? undefined : (line: string) => console.log(line)

    if (values.scenario !== undefined) {
      const name = String(values.scenario)
      const scenario = findScenario(name)
      if (scenario === undefined) {
        throw new UsageError(
          `unknown scenario '${name}' (known: ${allScenarios.map((s) => s.name).join(', ')})`,
        )
      }
      const clash = [
        'peers',
        'opaque',
        'add',
        'remove',
        'faulty',
        'malicious',
        'behaviour',
        'adversarial-scheduler',
        'mode',
        'max-steps',
      ].filter((k) => values[k] !== undefined)
      if (clash.length > 0) {
        throw new UsageError(`--scenario fixes the settings; drop --${clash.join(', --')}`)
      }
      if (!json) {
        console.log(`Scenario ${scenario.name}: ${scenario.summary}`)
        console.log(`Using seed ${seed}, ${coin} coin`)
      }
      const outcome = runScenario(scenario, seed, { log, coin, stepMs, ...dumpOption(values.dump) })
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
    return runSection(values, { seed, coin, stepMs, json, peers })
  },
}

/**
 * `--dump DIR`: every peer's gossip graph at the end, in the reference's DOT layout, to
 * `DIR/<name>.dot` (`parsec-peer replay` reads them back when the run used `--coin parity`).
 */
function dumpOption(dir: unknown): { atEnd?: (engines: ReadonlyMap<string, Parsec>) => void } {
  if (dir === undefined) return {}
  const path = String(dir)
  try {
    mkdirSync(path, { recursive: true })
  } catch (error) {
    throw new UsageError(
      `--dump ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    )
  }
  return {
    atEnd: (engines) => {
      for (const [name, parsec] of engines) writeFileSync(join(path, `${name}.dot`), dumpDot(parsec))
    },
  }
}

interface CommonSettings {
  readonly seed: number
  readonly coin: 'concrete' | 'parity'
  readonly stepMs: number
  readonly json: boolean
  readonly peers: number
}

/**
 * A run: every peer hosts the membership machine beside its engine, and every change (the
 * operator's `--add`/`--remove`, joins, leaves, silences, a Sybil burst) goes through it, judged by
 * its rules: a change they hold back is reported as deferred, never refused up front.
 */
function runSection(values: Record<string, unknown>, common: CommonSettings): number {
  const { seed, coin, stepMs, json, peers } = common
  const opaque = intOption(values, 'opaque', DEFAULTS.opaque, 0, 1000)
  const joins = intOption(values, 'join', 0, 0, 200)
  const leaves = intOption(values, 'leave', 0, 0, 200)
  const unresponsive = intOption(values, 'unresponsive', 0, 0, 200)
  const sybil = intOption(values, 'sybil', 0, 0, 1000)
  // Runs with the protocol's own changes asked no operator change by default (as before).
  const protocolRun = ['join', 'leave', 'unresponsive', 'sybil'].some((k) => values[k] !== undefined)
  const add = intOption(values, 'add', protocolRun ? 0 : DEFAULTS.add, 0, 200)
  const remove = intOption(values, 'remove', protocolRun ? 0 : DEFAULTS.remove, 0, 200)
  const faulty = intOption(values, 'faulty', DEFAULTS.faulty, 0, 200)
  const malicious = intOption(values, 'malicious', DEFAULTS.malicious, 0, 200)
  const adversarialScheduler = values['adversarial-scheduler'] === true
  // The scheduler's accomplices misbehave only by when they send and handle messages.
  const behaviours =
    adversarialScheduler && values.behaviour === undefined ? [] : parseBehaviours(values.behaviour)
  if (values.behaviour !== undefined && malicious === 0) {
    throw new UsageError('--behaviour needs --malicious M (M ≥ 1)')
  }
  const maxSteps = intOption(values, 'max-steps', DEFAULTS.maxSteps, 1, 1_000_000)
  const mode: ConsensusMode = choiceOption(
    values,
    'mode',
    ['single', 'supermajority'] as const,
    'supermajority',
  )
  // The honest peers must be a supermajority: fewer than a third faulty or malicious.
  if (!supermajority(peers, peers - faulty - malicious)) {
    const given = [
      ...(faulty > 0 ? [`--faulty ${faulty}`] : []),
      ...(malicious > 0 ? [`--malicious ${malicious}`] : []),
    ].join(' ')
    throw new UsageError(
      `${given}: a section of ${peers} peers tolerates fewer than a third faulty or malicious (at most ${Math.floor((peers - 1) / 3)})`,
    )
  }
  const traceFile = values.trace === undefined ? undefined : String(values.trace)
  if (traceFile !== undefined) writeFileSync(traceFile, '')
  const progress = (line: string) => (json ? console.error(line) : console.log(line))
  const options: SimulationOptions = {
    seed,
    genesisSize: peers,
    opaque,
    consensusMode: mode,
    failures: Array.from({ length: faulty }, () => ({ at: FAILURE_STEPS })),
    byzantine: Array.from({ length: malicious }, () => ({ behaviours })),
    adversarialScheduler,
    ...(adversarialScheduler ? { probGossip: 1 } : {}),
    ...dumpOption(values.dump),
    maxSteps,
    stepMs,
    coin,
    log: progress,
    membership: {
      // The operator's commands come early (as --add/--remove did); joins, leaves and silences
      // are spread over the default window.
      ...(protocolRun ? {} : { window: OPERATOR_WINDOW }),
      joins,
      leaves,
      unresponsive,
      sybil,
      operatorAdds: add,
      proposeRemoves: remove,
      ...(values['live-membership'] === true ? { profile: 'live' as const } : {}),
      ...(traceFile === undefined
        ? {}
        : { trace: (entry) => appendFileSync(traceFile, `${JSON.stringify(entry)}\n`) }),
    },
  }
  const byzantine =
    malicious > 0
      ? `, malicious ${malicious} (${behaviours.join(',') || 'accomplices of the scheduler'})`
      : ''
  const scheduler = adversarialScheduler ? ', adversarial scheduler' : ''
  const changes = [
    ...(joins > 0 ? [`join ${joins}`] : []),
    ...(leaves > 0 ? [`leave ${leaves}`] : []),
    ...(unresponsive > 0 ? [`unresponsive ${unresponsive}`] : []),
    ...(sybil > 0 ? [`sybil ${sybil}`] : []),
  ]
  progress(
    `Parameters: peers ${peers}, opaque ${opaque}, add ${add}, remove ${remove}${changes.map((c) => `, ${c}`).join('')}, faulty ${faulty}${byzantine}, mode ${mode}, max steps ${maxSteps}, step ${stepMs} ms, coin ${coin}${scheduler}`,
  )
  progress(`Using seed ${seed}`)
  const result = simulate(options)
  const problems = result.violations.map((v) => `${v.invariant} (step ${v.step}): ${v.detail}`)
  const lists = Object.values(result.membership?.members ?? {}).map((m) => m.join(','))
  if (new Set(lists).size > 1) problems.push('honest peers hold different members')
  if (json) {
    console.log(jsonSummary(result, problems))
    for (const problem of problems) console.error(`seed ${seed}: ${problem}`)
  } else {
    printHuman(result, problems)
    const m = result.membership
    if (m !== undefined) {
      console.log(
        `Membership: joined ${m.joined.join(',') || '-'}; left ${m.left.join(',') || '-'}; unresponsive ${m.unresponsive.join(',') || '-'}; banned ${m.banned.join(',') || '-'}; rejected ${m.rejected}; deferred ${m.deferred}`,
      )
      for (const [name, members] of Object.entries(m.members)) console.log(`  ${name}: ${members.join(', ')}`)
    }
  }
  return problems.length === 0 ? 0 : 1
}
