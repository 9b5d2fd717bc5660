/**
 * Crash failures (crash-stop: a crashed peer stops handling anything). A failure names its peer,
 * or takes a random live member when it is due, and only if the section stays safe; otherwise it
 * waits for a later step.
 */

import { supermajority } from '@parsec-section/parsec-core'
import type { RunContext } from './context.js'
import type { FailureSpec } from './options.js'
import type { SimPeer } from './peers.js'
import type { Votes } from './votes.js'
import type { Workload } from './workload.js'

interface ResolvedFailure {
  readonly step: number
  readonly peer: string | undefined
}

export class Failures {
  /** The crashed peers, in order. */
  readonly crashed: string[] = []
  private waiting: ResolvedFailure[] = []

  /** Draws the steps of the failures given as ranges (in order, from the run's random source). */
  constructor(
    private readonly ctx: RunContext,
    specs: readonly FailureSpec[],
    private readonly workload: Workload,
    private readonly votes: Votes,
  ) {
    for (const failure of specs) {
      const step = typeof failure.at === 'number' ? failure.at : ctx.rng.range(failure.at.min, failure.at.max)
      this.waiting.push({ step, peer: failure.peer })
    }
  }

  /** Failures not yet applied. */
  get pending(): number {
    return this.waiting.length
  }

  /** Crashes the peers whose failure is due. */
  apply(): void {
    const { ctx } = this
    if (this.waiting.length === 0) return
    const due = this.waiting.filter((f) => f.step <= ctx.step)
    if (due.length === 0) return
    const waiting: ResolvedFailure[] = this.waiting.filter((f) => f.step > ctx.step)
    for (const failure of due) {
      if (failure.peer !== undefined) {
        const peer = ctx.peers.get(failure.peer)
        if (peer !== undefined && ctx.peers.running(peer)) this.crash(peer)
        continue
      }
      const candidates = ctx.peers.liveMembers()
      if (candidates.length === 0 || !this.crashIsSafe()) {
        waiting.push(failure)
        continue
      }
      this.crash(ctx.rng.pick(candidates))
    }
    this.waiting = waiting
  }

  /** One more crash keeps more than two thirds of every possible voter set live. */
  private crashIsSafe(): boolean {
    const { peers } = this.ctx
    const joining = this.workload.transitions.filter((t) => t.kind === 'add').length
    const biggest = peers.members.size + joining
    const live = peers.liveMembers().length
    return supermajority(biggest, live - 1)
  }

  private crash(peer: SimPeer): void {
    peer.status = 'crashed'
    this.votes.handOver(peer)
    peer.votes = []
    this.crashed.push(peer.name)
    this.ctx.log(`${peer.name} crashed`)
  }
}
