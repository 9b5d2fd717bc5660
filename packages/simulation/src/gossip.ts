/**
 * Who gossips to whom: every step, each running peer that may send gossips, with probability
 * `probGossip`, to a random running peer among its engine's `gossipRecipients()`.
 */

import { isParsecError, mockId, type Request } from '@parsec-section/parsec-core'
import type { ByzantineHosting } from './byzantine-hosting.js'
import type { RunContext } from './context.js'
import type { Delivery } from './delivery.js'
import { type SimPeer, took } from './peers.js'

export class Gossip {
  private readonly probGossip: number

  constructor(
    private readonly ctx: RunContext,
    private readonly delivery: Delivery,
    private readonly byzantine: ByzantineHosting,
    /** Membership hosting: a removed peer that drains still pushes its final syncs. */
    private readonly isDraining: (peer: SimPeer) => boolean = () => false,
  ) {
    this.probGossip = ctx.options.probGossip ?? 0.25
  }

  /** This step's gossip: each request queued for delivery. */
  run(): void {
    const { ctx } = this
    const { peers, rng } = ctx
    for (const peer of peers.all) {
      if (!peers.running(peer) || !rng.chance(this.probGossip)) continue
      if (peer.parsec.isRemoved && !this.isDraining(peer)) continue
      if (peer.byzantine?.isSilent(ctx.step) || this.byzantine.accomplices.has(peer.name)) continue
      const recipients = peer.parsec.gossipRecipients().filter((id) => {
        const other = peers.get(id.name)
        return other !== undefined && peers.running(other)
      })
      if (recipients.length === 0) continue
      const target = peers.get(rng.pick(recipients).name)!
      let request: Request
      try {
        const message = took(peer, peer.parsec.createGossip(mockId(target.name))).message
        if (message === undefined) continue // a drain's final sync to a peer that lacks nothing
        request = message
      } catch (error) {
        if (isParsecError(error) && peer.byzantine !== undefined) {
          ctx.stats.byzantineError(error.code)
          continue
        }
        ctx.violations.engineError('gossip', `${peer.name} gossiping to recipient ${target.name}`, error)
        return
      }
      this.delivery.send(peer, target, 'request', this.byzantine.outgoing(peer, target, request))
    }
  }
}
