/**
 * The simulation as a membership host (MEMBERSHIP.md §6: a second host beside p2p-section). Every
 * peer runs a `Membership` machine beside its engine. The host feeds each machine every agreed
 * block (position, election index), every decision (`lastAncestors`), others' unconsensused
 * Add/Remove votes (`view().membershipVotes`), activity (an event of p reached our engine) and
 * `tick(now)` from the clock, routes its messages over the simulated network (their own queue, with
 * the gossip's delay draws) and carries out its directives: votes (`voteFor`), engine construction
 * for an admitted joiner, paged catch-up as an observer (`exportEvents` → `ingest`), the leaver's
 * drain (serve-only, final syncs taken by `ingest`), stop, bans and whose sync to accept, and
 * discovery (`findMembers` answered with the members).
 *
 * It also runs the membership workload (outsiders joining, members leaving or going silent, a
 * Sybil burst, the operator's adds and removes), says when every requested change is settled (happened, rejected, or deferred and
 * quiet), and checks M1-M7 (`membership-invariants.ts`).
 */

import {
  type AdmissionPolicy,
  allowlist,
  decodeMessage,
  genesisRecord,
  Membership,
  type MembershipConfig,
  type MembershipEvent,
  type Step as MembershipStep,
  NEVER,
  openWithWork,
  resolveConfig,
} from '@parsec-section/membership'
import {
  type Block,
  encodeObservation,
  type Frontier,
  isParsecError,
  MockSecretId,
  mockId,
  type Observation,
  type PackedEvent,
  Parsec,
  type PublicId,
  supermajority,
  toHex,
} from '@parsec-section/parsec-core'
import type { RunContext } from './context.js'
import { type Persisted, persist, restoreEngine } from './epoch-restart.js'
import { type EpochStart, observe, switchEpoch } from './epoch-switch.js'
import { type JoinTiming, JoinTimings } from './join-timing.js'
import { observationKey } from './keys.js'
import { MembershipAdversary } from './membership-adversary.js'
import { MembershipInvariants } from './membership-invariants.js'
import { type MembershipRunOptions, membershipConfigOf } from './membership-options.js'
import { peerName } from './names.js'
import { engineFor, type SimPeer, took } from './peers.js'
import type { Votes } from './votes.js'
import type { Workload } from './workload.js'

/** Events per catch-up page. */
const PAGE_EVENTS = 256
/** Steps before pulling again after an empty page (nothing new at the server yet). */
const IDLE_PULL_STEPS = 5
/** Steps between an operator's repeats of an open `--add`/`--remove` command. */
const OPERATOR_RETRY_STEPS = 100
/** Machines are ticked when due, and at least this often (steps) so their `now` stays fresh. */
const TICK_EVERY = 10

/** One peer as the host sees it: its machine, its engine once it has one. */
export interface HostedPeer {
  readonly name: string
  readonly secret: MockSecretId
  /** Its machine (a restart resumes a new one from the delivered blocks). */
  machine: Membership
  sim: SimPeer | undefined
  readonly founder: boolean
  readonly sybil: boolean
  /** False once stopped or crashed: it handles nothing more. */
  alive: boolean
  /** Founders, and joiners after `self:joined`. */
  joined: boolean
  draining: boolean
  catchUpFrom: string | undefined
  /** A catch-up pull is in flight, or the step before which the next one waits. */
  pulling: boolean
  nextPullAt: number
  wakeAt: number | undefined
  lastTick: number
  /** Peer → banned until (simulated ms). */
  readonly bans: Map<string, number>
  /** Peers whose sync this peer refuses. */
  readonly refused: Set<string>
  readonly seenVotes: Set<string>
  lastGraphSize: number
  findMembers: boolean
  /** Every block it delivered, with the election that decided it (what a restart resumes from). */
  readonly blockLog: Block[]
  readonly electionLog: (number | undefined)[]
  /** The election of the last block it folded, and that election's voters. */
  electionVoters: { readonly election: number | undefined; readonly voters: string[] } | undefined
  /** Killed mid-switch (`epochRestarts`): what its store held, and the step it restarts at. */
  persisted: Persisted | undefined
  restartAt: number | undefined
}

type Envelope =
  | {
      readonly kind: 'message'
      readonly from: string
      readonly to: string
      readonly bytes: Uint8Array
      readonly due: number
    }
  | {
      readonly kind: 'pull'
      readonly from: string
      readonly to: string
      readonly frontier: Frontier
      /** The puller's epoch: the server answers from its engine of that epoch. */
      readonly epoch: number
      readonly due: number
    }
  | {
      readonly kind: 'page'
      readonly from: string
      readonly to: string
      readonly events: readonly PackedEvent[] | undefined
      readonly epoch: number
      /** The server holds no engine of `epoch` and is in this later one (p2p's `other-epoch`). */
      readonly aheadEpoch?: number
      readonly due: number
    }

type ChangeKind = 'join' | 'leave' | 'unresponsive' | 'sybil' | 'remove' | 'add' | 'flap' | 'silent-join'

/** A change the run was asked for, and how it ended. */
interface RequestedChange {
  readonly kind: ChangeKind
  /** Step it starts at (drawn at the start of the run; moved by `afterBlocks`). */
  at: number
  peer: string | undefined
  outcome: 'done' | 'rejected' | undefined
  deferred: boolean
  /** A join that tests one rule (`joinsWhileRemoving`, `unreadyJoins`, `staleJoins`). */
  variant?: 'whileRemoving' | 'unready' | 'stale'
  /** A silence without the run's safety check (`silentTogether`). */
  forced?: boolean
}

/** What a membership run reports (`SimulationResult.membership`). */
export interface MembershipReport {
  /** Per honest member at the end: its machine's members, sorted. */
  readonly members: Record<string, string[]>
  readonly joined: string[]
  readonly left: string[]
  readonly unresponsive: string[]
  readonly banned: string[]
  /** Distinct candidates some member refused. */
  readonly rejected: number
  /** Distinct changes held back by a rule (budget, young cap, limits, probation, size), or not
   * started because the section could not have taken them. */
  readonly deferred: number
  /** Requested changes not settled when the run ended. */
  readonly unsettled: string[]
  /** Membership messages sent, catch-up pages served. */
  readonly messages: number
  readonly pages: number
  /** Per outsider: when it asked, the history it replayed, when it joined (`join-timing.ts`). */
  readonly joins: JoinTiming[]
  /** Distinct `peer:reason` of the join requests members refused. */
  readonly rejections: string[]
  /** Per peer that reported `section:fragile`: the section's size in its last report. */
  readonly fragile: Record<string, number>
  /** Machine warnings by kind (`Dropped` ones by their first word, e.g. `Dropped:StaleChain`). */
  readonly warnings: Record<string, number>
  /** Per resurrecting or banned peer asking again: the honest members that refused it. */
  readonly refusals: Record<string, string[]>
  /** JoinInfo messages the malicious responder rewrote (`forgedJoinInfo`). */
  readonly forgedJoinInfos: number
  /** Leavers that crashed while draining (`crashMidDrain`). */
  readonly drainCrashes: string[]
  /** Per block position: the step at which the first honest member agreed it (block rates). */
  readonly agreedAt: number[]
  /** Per opaque payload, in order ("0", "1", ...): the step it was scheduled (the offered load). */
  readonly scheduledAt: number[]
  /** Per honest member at the end: the epoch its engine is in. */
  readonly epochs: Record<string, number>
  /** The kills at an epoch switch (`epochRestarts`), as `peer@position:before|after`. */
  readonly restarts: string[]
}

