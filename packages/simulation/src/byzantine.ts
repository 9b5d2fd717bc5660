/**
 * A Byzantine peer of the simulation: a real `Parsec` engine (so it keeps taking part in gossip
 * and stays hard to tell from an honest peer) plus a behaviour layer over what it sends and does.
 * The simulation asks it, each step, for its own actions (`act`) and lets it rewrite every message
 * it sends (`tamper`). Every misbehaviour goes to the simulation's record, so the checks know
 * exactly who misbehaved, how, and when.
 *
 * The engine has no hook for misbehaving: forged events are signed here with the engine's public
 * `signEvent`. When the peer's own engine must hold what it forged (a duplicate vote or a false
 * accusation in its own chain, both branches of its fork), the engine is rebuilt with
 * `Parsec.restore` from its events plus the forged ones (restored events are trusted, as a peer
 * trusts its own store): see `ByzantineHost.restore`.
 */

import type { Rng } from '@parsec-section/parsec-core'
import {
  type Cause,
  encodeObservation,
  genesis,
  isParsecError,
  type MockSecretId,
  mockId,
  type Observation,
  type PackedEvent,
  type Parsec,
  type PublicId,
  packedEventHash,
  type Request,
  signEvent,
  toHex,
} from '@parsec-section/parsec-core'
import { type Behaviour, type Misbehaviour, PROVABLE_MALICE } from './misbehaviour.js'

/** What the simulation offers a Byzantine peer. */
export interface ByzantineHost {
  readonly step: number
  /** The simulated time, in milliseconds (the simulation's clock). */
  readonly now: number
  /** The Byzantine peer's engine (a real one, replaced by `restore`). */
  readonly engine: Parsec
  /**
   * Replaces the Byzantine peer's engine by one restored from `events` (in insertion order,
   * trusted: forged events of its own included) and returns it; the blocks the old engine
   * already delivered are not delivered again.
   */
  restore(events: readonly PackedEvent[]): Parsec
  /** Running honest peers the Byzantine peer's engine may gossip to, by name. */
  honestTargets(): string[]
  /** Queues a request from the Byzantine peer (`spam` marks the extra ones). */
  sendRequest(to: string, request: Request, spam: boolean): void
  record(entry: Omit<Misbehaviour, 'step' | 'peer'>): void
  /** An engine call of the Byzantine peer failed (its own engine, after its own tricks). */
  engineError(code: string): void
}

/** When the one-off behaviours happen, drawn once per peer. */
export interface ByzantinePlan {
  readonly forkAt: number
  readonly duplicateVoteAt: number
  readonly invalidAccusationAt: number
  readonly silentFrom: number
  /** Spam requests per step (on top of its normal gossip), from step `spamFrom` until before `spamUntil`. */
  readonly spamPerStep: number
  readonly spamFrom: number
  readonly spamUntil: number
}

/** Steps a duplicate vote waits past its due step for a scheduled vote to repeat, before repeating genesis. */
const DUPLICATE_VOTE_PATIENCE = 30
/** Probability that a message of a peer with `invalid-signature` / `skip-events` is tampered with. */
const TAMPER_PROBABILITY = 0.5
/** At most this many events are left out of one message (`skip-events`). */
const MAX_SKIPPED = 3

export function hashHex(event: PackedEvent): string {
  return toHex(packedEventHash(event))
}

/** The hash of the latest event of `engine`'s own chain. */
function ourLastHash(engine: Parsec): Uint8Array {
  const latest = engine.latestEventOf(engine.ourId)
  if (latest === undefined) throw new Error(`${engine.ourId.name} has no event yet`)
  return latest.hash
}

/** A copy of `event` whose signature no longer verifies (every scheme checks the first bytes). */
function withCorruptSignature(event: PackedEvent): PackedEvent {
  const signature = Uint8Array.from(event.signature)
  signature[0] ^= 0xff
  signature[1] ^= 0x5a
  return { creator: event.creator, cause: event.cause, signature }
}

export class ByzantinePeer {
  private forked = false
  private silenced = false
  private duplicated = false
  private accusedFalsely = false
  /** Our latest vote for a scheduled observation (what a duplicate vote repeats). */
  private lastVoted: Observation | undefined

