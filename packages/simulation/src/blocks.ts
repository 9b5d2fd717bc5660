/**
 * The blocks the peers decide: every running peer polls its engine each step; each block is
 * recorded (with its agreement key), checked by the block invariants when the peer is honest,
 * and its membership effects applied to the simulated peers (a joiner whose Add is decided joins,
 * a peer that decides its own removal stops).
 */

import { type Block, describeBlock, toHex } from '@parsec-section/parsec-core'
import type { RunContext } from './context.js'
import type { BlockInvariants } from './invariants.js'
import { blockKey, deliveredKey } from './keys.js'
import type { SimPeer } from './peers.js'
import type { Votes } from './votes.js'
import type { Workload } from './workload.js'

export class Blocks {
  constructor(
    private readonly ctx: RunContext,
    private readonly invariants: BlockInvariants,
    private readonly votes: Votes,
    private readonly workload: Workload,
    /** Membership hosting: every block a peer records goes to its machine too. */
    private readonly onBlock?: (peer: SimPeer, block: Block, position: number) => void,
  ) {}

  pollAll(): void {
    const { peers } = this.ctx
    for (const peer of peers.all) {
      if (!peers.running(peer)) continue
      // A peer that decides its own removal still gets the rest of that block group (spec §8.6).
      // Taken one by one from the live list: an epoch switch (at a checkpoint) empties it, so the
      // old engine's blocks after the checkpoint are never delivered (docs/epochs.md §2).
      for (let block = peer.agreed.shift(); block !== undefined; block = peer.agreed.shift()) {
        this.record(peer, block)
      }
      for (let block = peer.parsec.poll(); block !== undefined; block = peer.parsec.poll()) {
        this.record(peer, block)
      }
    }
  }

  private record(peer: SimPeer, block: Block): void {
    const { ctx } = this
    // A later epoch's genesis block is not delivered: the checkpoint before it stands for it. The
    // old epoch's sequence ends at its checkpoint, at every peer (docs/epochs.md §2).
    if (peer.epochEnded || (peer.epoch > 0 && block.payload.kind === 'genesis')) return
    if (this.onBlock !== undefined && block.payload.kind === 'checkpoint') peer.epochEnded = true
    ctx.lastProgress = ctx.step
    const description = describeBlock(block)
    let key = blockKey(description, ctx.mode)
    // Membership runs: Adds and Removes differ by their related info (a Remove's round, a ticket).
    const payload = block.payload
    if (this.onBlock !== undefined && (payload.kind === 'add' || payload.kind === 'remove')) {
      if (payload.relatedInfo.length > 0) key += `#${toHex(payload.relatedInfo)}`
    }
    const position = peer.keys.length
    peer.blocks.push(description)
    peer.keys.push(key)
    if (peer.byzantine !== undefined) {
      // The invariants are about honest peers; a Byzantine one only stops once it is out.
      const out =
        (description.kind === 'accusation' && description.offender === peer.name) ||
        (description.kind === 'remove' && description.peer === peer.name)
      if (out && peer.status === 'byzantine') {
        ctx.peers.stop(peer)
        ctx.log(`Byzantine ${peer.name} decided its own removal and stops`)
      }
      return
    }
    if (description.kind === 'accusation') peer.accused.add(description.offender)
    this.invariants.check(peer, description, key, position)
    peer.keySet.add(key)
    peer.delivered.add(deliveredKey(block.payload, description.voters, ctx.mode))
    if (this.onBlock !== undefined) {
      this.onBlock(peer, block, position)
      // Its machine decides what follows: joining (self:joined), the drain, stop.
      if (description.kind === 'add' && description.peer === peer.name && peer.status === 'joining') {
        peer.status = 'active'
        this.votes.revote(peer, this.workload.openObservations(peer))
      }
      // A peer without a machine (an operator's Add) stops when it decides its own removal.
      if (description.kind === 'remove' && description.peer === peer.name && peer.heard === undefined) {
        ctx.peers.stop(peer)
      }
      return
    }
    // membership effects on the simulated peers
    if (description.kind === 'add' && description.peer === peer.name && peer.status === 'joining') {
      peer.status = 'active'
      ctx.log(`${peer.name} joined (block #${position})`)
      this.votes.revote(peer, this.workload.openObservations(peer))
    }
    if (description.kind === 'remove' && description.peer === peer.name) {
      ctx.peers.stop(peer)
      ctx.log(`${peer.name} decided its own removal and stops`)
    }
  }
}