export class MembershipHosting {
  readonly hosts = new Map<string, HostedPeer>()
  readonly config: MembershipConfig
  readonly invariants: MembershipInvariants
  private readonly options: MembershipRunOptions
  private readonly machineConfig: Partial<MembershipConfig>
  private queue: Envelope[] = []
  private readonly changes: RequestedChange[] = []
  private nameIndex: number
  private readonly joined: string[] = []
  private readonly left = new Set<string>()
  private readonly silenced = new Set<string>()
  private readonly removedForSilence = new Set<string>()
  private readonly banned = new Set<string>()
  private readonly rejected = new Set<string>()
  private readonly deferred = new Set<string>()
  private lastEventStep = 0
  private messages = 0
  private pages = 0
  private readonly timings = new JoinTimings()
  /** The step from which the requested changes count (`afterBlocks`); undefined while waiting. */
  private historyFrom: number | undefined
  /** Outsiders the operator named (`operatorAdds`), and the admission policy every machine runs. */
  private readonly operatorNamed: string[] = []
  private policy: AdmissionPolicy | undefined
  private readonly adversary: MembershipAdversary
  private readonly rejections = new Set<string>()
  private readonly fragile: Record<string, number> = {}
  private readonly warnings: Record<string, number> = {}
  private readonly agreedAt: number[] = []
  /** The kills at a switch (`epochRestarts`): `peer@position:moment`. */
  private readonly restarts: string[] = []
  private readonly scheduledAt: number[] = []

  constructor(
    private readonly ctx: RunContext,
    private readonly votes: Votes,
    private readonly workload: Workload,
  ) {
    this.options = ctx.options.membership ?? {}
    this.machineConfig = membershipConfigOf(this.options)
    this.config = resolveConfig(this.machineConfig)
    this.invariants = new MembershipInvariants(ctx, this)
    this.policy = this.operatorPolicy()
    this.adversary = new MembershipAdversary(ctx, this.options, {
      hosts: this.hosts,
      apply: (h, step) => this.apply(h, step),
      send: (from, to, bytes) => this.send('message', from, to, bytes),
      honestMembers: () => this.honestMembers(),
      outsider: (name, secret) => this.outsider(name, secret),
    })
    const { peers, rng } = ctx
    this.nameIndex = peers.genesisIds.length
    const record = genesisRecord(peers.genesisIds)
    const impatient = this.options.impatient
    for (const [index, sim] of peers.all.entries()) {
      const secret = new MockSecretId(sim.name)
      const machine = Membership.found({
        us: secret,
        record,
        now: 0,
        rng: this.machineRng(),
        config:
          impatient !== undefined && index < impatient.count
            ? { ...this.machineConfig, ...impatient.config }
            : this.machineConfig,
        ...(this.policy === undefined ? {} : { policy: this.policy }),
      })
      const host = this.newHost(sim.name, secret, machine, true, false)
      host.sim = sim
      host.joined = true
      sim.heard = new Set()
      this.apply(host, machine.start())
    }
    const window = Math.max(1, this.options.window ?? 600)
    const draw = (kind: ChangeKind, count: number) => {
      for (let i = 0; i < count; i++) {
        this.changes.push({
          kind,
          at: rng.range(1, window),
          peer: undefined,
          outcome: undefined,
          deferred: false,
        })
      }
    }
    draw('join', this.options.joins ?? 0)
    draw('leave', this.options.leaves ?? 0)
    draw('unresponsive', this.options.unresponsive ?? 0)
    draw('remove', this.options.proposeRemoves ?? 0)
    draw('add', this.options.operatorAdds ?? 0)
    draw('silent-join', this.options.silentJoins ?? 0)
    const sybil = this.options.sybil ?? 0
    const spread = this.options.sybilSpread ?? 0
    if (sybil > 0) {
      const at = rng.range(1, window)
      for (let i = 0; i < sybil; i++) {
        const offset = spread > 0 ? rng.range(0, spread) : 0
        this.changes.push({
          kind: 'sybil',
          at: at + offset,
          peer: undefined,
          outcome: undefined,
          deferred: false,
        })
      }
    }
    this.drawSpecialChanges(window)
    this.changes.sort((a, b) => a.at - b.at)
  }

  /** The changes that test one rule each (`silentTogether` ... `flapping`; none drawn by default). */
  private drawSpecialChanges(window: number): void {
    const { rng } = this.ctx
    this.leavesWait = this.options.leavesAfterJoins === true
    const push = (kind: ChangeKind, at: number, extra: Partial<RequestedChange> = {}) =>
      this.changes.push({ kind, at, peer: undefined, outcome: undefined, deferred: false, ...extra })
    const together = this.options.silentTogether ?? 0
    if (together > 0) {
      const at = rng.range(1, window)
      for (let i = 0; i < together; i++) push('unresponsive', at, { forced: true })
    }
    for (let i = 0; i < (this.options.joinsWhileRemoving ?? 0); i++)
      push('join', rng.range(1, window), { variant: 'whileRemoving' })
    for (let i = 0; i < (this.options.unreadyJoins?.count ?? 0); i++)
      push('join', rng.range(1, window), { variant: 'unready' })
    for (let i = 0; i < (this.options.staleJoins ?? 0); i++) push('join', 1, { variant: 'stale' })
    if (this.options.flapping !== undefined) push('flap', rng.range(1, window))
  }

  // --- what the other parts ask ------------------------------------------------------------------

  host(name: string): HostedPeer | undefined {
    return this.hosts.get(name)
  }

  /** `peer` was removed and is draining: it answers pulls and pushes final syncs (receivers ingest). */
  isDraining(peer: SimPeer): boolean {
    return this.hosts.get(peer.name)?.draining === true
  }

  /** `to` refused `from`'s gossip as from a non-member: `from`'s machine hears of it (spec §4). */
  refusedBy(from: SimPeer, to: SimPeer): void {
    const h = this.hosts.get(from.name)
    if (h === undefined || !h.alive || !h.joined) return
    this.apply(h, h.machine.engineSelf({ refusedBy: mockId(to.name) }))
  }

  /** Whether `to` takes sync from `from` (not banned, not refused). */
  accepts(from: SimPeer, to: SimPeer): boolean {
    const host = this.hosts.get(to.name)
    if (host === undefined) return true
    if (host.refused.has(from.name)) return false
    const until = host.bans.get(from.name)
    return until === undefined || until <= this.ctx.clock.now
  }

  /** Honest members: running, joined, not leaving, member by their own machine. */
  honestMembers(): HostedPeer[] {
    return [...this.hosts.values()].filter(
      (h) =>
        h.alive &&
        h.joined &&
        !h.sybil &&
        h.sim !== undefined &&
        h.sim.status === 'active' &&
        !h.sim.leaving &&
        h.machine.role === 'member' &&
        // It folded the block that made it a member (founders: the genesis block).
        h.machine.state?.isMember(h.name) === true,
    )
  }

  /** The members as the most advanced honest member folded them. */
  referenceMembers(): PublicId[] {
    return this.mostAdvanced()?.machine.state?.memberIds() ?? []
  }

