/**
 * Delivery: the simulated network. Every request and response waits in one queue until its due
 * step (a random delay in `delay`, or the adversarial scheduler's bound and choice), then is
 * handled by its recipient's engine: a request is answered at once, the response gets its own
 * delay. A message to a stopped peer is dropped; a request beyond the receiver's inbound limit is
 * refused. Engine errors are classified here: tolerated (the protocol allows them), rejected (a
 * Byzantine sender's message refused), or a violated invariant.
 */

import {
  type Fault,
  isParsecError,
  MockSecretId,
  mockId,
  Parsec,
  ParsecError,
  type Request,
  type Response,
} from '@parsec-section/parsec-core'
import { internalsOf } from '@parsec-section/parsec-core/internal'
import type { AdversarialScheduler, ScheduledMessage, SchedulerHost } from './adversarial-scheduler.js'
import type { ByzantinePeer } from './byzantine.js'
import type { ByzantineHosting } from './byzantine-hosting.js'
import type { RunContext } from './context.js'
import type { InboundLimit } from './inbound-limit.js'
import { engineFor, type SimPeer, took } from './peers.js'
import type { Workload } from './workload.js'

interface Message {
  readonly seq: number
  readonly from: SimPeer
  readonly to: SimPeer
  readonly kind: 'request' | 'response'
  readonly body: Request | Response
  /** The step it was sent at. */
  readonly sent: number
  readonly due: number
  /** A Byzantine peer's extra request (`spam`). */
  readonly spam: boolean
  /** The epoch of the engines it is between (docs/epochs.md §3: every sync message carries it). */
  readonly epoch: number
}

/** What a membership host says about gossip (`membership-host.ts`). */
export interface SyncPolicy {
  /** Whether `to` takes sync from `from` (not banned, not refused). */
  accepts(from: SimPeer, to: SimPeer): boolean
  /** `peer` was removed and drains: it serves, and its final syncs are ingested by the receivers. */
  isDraining(peer: SimPeer): boolean
  /** `to`'s engine refused `from`'s gossip as from a non-member (`from` may be removed unawares). */
  refusedBy(from: SimPeer, to: SimPeer): void
}

export class Delivery {
  private messages: Message[] = []
  private seq = 0

  constructor(
    private readonly ctx: RunContext,
    private readonly scheduler: AdversarialScheduler | undefined,
    private readonly inbound: InboundLimit,
    private readonly byzantine: ByzantineHosting,
    private readonly workload: Workload,
    private readonly sync?: SyncPolicy,
  ) {}

  send(
    from: SimPeer,
    to: SimPeer,
    kind: 'request' | 'response',
    body: Request | Response,
    spam = false,
    epoch = from.epoch,
  ): void {
    const { ctx } = this
    const delay = ctx.options.delay ?? { min: 0, max: 2 }
    const due =
      this.scheduler === undefined
        ? ctx.step + ctx.rng.range(delay.min, delay.max)
        : ctx.step + this.scheduler.bound
    this.messages.push({ seq: this.seq++, from, to, kind, body, sent: ctx.step, due, spam, epoch })
    if (kind === 'response') {
      ctx.stats.responses++
      return
    }
    ctx.stats.requests++
    ctx.stats.requestSent(from.name)
    if (spam) ctx.stats.spam.sent++
  }

  /** Handles every message due at this step (and those due meanwhile, with zero delays). */
  deliver(): void {
    const { ctx } = this
    if (this.scheduler !== undefined) {
      this.scheduler.run(this.schedulerHost())
      if (ctx.violations.aborted) return
    }
    for (;;) {
      const due = this.messages.filter((m) => m.due <= ctx.step)
      if (due.length === 0) return
      this.messages = this.messages.filter((m) => m.due > ctx.step)
      due.sort((a, b) => a.due - b.due || a.seq - b.seq)
      for (const message of due) {
        // An accomplice ignores what the scheduler did not have it handle.
        if (this.byzantine.accomplices.has(message.to.name)) continue
        this.handle(message)
        if (ctx.violations.aborted) return
      }
    }
  }

