/**
 * A deterministic, seeded simulation of a PARSEC section (spec §13.1 in spirit): N in-process
 * peers, a step scheduler with message delays, gossip probability, votes spread over time,
 * crash-faulty peers, peers added (joiners built with `fromExisting`) and removed.
 *
 * Pure: no clock, no timers, no I/O, no global randomness. Everything random is drawn from one
 * `Rng` seeded by `options.seed`, so a seed reproduces a run exactly.
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

import {
  add,
  type Block,
  type BlockDescription,
  type Coin,
  type ConsensusMode,
  concreteCoin,
  describeBlock,
  type Fault,
  fromHex,
  isParsecError,
  MockSecretId,
  mockId,
  type Observation,
  opaque,
  type PackedEvent,
  Parsec,
  ParsecError,
  parityCoin,
  payloadText,
  type Request,
  type Response,
  Rng,
  remove,
  type Step,
  utf8,
} from '@parsec-section/parsec-core'
import { encodeContent, internalsOf } from '@parsec-section/parsec-core/internal'
import {
  AdversarialScheduler,
  type AdversarialSchedulerOptions,
  type AdversaryStats,
  type ScheduledMessage,
  type SchedulerHost,
} from './adversarial-scheduler.js'
import { type ByzantineHost, ByzantinePeer } from './byzantine.js'
import { InboundLimit } from './inbound-limit.js'
import { type Behaviour, type Misbehaviour, MisbehaviourLog } from './misbehaviour.js'
import { peerName } from './names.js'

/** An inclusive range of steps. */
export interface StepRange {
  readonly min: number
  readonly max: number
}

export interface FailureSpec {
  /** The step at which the peer crashes, or a range the step is drawn from. */
  readonly at: number | StepRange
  /**
   * The peer that crashes. Absent: a random live member, chosen when the failure is due, and
   * only if the section stays safe (more than two thirds of every possible voter set live);
   * otherwise the failure waits for a later step.
   */
  readonly peer?: string
}

/**
 * The genuine-flip coin of every peer: the RFC's concrete coin (spec §16), the reference's parity
 * coin (spec §6.7), or a function giving each peer (by name) its own coin (tests wrap one).
 */
export type SimulationCoin = 'parity' | 'concrete' | ((peer: string) => Coin)

/** One Byzantine member of the genesis group. */
export interface ByzantineSpec {
  /** Its name; absent: a random genesis member not otherwise taken. */
  readonly peer?: string
  /** What it does (any combination; see `Behaviour`). */
  readonly behaviours: readonly Behaviour[]
}

export interface SimulationOptions {
  /** Seed of the run (an unsigned 32-bit integer). */
  readonly seed: number
  /** The peers' coin (default `concrete`). */
  readonly coin?: SimulationCoin
  /** Number of founding members (default 4). */
  readonly genesisSize?: number
  /** Consensus mode of opaque payloads (default `supermajority`). */
  readonly consensusMode?: ConsensusMode
  /** Single mode only: every member votes every opaque payload (one block per voter). */
  readonly voteForSame?: boolean
  /** Number of opaque payloads to vote (default 5); payloads are "0", "1", … */
  readonly opaque?: number
  /** Per-step probability of scheduling the next opaque payload (default 0.2). */
  readonly probOpaque?: number
  /** Schedule every opaque payload at step 0 and vote them all before any gossip. */
  readonly votesBeforeGossip?: boolean
  /** Steps between scheduling an observation and a given voter voting it (default 0..8). */
  readonly voteDelay?: StepRange
  /** Peers to add (default 0) and the per-step probability of scheduling the next add (default 0.1). */
  readonly peersToAdd?: number
  readonly probAdd?: number
  /** Peers to remove (default 0) and the per-step probability of scheduling the next remove (default 0.1). */
  readonly peersToRemove?: number
  readonly probRemove?: number
  /** `adds-first`: no remove is scheduled before every add is done (default `interleaved`). */
  readonly membershipOrder?: 'interleaved' | 'adds-first'
  /** Remove crashed members before live ones. */
  readonly removeCrashedFirst?: boolean
  /** Membership bounds for scheduling adds and removes (defaults 1 and 64). */
  readonly minPeers?: number
  readonly maxPeers?: number
  /** Crash failures (crash-stop: the peer stops handling anything). */
  readonly failures?: readonly FailureSpec[]
  /**
   * Byzantine members of the genesis group (default none). With the crash failures they must stay
   * fewer than a third of the section for it to make progress; the simulation does not enforce it.
   */
  readonly byzantine?: readonly ByzantineSpec[]
  /**
   * Deliver the messages through the adversarial scheduler (`adversarial-scheduler.ts`) instead of
   * with independent random delays: every message delayed and reordered within `bound` steps
   * (default 40), to keep the peers' views apart at the coin step. Byzantine peers without any
   * behaviour become its accomplices: they send and handle messages only when it says.
   */
  readonly adversarialScheduler?: boolean | AdversarialSchedulerOptions
  /** Per-step probability that a running peer gossips (default 0.25). */
  readonly probGossip?: number
  /** Delay of each request and response, in steps (default 0..2); 0 = handled within the step. */
  readonly delay?: StepRange
  /** Probability that a voter tries to vote the same observation again later (must be refused). */
  readonly probVoteDuplication?: number
  /** The run fails (`termination`) if it has not finished after this many steps (default 3000). */
  readonly maxSteps?: number
  /**
   * The run fails (`termination`) early when nothing happens for this many steps: no block polled
   * by any peer, nothing scheduled, no crash, no membership change completed (default 400).
   */
  readonly stallSteps?: number
  /** Progress lines (scheduling, crashes, joins, removals), for human output. */
  readonly log?: (line: string) => void
}

/** `byzantine`: a running Byzantine member (never honest); `removed` also ends an accused one. */
export type PeerStatus = 'active' | 'joining' | 'crashed' | 'removed' | 'byzantine'

export interface Violation {
  readonly invariant: string
  readonly step: number
  readonly detail: string
}

export interface SimulationStats {
  readonly requests: number
  readonly responses: number
  /** Messages dropped because their recipient had stopped (crashed or removed). */
  readonly dropped: number
  /** Engine errors the protocol allows (e.g. gossip from a removed peer), by code. */
  readonly toleratedErrors: Record<string, number>
  /** Duplicate votes attempted and refused with `DuplicateVote`. */
  readonly duplicateVotesRefused: number
  /** Requests sent, by sender (spam included). */
  readonly requestsSent: Record<string, number>
  /** Engine errors at honest peers handling a Byzantine peer's message, by code (expected). */
  readonly rejected: Record<string, number>
  /** Faults honest peers' handle calls reported: `malice:TYPE` or `rejected:CODE`, with counts. */
  readonly faults: Record<string, number>
  /** Messages to a silent Byzantine peer, never handled. */
  readonly silenced: number
  /** Spam requests: sent, reaching an honest receiver, and refused there by the inbound limit. */
  readonly spam: { readonly sent: number; readonly arrived: number; readonly refused: number }
  /** Requests the inbound limit refused (Byzantine senders only, or `containment` is violated). */
  readonly refused: number
  /** Events in honest graphs whose signature does not verify (forged ones that got in: must be 0). */
  readonly forgedEventsAccepted: number
  /** Failed engine calls of Byzantine peers (their own tricks can break their engines), by code. */
  readonly byzantineErrors: Record<string, number>
  /**
   * Per decision (election) so far, in order: the highest meta-vote round of the deciding event,
   * the largest among the honest peers (rounds-to-decision).
   */
  readonly decisionRounds: number[]
}