  /** The honest member that folded the most blocks. */
  private mostAdvanced(): HostedPeer | undefined {
    let best: HostedPeer | undefined
    for (const h of this.honestMembers()) {
      const blocks = h.machine.state?.agreedBlocks ?? 0
      if (best === undefined || blocks > (best.machine.state?.agreedBlocks ?? 0)) best = h
    }
    return best
  }

  /** Work is open: some requested change has not happened (traffic keeps decisions coming). */
  get open(): boolean {
    if (this.stalled) return false
    return this.historyFrom !== undefined && this.changes.some((c) => c.outcome === undefined)
  }

  /** Every requested change happened or was rejected, or the rest is deferred and quiet. */
  settled(): boolean {
    if (!this.adversary.settled()) return false
    const open = this.changes.filter((c) => c.outcome === undefined)
    if (open.length === 0) return this.noJoinInFlight()
    const quiet = this.ctx.step - this.lastEventStep >= (this.options.quietSteps ?? this.defaultQuietSteps())
    return quiet && open.every((c) => c.at <= this.ctx.step && (c.deferred || c.kind === 'sybil'))
  }

  /**
   * Quiet for longer than `candidateTimeoutMs`: Adds that split the votes lapse by then and their
   * joiners come back with fresh tickets, so a split is not taken for a settled deferral (add-many
   * seed 833: two re-presented Adds split 3-3 at N = 5, the run stopped 400 quiet steps later).
   */
  private defaultQuietSteps(): number {
    return Math.max(400, Math.ceil(this.config.candidateTimeoutMs / this.ctx.clock.stepMs) + 100)
  }

  /** Every honest member folded the same members (and every honest peer's machine is a member). */
  membersAgree(): boolean {
    const members = this.honestMembers()
    const first = members[0]?.machine.state
    if (first === undefined) return true
    const key = toHex(first.hash())
    return members.every((h) => toHex(h.machine.state!.hash()) === key)
  }

  // --- a step ------------------------------------------------------------------------------------

  /** Start of a step: due changes, messages, pulls, discovery answers and ticks. */
  begin(): void {
    const { ctx } = this
    if (this.historyReached()) {
      for (const change of this.changes) {
        if (change.at > ctx.step || change.outcome !== undefined) continue
        // The operator removes once its adds are settled (the CLI's order before the machines).
        if (change.kind === 'remove' && change.peer === undefined && this.operatorAddsOpen()) continue
        if (change.variant === 'whileRemoving' && change.peer === undefined && !this.removalPending())
          continue
        if (change.kind === 'leave' && this.leavesWait) continue
        if (change.kind === 'join' && change.peer === undefined && this.joinInProgress()) continue
        // A stale join asks as soon as there are members to ask (its contacts).
        if (change.variant === 'stale' && change.peer === undefined && this.honestMembers().length === 0)
          continue
        if (change.peer === undefined) this.startChange(change)
        else if ((ctx.step - change.at) % OPERATOR_RETRY_STEPS === 0) this.repeatCommand(change)
      }
      this.adversary.begin()
      this.sybilsGiveUp()
    }
    this.advanceSpecialChanges()
    this.deliver()
    for (const h of this.sortedHosts()) {
      if (h.restartAt !== undefined && h.restartAt <= ctx.step) this.restart(h)
      // A crashed peer (`failures`) handles nothing more, its machine included.
      if (h.alive && h.sim?.status === 'crashed') {
        h.alive = false
        this.silenced.add(h.name)
      }
      if (!h.alive) continue
      if (h.findMembers) {
        h.findMembers = false
        this.apply(h, h.machine.addContacts(this.referenceMembers()))
      }
      this.pull(h)
      const now = ctx.clock.now
      if ((h.wakeAt !== undefined && h.wakeAt <= now) || ctx.step - h.lastTick >= TICK_EVERY) {
        h.wakeAt = undefined
        h.lastTick = ctx.step
        this.apply(h, h.machine.tick(now))
      }
    }
    if (this.open && ctx.rng.chance(this.options.probTraffic ?? 0.05)) this.workload.extraOpaque()
  }

  /** Whether the history of `afterBlocks` is agreed (the changes' steps are moved to count from then). */
  private historyReached(): boolean {
    if (this.historyFrom !== undefined) return true
    const after = this.options.afterBlocks ?? 0
    const members = this.honestMembers()
    const behind = (h: HostedPeer) => (h.machine.state?.agreedBlocks ?? 0) < after
    // No honest member yet (founders before their genesis block) holds no history either.
    if (after > 0 && (members.length === 0 || members.some(behind))) return false
    this.historyFrom = this.ctx.step
    for (const change of this.changes) change.at += this.ctx.step
    if (after > 0) this.ctx.log(`history of ${after} blocks agreed at step ${this.ctx.step}`)
    return true
  }

  /** A block `peer` polled (at `position` of the agreed order): to its machine. */
  onBlock(peer: SimPeer, block: Block, position: number): void {
    const h = this.hosts.get(peer.name)
    if (h === undefined || !h.alive) return
    const election = peer.electionAt.get(position)
    peer.electionAt.delete(position)
    if (h.joined) this.invariants.beforeFold(h, block)
    const before = h.machine.state?.size ?? 0
    h.blockLog.push(block)
    h.electionLog.push(election)
    this.checkCheckpoint(h, block, election)
    this.apply(h, h.machine.blocks([block], position, election))
    if (h.joined) this.invariants.afterFold(h, block, before)
    if (h.joined && block.payload.kind === 'add') this.silenceJoiner(block.payload.peer.name)
    if (h.joined && this.agreedAt[position] === undefined) this.agreedAt[position] = this.ctx.step
  }

  /**
   * The voters of the election deciding `block` are the members before its first block; an agreed
   * checkpoint must carry a supermajority of theirs (the `checkpoint` invariant).
   */
  private checkCheckpoint(h: HostedPeer, block: Block, election: number | undefined): void {
    const state = h.machine.state
    if (state === undefined) return
    if (election === undefined || election !== h.electionVoters?.election) {
      h.electionVoters = { election, voters: state.memberIds().map((id) => id.name) }
    }
    if (h.joined && block.payload.kind === 'checkpoint')
      this.invariants.checkpoint(h, block, h.electionVoters.voters)
  }

  /**
   * A voter's machine folded the checkpoint that ends its epoch (its `newEpoch` directive): its
   * engine switches to the next epoch (docs/epochs.md §2), unless it is killed at that moment
   * (`epochRestarts`).
   */
  private enterEpoch(h: HostedPeer, next: EpochStart): void {
    const sim = h.sim
    if (sim === undefined || !h.alive) return
    if (sim.epoch >= next.epoch) return // a restart that had stored its switch
    const kill = this.killsAtSwitch(h)
    if (kill === 'before') {
      this.kill(h, sim, 'before')
      return
    }
    switchEpoch(this.ctx, sim, h.secret, next)
    if (kill === 'after') this.kill(h, sim, 'after')
  }

  /**
   * Whether `h` is killed as it switches (`epochRestarts`: the first founder, at its first
   * checkpoints, one kill at a time; alternately before its switch is stored and after).
   */
  private killsAtSwitch(h: HostedPeer): 'before' | 'after' | undefined {
    const wanted = this.options.epochRestarts ?? 0
    if (this.restarts.length >= wanted || h.name !== this.ctx.peers.genesisIds[0]?.name) return undefined
    // One kill per checkpoint: a restart that switches again at the same one is not killed again.
    if (this.restarts.some((r) => r.startsWith(`${h.name}@${(h.sim?.keys.length ?? 0) - 1}:`)))
      return undefined
    if (h.sim?.byzantine !== undefined) return undefined
    return this.restarts.length % 2 === 0 ? 'before' : 'after'
  }

