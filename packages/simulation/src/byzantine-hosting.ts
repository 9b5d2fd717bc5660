/**
 * Hosting the Byzantine peers (`byzantine.ts`): which genesis members they are and their plans,
 * what the simulation offers each one every step, the record of their misbehaviour, the malice
 * honest peers reported, and the agreed accusations that remove their offenders.
 */

import {
  fromHex,
  MockSecretId,
  type PackedEvent,
  Parsec,
  type Request,
  type Response,
} from '@parsec-section/parsec-core'
import { type ByzantineHost, ByzantinePeer } from './byzantine.js'
import type { RunContext } from './context.js'
import { type Misbehaviour, MisbehaviourLog } from './misbehaviour.js'
import type { ByzantineSpec } from './options.js'
import type { SimPeer } from './peers.js'

/** How long a spamming Byzantine peer floods (long enough to show, short enough to keep runs fast). */
const SPAM_STEPS = 40

/** Queues a request from one peer to another (`spam` marks a Byzantine peer's extra ones). */
export type SendRequest = (from: SimPeer, to: SimPeer, request: Request, spam: boolean) => void

export class ByzantineHosting {
  readonly misbehaviour = new MisbehaviourLog()
  /** Byzantine peers the adversarial scheduler drives. */
  readonly accomplices = new Set<string>()
  /** Peers an honest peer reported malice of: the run waits until their accusation is agreed. */
  private readonly reported = new Set<string>()
  /** Offenders whose agreed accusation every honest peer holds (removed from the section). */
  private readonly accusationsDone = new Set<string>()

  constructor(
    private readonly ctx: RunContext,
    private readonly sendRequest: SendRequest,
  ) {}

  /**
   * Turns genesis members into Byzantine peers (named, or drawn among the rest); with an
   * adversarial scheduler, those without any behaviour become its accomplices.
   */
  makeByzantine(specs: readonly ByzantineSpec[], scheduled: boolean): void {
    if (specs.length === 0) return
    const { peers, rng } = this.ctx
    const named = new Set(specs.flatMap((spec) => (spec.peer === undefined ? [] : [spec.peer])))
    const free = peers.all.filter((p) => !named.has(p.name))
    for (const spec of specs) {
      let peer: SimPeer | undefined
      if (spec.peer !== undefined) {
        peer = peers.get(spec.peer)
        if (peer === undefined || !peers.members.has(peer) || peer.byzantine !== undefined) {
          throw new RangeError(`Byzantine peer ${spec.peer} is not a genesis member (or named twice)`)
        }
      } else {
        if (free.length === 0) throw new RangeError('more Byzantine peers than genesis members')
        peer = free.splice(rng.below(free.length), 1)[0]
      }
      const own = rng.fork()
      const spamFrom = own.range(0, 10)
      const plan = {
        forkAt: own.range(3, 25),
        duplicateVoteAt: own.range(3, 25),
        invalidAccusationAt: own.range(3, 25),
        silentFrom: own.range(0, 20),
        // More than ten times an honest peer's rate (`probGossip` requests per step).
        spamPerStep: Math.ceil(10 * (this.ctx.options.probGossip ?? 0.25)) + 1,
        spamFrom,
        spamUntil: spamFrom + SPAM_STEPS,
      }
      peer.byzantine = new ByzantinePeer(
        peer.name,
        new MockSecretId(peer.name),
        new Set(spec.behaviours),
        peers.genesisIds,
        plan,
        own,
      )
      peer.status = 'byzantine'
      if (scheduled && spec.behaviours.length === 0) this.accomplices.add(peer.name)
    }
  }

  /** What the simulation offers Byzantine `peer` this step. */
  host(peer: SimPeer): ByzantineHost {
    const { ctx } = this
    const { peers } = ctx
    return {
      step: ctx.step,
      now: ctx.clock.now,
      get engine() {
        return peer.parsec
      },
      restore: (events) => this.restore(peer, events),
      honestTargets: () =>
        peers.all.filter((p) => p !== peer && peers.running(p) && peers.isHonest(p)).map((p) => p.name),
      sendRequest: (to, request, spam) => {
        const target = peers.get(to)
        if (target !== undefined) this.sendRequest(peer, target, request, spam)
      },
      record: (entry) => this.misbehaviour.add({ ...entry, step: ctx.step, peer: peer.name }),
      engineError: (code) => ctx.stats.byzantineError(code),
    }
  }

  /**
   * Replaces `peer`'s engine by one restored from `events` (trusted); the new engine delivers
   * again every block from the first, so the ones `peer` already polled are skipped.
   */
  private restore(peer: SimPeer, events: readonly PackedEvent[]): Parsec {
    const { ctx } = this
    const parsec = Parsec.restore({
      us: new MockSecretId(peer.name),
      genesis: ctx.peers.genesisIds,
      consensusMode: ctx.mode,
      coin: ctx.peers.coinFor(peer.name),
      events,
    })
    let skipped = 0
    while (skipped < peer.blocks.length && parsec.poll() !== undefined) skipped++
    peer.parsec = parsec
    return parsec
  }

  /** Every running Byzantine peer's own actions of this step. */
  act(): void {
    for (const peer of this.ctx.peers.all) {
      if (peer.status === 'byzantine') peer.byzantine?.act(this.host(peer))
    }
  }

  /** What a message really carries: a Byzantine sender's behaviour layer may rewrite it. */
  outgoing(from: SimPeer, to: SimPeer, message: Request | Response): Request | Response {
    if (from.byzantine === undefined) return message
    return { packedEvents: from.byzantine.tamper(message.packedEvents, to.name, this.host(from)) }
  }

  /** An honest peer reported malice of Byzantine `name`. */
  report(name: string): void {
    this.reported.add(name)
  }

  /** Peers an honest peer reported malice of whose accusation is not yet agreed by every honest peer. */
  awaitedAccusations(): string[] {
    return [...this.reported].filter((name) => !this.accusationsDone.has(name))
  }

  /** Offenders of the accusations every honest peer agreed on leave the section (like a Remove). */
  applyAgreedAccusations(): void {
    const { peers } = this.ctx
    const honest = peers.honest()
    if (honest.length === 0) return
    for (const offender of honest[0].accused) {
      if (this.accusationsDone.has(offender) || !honest.every((p) => p.accused.has(offender))) continue
      this.accusationsDone.add(offender)
      const peer = peers.get(offender)
      if (peer === undefined) continue
      peers.members.delete(peer)
      if (peers.running(peer)) peers.stop(peer)
      this.ctx.log(`${offender} is accused everywhere and leaves the section`)
    }
  }

  /** `entry` with the honest peers its evidence reached, if it is provable. */
  withReach(entry: Misbehaviour, honest: readonly SimPeer[]): Misbehaviour {
    if (entry.malice === undefined || entry.events.length === 0) return entry
    const hashes = entry.events.map((hex) => fromHex(hex))
    const reached = honest
      .filter((peer) => {
        const graph = peer.parsec.inspect().graph
        return hashes.every((hash) => graph.indexOf(hash) !== undefined)
      })
      .map((peer) => peer.name)
    return { ...entry, reached }
  }
}
