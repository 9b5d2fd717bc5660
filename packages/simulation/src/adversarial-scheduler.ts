/**
 * The adversarial scheduler: it decides when each message is delivered (never later than `bound`
 * steps after it was sent, so every message is eventually delivered) and drives its accomplices,
 * Byzantine peers that send and handle messages only when it says. It knows the peers' state and
 * believes the coin is the parity coin.
 *
 * Watching: it delivers messages after one step, oldest first, until every peer has meta-votes in
 * the current election; then it looks for a voter-under-vote whose binary agreement it can keep
 * split (`split-planner.ts`). Meanwhile, once the first peers have their first estimates, it
 * shapes the others': it tries each delivery to a peer still without any on a copy of that peer's
 * engine and holds it if the estimates it would start with leave no voter two against two (for
 * at most `SHAPING_PATIENCE` steps), and it keeps the peers with estimates from seeing more of each
 * other meanwhile (the less they have seen of each other's first estimates, the easier the split).
 *
 * Attacking: each step it realises the plan's deliveries with what is at hand — a fresh message
 * (sent since its sender last changed) from one peer to another, or an accomplice's request —
 * holds everything else, and replans whenever the engines are not where the plan expected them (a
 * forced delivery at the bound, or a coin it did not predict). The attack ends when the election
 * decides (the coin beat it) or no plan is found; then it watches again. Held messages that can
 * no longer tell their receiver anything new are delivered at once.
 *
 * With the parity coin the plan never fails, so the election never decides. With the concrete coin
 * (spec §16) the coin at step 2 is not what the plan assumed about half the time, the split
 * collapses and the election decides a round or two later.
 */
import { mockId, type Parsec, type Request, type Response } from '@parsec-section/parsec-core'
import { FALSE, type GraphEvent, type MetaVote, TRUE } from '@parsec-section/parsec-core/internal'
import { commonStage, type Delivery, planStage, type StagePlan } from './split-planner.js'
import { lastEventIndex, mirrorVotes } from './vote-mirror.js'
import type { VoteModel } from './vote-model.js'

export interface ScheduledMessage {
  readonly seq: number
  readonly from: string
  readonly to: string
  readonly kind: 'request' | 'response'
  readonly body: Request | Response
  readonly sent: number
  /** The step by which it must be delivered. */
  readonly due: number
}

/** What the simulation lets the scheduler see and do. */
export interface SchedulerHost {
  readonly step: number
  /** The voters the adversary models (the founding members), in model order. */
  readonly voters: readonly string[]
  /** Byzantine peers the scheduler drives. */
  readonly accomplices: ReadonlySet<string>
  engine(name: string): Parsec
  /** A throwaway copy of `name`'s engine (to try a delivery on). */
  clone(name: string): Parsec
  /** Messages sent and not yet delivered, oldest first. */
  inFlight(): readonly ScheduledMessage[]
  /** Delivers `message` now (an accomplice receiver's engine handles it; it sends no response). */
  deliver(message: ScheduledMessage): void
  /** Accomplice `from` sends a fresh request to `to`, delivered at once. */
  accompliceRequest(from: string, to: string): void
}

export interface Attack {
  /** The election attacked: how many decisions came before it. */
  readonly election: number
  readonly voter: string
  readonly startStep: number
  readonly startStage: number
  /** The common stage reached so far (3·round + step). */
  stage: number
  endStep: number
  outcome: 'running' | 'decided' | 'no-plan'
}

export interface AdversaryStats {
  readonly attacks: Attack[]
  /** Planned deliveries made. */
  planned: number
  /** Times the engines were not where the plan expected (forced deliveries, unpredicted coins). */
  replans: number
  /** The longest a message was held, in steps. */
  longestHold: number
}

export interface AdversarialSchedulerOptions {
  /** Longest delay of a message, in steps. */
  readonly bound: number
  /** Model updates a plan search may make per roles tried. */
  readonly budget?: number
}

/** Planned deliveries made in one step, at most (a safety net: plans are short). */
const MAX_DELIVERIES_PER_STEP = 64
/** Steps the scheduler may hold messages to shape the first estimates of an election before it gives up. */
const SHAPING_PATIENCE = 10