  private kill(h: HostedPeer, sim: SimPeer, moment: Persisted['moment']): void {
    const { ctx } = this
    h.persisted = persist(sim, moment, h.blockLog, h.electionLog)
    h.restartAt = ctx.step + (this.options.restartDownSteps ?? 20)
    h.alive = false
    sim.status = 'crashed'
    sim.agreed.length = 0
    this.restarts.push(`${h.name}@${sim.keys.length - 1}:${moment}`)
    ctx.log(
      `${h.name} is killed as it delivers checkpoint ${sim.keys.length - 1} (${moment} its switch is stored)`,
    )
  }

  /** A killed peer starts again from its store: the engine of its stored epoch, its machine resumed. */
  private restart(h: HostedPeer): void {
    const { ctx } = this
    const stored = h.persisted
    const sim = h.sim
    const record = h.machine.state?.record
    h.persisted = undefined
    h.restartAt = undefined
    if (stored === undefined || sim === undefined || record === undefined) return
    sim.status = 'active'
    sim.heard = new Set()
    if (!restoreEngine(ctx, sim, h.secret, stored)) return
    h.machine = Membership.resume({
      us: h.secret,
      now: ctx.clock.now,
      rng: this.machineRng(),
      config: this.machineConfig,
      ...(this.policy === undefined ? {} : { policy: this.policy }),
      record,
      blocks: stored.blocks,
      elections: stored.elections,
    })
    h.alive = true
    h.lastGraphSize = 0
    h.seenVotes.clear()
    h.wakeAt = undefined
    ctx.log(`${h.name} restarts in epoch ${sim.epoch} with ${sim.keys.length} blocks`)
    // Killed before its switch was stored: its last block is the checkpoint, it switches again
    // (the switch is a function of the delivered blocks).
    const state = h.machine.state
    if (state !== undefined && state.epoch > sim.epoch && state.epochStart === sim.keys.length) {
      this.enterEpoch(h, {
        epoch: state.epoch,
        genesis: state.epochVoters,
        relatedInfo: state.epochRelatedInfo,
        start: state.epochStart,
      })
    }
    this.apply(h, h.machine.start())
  }

  /**
   * A retired engine is dropped once no running peer is still in its epoch (a Byzantine peer that
   * never switches does not hold it), or after `epochDrainSteps` whatever lags (docs/epochs.md §2).
   */
  private dropRetired(): void {
    const { ctx } = this
    const drain = this.options.epochDrainSteps ?? 3000
    const running = ctx.peers.all.filter((p) => ctx.peers.running(p) && p.byzantine === undefined)
    for (const peer of running) {
      const previous = peer.previous
      if (previous === undefined) continue
      const needed = running.some((p) => p.epoch <= previous.epoch && p !== peer)
      if (needed && ctx.step - previous.since < drain) continue
      peer.previous = undefined
      ctx.log(`${peer.name} drops epoch ${previous.epoch}`)
    }
  }

  /**
   * `sybilGiveUpAfter` steps into the burst, Sybil candidates that have not sent Ready stop (the
   * ready ones go on: their Add may be voted already, and stopping them would make silent joiners).
   */
  private sybilsGiveUp(): void {
    const after = this.options.sybilGiveUpAfter
    const first = this.changes.find((c) => c.kind === 'sybil')
    if (after === undefined || first === undefined || this.ctx.step !== first.at + after) return
    for (const change of this.changes) {
      if (change.kind !== 'sybil' || change.outcome !== undefined) continue
      const h = change.peer === undefined ? undefined : this.hosts.get(change.peer)
      if (h !== undefined && (h.machine.role === 'ready' || h.machine.role === 'member')) continue
      change.outcome = 'rejected'
      if (h !== undefined) h.alive = false
    }
    this.ctx.log('the Sybil candidates not ready give up')
  }

  /** A `silent-join` joiner goes silent as soon as a member decided its Add (before any event of its own). */
  private silenceJoiner(name: string): void {
    const change = this.changes.find((c) => c.kind === 'silent-join' && c.peer === name)
    const h = this.hosts.get(name)
    if (change === undefined || h === undefined || !h.alive || this.silenced.has(name)) return
    h.alive = false
    h.catchUpFrom = undefined
    if (h.sim !== undefined) {
      h.sim.status = 'crashed'
      h.sim.votes = []
    }
    this.silenced.add(name)
    this.ctx.log(`${name} goes silent after its Add`)
  }

  /** After the blocks: decisions, activity, observed votes; then the invariants; then outcomes. */
  end(): void {
    const { ctx } = this
    for (const h of this.sortedHosts()) {
      const sim = h.sim
      if (!h.alive || sim === undefined) continue
      for (const d of sim.decisions.splice(0)) {
        const lastAncestors = new Map(d.lastAncestors.map((a) => [a.voter.name, a.last]))
        this.apply(h, h.machine.decision({ index: d.election, lastAncestors }))
      }
      if (sim.heard !== undefined && sim.heard.size > 0) {
        const heard = [...sim.heard].sort()
        sim.heard.clear()
        for (const name of heard) if (name !== h.name) this.apply(h, h.machine.activity(mockId(name)))
      }
      this.observeVotes(h, sim)
    }
    this.options.tamper?.(
      ctx.step,
      this.sortedHosts().map((h) => ({ name: h.name, machine: h.machine, parsec: h.sim?.parsec })),
    )
    this.invariants.afterStep()
    this.dropRetired()
    while (this.scheduledAt.length < this.workload.scheduledOpaque) this.scheduledAt.push(ctx.step)
    this.updateOutcomes()
    this.syncMembers()
  }

  /** The run's member set (who votes opaque payloads, who must agree) follows the agreed members. */
  private syncMembers(): void {
    const names = new Set(this.referenceMembers().map((id) => id.name))
    if (names.size === 0) return
    const { peers } = this.ctx
    peers.members.clear()
    for (const peer of peers.all) if (names.has(peer.name)) peers.members.add(peer)
    // A peer removed everywhere is no longer one the agreement is about (it drains, then stops).
    for (const h of this.hosts.values()) {
      if (h.joined && h.sim !== undefined && !names.has(h.name)) h.sim.leaving = true
    }
  }

  // --- the workload -----------------------------------------------------------------------------

