import type { Observation } from './observation.js'

/**
 * Consensus mode (spec §3.3). Supermajority: identical payloads from different voters are one item
 * and need a supermajority of votes. Single: every voter's vote is its own item and block.
 */
export type ConsensusMode = 'single' | 'supermajority'

/** Only opaque payloads follow the instance's mode; membership and accusations need a supermajority. */
export function modeOf(observation: Observation, instanceMode: ConsensusMode): ConsensusMode {
  return observation.kind === 'opaque' ? instanceMode : 'supermajority'
}
