/**
 * A founder killed as it delivers a checkpoint, and restarted from what it had persisted
 * (docs/epochs.md §5: "a peer killed mid-switch finds either the old epoch only or both"):
 *
 * - `before`: killed before the switch was stored. Its store holds the old epoch's events and its
 *   blocks up to the checkpoint; on restart it rebuilds the old engine, sees that its last block is
 *   the checkpoint and switches again. That is safe because nothing of the new epoch was stored,
 *   so nothing of it was sent (p2p-section persists before it sends).
 * - `after`: killed once its new engine had made its first events. It must restore that engine
 *   from them: building it afresh would sign a second Initial event, a fork of its own.
 *
 * The machine is rebuilt from the delivered blocks (`Membership.resume`), as p2p-section does.
 */

import {
  type Block,
  encodeObservation,
  type MockSecretId,
  type Observation,
  type PackedEvent,
  Parsec,
  type PublicId,
  toHex,
} from '@parsec-section/parsec-core'
import type { RunContext } from './context.js'
import { type EpochStart, enter } from './epoch-switch.js'
import type { SimPeer } from './peers.js'

/** What a killed peer's store held. */
export interface Persisted {
  readonly moment: 'before' | 'after'
  readonly epoch: EpochStart
  readonly events: readonly PackedEvent[]
  readonly blocks: readonly Block[]
  readonly elections: readonly (number | undefined)[]
}

/** The store of `sim` now: its current engine's events and epoch, its delivered blocks. */
export function persist(
  sim: SimPeer,
  moment: Persisted['moment'],
  blocks: readonly Block[],
  elections: readonly (number | undefined)[],
): Persisted {
  return {
    moment,
    epoch: {
      epoch: sim.epoch,
      genesis: sim.epochGenesis,
      relatedInfo: sim.epochRelatedInfo,
      start: sim.epoch === 0 ? 0 : sim.positionOffset + 1,
    },
    events: sim.parsec.packedEvents(0),
    blocks: [...blocks],
    elections: [...elections],
  }
}

/**
 * Rebuilds `sim`'s engine from `stored` (its epoch's events) and checks the blocks it re-derives
 * against those it had delivered; the ones after (agreed before the kill, not yet delivered) are
 * handed over as new. Returns false (with a violation) when the store does not match.
 */
export function restoreEngine(
  ctx: RunContext,
  sim: SimPeer,
  secret: MockSecretId,
  stored: Persisted,
): boolean {
  const { epoch } = stored
  const parsec = Parsec.restore({
    us: secret,
    genesis: epoch.genesis,
    consensusMode: ctx.mode,
    coin: ctx.peers.coinFor(sim.name),
    ...(epoch.epoch === 0 ? {} : { relatedInfo: epoch.relatedInfo }),
    events: stored.events,
  })
  enter(sim, parsec, epoch)
  sim.previous = undefined
  sim.epochVotes = ownPayloadVotes(stored.events, sim.name)
  let position = epoch.start
  for (let block = parsec.poll(); block !== undefined; block = parsec.poll()) {
    if (epoch.epoch > 0 && block.payload.kind === 'genesis') continue
    if (position < sim.keys.length) {
      const delivered = stored.blocks[position]
      if (
        delivered === undefined ||
        toHex(encodeObservation(block.payload)) !== toHex(encodeObservation(delivered.payload))
      ) {
        ctx.violations.violate('restart', `${sim.name} re-derived a different block at ${position}`)
        return false
      }
    } else sim.agreed.push(block)
    position++
  }
  return true
}

/** The workload's payloads we voted in these events, in order (the machine re-casts its own). */
function ownPayloadVotes(events: readonly PackedEvent[], name: string): Observation[] {
  const votes: Observation[] = []
  for (const event of events) {
    if (event.creator.name !== name || event.cause.kind !== 'observation') continue
    if (event.cause.vote.payload.kind === 'opaque') votes.push(event.cause.vote.payload)
  }
  return votes
}

/** The genesis of epoch 0 in this run (the founders), for a peer's first epoch. */
export function firstEpoch(genesis: readonly PublicId[]): EpochStart {
  return { epoch: 0, genesis, relatedInfo: new Uint8Array(), start: 0 }
}