  private startChange(change: RequestedChange): void {
    const { ctx } = this
    switch (change.kind) {
      case 'join':
      case 'silent-join':
      case 'sybil':
      case 'add': {
        const name = this.nextName()
        if (change.kind === 'add') this.operatorAdmits(name)
        const secret = new MockSecretId(name)
        const contacts = this.referenceMembers()
        const machine = Membership.join({
          us: secret,
          now: ctx.clock.now,
          rng: this.machineRng(),
          config: this.machineConfig,
          sectionId: this.hosts.values().next().value!.machine.sectionId,
          contacts,
          ...(this.policy === undefined ? {} : { policy: this.policy }),
        })
        const host = this.newHost(name, secret, machine, false, change.kind === 'sybil')
        change.peer = name
        if (change.variant === 'unready') this.readyTo.set(name, this.options.unreadyJoins?.readyTo ?? 0)
        if (change.variant === 'stale') this.holding.set(name, undefined)
        if (change.kind !== 'sybil') {
          const history = Math.max(0, ...this.honestMembers().map((h) => h.machine.state?.agreedBlocks ?? 0))
          this.timings.requested(name, ctx.step, history)
        }
        const who = {
          join: 'outsider',
          'silent-join': 'outsider',
          sybil: 'Sybil candidate',
          add: 'operator-named outsider',
        }[change.kind]
        ctx.log(`${who} ${name} asks to join`)
        this.apply(host, machine.start())
        return
      }
      case 'remove': {
        const candidates = this.honestMembers().filter((h) => !this.isTaken(h.name))
        if (candidates.length <= 1) {
          change.deferred = true
          return
        }
        const target = ctx.rng.pick(candidates)
        change.peer = target.name
        ctx.log(`operator: proposeRemove(${target.name})`)
        for (const h of this.honestMembers()) {
          this.apply(h, h.machine.command({ kind: 'proposeRemove', peer: mockId(target.name) }))
        }
        return
      }
      case 'leave': {
        const candidates = this.honestMembers().filter((h) => !this.isTaken(h.name))
        const { voters, live } = this.liveVoters()
        // The run's own safety (as for crashes): the section must be able to decide the leave and
        // go on without the leaver, counting silent members not removed yet (the machines cannot
        // know of a silence before they suspect it).
        if (candidates.length <= 1 || !supermajority(voters, live) || !supermajority(voters - 1, live - 1)) {
          change.deferred = true
          return
        }
        const h = ctx.rng.pick(candidates)
        change.peer = h.name
        // It stays a voter (and votes payloads) until its Remove is decided; then it drains.
        ctx.log(`${h.name} leaves`)
        this.apply(h, h.machine.command({ kind: 'leave' }))
        return
      }
      case 'unresponsive': {
        const { voters, live } = this.liveVoters()
        const candidates = this.honestMembers().filter((h) => !this.isTaken(h.name))
        // Silences together wait until every member folded its membership (the same members).
        if (change.forced && (voters === 0 || this.honestMembers().length + this.silenced.size < voters))
          return
        // Only a removable silence: the others stay a supermajority (else the section would stall).
        if ((!change.forced && !supermajority(voters, live - 1)) || candidates.length === 0) {
          change.deferred = true
          return
        }
        // As every member sees the voters now: one that has not folded the last Add yet would
        // stall (the views converge: try again next step).
        if (!change.forced && !this.silenceSafeInEveryView()) return
        const h = ctx.rng.pick(candidates)
        change.peer = h.name
        h.alive = false
        h.sim!.status = 'crashed'
        h.sim!.votes = []
        this.silenced.add(h.name)
        ctx.log(`${h.name} goes silent`)
        const after = this.liveVoters()
        if (change.forced && !supermajority(after.voters, after.live)) this.stall()
        return
      }
      case 'flap': {
        const impatient = this.options.impatient?.count ?? 0
        const founders = new Set(ctx.peers.genesisIds.slice(0, impatient).map((id) => id.name))
        const candidates = this.honestMembers().filter((h) => !this.isTaken(h.name) && !founders.has(h.name))
        if (candidates.length === 0) return // none has folded its membership yet: next step
        change.peer = ctx.rng.pick(candidates).name
        ctx.log(`${change.peer} starts flapping`)
        return
      }
    }
  }

  // --- the changes that test one rule each -------------------------------------------------------

  /** Joiner → how many members (first by name) its Ready reaches (`unreadyJoins`). */
  private readonly readyTo = new Map<string, number>()
  /** Joiner → the membership count at which its held JoinRequests go out (`staleJoins`). */
  private readonly holding = new Map<string, number | undefined>()
  private held: { from: string; to: string; bytes: Uint8Array }[] = []

  /** Forced silences left no supermajority live: nothing can be decided; the run stops voting and
   * ends reporting the stall (no progress) and the silences it could not take (deferred). */
  private stalled = false

  private stall(): void {
    this.stalled = true
    for (const c of this.changes) if (c.kind === 'unresponsive' && c.forced) c.deferred = true
    this.ctx.log('a third or more of the voters are silent: the section stalls')
  }

  /** Every honest member sees the Remove of a silenced member pending (`joinsWhileRemoving`). */
  private removalPending(): boolean {
    const members = this.honestMembers()
    return (
      members.length > 0 &&
      [...this.silenced].some((name) => members.every((h) => h.machine.peerState(name) === 'leaving'))
    )
  }

  /** Whether the host keeps `message` from `h` from going out (a withheld Ready, a held request). */
  private withhold(h: HostedPeer, to: string, bytes: Uint8Array): boolean {
    const readyTo = this.readyTo.get(h.name)
    const holding = this.holding.has(h.name)
    if (readyTo === undefined && !holding) return false
    const kind = decodeMessage(bytes, h.machine.ids).kind
    if (kind === 'ready' && readyTo !== undefined) {
      const reached = this.referenceMembers()
        .map((id) => id.name)
        .sort()
        .slice(0, readyTo)
      return !reached.includes(to)
    }
    if (kind !== 'joinRequest' || !holding) return false
    if (this.holding.get(h.name) === undefined) {
      const seq = Math.max(0, ...this.honestMembers().map((m) => m.machine.state?.seq ?? 0))
      this.holding.set(h.name, seq + this.config.ticketMaxAge)
      this.ctx.log(
        `${h.name}'s join request is held until ${seq + this.config.ticketMaxAge} membership blocks`,
      )
    }
    this.held.push({ from: h.name, to, bytes })
    return true
  }

  /** `joinsInTurn`: whether a join has started and is not done yet (the next one waits for it). */
  private joinInProgress(): boolean {
    if (this.options.joinsInTurn !== true) return false
    return this.changes.some((c) => c.kind === 'join' && c.peer !== undefined && c.outcome === undefined)
  }

  /** `leavesAfterJoins`: the leaves wait until every join is done. */
  private leavesWait = false

  /** Releases held requests, moves flapping members, gives up on joiners that cannot join. */
  private advanceSpecialChanges(): void {
    const { ctx } = this
    if (this.leavesWait && this.changes.every((c) => c.kind !== 'join' || c.outcome !== undefined)) {
      this.leavesWait = false
      for (const c of this.changes) if (c.kind === 'leave') c.at += ctx.step
      ctx.log('every join is done: the leaves start')
    }
    for (const [name, until] of this.holding) {
      const members = this.honestMembers()
      if (until === undefined || !members.every((m) => (m.machine.state?.seq ?? 0) >= until)) continue
      this.holding.delete(name)
      for (const m of this.held.filter((e) => e.from === name)) this.send('message', m.from, m.to, m.bytes)
      this.held = this.held.filter((e) => e.from !== name)
      ctx.log(`${name}'s held join request goes out (stale)`)
    }
    const giveUp = this.options.unreadyJoins?.giveUpSteps ?? 1200
    const flapping = this.options.flapping
    for (const change of this.changes) {
      const h = change.peer === undefined ? undefined : this.hosts.get(change.peer)
      if (h === undefined || change.outcome !== undefined) continue
      if (change.variant === 'unready' && ctx.step - change.at >= giveUp && !h.joined) {
        h.alive = false
        if (h.sim !== undefined && ctx.peers.running(h.sim)) ctx.peers.stop(h.sim)
        change.outcome = 'rejected'
        ctx.log(`${h.name} gives up joining`)
      }
      if (change.kind !== 'flap' || flapping === undefined || h.sim === undefined) continue
      const period = flapping.silentSteps + flapping.activeSteps
      const phase = ctx.step - change.at
      const silent = phase < period * flapping.periods && phase % period < flapping.silentSteps
      if (silent === h.alive) {
        h.alive = !silent
        h.sim.status = silent ? 'crashed' : 'active'
        ctx.log(`${h.name} ${silent ? 'pauses' : 'is back'}`)
      }
      const done = phase >= period * flapping.periods
      if (done && this.honestMembers().every((m) => m.machine.peerState(h.name) === 'member')) {
        change.outcome = 'done'
      }
    }
  }