export interface SimulationResult {
  readonly seed: number
  /** True iff no invariant was violated (so every honest peer holds every expected block, in order). */
  readonly agreed: boolean
  /** Peers that neither crashed nor were removed and were members at the end, by name (never Byzantine). */
  readonly honest: string[]
  /** Offenders of the accusations the honest peers agreed on, in order. */
  readonly accused: string[]
  /** The Byzantine peers and their behaviours. */
  readonly byzantine: Record<string, Behaviour[]>
  /** Every Byzantine action, in order. */
  readonly misbehaviour: Misbehaviour[]
  /** The blocks every peer polled (crashed and removed peers included), in order. */
  readonly peers: Record<string, BlockDescription[]>
  readonly status: Record<string, PeerStatus>
  /** Steps run. */
  readonly steps: number
  /** The largest gossip graph among the honest peers at the end (events). */
  readonly events: number
  readonly violations: Violation[]
  /** What was voted: opaque payloads, added and removed peers, and the membership at the end. */
  readonly expected: {
    readonly opaque: string[]
    readonly added: string[]
    readonly removed: string[]
    readonly crashed: string[]
    readonly members: string[]
    /** Opaque payload → the peers that voted it (in Single mode each vote is its own block). */
    readonly votes: Record<string, string[]>
  }
  readonly stats: SimulationStats
  /** The adversarial scheduler's attacks, when there is one. */
  readonly adversary?: AdversaryStats
}

/** How long a spamming Byzantine peer floods (long enough to show, short enough to keep runs fast). */
const SPAM_STEPS = 40

/** Default bound on a message's delay under the adversarial scheduler, in steps. */
const SCHEDULER_BOUND = 40

// ------------------------------------------------------------------------------------------ internals

interface PendingVote {
  readonly observation: Observation
  /** Key of the observation's block (without voter), to skip votes already decided. */
  readonly key: string
  readonly due: number
  /** A deliberate second vote that the engine must refuse. */
  readonly duplicate: boolean
}

interface SimPeer {
  readonly name: string
  readonly parsec: Parsec
  status: PeerStatus
  /** Remove voted, not yet done. */
  leaving: boolean
  readonly blocks: BlockDescription[]
  /** Agreement keys of the polled blocks, in order, and as a set. */
  readonly keys: string[]
  readonly keySet: Set<string>
  /** Blocks the engine's steps handed over, recorded at the next `pollAll`. */
  readonly agreed: Block[]
  votes: PendingVote[]
  /** The behaviour layer of a Byzantine peer. */
  byzantine?: ByzantinePeer
  /** Offenders of the accusations this peer agreed on. */
  readonly accused: Set<string>
}

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
}

interface Transition {
  readonly kind: 'add' | 'remove'
  readonly peer: SimPeer
  readonly key: string
}

interface ResolvedFailure {
  readonly step: number
  readonly peer: string | undefined
}

/** The agreement key of a block: its description without voters (Single-mode opaque: + its voter). */
export function blockKey(description: BlockDescription, mode: ConsensusMode): string {
  switch (description.kind) {
    case 'genesis':
      return `genesis:${description.peers.join(',')}`
    case 'add':
      return `add:${description.peer}`
    case 'remove':
      return `remove:${description.peer}`
    case 'accusation':
      return `accusation:${description.offender}:${description.malice}`
    case 'opaque':
      return mode === 'single'
        ? `opaque:${description.payload}@${description.voters.join(',')}`
        : `opaque:${description.payload}`
  }
}

function observationKey(observation: Observation): string {
  switch (observation.kind) {
    case 'genesis':
      return 'genesis'
    case 'add':
      return `add:${observation.peer.name}`
    case 'remove':
      return `remove:${observation.peer.name}`
    case 'accusation':
      return `accusation:${observation.offender.name}`
    case 'opaque':
      return `opaque:${payloadText(observation.payload)}`
  }
}

/** Payload key of a block description, without the voter (what `observationKey` gives for its vote). */
function payloadKey(description: BlockDescription): string {
  switch (description.kind) {
    case 'genesis':
      return 'genesis'
    case 'add':
      return `add:${description.peer}`
    case 'remove':
      return `remove:${description.peer}`
    case 'accusation':
      return `accusation:${description.offender}`
    case 'opaque':
      return `opaque:${description.payload}`
  }
}

class Simulation {
  private readonly rng: Rng
  private readonly mode: ConsensusMode
  private readonly genesisSize: number
  private readonly opaqueCount: number
  private readonly toAdd: number
  private readonly toRemove: number
  private readonly probGossip: number
  private readonly delay: StepRange
  private readonly voteDelay: StepRange
  private readonly maxSteps: number
  private readonly stallSteps: number
  /** The last step at which anything happened (see `stallSteps`). */
  private lastProgress = 0

  private readonly all: SimPeer[] = []
  private readonly byName = new Map<string, SimPeer>()
  private readonly genesisIds: ReturnType<typeof mockId>[] = []
  /** Members: genesis plus completed adds, minus completed removes (leaving peers included). */
  private readonly members = new Set<SimPeer>()
  private readonly transitions: Transition[] = []
  private messages: Message[] = []
  private seq = 0
  private step = 0
  private failures: ResolvedFailure[] = []

  private scheduledOpaque = 0
  private readonly opaquePayloads: string[] = []
  private readonly added: string[] = []
  private readonly removed: string[] = []
  private readonly crashed: string[] = []
  /** Payload key → names of the peers that voted it. */
  private readonly castVotes = new Map<string, Set<string>>()
  /** Single mode: the (payload, voter) blocks that must appear if the voter stays honest. */
  private readonly singleVotes: { key: string; voter: SimPeer }[] = []
  /** Agreement: the longest block sequence seen; every peer's must be a prefix of it. */
  private readonly canonical: string[] = []

  private readonly violations: Violation[] = []
  private aborted = false
  private requests = 0
  private responses = 0
  private dropped = 0
  private duplicateVotesRefused = 0
  private readonly tolerated: Record<string, number> = {}

  private readonly misbehaviour = new MisbehaviourLog()
  private readonly inbound: InboundLimit
  private readonly scheduler: AdversarialScheduler | undefined
  /** Byzantine peers the adversarial scheduler drives. */
  private readonly accomplices = new Set<string>()
  /** Peers an honest peer reported malice of: the run waits until their accusation is agreed. */
  private readonly reported = new Set<string>()
  /** Offenders whose agreed accusation every honest peer holds (removed from the section). */
  private readonly accusationsDone = new Set<string>()
  private readonly requestsSent: Record<string, number> = {}
  private readonly rejected: Record<string, number> = {}
  private readonly faults: Record<string, number> = {}
  private readonly byzantineErrors: Record<string, number> = {}
  private silenced = 0
  private refused = 0
  private forgedEventsAccepted = 0
  private readonly spam = { sent: 0, arrived: 0, refused: 0 }

