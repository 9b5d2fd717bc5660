/**
 * A Byzantine peer of the simulation: a real `Parsec` engine (so it keeps taking part in gossip
 * and stays hard to tell from an honest peer) plus a behaviour layer over what it sends and does.
 * The simulation asks it, each step, for its own actions (`act`), lets it rewrite every message it
 * sends (`tamper`) and feeds its engine through `incoming`. Every misbehaviour goes to the
 * simulation's record, so the checks know exactly who misbehaved, how, and when.
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
  type Request,
  toHex,
} from '@parsec-section/parsec-core'
import { encodeContent, eventHash } from '@parsec-section/parsec-core/internal'
import { type Behaviour, type Misbehaviour, PROVABLE_MALICE } from './misbehaviour.js'

/** What the simulation offers a Byzantine peer. */
export interface ByzantineHost {
  readonly step: number
  /** The simulated time, in milliseconds (the simulation's clock). */
  readonly now: number
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
  return toHex(eventHash(encodeContent(event.creator, event.cause)))
}

/** A copy of `event` whose signature no longer verifies (every scheme checks the first bytes). */
function withCorruptSignature(event: PackedEvent): PackedEvent {
  const signature = Uint8Array.from(event.signature)
  signature[0] ^= 0xff
  signature[1] ^= 0x5a
  return { creator: event.creator, cause: event.cause, signature }
}

export class ByzantinePeer {
  /** Events we signed but kept out of our engine (the fork's other branch), fed to it on receipt. */
  private readonly forged: PackedEvent[] = []
  private forked = false
  private silenced = false
  private duplicated = false
  private accusedFalsely = false
  /** Our latest vote for a scheduled observation (what a duplicate vote repeats). */
  private lastVoted: Observation | undefined

  constructor(
    readonly name: string,
    readonly parsec: Parsec,
    private readonly secret: MockSecretId,
    readonly behaviours: ReadonlySet<Behaviour>,
    private readonly genesisGroup: readonly PublicId[],
    readonly plan: ByzantinePlan,
    private readonly rng: Rng,
  ) {
    // The other branch of our fork comes back to us in honest peers' events.
    if (behaviours.has('fork')) parsec.acceptOwnForks()
  }

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

  /**
   * The events of a message to us, with our forged events first while our engine lacks them: the
   * other branch of our fork comes back in honest events, which our engine must be able to insert.
   */
  incoming(events: readonly PackedEvent[]): readonly PackedEvent[] {
    if (this.forged.length === 0) return events
    const graph = this.parsec.inspect().graph
    const missing = this.forged.filter(
      (e) => graph.indexOf(eventHash(encodeContent(e.creator, e.cause))) === undefined,
    )
    if (missing.length === 0) this.forged.length = 0
    return missing.length === 0 ? events : [...missing, ...events]
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
    const allowed = new Set(this.parsec.gossipRecipients().map((id) => id.name))
    return host.honestTargets().filter((name) => allowed.has(name))
  }

  /**
   * Two Requesting events with one self-parent: one (kept by our engine) goes to `a` the usual
   * way, its sibling to `b` at the end of everything we hold. Both branches then spread.
   */
  private fork(host: ByzantineHost): void {
    const targets = this.rng.shuffle(this.targets(host))
    if (targets.length < 2) return
    const [a, b] = targets
    const parent = this.parsec.ourLastEventHash()
    const request = this.parsec.createGossip(mockId(a))
    const kept = request.packedEvents[request.packedEvents.length - 1]
    const cause: Cause = { kind: 'requesting', selfParent: parent, recipient: mockId(b) }
    const sibling = this.parsec.forgeEvent(cause, false)
    this.forged.push(sibling)
    const all = this.parsec.packedEvents(0)
    host.sendRequest(a, request, false)
    host.sendRequest(b, { packedEvents: [...all.slice(0, -1), sibling] }, false)
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
    const vote = { payload, signature: this.secret.sign(encodeObservation(payload)) }
    const cause: Cause = { kind: 'observation', selfParent: this.parsec.ourLastEventHash(), vote }
    const event = this.parsec.forgeEvent(cause, true)
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
    const { graph, peers } = this.parsec.inspect()
    const candidates = host.honestTargets().filter((name) => {
      const index = peers.indexOf(mockId(name))
      return index !== undefined && graph.lastEventOf(index) !== undefined
    })
    if (candidates.length === 0) return
    const victim = this.rng.pick(candidates)
    const innocent = graph.lastEventOf(peers.indexOf(mockId(victim))!)!
    const payload: Observation = {
      kind: 'accusation',
      offender: mockId(victim),
      malice: { type: 'Fork', event: graph.hash(innocent.index) },
    }
    const vote = { payload, signature: this.secret.sign(encodeObservation(payload)) }
    const cause: Cause = { kind: 'observation', selfParent: this.parsec.ourLastEventHash(), vote }
    const event = this.parsec.forgeEvent(cause, true)
    this.accusedFalsely = true
    host.record({
      behaviour: 'invalid-accusation',
      malice: PROVABLE_MALICE['invalid-accusation'],
      detail: `accused honest ${victim} of a fork that never happened`,
      events: [hashHex(event)],
    })
  }

  /** Valid requests, many of them, all to one victim this step. */
  private spam(host: ByzantineHost): void {
    const targets = this.targets(host)
    if (targets.length === 0) return
    const victim = this.rng.pick(targets)
    for (let i = 0; i < this.plan.spamPerStep; i++) {
      host.sendRequest(victim, this.parsec.createGossip(mockId(victim)), true)
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