  /**
   * The operator's admission policy: with operator adds and no other joiners, an `allowlist` of the
   * outsiders it named; with other joiners too, `openWithWork` (which admits the named ones as
   * well). (Not `proposeAdd`: its Add carries no ticket, and the machine builds and replays a
   * joiner's engine only on an admission, so the added peer could not replay the history.)
   */
  private operatorPolicy(): AdmissionPolicy | undefined {
    if ((this.options.operatorAdds ?? 0) === 0) return undefined
    if ((this.options.joins ?? 0) > 0 || (this.options.sybil ?? 0) > 0) return openWithWork()
    return allowlist(this.operatorNamed)
  }

  /** The operator names `name` to every machine (members judge its ticket; later members too). */
  private operatorAdmits(name: string): void {
    this.operatorNamed.push(name)
    const policy = this.operatorPolicy()
    this.policy = policy
    if (policy === undefined) return
    this.ctx.log(`operator: admit ${name}`)
    for (const h of this.hosts.values())
      if (h.alive) this.apply(h, h.machine.command({ kind: 'setPolicy', policy }))
  }

  /** Some operator add has not happened, been rejected, or been held back. */
  private operatorAddsOpen(): boolean {
    return this.changes.some((c) => c.kind === 'add' && c.outcome === undefined && !c.deferred)
  }

  /**
   * Voters now, and those of them neither silenced nor leaving, as the most advanced honest member
   * folded them (`members`: as another one did).
   */
  private liveVoters(members = this.referenceMembers()): { voters: number; live: number } {
    const away = new Set([...this.silenced])
    for (const c of this.changes) if (c.kind === 'leave' && c.peer !== undefined) away.add(c.peer)
    // A member whose Add is agreed but who has not replayed to it yet makes no event: not live.
    for (const h of this.hosts.values()) if (!h.joined) away.add(h.name)
    return { voters: members.length, live: members.filter((id) => !away.has(id.name)).length }
  }

  /**
   * Whether every honest member's view of the voters keeps a supermajority live with one more of
   * them silent. A member that has not folded the last Add yet decides with the voters it knows (a
   * joiner the others count live is not one of its voters yet).
   */
  private silenceSafeInEveryView(): boolean {
    return this.honestMembers().every((h) => {
      const members = h.machine.state?.memberIds()
      if (members === undefined) return true
      const { voters, live } = this.liveVoters(members)
      return supermajority(voters, live - 1)
    })
  }

  /**
   * An operator repeats an open removal now and then (members that folded the target's departure
   * forget it; one that had not yet heard the command learns it).
   */
  private repeatCommand(change: RequestedChange): void {
    if (change.peer === undefined || change.kind !== 'remove') return
    const peer = mockId(change.peer)
    for (const h of this.honestMembers()) {
      if (h.name !== change.peer) this.apply(h, h.machine.command({ kind: 'proposeRemove', peer }))
    }
  }

  private isTaken(name: string): boolean {
    return this.changes.some(
      (c) => c.peer === name && c.kind !== 'join' && c.kind !== 'sybil' && c.kind !== 'add',
    )
  }

  private noJoinInFlight(): boolean {
    return [...this.hosts.values()].every(
      (h) =>
        h.founder ||
        h.joined ||
        !h.alive ||
        h.sybil ||
        h.machine.role === 'outsider' ||
        h.machine.role === 'removed',
    )
  }

  private updateOutcomes(): void {
    const members = this.honestMembers()
    if (members.length === 0) return
    const isMemberEverywhere = (name: string) =>
      members.every((h) => h.machine.state?.isMember(name) === true)
    const goneEverywhere = (name: string) => members.every((h) => h.machine.state?.isMember(name) !== true)
    for (const change of this.changes) {
      if (change.outcome !== undefined || change.peer === undefined) continue
      const h = this.hosts.get(change.peer)
      switch (change.kind) {
        case 'join':
        case 'sybil':
        case 'add':
          if (h?.joined && isMemberEverywhere(change.peer)) change.outcome = 'done'
          break
        case 'remove':
        case 'leave':
        case 'unresponsive':
          if (goneEverywhere(change.peer)) change.outcome = 'done'
          break
        case 'silent-join':
          if (this.silenced.has(change.peer) && goneEverywhere(change.peer)) change.outcome = 'done'
          break
      }
    }
  }

  // --- the machine's output ----------------------------------------------------------------------

  private apply(h: HostedPeer, step: MembershipStep): void {
    const { ctx } = this
    // The switch first: the votes of this step (the machine's re-cast) are for the new engine.
    for (const directive of step.engine) if (directive.kind === 'newEpoch') this.enterEpoch(h, directive)
    for (const vote of step.votes) this.castVote(h, vote)
    for (const message of step.messages) {
      if (this.withhold(h, message.to.name, message.bytes)) continue
      this.send('message', h.name, message.to.name, this.adversary.outgoing(h, message))
    }
    for (const directive of step.engine) {
      switch (directive.kind) {
        case 'construct':
          this.construct(h, directive)
          break
        case 'newEpoch':
          break
        case 'rebase':
          this.rebase(h, directive)
          break
        case 'catchUp':
          h.catchUpFrom = directive.from.name
          h.pulling = false
          break
        case 'serveOnly':
          h.draining = true
          if (h.sim !== undefined) h.sim.leaving = true
          ctx.log(`${h.name} drains`)
          this.adversary.onDrain(h, this.config.lingerMs)
          break
        case 'stop':
          h.alive = false
          h.draining = false
          h.catchUpFrom = undefined
          if (h.sim !== undefined && ctx.peers.running(h.sim)) ctx.peers.stop(h.sim)
          ctx.log(`${h.name} stops`)
          break
      }
    }
    for (const directive of step.peers) {
      if (directive.kind === 'ban') h.bans.set(directive.peer.name, directive.untilMs)
      else if (directive.kind === 'acceptSync') {
        if (directive.accept) h.refused.delete(directive.peer.name)
        else h.refused.add(directive.peer.name)
      }
    }
    for (const directive of step.discovery) if (directive.kind === 'findMembers') h.findMembers = true
    for (const event of step.events) this.onEvent(h, event)
    for (const fault of step.faults) ctx.stats.fault(`membership:${fault.kind}`)
    for (const warning of step.warnings) {
      const kind = warning.kind === 'Dropped' ? `Dropped:${warning.detail.split(' ')[0]}` : warning.kind
      this.warnings[kind] = (this.warnings[kind] ?? 0) + 1
      if (warning.kind !== 'LeaveRefused') continue
      const change = this.changes.find((c) => c.kind === 'leave' && c.peer === h.name)
      if (change !== undefined && change.outcome === undefined) change.outcome = 'rejected'
    }
    if (step.nextWakeupAt !== undefined && (h.wakeAt === undefined || step.nextWakeupAt < h.wakeAt)) {
      h.wakeAt = step.nextWakeupAt
    }
  }