interface Realisation {
  readonly expected: VoteModel
  execute(): void
}

export class AdversarialScheduler {
  readonly bound: number
  private readonly budget: number
  readonly stats: AdversaryStats = { attacks: [], planned: 0, replans: 0, longestHold: 0 }
  private attack: Attack | undefined
  private plan: StagePlan | null = null
  /** The model state the next planned delivery starts from (its key at the plan's stage). */
  private expectedKey = ''
  /** Elections (by decided count) already examined for an attack. */
  private examined = -1
  /** The election being shaped (by decided count) and the step its shaping started at. */
  private shaping = { election: -1, since: 0 }
  /** Message seq → index of its last event in its sender's chain (messages never change). */
  private readonly lastIndex = new Map<number, number | undefined>()
  /** `${seq}:${receiver's graph size}` → whether delivering keeps a split possible. */
  private readonly tried = new Map<string, boolean>()

  constructor(options: AdversarialSchedulerOptions) {
    if (!Number.isInteger(options.bound) || options.bound < 1) throw new RangeError('bound must be ≥ 1')
    this.bound = options.bound
    this.budget = options.budget ?? 5000
  }

  /** This step's deliveries, those at their bound included. */
  run(host: SchedulerHost): void {
    const deliver = host.deliver
    host = {
      ...host,
      deliver: (message) => {
        this.stats.longestHold = Math.max(this.stats.longestHold, host.step - message.sent)
        deliver(message)
      },
    }
    if (this.attack === undefined && !this.startAttack(host)) this.watch(host)
    if (this.attack !== undefined) this.pursue(host)
    this.deliverDue(host)
    this.forgetDelivered(host)
  }

  /** Drops what the memos know about messages no longer in flight. */
  private forgetDelivered(host: SchedulerHost): void {
    const inFlight = host.inFlight()
    if (this.lastIndex.size <= 2 * inFlight.length + 64) return
    const live = new Set(inFlight.map((m) => m.seq))
    for (const seq of this.lastIndex.keys()) if (!live.has(seq)) this.lastIndex.delete(seq)
    this.tried.clear()
  }

  /**
   * Messages at their bound must be delivered now; while watching, those that keep a split
   * possible go first (and an attack may start between two of them).
   */
  private deliverDue(host: SchedulerHost): void {
    const due = host.inFlight().filter((m) => m.due <= host.step && !host.accomplices.has(m.to))
    const first =
      this.attack === undefined && this.isShaping(host)
        ? due.filter((m) => this.keepsSplitPossible(host, m))
        : due
    for (const message of [...first, ...due.filter((m) => !first.includes(m))]) {
      host.deliver(message)
      if (this.attack === undefined) this.startAttack(host)
    }
  }

  // ------------------------------------------------------------------ watching

  /**
   * Whether the first estimates of the current election are being shaped: some peers have theirs,
   * others not yet, and the shaping has not run out of patience.
   */
  private isShaping(host: SchedulerHost): boolean {
    const estimates = this.estimates(host)
    if (estimates.every((e) => e === null) || estimates.every((e) => e !== null)) return false
    const election = Math.min(...host.voters.map((name) => host.engine(name).inspect().decisionSizes.length))
    if (this.shaping.election !== election) this.shaping = { election, since: host.step }
    return host.step - this.shaping.since <= SHAPING_PATIENCE
  }

  private watch(host: SchedulerHost): void {
    // Accomplices take part like honest peers meanwhile: each requests the next peer in turn (or,
    // once the first peers have estimates, a peer its request gives a suitable first estimate).
    for (const accomplice of host.accomplices) {
      const others = host.voters.filter((name) => name !== accomplice)
      const shaping = this.isShaping(host)
      const target = shaping
        ? others.find((to) => this.requestKeepsSplitPossible(host, accomplice, to))
        : others[host.step % others.length]
      if (target === undefined) continue
      host.accompliceRequest(accomplice, target)
      if (this.startAttack(host)) return
    }
    for (const message of host.inFlight()) {
      if (message.sent >= host.step) continue
      // Once the first peers have estimates, the others get theirs before anyone sees more of them
      // (the less the peers have seen of each other's first estimates, the easier the split).
      if (this.isShaping(host)) {
        const receiver = host.voters.indexOf(message.to)
        if (receiver >= 0 && this.estimates(host)[receiver] !== null) continue
        if (!this.keepsSplitPossible(host, message)) continue
      }
      host.deliver(message)
      if (this.startAttack(host)) return
    }
  }

