/**
 * @parsec-section/parsec-core/simulation: a deterministic seeded simulation of a PARSEC section
 * (spec §13.1) and the named scenario suite shared by the tests and the `soak` command.
 */

export { PEER_NAMES, peerName } from './names.js'
export type {
  FailureSpec,
  PeerStatus,
  SimulationCoin,
  SimulationOptions,
  SimulationResult,
  SimulationStats,
  StepRange,
  Violation,
} from './network.js'
export { blockKey, simulate } from './network.js'
export { Rng } from './rng.js'
export type { Scenario, ScenarioOutcome, ScenarioRun } from './scenarios.js'
export { checkExpectedBlocks, findScenario, reproduceCommand, runScenario, scenarios } from './scenarios.js'