  private castVote(h: HostedPeer, vote: Observation): void {
    const { ctx } = this
    const sim = h.sim
    if (sim === undefined || !ctx.peers.running(sim) || !sim.parsec.canVote()) {
      ctx.stats.tolerate('membership-vote-without-engine')
      return
    }
    const key = observationKey(vote)
    // A vote re-cast at an epoch switch was judged when first cast (it stands as it did in the
    // old graph, where it could still have been decided).
    if (this.votes.cast.get(key)?.has(h.name) !== true) this.invariants.checkVote(h, vote)
    try {
      took(sim, sim.parsec.voteFor(vote))
    } catch (error) {
      ctx.violations.engineError('vote', `${h.name} voting ${key} (membership)`, error)
      return
    }
    let voters = this.votes.cast.get(key)
    if (voters === undefined) {
      voters = new Set()
      this.votes.cast.set(key, voters)
    }
    voters.add(h.name)
  }

  /**
   * An admitted joiner's observer engine, in the epoch its verified chain ends in: it replays that
   * epoch's events only, and its blocks before the epoch's start are the agreed ones (copied from
   * a member: it delivers from `start` on). Again for a joiner whose replay crossed a checkpoint.
   */
  private construct(h: HostedPeer, directive: EpochStart & { readonly section: readonly PublicId[] }): void {
    const { ctx } = this
    const parsec = Parsec.fromExisting({
      us: h.secret,
      genesis: directive.genesis,
      section: directive.section,
      consensusMode: ctx.mode,
      coin: ctx.peers.coinFor(h.name),
    })
    if (h.sim === undefined) {
      h.sim = ctx.peers.add(h.name, parsec, 'joining')
      h.sim.heard = new Set()
    }
    const sim = h.sim
    sim.status = 'joining'
    // Whoever delivered that far (the member that served our chain may be leaving by now).
    const member = this.holderOf(sim, directive.start)
    if (directive.start > 0 && member === undefined) {
      ctx.violations.violate('epoch', `${h.name} starts at ${directive.start}, no member holds that much`)
      return
    }
    observe(sim, parsec, directive, member ?? sim)
    sim.electionAt.clear()
    h.lastGraphSize = 0
    h.seenVotes.clear()
    this.timings.admitted(h.name, ctx.step)
    ctx.log(
      `${h.name} is admitted and builds its engine (section of ${directive.section.length}, epoch ${directive.epoch} from block ${directive.start})`,
    )
  }

  /**
   * A joiner whose Add a verified chain shows agreed before the last checkpoint: its engine becomes
   * a voter's, of that checkpoint's epoch (its replay's epoch may be gone everywhere). Its blocks
   * before the epoch's start are copied from a member, as for an observer starting there.
   */
  private rebase(h: HostedPeer, next: EpochStart): void {
    const { ctx } = this
    const sim = h.sim
    if (sim === undefined || !h.alive) return
    const member = this.holderOf(sim, next.start)
    if (next.start > 0 && member === undefined) {
      ctx.violations.violate('epoch', `${h.name} rebases at ${next.start}, no member holds that much`)
      return
    }
    const parsec = Parsec.fromGenesis({
      us: h.secret,
      genesis: next.genesis,
      consensusMode: ctx.mode,
      coin: ctx.peers.coinFor(h.name),
      relatedInfo: next.relatedInfo,
    })
    observe(sim, parsec, next, member ?? sim)
    sim.status = 'active'
    sim.electionAt.clear()
    h.lastGraphSize = 0
    h.seenVotes.clear()
    h.catchUpFrom = undefined
    this.votes.revote(sim, this.workload.openObservations(sim))
    ctx.log(`${h.name} rebases: a voter of epoch ${next.epoch} from block ${next.start}`)
  }

  /** An honest peer other than `sim` that delivered `count` blocks (the prefix a newcomer copies). */
  private holderOf(sim: SimPeer, count: number): SimPeer | undefined {
    return [...this.hosts.values()]
      .map((other) => other.sim)
      .find(
        (other) =>
          other !== undefined && other !== sim && other.byzantine === undefined && other.keys.length >= count,
      )
  }

  private onEvent(h: HostedPeer, event: MembershipEvent): void {
    const { ctx } = this
    this.lastEventStep = ctx.step
    let subject: string | undefined
    let detail: string | undefined
    switch (event.type) {
      case 'member:joined':
      case 'member:banned':
        subject = event.peer.name
        break
      case 'member:left':
        subject = event.peer.name
        detail = event.reason
        break
      case 'join:rejected':
        subject = event.peer.name
        detail = event.reason
        break
      case 'change:deferred':
        subject = event.peer.name
        detail = `${event.change}: ${event.reason}`
        break
      case 'self:removed':
        detail = event.reason
        break
      case 'section:fragile':
        detail = String(event.members)
        break
      case 'self:joined':
        detail = `block ${event.position}`
        break
    }
    this.options.trace?.({ step: ctx.step, peer: h.name, type: event.type, subject, detail })
    this.adversary.onEvent(h, event)
    if (event.type === 'section:fragile') this.fragile[h.name] = event.members
    if (event.type === 'join:rejected' && event.by === undefined) {
      this.rejections.add(`${event.peer.name}:${event.reason}`)
    }
    if (!h.joined && event.type.startsWith('member:')) {
      ctx.violations.violate('M3', `${h.name} emitted ${event.type} before self:joined`)
    }
    switch (event.type) {
      case 'self:joined':
        h.joined = true
        h.catchUpFrom = undefined
        this.joined.push(h.name)
        this.timings.joined(h.name, ctx.step)
        ctx.log(`${h.name}: self:joined at block ${event.position}`)
        break
      case 'member:left':
        if (event.reason === 'left') this.left.add(event.peer.name)
        else if (event.reason === 'removed') this.removedForSilence.add(event.peer.name)
        break
      case 'member:banned':
        this.banned.add(event.peer.name)
        break
      case 'join:rejected':
        if (event.by === undefined) this.rejected.add(event.peer.name)
        else if (event.retryAfterMs >= NEVER) {
          const change = this.changes.find((c) => c.peer === h.name)
          if (change !== undefined && change.outcome === undefined) change.outcome = 'rejected'
        }
        break
      case 'change:deferred': {
        this.deferred.add(`${event.change}:${event.peer.name}`)
        const change = this.changes.find((c) => c.peer === event.peer.name)
        if (change !== undefined) change.deferred = true
        break
      }
      default:
        break
    }
  }

  // --- the network -------------------------------------------------------------------------------

  private send(kind: 'message', from: string, to: string, bytes: Uint8Array): void {
    const delay = this.ctx.options.delay ?? { min: 0, max: 2 }
    this.messages++
    this.queue.push({ kind, from, to, bytes, due: this.ctx.step + this.ctx.rng.range(delay.min, delay.max) })
  }

  private delay(): number {
    const delay = this.ctx.options.delay ?? { min: 0, max: 2 }
    return this.ctx.step + this.ctx.rng.range(delay.min, delay.max)
  }

  /** Delivers what is due (in send order; zero delays within the step). */
  private deliver(): void {
    const { ctx } = this
    for (;;) {
      const due = this.queue.filter((e) => e.due <= ctx.step)
      if (due.length === 0) return
      this.queue = this.queue.filter((e) => e.due > ctx.step)
      for (const envelope of due) this.handle(envelope)
    }
  }