  private handle(message: Message): void {
    const { ctx } = this
    const { from, to } = message
    if (!ctx.peers.running(to)) {
      ctx.stats.dropped++
      return
    }
    if (to.byzantine !== undefined) {
      this.handleAtByzantine(message, to.byzantine)
      return
    }
    if (message.kind === 'request' && !this.admit(message)) return
    const src = mockId(from.name)
    let faults: readonly Fault[] = []
    if (this.sync !== undefined && !this.sync.accepts(from, to)) {
      ctx.stats.tolerate('sync-refused')
      this.sync.refusedBy(from, to)
      return
    }
    // The receiver's engine of the message's epoch: its current one, or its retired previous one
    // (which serves a peer still in that epoch). A later epoch's message waits for nobody: the
    // receiver switches when it decides the checkpoint itself; a dropped epoch's is not answered.
    const engine = engineFor(to, message.epoch)
    if (engine === undefined) {
      ctx.stats.tolerate(message.epoch > to.epoch ? 'epoch-ahead' : 'epoch-gone')
      return
    }
    const sender = engineFor(from, message.epoch)
    try {
      // Serve-only answers carry no sync event: removed peers stay silent, unless hosting membership
      // (a removed engine then serves until its machine's drain ends with `stop`).
      if (engine.isRemoved && this.sync === undefined) {
        throw new ParsecError('InvalidSelfState', 'removed')
      }
      if (this.sync !== undefined && sender?.isServeOnly === true) {
        // A draining leaver's final sync, or a retired epoch's answer: its events are taken, no
        // sync event is built on it (it ends with none of the sender's).
        faults = took(to, engine.ingest(src, message.body.packedEvents)).faults
      } else if (message.kind === 'request') {
        const step = took(to, engine.handleRequest(src, message.body))
        faults = step.faults
        if (step.message === undefined) ctx.stats.tolerate('no-response')
        else if (ctx.peers.running(from)) this.send(to, from, 'response', step.message, false, message.epoch)
        else ctx.stats.dropped++
      } else {
        faults = took(to, engine.handleResponse(src, message.body)).faults
      }
    } catch (error) {
      if (isParsecError(error)) this.noteFaults(message, error.faults)
      if (isParsecError(error) && from.byzantine !== undefined) {
        // A Byzantine sender's message: refusing it is the engine doing its job.
        ctx.stats.reject(error.code)
        return
      }
      if (isParsecError(error) && error.code === 'InvalidPeerState') this.sync?.refusedBy(from, to)
      if (isParsecError(error) && this.isTolerated(error.code, message, engine)) {
        ctx.stats.tolerate(error.code)
        return
      }
      ctx.violations.engineError(
        'engine-error',
        `${to.name} handling a ${message.kind} from ${from.name}`,
        error,
      )
      return
    }
    this.noteFaults(message, faults)
  }

  /** The receiver's inbound limit lets a request through, or refuses it (never an honest one). */
  private admit(message: Message): boolean {
    const { ctx } = this
    if (message.spam) ctx.stats.spam.arrived++
    if (this.inbound.admit(message.to.name, message.from.name, ctx.step)) return true
    ctx.stats.refused++
    if (message.spam) ctx.stats.spam.refused++
    if (ctx.peers.isHonest(message.from)) {
      ctx.violations.violate(
        'containment',
        `${message.to.name} refused a request from honest ${message.from.name}`,
      )
    }
    return false
  }

  /** Faults an honest peer's handle call reported: counted; malice must name a Byzantine peer. */
  private noteFaults(message: Message, faults: readonly Fault[]): void {
    const { ctx } = this
    for (const fault of faults) {
      const key = fault.kind === 'malice' ? `malice:${fault.malice.type}` : `rejected:${fault.code}`
      ctx.stats.fault(key)
      if (fault.kind !== 'malice') continue
      const offender = ctx.peers.get(fault.offender.name)
      if (offender !== undefined && offender.byzantine !== undefined) {
        this.byzantine.report(offender.name)
      } else {
        ctx.violations.violate(
          'accusation',
          `${message.to.name} found ${fault.malice.type} by honest ${fault.offender.name} in a ${message.kind} from ${message.from.name}`,
        )
      }
    }
  }