  constructor(
    readonly name: string,
    private readonly secret: MockSecretId,
    readonly behaviours: ReadonlySet<Behaviour>,
    private readonly genesisGroup: readonly PublicId[],
    readonly plan: ByzantinePlan,
    private readonly rng: Rng,
  ) {}

  /** Whether it does something an honest peer can prove (so it can expect to be accused). */
  get provable(): boolean {
    return [...this.behaviours].some((b) => PROVABLE_MALICE[b] !== undefined)
  }

  has(behaviour: Behaviour): boolean {
    return this.behaviours.has(behaviour)
  }

  /**
   * `silent`: from its silent step on it neither gossips nor handles anything. With `fork` too it
   * goes silent right after forking instead (the reference's malicious peer: fork once, then ignore
   * all input).
   */
  isSilent(step: number): boolean {
    if (!this.has('silent')) return false
    return this.has('fork') ? this.forked : step >= this.plan.silentFrom
  }

  /** Our engine voted `observation` (the simulation cast a scheduled vote for us). */
  noteVote(observation: Observation): void {
    this.lastVoted = observation
  }

  /** This step's own actions: the one-off misbehaviours when due, and spam. */
  act(host: ByzantineHost): void {
    const step = host.step
    if (this.isSilent(step)) {
      if (!this.silenced) {
        this.silenced = true
        host.record({ behaviour: 'silent', detail: 'stops gossiping and answering', events: [] })
      }
      return
    }
    this.attempt(host, () => {
      if (this.has('fork') && !this.forked && step >= this.plan.forkAt) this.fork(host)
      if (this.has('duplicate-vote') && !this.duplicated && step >= this.plan.duplicateVoteAt) {
        this.duplicateVote(host)
      }
      if (this.has('invalid-accusation') && !this.accusedFalsely && step >= this.plan.invalidAccusationAt) {
        this.invalidAccusation(host)
      }
      if (this.has('spam') && step >= this.plan.spamFrom && step < this.plan.spamUntil) this.spam(host)
    })
  }

  /** Our engine's failures are ours to bear (e.g. after our removal): counted, never fatal. */
  private attempt(host: ByzantineHost, action: () => void): void {
    try {
      action()
    } catch (error) {
      if (!isParsecError(error)) throw error
      host.engineError(error.code)
    }
  }

  private targets(host: ByzantineHost): string[] {
    const allowed = new Set(host.engine.gossipRecipients().map((id) => id.name))
    return host.honestTargets().filter((name) => allowed.has(name))
  }

  /**
   * Two Requesting events with one self-parent: one (made by our engine) goes to `a` the usual
   * way, its sibling (signed here) to `b` at the end of everything we hold. Both branches then
   * spread. Our engine refuses an event of ours it does not hold (`UnknownOwnEvent`: an honest
   * peer that took one would fork), so without more it would choke on every later message carrying
   * the sibling and fall silent; it is restored at once from its events with the sibling inserted
   * just before its own branch, so it holds both branches, goes on from the one sent to `a`, and
   * keeps gossiping like the forking peer it is.
   */
  private fork(host: ByzantineHost): void {
    const targets = this.rng.shuffle(this.targets(host))
    if (targets.length < 2) return
    const [a, b] = targets
    const engine = host.engine
    const parent = ourLastHash(engine)
    const request = engine.createGossip(mockId(a))
    const kept = request.packedEvents[request.packedEvents.length - 1]
    const cause: Cause = { kind: 'requesting', selfParent: parent, recipient: mockId(b) }
    const sibling = signEvent(this.secret, cause)
    const all = engine.packedEvents(0)
    const before = all.slice(0, -1)
    host.sendRequest(a, request, false)
    host.sendRequest(b, { packedEvents: [...before, sibling] }, false)
    host.restore([...before, sibling, kept])
    this.forked = true
    host.record({
      behaviour: 'fork',
      malice: PROVABLE_MALICE.fork,
      detail: `two Requesting events on one self-parent, to ${a} and to ${b}`,
      events: [hashHex(kept), hashHex(sibling)],
    })
  }