  private handle(envelope: Envelope): void {
    const { ctx } = this
    const to = this.hosts.get(envelope.to)
    const from = this.hosts.get(envelope.from)
    if (to === undefined || from === undefined || !to.alive) {
      ctx.stats.dropped++
      if (envelope.kind === 'pull' && from?.alive) {
        // The server is gone: the joiner learns it as a transport failure and switches.
        from.pulling = false
        this.apply(from, from.machine.transportHint(mockId(envelope.to), false))
      }
      return
    }
    const until = to.bans.get(envelope.from)
    if (until !== undefined && until > ctx.clock.now && !this.adversary.bypassesBans(envelope.from)) {
      ctx.stats.dropped++
      return
    }
    switch (envelope.kind) {
      case 'message':
        this.apply(to, to.machine.receive(mockId(envelope.from), envelope.bytes))
        return
      case 'pull': {
        const engine = to.sim === undefined ? undefined : engineFor(to.sim, envelope.epoch)
        const events = engine?.exportEvents(envelope.frontier, 0, (_e, taken) => taken < PAGE_EVENTS).events
        this.pages++
        const { epoch } = envelope
        const ahead =
          engine === undefined && to.sim !== undefined && to.sim.epoch > epoch ? to.sim.epoch : undefined
        this.queue.push({
          kind: 'page',
          from: to.name,
          to: from.name,
          events,
          epoch,
          ...(ahead === undefined ? {} : { aheadEpoch: ahead }),
          due: this.delay(),
        })
        return
      }
      case 'page': {
        to.pulling = false
        const sim = to.sim
        if (envelope.aheadEpoch !== undefined && to.catchUpFrom === envelope.from && !to.joined) {
          to.nextPullAt = ctx.step + IDLE_PULL_STEPS
          const ahead = { peer: mockId(envelope.from), epoch: envelope.aheadEpoch }
          this.apply(to, to.machine.engineSelf({ aheadEpoch: ahead }))
          return
        }
        if (sim === undefined || to.catchUpFrom !== envelope.from || envelope.epoch !== sim.epoch) return
        if (envelope.events === undefined || envelope.events.length === 0) {
          to.nextPullAt = ctx.step + IDLE_PULL_STEPS
          return
        }
        const step = sim.parsec.ingest(mockId(envelope.from), envelope.events)
        const events = envelope.events.length
        this.timings.ingested(to.name, events, ctx.step, events < PAGE_EVENTS)
        try {
          took(sim, step)
        } catch (error) {
          if (isParsecError(error)) ctx.stats.tolerate(`catch-up:${error.code}`)
          else
            ctx.violations.engineError(
              'engine-error',
              `${to.name} ingesting a page from ${envelope.from}`,
              error,
            )
        }
        return
      }
    }
  }

  /** A catching-up joiner pulls its next page from its server. */
  private pull(h: HostedPeer): void {
    const sim = h.sim
    if (h.catchUpFrom === undefined || sim === undefined || h.pulling || h.joined) return
    if (this.ctx.step < h.nextPullAt) return
    h.pulling = true
    this.queue.push({
      kind: 'pull',
      from: h.name,
      to: h.catchUpFrom,
      frontier: sim.parsec.frontier(),
      epoch: sim.epoch,
      due: this.delay(),
    })
  }

  /** Others' unconsensused Add/Remove votes in `h`'s graph, each once. */
  private observeVotes(h: HostedPeer, sim: SimPeer): void {
    if (!h.joined || sim.parsec.isRemoved) return
    const size = sim.parsec.graphSize
    if (size === h.lastGraphSize || sim.parsec.pendingObservationCount === 0) return
    h.lastGraphSize = size
    for (const { voter, observation } of sim.parsec.membershipVotes()) {
      const key = `${voter.name}|${toHex(encodeObservation(observation))}`
      if (h.seenVotes.has(key)) continue
      h.seenVotes.add(key)
      this.apply(h, h.machine.observedVote(voter, observation))
    }
  }

  // --- helpers -----------------------------------------------------------------------------------

  private newHost(
    name: string,
    secret: MockSecretId,
    machine: Membership,
    founder: boolean,
    sybil: boolean,
  ): HostedPeer {
    const host: HostedPeer = {
      name,
      secret,
      machine,
      sim: undefined,
      founder,
      sybil,
      alive: true,
      joined: false,
      draining: false,
      catchUpFrom: undefined,
      pulling: false,
      nextPullAt: 0,
      wakeAt: undefined,
      lastTick: this.ctx.step,
      bans: new Map(),
      refused: new Set(),
      seenVotes: new Set(),
      lastGraphSize: 0,
      findMembers: false,
      blockLog: [],
      electionLog: [],
      persisted: undefined,
      restartAt: undefined,
      electionVoters: undefined,
    }
    this.hosts.set(name, host)
    return host
  }

  /** A fresh outsider machine under `name`'s key (a banned peer asking again: `rejoinBanned`). */
  private outsider(name: string, secret: MockSecretId): HostedPeer {
    const machine = Membership.join({
      us: secret,
      now: this.ctx.clock.now,
      rng: this.machineRng(),
      config: this.machineConfig,
      sectionId: this.hosts.values().next().value!.machine.sectionId,
      contacts: this.referenceMembers(),
    })
    return this.newHost(name, secret, machine, false, false)
  }

  private machineRng(): () => number {
    const rng = this.ctx.rng.fork()
    return () => rng.float()
  }

  private nextName(): string {
    for (;;) {
      const name = peerName(this.nameIndex++)
      if (!this.hosts.has(name) && this.ctx.peers.get(name) === undefined) return name
    }
  }

  private sortedHosts(): HostedPeer[] {
    return [...this.hosts.values()]
  }

  /** The run's membership report. */
  report(): MembershipReport {
    const members: Record<string, string[]> = {}
    const epochs: Record<string, number> = {}
    for (const h of this.honestMembers()) {
      members[h.name] = (h.machine.state?.memberIds() ?? []).map((id) => id.name).sort()
      epochs[h.name] = h.sim?.epoch ?? 0
    }
    return {
      members,
      joined: [...this.joined],
      left: [...this.left].sort(),
      unresponsive: [...this.removedForSilence].filter((n) => this.silenced.has(n)).sort(),
      banned: [...this.banned].sort(),
      rejected: this.rejected.size,
      // Changes the machines held back, and those the run could not even start (the section
      // could not have taken them: a silence it could not remove, a leave it could not decide).
      deferred: this.deferred.size + this.changes.filter((c) => c.peer === undefined && c.deferred).length,
      unsettled: this.changes
        .filter((c) => c.outcome === undefined)
        .map((c) => `${c.kind}${c.peer === undefined ? '' : `(${c.peer})`}${c.deferred ? ' deferred' : ''}`),
      messages: this.messages,
      pages: this.pages,
      joins: this.timings.list(),
      rejections: [...this.rejections].sort(),
      fragile: { ...this.fragile },
      warnings: { ...this.warnings },
      refusals: this.adversary.refusals(),
      forgedJoinInfos: this.adversary.rewritten,
      drainCrashes: [...this.adversary.drainCrashes],
      agreedAt: [...this.agreedAt],
      scheduledAt: [...this.scheduledAt],
      epochs,
      restarts: [...this.restarts],
    }
  }
}
