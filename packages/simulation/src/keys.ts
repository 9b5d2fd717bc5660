/**
 * The keys the simulation compares blocks and votes by: a block's agreement key (its description
 * without voters), and the payload key of an observation or block (without the voter).
 */

import {
  type BlockDescription,
  type ConsensusMode,
  type Observation,
  type PublicId,
  payloadText,
  toHex,
} from '@parsec-section/parsec-core'

/** The agreement key of a block: its description without voters (Single-mode opaque: + its voter). */
export function blockKey(description: BlockDescription, mode: ConsensusMode): string {
  switch (description.kind) {
    case 'genesis':
      return `genesis:${description.peers.join(',')}`
    case 'add':
      return `add:${description.peer}`
    case 'remove':
      return `remove:${description.peer}`
    case 'accusation':
      return `accusation:${description.offender}:${description.malice}`
    case 'opaque':
      return mode === 'single'
        ? `opaque:${description.payload}@${description.voters.join(',')}`
        : `opaque:${description.payload}`
    case 'checkpoint':
      return `checkpoint:${description.payload}`
  }
}

export function observationKey(observation: Observation): string {
  switch (observation.kind) {
    case 'genesis':
      return 'genesis'
    case 'add':
      return `add:${observation.peer.name}`
    case 'remove':
      return `remove:${observation.peer.name}`
    case 'accusation':
      return `accusation:${observation.offender.name}`
    case 'opaque':
      return `opaque:${payloadText(observation.payload)}`
    case 'checkpoint':
      return `checkpoint:${toHex(observation.payload)}`
  }
}

/** Payload key of a block description, without the voter (what `observationKey` gives for its vote). */
export function payloadKey(description: BlockDescription): string {
  switch (description.kind) {
    case 'genesis':
      return 'genesis'
    case 'add':
      return `add:${description.peer}`
    case 'remove':
      return `remove:${description.peer}`
    case 'accusation':
      return `accusation:${description.offender}`
    case 'opaque':
      return `opaque:${description.payload}`
    case 'checkpoint':
      return `checkpoint:${description.payload}`
  }
}

/** The agreement key of a supermajority block from its payload key (genesis names its group). */
export function blockKeyOfPayload(key: string, genesisIds: readonly PublicId[]): string {
  if (key === 'genesis') return `genesis:${genesisIds.map((id) => id.name).join(',')}`
  return key
}

/**
 * What a delivered block says was decided, to tell which of a peer's own votes are still open at an
 * epoch switch: the observation's key, in Single mode an opaque one with its voter.
 */
export function deliveredKey(
  observation: Observation,
  voters: readonly string[],
  mode: ConsensusMode,
): string {
  const key = observationKey(observation)
  return mode === 'single' && observation.kind === 'opaque' ? `${key}@${voters.join(',')}` : key
}

/** Whether `voter`'s own vote for `observation` is among `delivered` (`deliveredKey`s). */
export function voteDelivered(
  delivered: ReadonlySet<string>,
  observation: Observation,
  voter: string,
  mode: ConsensusMode,
): boolean {
  return delivered.has(deliveredKey(observation, [voter], mode))
}