  /** A Byzantine receiver: its engine fails as it may (counted); a silent one handles nothing. */
  private handleAtByzantine(message: Message, byzantine: ByzantinePeer): void {
    const { ctx } = this
    const { from, to } = message
    if (byzantine.isSilent(ctx.step)) {
      ctx.stats.silenced++
      return
    }
    const src = mockId(from.name)
    try {
      if (to.parsec.isRemoved) throw new ParsecError('InvalidSelfState', 'removed')
      if (message.kind === 'request') {
        const response = took(to, to.parsec.handleRequest(src, message.body)).message!
        if (this.byzantine.accomplices.has(to.name)) return
        if (ctx.peers.running(from)) {
          this.send(to, from, 'response', this.byzantine.outgoing(to, from, response))
        } else ctx.stats.dropped++
      } else {
        took(to, to.parsec.handleResponse(src, message.body))
      }
    } catch (error) {
      if (!isParsecError(error)) {
        ctx.violations.engineError('engine-error', `Byzantine ${to.name} handling a ${message.kind}`, error)
        return
      }
      ctx.stats.byzantineError(error.code)
    }
  }

  /**
   * Errors the protocol allows: gossip from (or relaying events of) a peer the receiver removed;
   * a removed receiver; a joiner hearing from a peer it does not know yet (added after it), or
   * from members before it has decided its own Add (`PrematureGossip`, spec §9.2).
   */
  private isTolerated(code: string, message: Message, engine: Parsec): boolean {
    switch (code) {
      case 'InvalidPeerState':
        // The receiver removed the sender, or a relayed event's creator.
        return internalsOf(engine).peers.removedAt.some((at) => at >= 0)
      case 'InvalidSelfState':
        return message.to.leaving || this.workload.removed.includes(message.to.name)
      case 'UnknownPeer':
        // A joiner hears from a peer added after it, or a new member gossips to a peer that has
        // not decided its Add yet: the receiver does not know the sender.
        return internalsOf(engine).peers.indexOf(mockId(message.from.name)) === undefined
      case 'PrematureGossip':
        return message.to.status === 'joining'
      default:
        return false
    }
  }

  /** What the adversarial scheduler may see and do this step. */
  private schedulerHost(): SchedulerHost {
    const { ctx } = this
    const { peers } = ctx
    const voters = peers.genesisIds.map((id) => id.name)
    const scheduled = (m: Message): ScheduledMessage => ({
      seq: m.seq,
      from: m.from.name,
      to: m.to.name,
      kind: m.kind,
      body: m.body,
      sent: m.sent,
      due: m.due,
    })
    const bySeq = (seq: number) => this.messages.find((m) => m.seq === seq)
    return {
      step: ctx.step,
      voters,
      accomplices: this.byzantine.accomplices,
      engine: (name) => peers.get(name)!.parsec,
      clone: (name) =>
        Parsec.restore({
          us: new MockSecretId(name),
          genesis: peers.genesisIds,
          consensusMode: ctx.mode,
          coin: peers.coinFor(name),
          events: peers.get(name)!.parsec.packedEvents(0),
        }),
      inFlight: () => this.messages.map(scheduled),
      deliver: (message) => {
        const real = bySeq(message.seq)
        if (real === undefined) return
        this.messages = this.messages.filter((m) => m !== real)
        this.handle(real)
      },
      accompliceRequest: (from, to) => {
        const sender = peers.get(from)!
        const receiver = peers.get(to)!
        if (!peers.running(sender) || !peers.running(receiver)) return
        let request: Request
        try {
          if (sender.parsec.isRemoved) return
          request = took(sender, sender.parsec.createGossip(mockId(to))).message!
        } catch (error) {
          if (isParsecError(error)) ctx.stats.byzantineError(error.code)
          return
        }
        this.send(sender, receiver, 'request', request)
        const message = this.messages.pop()!
        this.handle(message)
      },
    }
  }
}