  /** Each voter's initial estimates about every voter in the current election (null before its observer). */
  private estimates(host: SchedulerHost): (number[] | null)[] {
    return host.voters.map((name) => initialEstimates(host.engine(name), host.voters))
  }

  /**
   * Whether `message` leaves some voter-under-vote whose initial estimates can still end two
   * against two: always, unless it gives its receiver its first estimates (tried on a copy) while
   * others already have theirs.
   */
  private keepsSplitPossible(host: SchedulerHost, message: ScheduledMessage): boolean {
    const key = `${message.seq}:${host.engine(message.to).graphSize}`
    let result = this.tried.get(key)
    if (result === undefined) {
      result = this.triedKeepsSplitPossible(host, message.to, (copy) => {
        if (message.kind === 'request') copy.handleRequest(mockId(message.from), message.body)
        else copy.handleResponse(mockId(message.from), message.body)
      })
      this.tried.set(key, result)
    }
    return result
  }

  /** `keepsSplitPossible` for a fresh request of accomplice `from` to `to` (tried on copies of both). */
  private requestKeepsSplitPossible(host: SchedulerHost, from: string, to: string): boolean {
    return this.triedKeepsSplitPossible(host, to, (copy) => {
      const request = host.clone(from).createGossip(mockId(to))
      copy.handleRequest(mockId(from), request)
    })
  }

  private triedKeepsSplitPossible(host: SchedulerHost, receiverName: string, apply: (copy: Parsec) => void) {
    const estimates = this.estimates(host)
    const receiver = host.voters.indexOf(receiverName)
    if (receiver < 0 || estimates[receiver] !== null || estimates.every((e) => e === null)) return true
    const copy = host.clone(receiverName)
    try {
      apply(copy)
    } catch {
      return true
    }
    estimates[receiver] = initialEstimates(copy, host.voters)
    if (estimates[receiver] === null) return true
    return host.voters.some((_, v) => {
      let t = 0
      let f = 0
      for (const e of estimates) {
        if (e === null) continue
        if (e[v] & TRUE) t++
        if (e[v] & FALSE) f++
      }
      return 2 * t <= host.voters.length && 2 * f <= host.voters.length
    })
  }

  /** Once every peer votes in the current election, picks a voter whose agreement can be kept split. */
  private startAttack(host: SchedulerHost): boolean {
    const decided = Math.min(...host.voters.map((name) => host.engine(name).inspect().decisionSizes.length))
    if (decided === this.examined) return false
    for (const name of host.voters) {
      if (latestSyncEvent(host.engine(name))?.meta?.votes == null) return false
    }
    this.examined = decided
    for (const voter of host.voters) {
      const model = mirrorVotes((name) => host.engine(name), host.voters, voter)
      const plan = planStage(model, { budget: this.budget })
      if (plan === null) continue
      this.attack = {
        election: decided,
        voter,
        startStep: host.step,
        startStage: plan.stage,
        stage: plan.stage,
        endStep: -1,
        outcome: 'running',
      }
      this.stats.attacks.push(this.attack)
      this.plan = plan
      this.expectedKey = model.key(plan.stage)
      return true
    }
    return false
  }

  // ------------------------------------------------------------------ attacking

  private pursue(host: SchedulerHost): void {
    const attack = this.attack!
    for (let made = 0; made < MAX_DELIVERIES_PER_STEP; made++) {
      const model = mirrorVotes((name) => host.engine(name), host.voters, attack.voter)
      const stage = commonStage(model)
      if (stage < 0 || model.anyDecided()) {
        this.end(host, 'decided')
        return
      }
      attack.stage = stage
      if (
        this.plan === null ||
        this.plan.deliveries.length === 0 ||
        model.key(this.plan.stage) !== this.expectedKey
      ) {
        if (this.plan !== null && this.plan.deliveries.length > 0) this.stats.replans++
        this.plan = planStage(model, {
          budget: this.budget,
          available: (d) => this.realise(host, model, d) !== undefined,
        })
        if (this.plan === null) {
          this.end(host, 'no-plan')
          return
        }
        this.expectedKey = model.key(this.plan.stage)
        if (this.plan.deliveries.length === 0) continue
      }
      const realisation = this.realise(host, model, this.plan.deliveries[0])
      if (realisation === undefined) break
      realisation.execute()
      this.stats.planned++
      this.plan = { ...this.plan, deliveries: this.plan.deliveries.slice(1) }
      this.expectedKey = realisation.expected.key(this.plan.stage)
    }
    this.deliverStale(host, attack.voter)
  }