  constructor(private readonly options: SimulationOptions) {
    this.rng = new Rng(options.seed)
    this.mode = options.consensusMode ?? 'supermajority'
    this.genesisSize = options.genesisSize ?? 4
    this.opaqueCount = options.opaque ?? 5
    this.toAdd = options.peersToAdd ?? 0
    this.toRemove = options.peersToRemove ?? 0
    this.probGossip = options.probGossip ?? 0.25
    this.delay = options.delay ?? { min: 0, max: 2 }
    this.voteDelay = options.voteDelay ?? { min: 0, max: 8 }
    this.maxSteps = options.maxSteps ?? 3000
    this.stallSteps = options.stallSteps ?? 400
    if (!Number.isInteger(this.genesisSize) || this.genesisSize < 1) {
      throw new RangeError('genesisSize must be ≥ 1')
    }
    for (let i = 0; i < this.genesisSize; i++) this.genesisIds.push(mockId(peerName(i)))
    for (const id of this.genesisIds) {
      const secret = new MockSecretId(id)
      const parsec = Parsec.fromGenesis({
        us: secret,
        genesis: this.genesisIds,
        consensusMode: this.mode,
        coin: this.coinFor(id.name),
      })
      const peer = this.newPeer(id.name, parsec, 'active')
      this.members.add(peer)
    }
    this.castVotes.set('genesis', new Set(this.all.map((p) => p.name)))
    const scheduler = options.adversarialScheduler
    if (scheduler !== undefined && scheduler !== false) {
      this.scheduler = new AdversarialScheduler(scheduler === true ? { bound: SCHEDULER_BOUND } : scheduler)
    }
    // The bucket's burst covers how far apart in delay two honest requests can be (inbound-limit.ts).
    const spread = this.scheduler === undefined ? this.delay.max - this.delay.min : this.scheduler.bound
    this.inbound = new InboundLimit(spread + 1)
    this.makeByzantine(options.byzantine ?? [])
    for (const failure of options.failures ?? []) {
      const step =
        typeof failure.at === 'number' ? failure.at : this.rng.range(failure.at.min, failure.at.max)
      this.failures.push({ step, peer: failure.peer })
    }
  }

  /** Turns genesis members into Byzantine peers (named, or drawn among the rest). */
  private makeByzantine(specs: readonly ByzantineSpec[]): void {
    if (specs.length === 0) return
    const named = new Set(specs.flatMap((spec) => (spec.peer === undefined ? [] : [spec.peer])))
    const free = this.all.filter((p) => !named.has(p.name))
    for (const spec of specs) {
      let peer: SimPeer | undefined
      if (spec.peer !== undefined) {
        peer = this.byName.get(spec.peer)
        if (peer === undefined || !this.members.has(peer) || peer.byzantine !== undefined) {
          throw new RangeError(`Byzantine peer ${spec.peer} is not a genesis member (or named twice)`)
        }
      } else {
        if (free.length === 0) throw new RangeError('more Byzantine peers than genesis members')
        peer = free.splice(this.rng.below(free.length), 1)[0]
      }
      const rng = this.rng.fork()
      const spamFrom = rng.range(0, 10)
      const plan = {
        forkAt: rng.range(3, 25),
        duplicateVoteAt: rng.range(3, 25),
        invalidAccusationAt: rng.range(3, 25),
        silentFrom: rng.range(0, 20),
        // More than ten times an honest peer's rate (`probGossip` requests per step).
        spamPerStep: Math.ceil(10 * this.probGossip) + 1,
        spamFrom,
        spamUntil: spamFrom + SPAM_STEPS,
      }
      peer.byzantine = new ByzantinePeer(
        peer.name,
        peer.parsec,
        new MockSecretId(peer.name),
        new Set(spec.behaviours),
        this.genesisIds,
        plan,
        rng,
      )
      peer.status = 'byzantine'
      if (this.scheduler !== undefined && spec.behaviours.length === 0) this.accomplices.add(peer.name)
    }
  }

  private coinFor(peer: string): Coin {
    const coin = this.options.coin ?? 'concrete'
    if (typeof coin === 'function') return coin(peer)
    return coin === 'parity' ? parityCoin : concreteCoin
  }

  private newPeer(name: string, parsec: Parsec, status: PeerStatus): SimPeer {
    const peer: SimPeer = {
      name,
      parsec,
      status,
      leaving: false,
      blocks: [],
      keys: [],
      keySet: new Set(),
      agreed: [],
      votes: [],
      accused: new Set(),
    }
    this.all.push(peer)
    this.byName.set(name, peer)
    return peer
  }

  private log(line: string): void {
    this.lastProgress = this.step
    this.options.log?.(`step ${this.step}: ${line}`)
  }

  private violate(invariant: string, detail: string): void {
    this.violations.push({ invariant, step: this.step, detail })
  }

  private tolerate(code: string): void {
    this.tolerated[code] = (this.tolerated[code] ?? 0) + 1
  }

  private running(peer: SimPeer): boolean {
    return peer.status === 'active' || peer.status === 'joining' || peer.status === 'byzantine'
  }

  private isHonest(peer: SimPeer): boolean {
    return peer.byzantine === undefined
  }

  /** Members that are running, not leaving, and honest. */
  private liveMembers(): SimPeer[] {
    return [...this.members].filter((p) => p.status === 'active' && !p.leaving)
  }

  /** Byzantine members still running. */
  private byzantineMembers(): SimPeer[] {
    return [...this.members].filter((p) => p.status === 'byzantine')
  }

  /** Honest running peers with votes still to cast (the run is not done while there are any). */
  private votesPending(): boolean {
    return this.all.some((p) => this.running(p) && this.isHonest(p) && p.votes.some((v) => !v.duplicate))
  }

  // ---------------------------------------------------------------------------------- the run

  run(): SimulationResult {
    const maxSteps = this.maxSteps
    let finished = false
    for (this.step = 0; this.step < maxSteps; this.step++) {
      this.applyFailures()
      this.schedule()
      this.castDueVotes()
      this.actByzantine()
      this.gossip()
      this.deliver()
      this.pollAll()
      if (this.aborted || this.violations.length > 0) break
      this.updateTransitions()
      this.applyAgreedAccusations()
      if (this.isDone()) {
        finished = true
        this.step++
        break
      }
      const stuck = this.unschedulable()
      if (stuck !== undefined) {
        this.violate('schedule', `${stuck} (the scenario's settings cannot be met)`)
        break
      }
      if (this.step - this.lastProgress >= this.stallSteps) {
        this.violate('termination', `no progress for ${this.stallSteps} steps: ${this.missingSummary()}`)
        break
      }
    }
    if (!finished && this.violations.length === 0) {
      this.violate('termination', `no termination after ${this.step} steps: ${this.missingSummary()}`)
    }
    if (finished) this.checkMembership()
    this.checkForgedEvents()
    return this.result()
  }

