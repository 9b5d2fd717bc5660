/**
 * A deterministic, seeded simulation of a PARSEC section (spec §13.1 in spirit): N in-process
 * peers, a step scheduler with message delays, gossip probability, votes spread over time,
 * crash-faulty peers, peers added (joiners built with `fromExisting`) and removed.
 *
 * Pure: no wall clock, no timers, no I/O, no global randomness. Everything random is drawn from
 * one `Rng` seeded by `options.seed`, so a seed reproduces a run exactly. Time is simulated
 * (`clock.ts`): one step is `stepMs` milliseconds (default 10), read as `now`.
 *
 * A step:
 *  1. crash the peers whose failure is due;
 *  2. schedule new observations (opaque payloads, adds, removes) with their per-voter vote steps;
 *  3. every running peer casts its due votes (joiners keep theirs until they can vote);
 *  4. every running peer that may send gossips, with probability `probGossip`, to a random running
 *     peer among its `gossipRecipients()`;
 *  5. every message due at this step is handled (a request is answered at once; the response gets
 *     its own delay, so with zero delays a whole sync completes within the step);
 *  6. every running peer polls its blocks, and the invariants are checked on what is new.
 *
 * One concern per file: `workload.ts` (step 2), `votes.ts` (3), `byzantine-hosting.ts` (the
 * Byzantine peers' own actions), `gossip.ts` (4), `delivery.ts` (5), `blocks.ts` and
 * `invariants.ts` (6), `failures.ts` (1), `termination.ts` (when the run ends), `statistics.ts`
 * and `result.ts` (what it reports); `context.ts` holds what they share, `peers.ts` the peers.
 *
 * Invariants (their names appear in violations): `agreement`, `validity`, `no-duplicates` after
 * every step; `termination` (the step bound, or `stallSteps` without any progress) and
 * `membership` at the end; `gossip`, `vote`, `engine-error` when an engine call fails in a way the
 * protocol does not allow; `schedule` when the run's settings cannot be met (e.g. an add that would
 * leave too few live voters, with nothing left that could change it).
 *
 * Byzantine peers (`byzantine`, see `byzantine.ts`) are members that run a real engine under a
 * behaviour layer. They are never honest: the invariants above hold among the honest peers only,
 * and the checks add `accusation` (an agreed accusation, or a malice fault reported by an honest
 * peer, names a peer that did not provably misbehave: honest peers are never accused, so never
 * removed) and `containment` (the transport refused an honest request, see `inbound-limit.ts`).
 * Engine errors at honest peers caused by a Byzantine sender's message are expected: counted in
 * `stats.rejected` by code. An agreed accusation removes its offender from the section; the run
 * waits for an agreed accusation of every peer an honest peer reported malice of.
 *
 * Engine errors the protocol allows are counted in `stats.toleratedErrors` instead: gossip from a
 * peer the receiver removed or relaying that peer's later events (`InvalidPeerState`), a removed
 * receiver (`InvalidSelfState`), and a sender the receiver does not know yet (`UnknownPeer`: a
 * joiner hearing from a peer added after it, or a new member gossiping to a peer that has not yet
 * decided its Add).
 */

import { MockSecretId, mockId, Parsec } from '@parsec-section/parsec-core'
import { AdversarialScheduler } from './adversarial-scheduler.js'
import { Blocks } from './blocks.js'
import { ByzantineHosting } from './byzantine-hosting.js'
import { RunContext } from './context.js'
import { Delivery } from './delivery.js'
import { Failures } from './failures.js'
import { Gossip } from './gossip.js'
import { InboundLimit } from './inbound-limit.js'
import { BlockInvariants } from './invariants.js'
import { MembershipHosting } from './membership-host.js'
import { peerName } from './names.js'
import type { SimulationOptions } from './options.js'
import { buildResult, type SimulationResult } from './result.js'
import { Termination } from './termination.js'
import { Votes } from './votes.js'
import { Workload } from './workload.js'

/** Default bound on a message's delay under the adversarial scheduler, in steps. */
const SCHEDULER_BOUND = 40

/** One run: the parts of the simulation (one concern each), composed and stepped. */
class Simulation {
  private readonly ctx: RunContext
  private readonly votes: Votes
  private readonly workload: Workload
  private readonly scheduler: AdversarialScheduler | undefined
  private readonly byzantine: ByzantineHosting
  private readonly failures: Failures
  private readonly delivery: Delivery
  private readonly gossip: Gossip
  private readonly invariants: BlockInvariants
  private readonly blocks: Blocks
  private readonly termination: Termination
  private readonly membership: MembershipHosting | undefined