  private end(host: SchedulerHost, outcome: Attack['outcome']): void {
    const attack = this.attack!
    attack.outcome = outcome
    attack.endStep = host.step
    this.attack = undefined
    this.plan = null
  }

  /**
   * How to make `delivery` happen now, if it can: an accomplice's fresh request, or a message in
   * flight that its sender sent since it last changed (so it carries the sender's current state).
   */
  private realise(host: SchedulerHost, model: VoteModel, delivery: Delivery): Realisation | undefined {
    const from = model.peers[delivery.from]
    const to = model.peers[delivery.to]
    if (host.accomplices.has(from)) {
      return {
        expected: model.tick(delivery.from).receive(delivery.to, delivery.from),
        execute: () => host.accompliceRequest(from, to),
      }
    }
    const latest = model.latest(delivery.from).view
    for (const message of host.inFlight()) {
      if (message.from !== from || message.to !== to) continue
      const index = this.lastEventOf(host, message)
      if (index === undefined) continue
      if (!sameView(model.chain(delivery.from)[index].view, latest, delivery.from)) continue
      return {
        expected: model.receive(delivery.to, delivery.from, index),
        execute: () => host.deliver(message),
      }
    }
    return undefined
  }

  private lastEventOf(host: SchedulerHost, message: ScheduledMessage): number | undefined {
    if (!this.lastIndex.has(message.seq)) {
      this.lastIndex.set(message.seq, lastEventIndex(host.engine(message.from), message.body.packedEvents))
    }
    return this.lastIndex.get(message.seq)
  }

  /** Delivers, to honest peers, the held messages that no longer tell them anything new. */
  private deliverStale(host: SchedulerHost, voter: string): void {
    let model = mirrorVotes((name) => host.engine(name), host.voters, voter)
    for (const message of [...host.inFlight()]) {
      if (host.accomplices.has(message.to)) continue
      const to = model.indexOf(message.to)
      const from = model.indexOf(message.from)
      if (to < 0 || from < 0) continue
      const index = this.lastEventOf(host, message)
      if (index === undefined) continue
      const next = model.receive(to, from, index)
      if (!sameView(next.latest(to).view, model.latest(to).view, to)) continue
      host.deliver(message)
      model = next
    }
  }
}

/** Our latest sync event (the one carrying our current meta-votes), if any. */
function latestSyncEvent(engine: Parsec): GraphEvent | undefined {
  const { graph } = engine.inspect()
  const last = graph.lastEventOf(0)
  return last === undefined || last.isSync ? last : graph.selfSyncParent(last)
}

/** `engine`'s first estimates about each of `voters` in its current election, or null before it has any. */
function initialEstimates(engine: Parsec, voters: readonly string[]): number[] | null {
  const { graph, peers, election } = engine.inspect()
  let first: readonly (readonly MetaVote[])[] | null = null
  for (let event = latestSyncEvent(engine); event?.meta?.votes != null; ) {
    first = event.meta.votes
    event = graph.selfSyncParent(event)
  }
  if (first === null) return null
  return voters.map((name) => {
    const index = peers.indexOf(mockId(name))
    const position = index === undefined ? undefined : election.positionOf(index)
    return position === undefined ? 0 : (first[position][0]?.est ?? 0)
  })
}

/** Views equal but for `own` (a peer's own index grows with every event it makes). */
function sameView(a: Int32Array, b: Int32Array, own: number): boolean {
  for (let i = 0; i < a.length; i++) if (i !== own && a[i] !== b[i]) return false
  return true
}