  // ---------------------------------------------------------------------------------- failures

  private applyFailures(): void {
    if (this.failures.length === 0) return
    const due = this.failures.filter((f) => f.step <= this.step)
    if (due.length === 0) return
    const waiting: ResolvedFailure[] = this.failures.filter((f) => f.step > this.step)
    for (const failure of due) {
      if (failure.peer !== undefined) {
        const peer = this.byName.get(failure.peer)
        if (peer !== undefined && this.running(peer)) this.crash(peer)
        continue
      }
      const candidates = this.liveMembers()
      if (candidates.length === 0 || !this.crashIsSafe()) {
        waiting.push(failure)
        continue
      }
      this.crash(this.rng.pick(candidates))
    }
    this.failures = waiting
  }

  /** One more crash keeps more than two thirds of every possible voter set live. */
  private crashIsSafe(): boolean {
    const joining = this.transitions.filter((t) => t.kind === 'add').length
    const biggest = this.members.size + joining
    const live = this.liveMembers().length
    return 3 * (live - 1) > 2 * biggest
  }

  private crash(peer: SimPeer): void {
    peer.status = 'crashed'
    this.handOver(peer)
    peer.votes = []
    this.crashed.push(peer.name)
    this.log(`${peer.name} crashed`)
  }

  // ---------------------------------------------------------------------------------- scheduling

  private schedule(): void {
    const o = this.options
    if (this.scheduledOpaque < this.opaqueCount) {
      if (o.votesBeforeGossip) {
        if (this.step === 0) while (this.scheduledOpaque < this.opaqueCount) this.scheduleOpaque()
      } else if (this.rng.chance(o.probOpaque ?? 0.2)) {
        this.scheduleOpaque()
      }
    }
    // Adds and removes: as many as the probability draws and the safety rules allow in one step.
    while (this.added.length < this.toAdd && this.rng.chance(o.probAdd ?? 0.1) && this.addIsAllowed()) {
      this.scheduleAdd()
    }
    const addsDone = () => this.added.length === this.toAdd && !this.transitions.some((t) => t.kind === 'add')
    while (
      this.removed.length < this.toRemove &&
      (o.membershipOrder !== 'adds-first' || addsDone()) &&
      this.rng.chance(o.probRemove ?? 0.1)
    ) {
      if (!this.scheduleRemove()) break
    }
  }

  /**
   * A crashing or leaving peer's Single-mode opaque votes not yet cast go to another live member,
   * so every payload is still voted by a peer that will see it decided.
   */
  private handOver(peer: SimPeer): void {
    if (this.mode !== 'single' || this.options.voteForSame) return
    for (const pending of peer.votes) {
      if (pending.duplicate || pending.observation.kind !== 'opaque') continue
      const live = this.liveMembers().filter((p) => p !== peer)
      if (live.length === 0) continue
      const heir = this.rng.pick(live)
      heir.votes.push(pending)
      this.log(`${peer.name}'s vote for ${pending.key} goes to ${heir.name}`)
    }
  }

  private voteStep(): number {
    return this.options.votesBeforeGossip
      ? this.step
      : this.step + this.rng.range(this.voteDelay.min, this.voteDelay.max)
  }

  private queueVote(peer: SimPeer, observation: Observation, due: number): void {
    peer.votes.push({ observation, key: observationKey(observation), due, duplicate: false })
  }

  private scheduleOpaque(): void {
    const payload = String(this.scheduledOpaque++)
    this.opaquePayloads.push(payload)
    const observation = opaque(utf8(payload))
    const live = this.liveMembers()
    let voters: SimPeer[]
    if (this.mode === 'single' && !this.options.voteForSame) voters = [this.rng.pick(live)]
    else voters = live
    // Byzantine members vote too (material for duplicate votes), but never a Single-mode block.
    if (this.mode === 'supermajority') voters = [...voters, ...this.byzantineMembers()]
    for (const voter of voters) this.queueVote(voter, observation, this.voteStep())
    this.log(`opaque "${payload}" voted by ${voters.map((p) => p.name).join(', ')}`)
  }

  private counts(): { joining: number; leaving: number; crashedMembers: number; live: number } {
    const joining = this.transitions.filter((t) => t.kind === 'add').length
    const leaving = this.transitions.filter((t) => t.kind === 'remove').length
    const crashedMembers = [...this.members].filter((p) => p.status === 'crashed').length
    return { joining, leaving, crashedMembers, live: this.liveMembers().length }
  }

  /**
   * Spec §13.1: adds allowed if (joined < 3 and none joining) or 3·joined > 2·(joined+joining+1);
   * here "joined" counts only live members (crashed and leaving ones are not), so the rule also
   * keeps more than two thirds of the largest possible voter set live.
   */
  private addIsAllowed(): boolean {
    const { joining, leaving, crashedMembers, live } = this.counts()
    if (this.members.size + joining >= (this.options.maxPeers ?? 64)) return false
    if (joining === 0 && leaving === 0 && crashedMembers === 0 && live < 3) return true
    return 3 * live > 2 * (this.members.size + joining + 1)
  }

  /**
   * Spec §13.1: removals if 3·(joined−1) > 2·(joined+leaving). Here, with `victim` leaving too,
   * the largest possible voter set (everyone, joiners and leavers included, counting only the
   * members that stay as live) and the smallest (without joiners and leavers) must both keep more
   * than two thirds live.
   */
  private removeIsAllowed(victim: SimPeer): boolean {
    const joining = this.transitions.filter((t) => t.kind === 'add').length
    const leaving = new Set(this.transitions.filter((t) => t.kind === 'remove').map((t) => t.peer))
    leaving.add(victim)
    const remaining = [...this.members].filter((p) => !leaving.has(p))
    if (remaining.length < (this.options.minPeers ?? 1)) return false
    const live = remaining.filter((p) => p.status === 'active').length
    return 3 * live > 2 * (this.members.size + joining) && 3 * live > 2 * remaining.length
  }

  private scheduleAdd(): void {
    const name = peerName(this.all.length)
    const secret = new MockSecretId(name)
    const section = this.all.filter((p) => this.running(p) || this.members.has(p)).map((p) => mockId(p.name))
    const parsec = Parsec.fromExisting({
      us: secret,
      genesis: this.genesisIds,
      section,
      consensusMode: this.mode,
      coin: this.coinFor(name),
    })
    const peer = this.newPeer(name, parsec, 'joining')
    this.added.push(name)
    const observation = add(mockId(name))
    const voters = this.liveMembers()
    for (const voter of voters) this.queueVote(voter, observation, this.voteStep())
    this.transitions.push({ kind: 'add', peer, key: observationKey(observation) })
    this.log(`Add(${name}) voted by ${voters.map((p) => p.name).join(', ')}`)
  }