  constructor(options: SimulationOptions) {
    const ctx = new RunContext(options)
    this.ctx = ctx
    const genesisSize = options.genesisSize ?? 4
    if (!Number.isInteger(genesisSize) || genesisSize < 1) {
      throw new RangeError('genesisSize must be ≥ 1')
    }
    const { peers } = ctx
    for (let i = 0; i < genesisSize; i++) peers.genesisIds.push(mockId(peerName(i)))
    for (const id of peers.genesisIds) {
      const parsec = Parsec.fromGenesis({
        us: new MockSecretId(id),
        genesis: peers.genesisIds,
        consensusMode: ctx.mode,
        coin: peers.coinFor(id.name),
      })
      peers.members.add(peers.add(id.name, parsec, 'active'))
    }
    this.votes = new Votes(ctx)
    this.votes.cast.set('genesis', new Set(peers.all.map((p) => p.name)))
    this.workload = new Workload(ctx, this.votes)
    const scheduler = options.adversarialScheduler
    if (scheduler !== undefined && scheduler !== false) {
      this.scheduler = new AdversarialScheduler(scheduler === true ? { bound: SCHEDULER_BOUND } : scheduler)
    }
    // The bucket's burst covers how far apart in delay two honest requests can be (inbound-limit.ts).
    const delay = options.delay ?? { min: 0, max: 2 }
    const spread = this.scheduler === undefined ? delay.max - delay.min : this.scheduler.bound
    const inbound = new InboundLimit(spread + 1)
    // Random draws happen in this order (a seed reproduces a run): Byzantine peers, then failures.
    this.byzantine = new ByzantineHosting(ctx, (from, to, request, spam) =>
      this.delivery.send(from, to, 'request', request, spam),
    )
    this.byzantine.makeByzantine(options.byzantine ?? [], this.scheduler !== undefined)
    this.failures = new Failures(ctx, options.failures ?? [], this.workload, this.votes)
    // Membership hosting draws after the failures (a run without it draws exactly as before).
    const membership =
      options.membership === undefined ? undefined : new MembershipHosting(ctx, this.votes, this.workload)
    this.membership = membership
    this.delivery = new Delivery(ctx, this.scheduler, inbound, this.byzantine, this.workload, membership)
    this.gossip = new Gossip(
      ctx,
      this.delivery,
      this.byzantine,
      (peer) => membership?.isDraining(peer) === true,
    )
    this.invariants = new BlockInvariants(ctx, this.votes.cast, this.byzantine.misbehaviour)
    this.blocks = new Blocks(
      ctx,
      this.invariants,
      this.votes,
      this.workload,
      membership === undefined
        ? undefined
        : (peer, block, position) => membership.onBlock(peer, block, position),
    )
    this.termination = new Termination(
      ctx,
      this.workload,
      this.votes,
      this.failures,
      this.byzantine,
      membership,
    )
  }

  /** What the running peers' engines hold now (`SimulationOptions.onStep`). */
  private engineView(): { step: number; eventsCreated: number; eventsHeld: number } {
    const { peers } = this.ctx
    let eventsCreated = 0
    let eventsHeld = 0
    for (const peer of peers.all) {
      if (!peers.running(peer)) continue
      eventsCreated = Math.max(eventsCreated, peer.eventsBefore + peer.parsec.graphSize)
      eventsHeld += peer.parsec.graphSize + (peer.previous?.parsec.graphSize ?? 0)
    }
    return { step: this.ctx.step, eventsCreated, eventsHeld }
  }

  run(): SimulationResult {
    const { ctx, termination } = this
    const { clock, violations } = ctx
    let finished = false
    for (clock.step = 0; clock.step < termination.maxSteps; clock.step++) {
      this.failures.apply()
      this.membership?.begin()
      this.workload.schedule()
      this.votes.castDue()
      this.byzantine.act()
      this.gossip.run()
      this.delivery.deliver()
      this.blocks.pollAll()
      this.membership?.end()
      if (ctx.options.onStep?.(this.engineView()) === true) break
      if (violations.aborted || violations.any) break
      this.workload.updateTransitions()
      this.byzantine.applyAgreedAccusations()
      if (termination.isDone()) {
        finished = true
        clock.step++
        break
      }
      const stuck = termination.unschedulable()
      if (stuck !== undefined) {
        violations.violate('schedule', `${stuck} (the scenario's settings cannot be met)`)
        break
      }
      if (termination.stalled()) {
        violations.violate(
          'termination',
          `no progress for ${termination.stallSteps} steps: ${termination.missingSummary()}`,
        )
        break
      }
    }
    if (!finished && !violations.any) {
      violations.violate(
        'termination',
        `no termination after ${clock.step} steps: ${termination.missingSummary()}`,
      )
    }
    if (finished) {
      if (this.membership !== undefined) {
        // The members at the end are the agreed ones (the runs' own set tracks only scheduled changes).
        const names = new Set(this.membership.referenceMembers().map((id) => id.name))
        ctx.peers.members.clear()
        for (const peer of ctx.peers.all) if (names.has(peer.name)) ctx.peers.members.add(peer)
      }
      this.invariants.checkMembership()
    }
    this.invariants.checkForgedEvents()
    ctx.options.atEnd?.(new Map(ctx.peers.all.map((peer) => [peer.name, peer.parsec])))
    return buildResult({
      ctx,
      workload: this.workload,
      votes: this.votes,
      failures: this.failures,
      invariants: this.invariants,
      byzantine: this.byzantine,
      adversary: this.scheduler?.stats,
      membership: this.membership?.report(),
    })
  }
}

/** Runs one simulation to its end (termination, a violated invariant, or the step bound). */
export function simulate(options: SimulationOptions): SimulationResult {
  return new Simulation(options).run()
}
