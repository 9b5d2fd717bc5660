/**
 * @parsec-section/simulation: a deterministic seeded simulation of a PARSEC section
 * (spec §13.1), with crash-faulty and Byzantine peers, and the named scenario suite shared by the
 * tests and the `soak` command.
 */

export { Rng } from '@parsec-section/parsec-core'
export type {
  AdversarialSchedulerOptions,
  AdversaryStats,
  Attack,
  ScheduledMessage,
  SchedulerHost,
} from './adversarial-scheduler.js'
export { AdversarialScheduler } from './adversarial-scheduler.js'
export type { ByzantineHost, ByzantinePlan } from './byzantine.js'
export { ByzantinePeer } from './byzantine.js'
export { InboundLimit } from './inbound-limit.js'
export type { JoinLatencyOptions, JoinLatencyRun } from './join-latency.js'
export { joinLatencyOptions, medianAndMax, runJoinLatency } from './join-latency.js'
export type { JoinTiming } from './join-timing.js'
export { blockKey } from './keys.js'
export type { MembershipReport } from './membership-host.js'
export type { MembershipHostView, MembershipRunOptions, MembershipTraceEntry } from './membership-options.js'
export { membershipConfigOf, SIMULATION_MEMBERSHIP, shortenedDefaults } from './membership-options.js'
export { epochProblems, membershipEpochScenarios } from './membership-scenarios-epochs.js'
export type { Behaviour, Misbehaviour } from './misbehaviour.js'
export {
  BEHAVIOURS,
  DEFAULT_BEHAVIOURS,
  isBehaviour,
  MisbehaviourLog,
  PROVABLE_MALICE,
} from './misbehaviour.js'
export { PEER_NAMES, peerName } from './names.js'
export type { ByzantineSpec, FailureSpec, SimulationCoin, SimulationOptions, StepRange } from './options.js'
export type { PeerStatus } from './peers.js'
export type { SimulationResult, SimulationStats, Violation } from './result.js'
export type { Scenario, ScenarioOutcome, ScenarioRun } from './scenarios.js'
export {
  allScenarios,
  byzantineScenarios,
  checkExpectedBlocks,
  findScenario,
  membershipScenarios,
  membershipSlowScenarios,
  reproduceCommand,
  runScenario,
  scenarios,
} from './scenarios.js'
export { simulate } from './simulation.js'
export type { Delivery, PlanOptions, StagePlan, StageRoles } from './split-planner.js'
export { commonStage, harmlessValue, planStage } from './split-planner.js'
export { mirrorVotes } from './vote-mirror.js'
export type { ModelCoin, ModelEvent, VoteList } from './vote-model.js'
export { parityModelCoin, VoteModel } from './vote-model.js'