  private scheduleRemove(): boolean {
    const crashed = [...this.members].filter((p) => p.status === 'crashed' && !p.leaving)
    const candidates = this.options.removeCrashedFirst && crashed.length > 0 ? crashed : this.liveMembers()
    if (candidates.length === 0) return false
    const victim = this.rng.pick(candidates)
    if (!this.removeIsAllowed(victim)) return false
    victim.leaving = true
    this.handOver(victim)
    victim.votes = []
    this.removed.push(victim.name)
    const observation = remove(mockId(victim.name))
    const voters = this.liveMembers()
    for (const voter of voters) this.queueVote(voter, observation, this.voteStep())
    this.transitions.push({ kind: 'remove', peer: victim, key: observationKey(observation) })
    this.log(`Remove(${victim.name}) voted by ${voters.map((p) => p.name).join(', ')}`)
    return true
  }

  // ---------------------------------------------------------------------------------- votes

  private castDueVotes(): void {
    for (const peer of this.all) {
      if (!this.running(peer) || peer.votes.length === 0) continue
      const keep: PendingVote[] = []
      for (const pending of peer.votes) {
        if (pending.due > this.step || !peer.parsec.canVote()) {
          keep.push(pending)
          continue
        }
        this.castVote(peer, pending, keep)
        if (this.aborted) return
      }
      peer.votes = keep
    }
  }

  private castVote(peer: SimPeer, pending: PendingVote, keep: PendingVote[]): void {
    const { observation, key } = pending
    if (pending.duplicate) {
      try {
        const step = this.took(peer, peer.parsec.voteFor(observation))
        if (step.warnings.some((w) => w.kind === 'duplicate-vote')) this.duplicateVotesRefused++
        else this.violate('vote', `${peer.name} voted ${key} twice and the engine accepted it`)
      } catch (error) {
        this.engineError('vote', `${peer.name} re-voting ${key}`, error)
      }
      return
    }
    // Already decided (supermajority key) or already voted: nothing to do.
    if (this.mode !== 'single' || observation.kind !== 'opaque') {
      if (peer.keySet.has(this.blockKeyOfPayload(key))) return
    }
    if (peer.parsec.haveVotedFor(observation)) return
    try {
      this.took(peer, peer.parsec.voteFor(observation))
    } catch (error) {
      if (isParsecError(error) && error.code === 'InvalidArgument' && peer.leaving) {
        this.tolerate(error.code)
        return
      }
      if (isParsecError(error) && peer.byzantine !== undefined) {
        this.countByzantineError(error.code)
        return
      }
      this.engineError('vote', `${peer.name} voting ${key}`, error)
      return
    }
    peer.byzantine?.noteVote(observation)
    let voters = this.castVotes.get(key)
    if (voters === undefined) {
      voters = new Set()
      this.castVotes.set(key, voters)
    }
    voters.add(peer.name)
    if (this.mode === 'single' && observation.kind === 'opaque') {
      this.singleVotes.push({ key: `${key}@${peer.name}`, voter: peer })
    }
    if (this.rng.chance(this.options.probVoteDuplication ?? 0)) {
      keep.push({ observation, key, due: this.step + this.rng.range(1, 10), duplicate: true })
    }
  }

  /** The agreement key of a supermajority block from its payload key. */
  private blockKeyOfPayload(key: string): string {
    if (key === 'genesis') return `genesis:${this.genesisIds.map((id) => id.name).join(',')}`
    return key
  }

  /** An engine call failed in a way the protocol does not allow; a non-`ParsecError` aborts the run. */
  private engineError(invariant: string, context: string, error: unknown): void {
    if (isParsecError(error)) {
      this.violate(invariant, `${context}: ${error.message}`)
    } else {
      const text = error instanceof Error ? (error.stack ?? error.message) : String(error)
      this.violate(invariant, `${context}: unexpected exception ${text}`)
      this.aborted = true
    }
  }

  // ---------------------------------------------------------------------------------- gossip

  private send(
    from: SimPeer,
    to: SimPeer,
    kind: 'request' | 'response',
    body: Request | Response,
    spam = false,
  ): void {
    const due =
      this.scheduler === undefined
        ? this.step + this.rng.range(this.delay.min, this.delay.max)
        : this.step + this.scheduler.bound
    this.messages.push({ seq: this.seq++, from, to, kind, body, sent: this.step, due, spam })
    if (kind === 'response') {
      this.responses++
      return
    }
    this.requests++
    this.requestsSent[from.name] = (this.requestsSent[from.name] ?? 0) + 1
    if (spam) this.spam.sent++
  }

  private gossip(): void {
    for (const peer of this.all) {
      if (!this.running(peer) || !this.rng.chance(this.probGossip) || peer.parsec.isRemoved) continue
      if (peer.byzantine?.isSilent(this.step) || this.accomplices.has(peer.name)) continue
      const recipients = peer.parsec.gossipRecipients().filter((id) => {
        const other = this.byName.get(id.name)
        return other !== undefined && this.running(other)
      })
      if (recipients.length === 0) continue
      const target = this.byName.get(this.rng.pick(recipients).name)!
      let request: Request
      try {
        request = this.took(peer, peer.parsec.createGossip(mockId(target.name))).message!
      } catch (error) {
        if (isParsecError(error) && peer.byzantine !== undefined) {
          this.countByzantineError(error.code)
          continue
        }
        this.engineError('gossip', `${peer.name} gossiping to recipient ${target.name}`, error)
        return
      }
      this.send(peer, target, 'request', this.outgoing(peer, target, request))
    }
  }

  /** What a message really carries: a Byzantine sender's behaviour layer may rewrite it. */
  private outgoing(from: SimPeer, to: SimPeer, message: Request | Response): Request | Response {
    if (from.byzantine === undefined) return message
    return { packedEvents: from.byzantine.tamper(message.packedEvents, to.name, this.host(from)) }
  }

  // ---------------------------------------------------------------------------------- Byzantine peers

  /** What the simulation offers Byzantine `peer` this step. */
  private host(peer: SimPeer): ByzantineHost {
    return {
      step: this.step,
      honestTargets: () =>
        this.all.filter((p) => p !== peer && this.running(p) && this.isHonest(p)).map((p) => p.name),
      sendRequest: (to, request, spam) => {
        const target = this.byName.get(to)
        if (target !== undefined) this.send(peer, target, 'request', request, spam)
      },
      take: (step) => this.took(peer, step),
      record: (entry) => this.misbehaviour.add({ ...entry, step: this.step, peer: peer.name }),
      engineError: (code) => this.countByzantineError(code),
    }
  }

  private actByzantine(): void {
    for (const peer of this.all) {
      if (peer.status === 'byzantine') peer.byzantine?.act(this.host(peer))
    }
  }

  private countByzantineError(code: string): void {
    this.byzantineErrors[code] = (this.byzantineErrors[code] ?? 0) + 1
  }

  /** Offenders of the accusations every honest peer agreed on leave the section (like a Remove). */
  private applyAgreedAccusations(): void {
    const honest = this.honestPeers()
    if (honest.length === 0) return
    for (const offender of honest[0].accused) {
      if (this.accusationsDone.has(offender) || !honest.every((p) => p.accused.has(offender))) continue
      this.accusationsDone.add(offender)
      const peer = this.byName.get(offender)
      if (peer === undefined) continue
      this.members.delete(peer)
      if (this.running(peer)) {
        peer.status = 'removed'
        peer.votes = []
      }
      this.log(`${offender} is accused everywhere and leaves the section`)
    }
  }