  /** A second vote, in our own chain, for the latest observation we voted (genesis if none yet). */
  private duplicateVote(host: ByzantineHost): void {
    if (this.lastVoted === undefined && host.step < this.plan.duplicateVoteAt + DUPLICATE_VOTE_PATIENCE)
      return
    const payload = this.lastVoted ?? genesis(this.genesisGroup)
    const event = this.forgeVote(host, payload)
    this.duplicated = true
    host.record({
      behaviour: 'duplicate-vote',
      malice: PROVABLE_MALICE['duplicate-vote'],
      detail: `voted ${payload.kind} again`,
      events: [hashHex(event)],
    })
  }

  /** An accusation of an honest peer: a "fork" at one of its events that never forked. */
  private invalidAccusation(host: ByzantineHost): void {
    const engine = host.engine
    const candidates = host.honestTargets().filter((name) => engine.latestEventOf(mockId(name)) !== undefined)
    if (candidates.length === 0) return
    const victim = this.rng.pick(candidates)
    const innocent = engine.latestEventOf(mockId(victim))!
    const payload: Observation = {
      kind: 'accusation',
      offender: mockId(victim),
      malice: { type: 'Fork', event: innocent.hash },
    }
    const event = this.forgeVote(host, payload)
    this.accusedFalsely = true
    host.record({
      behaviour: 'invalid-accusation',
      malice: PROVABLE_MALICE['invalid-accusation'],
      detail: `accused honest ${victim} of a fork that never happened`,
      events: [hashHex(event)],
    })
  }

  /**
   * A vote for `payload` in our own chain, outside the engine's rules: signed here, then our
   * engine is restored with it as its latest event (so it counts as our vote and later events of
   * ours descend from it).
   */
  private forgeVote(host: ByzantineHost, payload: Observation): PackedEvent {
    const engine = host.engine
    const vote = { payload, signature: this.secret.sign(encodeObservation(payload)) }
    const event = signEvent(this.secret, { kind: 'observation', selfParent: ourLastHash(engine), vote })
    host.restore([...engine.packedEvents(0), event])
    return event
  }

  /** Valid requests, many of them, all to one victim this step. */
  private spam(host: ByzantineHost): void {
    const targets = this.targets(host)
    if (targets.length === 0) return
    const victim = this.rng.pick(targets)
    for (let i = 0; i < this.plan.spamPerStep; i++) {
      host.sendRequest(victim, host.engine.createGossip(mockId(victim)), true)
    }
    host.record({ behaviour: 'spam', detail: `${this.plan.spamPerStep} requests to ${victim}`, events: [] })
  }

  /** Rewrites a message we send (`invalid-signature`, `skip-events`); the last event always stays. */
  tamper(events: readonly PackedEvent[], to: string, host: ByzantineHost): PackedEvent[] {
    let out = [...events]
    if (this.has('skip-events') && out.length >= 2 && this.rng.chance(TAMPER_PROBABILITY)) {
      const count = this.rng.range(1, Math.min(MAX_SKIPPED, out.length - 1))
      const skipped = new Set<number>()
      while (skipped.size < count) skipped.add(this.rng.below(out.length - 1))
      const left = [...skipped].map((i) => hashHex(out[i]))
      out = out.filter((_, i) => !skipped.has(i))
      host.record({
        behaviour: 'skip-events',
        detail: `left ${count} of ${events.length} events out of a message to ${to}`,
        events: left,
      })
    }
    if (this.has('invalid-signature') && out.length > 0 && this.rng.chance(TAMPER_PROBABILITY)) {
      // Our own latest event is new to the receiver for sure; a relayed one may be known already.
      const relayed = out.map((e, i) => ({ e, i })).filter(({ e }) => e.creator.name !== this.name)
      const target = relayed.length > 0 && this.rng.chance(0.5) ? this.rng.pick(relayed).i : out.length - 1
      const original = out[target]
      out[target] = withCorruptSignature(original)
      host.record({
        behaviour: 'invalid-signature',
        detail: `corrupted the signature of an event by ${original.creator.name} sent to ${to}`,
        events: [hashHex(original)],
      })
    }
    return out
  }
}
