/**
 * The epoch switch at one simulated peer (docs/epochs.md §2). When a peer delivers the checkpoint
 * that ends its epoch (at position Q), its engine is retired (serve-only: it answers peers still in
 * that epoch) and a new engine starts from the voters after Q, with the checkpoint as its genesis
 * related info. Positions continue: the new engine's genesis block is not delivered and its block
 * i ≥ 1 is delivered at Q + i. Whatever the old engine decided after Q is never delivered: the
 * workload's payloads this peer voted and did not see delivered are voted again in the new engine,
 * in their order (the membership machine re-casts its own votes). A joiner that starts in a later
 * epoch builds its observer engine there (`observe`).
 */

import type { EpochStart } from '@parsec-section/membership'
import { type MockSecretId, type Parsec, Parsec as ParsecClass, sortIds } from '@parsec-section/parsec-core'
import type { RunContext } from './context.js'
import { voteDelivered } from './keys.js'
import { type SimPeer, took } from './peers.js'

/** Election indices of epoch e start at e × this (an epoch decides far fewer). */
const ELECTIONS_PER_EPOCH = 1_000_000_000

/** What the membership machine says about the next epoch (its `newEpoch` directive). */
export type { EpochStart } from '@parsec-section/membership'

/** Switches `peer` (a voter that just delivered the checkpoint at `next.start - 1`) to `next`. */
export function switchEpoch(ctx: RunContext, peer: SimPeer, secret: MockSecretId, next: EpochStart): void {
  if (peer.keys.length !== next.start || next.epoch !== peer.epoch + 1) {
    ctx.violations.violate(
      'epoch',
      `${peer.name} switches to epoch ${next.epoch} at ${next.start}, it is in ${peer.epoch} with ${peer.keys.length} blocks`,
    )
    return
  }
  const old = peer.parsec
  old.retire()
  peer.eventsBefore += old.graphSize
  peer.previous = { parsec: old, epoch: peer.epoch, since: ctx.step }
  // The old engine's blocks after the checkpoint: never delivered (re-cast below instead).
  peer.agreed.length = 0
  const open = peer.epochVotes.filter((o) => !voteDelivered(peer.delivered, o, peer.name, ctx.mode))
  const parsec = ParsecClass.fromGenesis({
    us: secret,
    genesis: next.genesis,
    consensusMode: ctx.mode,
    coin: ctx.peers.coinFor(peer.name),
    relatedInfo: next.relatedInfo,
  })
  enter(peer, parsec, next)
  for (const observation of open) {
    try {
      took(peer, parsec.voteFor(observation))
      peer.epochVotes.push(observation)
    } catch (error) {
      ctx.violations.engineError('vote', `${peer.name} re-casting at epoch ${next.epoch}`, error)
      return
    }
  }
  ctx.stats.epochSwitches++
  ctx.stats.recast += open.length
  ctx.log(`${peer.name} enters epoch ${next.epoch} at block ${next.start} (${open.length} re-cast)`)
}

/**
 * A joiner's observer engine in epoch `next` (it replays only that epoch's events): its blocks
 * before `next.start` are the agreed ones it did not deliver (`firstDelivered` says where its own
 * delivery starts), copied from a member that holds them, so positions and the duplicate checks
 * stay global.
 */
export function observe(peer: SimPeer, parsec: Parsec, next: EpochStart, member: SimPeer): void {
  peer.previous = undefined
  peer.keys.length = 0
  peer.keySet.clear()
  peer.blocks.length = 0
  peer.delivered.clear()
  for (let i = 0; i < next.start; i++) {
    peer.keys.push(member.keys[i])
    peer.keySet.add(member.keys[i])
    peer.blocks.push(member.blocks[i])
  }
  peer.firstDelivered = next.start
  enter(peer, parsec, next)
}

/** `peer` runs `parsec`, the engine of epoch `next`, from now on. */
export function enter(peer: SimPeer, parsec: Parsec, next: EpochStart): void {
  peer.parsec = parsec
  peer.epoch = next.epoch
  peer.positionOffset = next.epoch === 0 ? 0 : next.start - 1
  peer.electionBase = next.epoch * ELECTIONS_PER_EPOCH
  peer.epochGenesis = sortIds(next.genesis)
  peer.epochVoters = peer.epochGenesis.map((id) => id.name)
  peer.epochRelatedInfo = next.relatedInfo
  peer.epochVotes = []
  peer.epochEnded = false
  peer.agreed.length = 0
  peer.decisions.length = 0
  for (const position of [...peer.electionAt.keys()])
    if (position >= next.start) peer.electionAt.delete(position)
}