  /** Forged signatures must never get into an honest graph (checked once, at the end). */
  private checkForgedEvents(): void {
    if (!this.all.some((p) => p.byzantine?.has('invalid-signature'))) return
    for (const peer of this.honestPeers()) {
      for (const event of peer.parsec.packedEvents(0)) {
        if (!event.creator.verify(event.signature, encodeContent(event.creator, event.cause))) {
          this.forgedEventsAccepted++
          this.violate(
            'validity',
            `${peer.name} holds an event by ${event.creator.name} with a bad signature`,
          )
        }
      }
    }
  }

  /** `entry` with the honest peers its evidence reached, if it is provable. */
  private withReach(entry: Misbehaviour, honest: readonly SimPeer[]): Misbehaviour {
    if (entry.malice === undefined || entry.events.length === 0) return entry
    const hashes = entry.events.map((hex) => fromHex(hex))
    const reached = honest
      .filter((peer) => {
        const graph = internalsOf(peer.parsec).graph
        return hashes.every((hash) => graph.indexOf(hash) !== undefined)
      })
      .map((peer) => peer.name)
    return { ...entry, reached }
  }

  // ---------------------------------------------------------------------------------- adversarial scheduler

  private schedulerHost(): SchedulerHost {
    const voters = this.genesisIds.map((id) => id.name)
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
      step: this.step,
      voters,
      accomplices: this.accomplices,
      engine: (name) => this.byName.get(name)!.parsec,
      clone: (name) =>
        Parsec.restore({
          us: new MockSecretId(name),
          genesis: this.genesisIds,
          consensusMode: this.mode,
          coin: this.coinFor(name),
          events: this.byName.get(name)!.parsec.packedEvents(0),
        }),
      inFlight: () => this.messages.map(scheduled),
      deliver: (message) => {
        const real = bySeq(message.seq)
        if (real === undefined) return
        this.messages = this.messages.filter((m) => m !== real)
        this.handle(real)
      },
      accompliceRequest: (from, to) => {
        const sender = this.byName.get(from)!
        const receiver = this.byName.get(to)!
        if (!this.running(sender) || !this.running(receiver)) return
        let request: Request
        try {
          if (sender.parsec.isRemoved) return
          request = this.took(sender, sender.parsec.createGossip(mockId(to))).message!
        } catch (error) {
          if (isParsecError(error)) this.countByzantineError(error.code)
          return
        }
        this.send(sender, receiver, 'request', request)
        const message = this.messages.pop()!
        this.handle(message)
      },
    }
  }

  /** Rounds-to-decision per election: the largest among the honest peers' deciding events. */
  private decisionRounds(honest: readonly SimPeer[]): number[] {
    const rounds: number[] = []
    for (const peer of honest) {
      internalsOf(peer.parsec).election.decisionRounds.forEach((round, i) => {
        rounds[i] = Math.max(rounds[i] ?? 0, round)
      })
    }
    return rounds
  }

  // ---------------------------------------------------------------------------------- delivery

  private deliver(): void {
    if (this.scheduler !== undefined) {
      this.scheduler.run(this.schedulerHost())
      if (this.aborted) return
    }
    for (;;) {
      const due = this.messages.filter((m) => m.due <= this.step)
      if (due.length === 0) return
      this.messages = this.messages.filter((m) => m.due > this.step)
      due.sort((a, b) => a.due - b.due || a.seq - b.seq)
      for (const message of due) {
        // An accomplice ignores what the scheduler did not have it handle.
        if (this.accomplices.has(message.to.name)) continue
        this.handle(message)
        if (this.aborted) return
      }
    }
  }

  private handle(message: Message): void {
    const { from, to } = message
    if (!this.running(to)) {
      this.dropped++
      return
    }
    if (to.byzantine !== undefined) {
      this.handleAtByzantine(message, to.byzantine)
      return
    }
    if (message.kind === 'request' && !this.admit(message)) return
    const src = mockId(from.name)
    let faults: readonly Fault[] = []
    try {
      if (to.parsec.isRemoved) {
        // Serve-only answers carry no sync event: the simulation's removed peers stay silent.
        throw new ParsecError('InvalidSelfState', 'removed')
      }
      if (message.kind === 'request') {
        const step = this.took(to, to.parsec.handleRequest(src, message.body))
        faults = step.faults
        if (this.running(from)) this.send(to, from, 'response', step.message!)
        else this.dropped++
      } else {
        faults = this.took(to, to.parsec.handleResponse(src, message.body)).faults
      }
    } catch (error) {
      if (isParsecError(error)) this.noteFaults(message, error.faults)
      if (isParsecError(error) && from.byzantine !== undefined) {
        // A Byzantine sender's message: refusing it is the engine doing its job.
        this.rejected[error.code] = (this.rejected[error.code] ?? 0) + 1
        return
      }
      if (isParsecError(error) && this.isTolerated(error.code, message)) {
        this.tolerate(error.code)
        return
      }
      this.engineError('engine-error', `${to.name} handling a ${message.kind} from ${from.name}`, error)
      return
    }
    this.noteFaults(message, faults)
  }

  /** The receiver's inbound limit lets a request through, or refuses it (never an honest one). */
  private admit(message: Message): boolean {
    if (message.spam) this.spam.arrived++
    if (this.inbound.admit(message.to.name, message.from.name, this.step)) return true
    this.refused++
    if (message.spam) this.spam.refused++
    if (this.isHonest(message.from)) {
      this.violate('containment', `${message.to.name} refused a request from honest ${message.from.name}`)
    }
    return false
  }

  /** Faults an honest peer's handle call reported: counted; malice must name a Byzantine peer. */
  private noteFaults(message: Message, faults: readonly Fault[]): void {
    for (const fault of faults) {
      const key = fault.kind === 'malice' ? `malice:${fault.malice.type}` : `rejected:${fault.code}`
      this.faults[key] = (this.faults[key] ?? 0) + 1
      if (fault.kind !== 'malice') continue
      const offender = this.byName.get(fault.offender.name)
      if (offender !== undefined && offender.byzantine !== undefined) {
        this.reported.add(offender.name)
      } else {
        this.violate(
          'accusation',
          `${message.to.name} found ${fault.malice.type} by honest ${fault.offender.name} in a ${message.kind} from ${message.from.name}`,
        )
      }
    }
  }

  /** A Byzantine receiver: its engine fails as it may (counted); a silent one handles nothing. */
  private handleAtByzantine(message: Message, byzantine: ByzantinePeer): void {
    const { from, to } = message
    if (byzantine.isSilent(this.step)) {
      this.silenced++
      return
    }
    const src = mockId(from.name)
    const packedEvents: readonly PackedEvent[] = byzantine.incoming(message.body.packedEvents)
    try {
      if (to.parsec.isRemoved) throw new ParsecError('InvalidSelfState', 'removed')
      if (message.kind === 'request') {
        const response = this.took(to, to.parsec.handleRequest(src, { packedEvents })).message!
        if (this.accomplices.has(to.name)) return
        if (this.running(from)) this.send(to, from, 'response', this.outgoing(to, from, response))
        else this.dropped++
      } else {
        this.took(to, to.parsec.handleResponse(src, { packedEvents }))
      }
    } catch (error) {
      if (!isParsecError(error)) {
        this.engineError('engine-error', `Byzantine ${to.name} handling a ${message.kind}`, error)
        return
      }
      this.countByzantineError(error.code)
    }
  }

  /**
   * Errors the protocol allows: gossip from (or relaying events of) a peer the receiver removed;
   * a removed receiver; a joiner hearing from a peer it does not know yet (added after it), or
   * from members before it has decided its own Add (`PrematureGossip`, spec §9.2).
   */
  private isTolerated(code: string, message: Message): boolean {
    switch (code) {
      case 'InvalidPeerState':
        // The receiver removed the sender, or a relayed event's creator.
        return internalsOf(message.to.parsec).peers.removedAt.some((at) => at >= 0)
      case 'InvalidSelfState':
        return message.to.leaving || this.removed.includes(message.to.name)
      case 'UnknownPeer':
        // A joiner hears from a peer added after it, or a new member gossips to a peer that has
        // not decided its Add yet: the receiver does not know the sender.
        return internalsOf(message.to.parsec).peers.indexOf(mockId(message.from.name)) === undefined
      case 'PrematureGossip':
        return message.to.status === 'joining'
      default:
        return false
    }
  }

  // ---------------------------------------------------------------------------------- blocks

  private pollAll(): void {
    for (const peer of this.all) {
      if (!this.running(peer)) continue
      // A peer that decides its own removal still gets the rest of that block group (spec §8.6).
      const agreed = peer.agreed.splice(0)
      for (const block of agreed) this.record(peer, block)
      for (let block = peer.parsec.poll(); block !== undefined; block = peer.parsec.poll()) {
        this.record(peer, block)
      }
    }
  }

  /** Keeps a step's blocks for `pollAll`; its error is thrown, as the engine's calls once did. */
  private took<M>(peer: SimPeer, step: Step<M>): Step<M> {
    for (const { block } of step.blocks) peer.agreed.push(block)
    if (step.error !== undefined) throw step.error
    return step
  }

  private record(peer: SimPeer, block: Block): void {
    this.lastProgress = this.step
    const description = describeBlock(block)
    const key = blockKey(description, this.mode)
    const position = peer.keys.length
    peer.blocks.push(description)
    peer.keys.push(key)
    if (peer.byzantine !== undefined) {
      // The invariants are about honest peers; a Byzantine one only stops once it is out.
      const out =
        (description.kind === 'accusation' && description.offender === peer.name) ||
        (description.kind === 'remove' && description.peer === peer.name)
      if (out && peer.status === 'byzantine') {
        peer.status = 'removed'
        peer.votes = []
        this.log(`Byzantine ${peer.name} decided its own removal and stops`)
      }
      return
    }
    if (description.kind === 'accusation') peer.accused.add(description.offender)
    // no-duplicates
    if (peer.keySet.has(key)) this.violate('no-duplicates', `${peer.name} decided ${key} twice`)
    peer.keySet.add(key)
    // agreement: every sequence is a prefix of the longest one
    if (position < this.canonical.length) {
      if (this.canonical[position] !== key) {
        this.violate(
          'agreement',
          `${peer.name} block #${position} is ${key}, another peer decided ${this.canonical[position]} there`,
        )
      }
    } else {
      this.canonical.push(key)
    }
    this.checkValidity(peer, description, key)
    // membership effects on the simulated peers
    if (description.kind === 'add' && description.peer === peer.name && peer.status === 'joining') {
      peer.status = 'active'
      this.log(`${peer.name} joined (block #${position})`)
      this.revote(peer)
    }
    if (description.kind === 'remove' && description.peer === peer.name) {
      peer.status = 'removed'
      peer.votes = []
      this.log(`${peer.name} decided its own removal and stops`)
    }
  }

  private checkValidity(peer: SimPeer, description: BlockDescription, key: string): void {
    if (description.kind === 'accusation') {
      this.checkAccusation(peer, description.offender, description.voters)
      return
    }
    const payload = payloadKey(description)
    const voters = this.castVotes.get(payload)
    if (voters === undefined) {
      this.violate('validity', `${peer.name} decided ${key}, which nobody voted`)
      return
    }
    if (description.kind === 'genesis') {
      const expected = this.genesisIds.map((id) => id.name).join(',')
      if (description.peers.join(',') !== expected) {
        this.violate(
          'validity',
          `${peer.name} decided genesis ${description.peers.join(',')}, expected ${expected}`,
        )
      }
    }
    if (description.voters.length === 0) {
      this.violate('validity', `${peer.name} decided ${key} without any vote`)
    }
    for (const voter of description.voters) {
      if (!voters.has(voter)) {
        this.violate('validity', `${peer.name} decided ${key} with a vote by ${voter}, who never voted it`)
      }
    }
    if (this.mode === 'single' && description.kind === 'opaque' && description.voters.length !== 1) {
      this.violate(
        'validity',
        `${peer.name} decided Single-mode ${key} with ${description.voters.length} votes`,
      )
    }
  }

  /**
   * An agreed accusation (voted by the engines themselves, so not in `castVotes`) must name a
   * Byzantine peer that did something provable: an honest peer is never accused, so never removed.
   */
  private checkAccusation(peer: SimPeer, offender: string, voters: readonly string[]): void {
    const accused = this.byName.get(offender)
    if (accused === undefined || accused.byzantine === undefined) {
      this.violate('accusation', `${peer.name} agreed on an accusation of honest ${offender}`)
    } else if (!this.misbehaviour.provablyMisbehaved(offender)) {
      this.violate(
        'accusation',
        `${peer.name} agreed on an accusation of ${offender}, who did nothing provable`,
      )
    }
    if (voters.length === 0)
      this.violate('validity', `${peer.name} decided an accusation of ${offender} without votes`)
  }

  /** A joiner that can vote now votes what is still open (spec §13.1: opaques only in Supermajority mode). */
  private revote(peer: SimPeer): void {
    const open: Observation[] = []
    for (const t of this.transitions) {
      if (t.peer === peer) continue
      open.push(t.kind === 'add' ? add(mockId(t.peer.name)) : remove(mockId(t.peer.name)))
    }
    if (this.mode === 'supermajority') {
      for (const payload of this.opaquePayloads) open.push(opaque(utf8(payload)))
    }
    for (const observation of open) {
      const key = observationKey(observation)
      if (peer.keySet.has(key) || peer.votes.some((v) => v.key === key)) continue
      this.queueVote(peer, observation, this.step + 1)
    }
  }

  // ---------------------------------------------------------------------------------- progress

  private updateTransitions(): void {
    for (let i = 0; i < this.transitions.length; i++) {
      const t = this.transitions[i]
      const key = this.blockKeyOfPayload(t.key)
      const others = this.all.filter((p) => p.status === 'active' && !p.leaving && p !== t.peer)
      if (!others.every((p) => p.keySet.has(key))) continue
      if (t.kind === 'add') {
        if (t.peer.status !== 'active' || !t.peer.keySet.has(key)) continue
        this.members.add(t.peer)
      } else {
        this.members.delete(t.peer)
        if (this.running(t.peer)) {
          t.peer.status = 'removed'
          t.peer.votes = []
          this.log(`${t.peer.name} is removed everywhere and stops`)
        }
      }
      this.transitions.splice(i--, 1)
    }
  }

  /**
   * Why the remaining adds or removes can never be scheduled, if so: nothing is in transition or
   * waiting to be voted, and the safety rules forbid the next one (only crashes could change the
   * counts, and they only make it worse).
   */
  private unschedulable(): string | undefined {
    if (this.transitions.length > 0) return undefined
    if (this.votesPending()) return undefined
    // A Byzantine member that misbehaves provably will be accused and removed, which may make room.
    if (this.awaitedAccusations().length > 0) return undefined
    if (this.byzantineMembers().some((p) => p.byzantine?.provable)) return undefined
    if (this.added.length < this.toAdd && !this.addIsAllowed()) {
      return `cannot add ${this.toAdd - this.added.length} more peers to ${this.members.size} members (${this.counts().crashedMembers} crashed)`
    }
    if (this.removed.length < this.toRemove && this.added.length === this.toAdd) {
      const candidates = [...this.members].filter((p) => !p.leaving && p.status !== 'removed')
      if (!candidates.some((p) => this.removeIsAllowed(p))) {
        return `cannot remove ${this.toRemove - this.removed.length} more peers from ${this.members.size} members (${this.counts().crashedMembers} crashed)`
      }
    }
    return undefined
  }

  /** The blocks every honest peer must hold. */
  private requiredKeys(): string[] {
    const keys = [this.blockKeyOfPayload('genesis')]
    for (const payload of this.opaquePayloads) {
      if (this.mode === 'supermajority') keys.push(`opaque:${payload}`)
    }
    for (const { key, voter } of this.singleVotes) {
      if (voter.status === 'active' && !voter.leaving) keys.push(key)
    }
    for (const name of this.added) keys.push(`add:${name}`)
    for (const name of this.removed) keys.push(`remove:${name}`)
    return keys
  }

  private honestPeers(): SimPeer[] {
    return this.all.filter((p) => p.status === 'active' && !p.leaving)
  }

  private isDone(): boolean {
    if (this.scheduledOpaque < this.opaqueCount || this.added.length < this.toAdd) return false
    if (this.removed.length < this.toRemove || this.transitions.length > 0 || this.failures.length > 0) {
      return false
    }
    if (this.votesPending()) return false
    if (this.awaitedAccusations().length > 0) return false
    const honest = this.honestPeers()
    const required = this.requiredKeys()
    const length = honest[0]?.keys.length
    return honest.every((p) => p.keys.length === length && required.every((k) => p.keySet.has(k)))
  }

  /** Peers an honest peer reported malice of whose accusation is not yet agreed by every honest peer. */
  private awaitedAccusations(): string[] {
    return [...this.reported].filter((name) => !this.accusationsDone.has(name))
  }

  private missingSummary(): string {
    const parts: string[] = []
    for (const name of this.awaitedAccusations()) parts.push(`accusation of ${name} not agreed`)
    if (this.scheduledOpaque < this.opaqueCount) {
      parts.push(`${this.opaqueCount - this.scheduledOpaque} opaque not scheduled`)
    }
    if (this.added.length < this.toAdd) parts.push(`${this.toAdd - this.added.length} adds not scheduled`)
    if (this.removed.length < this.toRemove) {
      parts.push(`${this.toRemove - this.removed.length} removes not scheduled`)
    }
    for (const t of this.transitions) parts.push(`${t.kind}(${t.peer.name}) in progress`)
    const required = this.requiredKeys()
    for (const peer of this.honestPeers()) {
      const missing = required.filter((k) => !peer.keySet.has(k))
      if (missing.length > 0) parts.push(`${peer.name} lacks ${missing.join(' ')}`)
    }
    const lengths = new Set(this.honestPeers().map((p) => p.keys.length))
    if (lengths.size > 1) parts.push(`block counts differ (${[...lengths].join('/')})`)
    return parts.join('; ') || 'nothing missing'
  }

  private checkMembership(): void {
    const expected = [...this.members].map((p) => p.name).sort()
    for (const peer of this.honestPeers()) {
      const voters = peer.parsec
        .voters()
        .map((id) => id.name)
        .sort()
      if (voters.join(',') !== expected.join(',')) {
        this.violate(
          'membership',
          `${peer.name} has voters ${voters.join(',')}, expected ${expected.join(',')}`,
        )
      }
    }
  }

  private result(): SimulationResult {
    const honest = this.honestPeers()
    const peers: Record<string, BlockDescription[]> = {}
    const status: Record<string, PeerStatus> = {}
    for (const peer of this.all) {
      peers[peer.name] = peer.blocks
      status[peer.name] = peer.status
    }
    const accused: string[] = []
    for (const key of this.canonical) {
      if (!key.startsWith('accusation:')) continue
      const offender = key.split(':')[1]
      if (!accused.includes(offender)) accused.push(offender)
    }
    const byzantine: Record<string, Behaviour[]> = {}
    for (const peer of this.all) if (peer.byzantine) byzantine[peer.name] = [...peer.byzantine.behaviours]
    return {
      seed: this.options.seed,
      agreed: this.violations.length === 0,
      honest: honest.map((p) => p.name),
      accused,
      byzantine,
      misbehaviour: this.misbehaviour.entries.map((entry) => this.withReach(entry, honest)),
      peers,
      status,
      steps: this.step,
      events: Math.max(0, ...honest.map((p) => p.parsec.graphSize)),
      violations: this.violations,
      expected: {
        opaque: [...this.opaquePayloads],
        added: [...this.added],
        removed: [...this.removed],
        crashed: [...this.crashed],
        members: [...this.members].map((p) => p.name).sort(),
        votes: Object.fromEntries(
          this.opaquePayloads.map((payload) => [
            payload,
            [...(this.castVotes.get(`opaque:${payload}`) ?? [])].sort(),
          ]),
        ),
      },
      stats: {
        requests: this.requests,
        responses: this.responses,
        dropped: this.dropped,
        toleratedErrors: { ...this.tolerated },
        duplicateVotesRefused: this.duplicateVotesRefused,
        requestsSent: { ...this.requestsSent },
        rejected: { ...this.rejected },
        faults: { ...this.faults },
        silenced: this.silenced,
        spam: { ...this.spam },
        refused: this.refused,
        forgedEventsAccepted: this.forgedEventsAccepted,
        byzantineErrors: { ...this.byzantineErrors },
        decisionRounds: this.decisionRounds(honest),
      },
      ...(this.scheduler === undefined ? {} : { adversary: this.scheduler.stats }),
    }
  }
}

/** Runs one simulation to its end (termination, a violated invariant, or the step bound). */
export function simulate(options: SimulationOptions): SimulationResult {
  return new Simulation(options).run()
}
