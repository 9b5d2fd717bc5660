/**
 * A host driving Membership machines with REAL parsec-core engines (no fake consensus): seeded
 * gossip between the engines, every engine step fed to its machine (blocks with their election
 * index, decisions with `lastAncestors`, others' events as activity and their Add/Remove votes),
 * membership messages delivered in memory, a joiner's observer catch-up by `exportEvents`/`ingest`,
 * and the drain of a removed peer's engine (serve-only final syncs, ingested by the receivers).
 *
 * Epochs (docs/epochs.md §2): on `newEpoch` a voter builds a fresh engine from the epoch's voters
 * and the checkpoint's bytes and retires the old one (it only serves: peers still in that epoch
 * pull its events from it); positions stay global (a later epoch's genesis block is not delivered,
 * its block i goes to `start + i - 1`) and election indices are offset per epoch.
 */
import {
  type Step as EngineStep,
  MockSecretId,
  mockId,
  type Observation,
  Parsec,
  type PublicId,
  toHex,
} from '@parsec-section/parsec-core'
import {
  type EngineDirective,
  genesisRecord,
  Membership,
  type MembershipConfig,
  type MembershipEvent,
  type MembershipFault,
  type Step,
} from '../src/index.js'
import { seededRandom } from './support.js'

export type EngineMode = 'none' | 'observer' | 'voter' | 'serveOnly' | 'stopped'

export interface RealPeer {
  readonly name: string
  readonly secret: MockSecretId
  readonly machine: Membership
  engine: Parsec | undefined
  mode: EngineMode
  /** The member the joiner pulls its catch-up from. */
  server: string | undefined
  readonly events: MembershipEvent[]
  readonly faults: MembershipFault[]
  /** Errors the engine's steps carried (bad input from a peer: expected around removals). */
  readonly engineErrors: string[]
  /** Agreed-block count → SectionState hash, after every fold (for M1). */
  readonly hashes: Map<number, string>
  /** The epoch of `engine`. */
  epoch: number
  /** Every engine directive the machine gave, in order. */
  readonly directives: EngineDirective[]
  /** Engines of earlier epochs, by epoch: serve-only (peers still there pull from them). */
  readonly retired: Map<number, Parsec>
}

/** Where an engine's blocks go: epoch 0 delivers block i at i; epoch e > 0 at `start + i - 1`. */
interface EngineEpoch {
  readonly epoch: number
  readonly start: number
  retired: boolean
}

/** Election indices of epoch e start here: unique across epochs, as the machine expects. */
const ELECTIONS_PER_EPOCH = 1_000_000

export interface Envelope {
  readonly from: PublicId
  readonly to: string
  readonly bytes: Uint8Array
}

export class RealSection {
  now = 0
  readonly peers = new Map<string, RealPeer>()
  readonly random: () => number
  private inbox: Envelope[] = []
  /** Drops a membership message when it returns true (a partial view, a lost link). */
  dropMessage: (envelope: Envelope) => boolean = () => false
  private opaqueCount = 0
  private readonly epochs = new Map<Parsec, EngineEpoch>()

  constructor(
    founders: readonly string[],
    readonly config: Partial<MembershipConfig>,
    seed: number,
  ) {
    this.random = seededRandom(seed)
    const ids = founders.map(mockId)
    const record = genesisRecord(ids)
    founders.forEach((name, i) => {
      const secret = new MockSecretId(name)
      const machine = Membership.found({
        us: secret,
        record,
        now: 0,
        rng: seededRandom(seed * 31 + i),
        config,
      })
      const peer = this.newPeer(name, secret, machine)
      peer.engine = Parsec.fromGenesis({ us: secret, genesis: ids })
      this.epochs.set(peer.engine, { epoch: 0, start: 0, retired: false })
      peer.mode = 'voter'
      this.apply(peer, machine.start())
      // A founder of several has no block yet; a sole founder's genesis block waits in poll().
      this.absorbPolled(peer)
    })
  }

  peer(name: string): RealPeer {
    const peer = this.peers.get(name)
    if (peer === undefined) throw new Error(`no peer ${name}`)
    return peer
  }

  addJoiner(name: string, contacts: readonly string[]): RealPeer {
    const secret = new MockSecretId(name)
    const anyMember = [...this.peers.values()].find((p) => p.mode === 'voter')!
    const machine = Membership.join({
      us: secret,
      now: this.now,
      rng: seededRandom(this.peers.size * 977 + 5),
      config: this.config,
      sectionId: anyMember.machine.sectionId,
      contacts: contacts.map(mockId),
    })
    const peer = this.newPeer(name, secret, machine)
    this.apply(peer, machine.start())
    return peer
  }

  /** One round: clock and ticks, messages, catch-up pulls, one sync, maybe application traffic. */
  step(): void {
    this.now += 10
    for (const peer of this.sorted())
      if (peer.mode !== 'stopped') this.apply(peer, peer.machine.tick(this.now))
    const inbox = this.inbox
    this.inbox = []
    for (const envelope of inbox) {
      const peer = this.peers.get(envelope.to)
      if (peer !== undefined && peer.mode !== 'stopped' && !this.dropMessage(envelope))
        this.apply(peer, peer.machine.receive(envelope.from, envelope.bytes))
    }
    for (const peer of this.sorted()) if (peer.mode === 'observer') this.pullCatchUp(peer)
    this.gossipOnce()
    if (this.random() < 0.05) this.opaqueTraffic()
  }

  run(until: () => boolean, maxSteps: number, what: string): void {
    for (let i = 0; i < maxSteps; i++) {
      if (until()) return
      this.step()
    }
    throw new Error(`${what}: not done after ${maxSteps} steps`)
  }

  /** Live members' (voter mode) state hashes and engine voters versus SectionState members (M2). */
  voters(): RealPeer[] {
    return this.sorted().filter((p) => p.mode === 'voter' && p.machine.role !== 'outsider')
  }

  apply(peer: RealPeer, step: Step): void {
    peer.events.push(...step.events)
    peer.faults.push(...step.faults)
    // Engine directives first: a `newEpoch` step's votes are the re-cast for the new engine.
    peer.directives.push(...step.engine)
    for (const directive of step.engine) {
      switch (directive.kind) {
        case 'construct':
          this.retire(peer)
          peer.engine = Parsec.fromExisting({
            us: peer.secret,
            genesis: directive.genesis,
            section: directive.section,
          })
          peer.epoch = directive.epoch
          this.epochs.set(peer.engine, { epoch: directive.epoch, start: directive.start, retired: false })
          peer.mode = 'observer'
          break
        case 'newEpoch':
          this.retire(peer)
          peer.engine = Parsec.fromGenesis({
            us: peer.secret,
            genesis: directive.genesis,
            relatedInfo: directive.relatedInfo,
          })
          peer.epoch = directive.epoch
          this.epochs.set(peer.engine, { epoch: directive.epoch, start: directive.start, retired: false })
          break
        case 'catchUp':
          peer.server = directive.from.name
          break
        case 'serveOnly':
          peer.mode = 'serveOnly'
          break
        case 'stop':
          peer.mode = 'stopped'
          break
      }
    }
    for (const observation of step.votes) {
      const engine = peer.engine
      if (engine === undefined || !engine.canVote()) throw new Error(`${peer.name} votes without a vote`)
      this.absorb(peer, engine.voteFor(observation), engine)
    }
    for (const message of step.messages)
      this.inbox.push({ from: peer.secret.publicId, to: message.to.name, bytes: message.bytes })
  }

  /** The current engine goes serve-only: it delivers nothing more, peers of its epoch pull from it. */
  private retire(peer: RealPeer): void {
    const engine = peer.engine
    if (engine === undefined) return
    const epoch = this.epochs.get(engine)!
    epoch.retired = true
    peer.retired.set(epoch.epoch, engine)
  }

  /** `peer`'s engine of `epoch`, current or retired. */
  engineOf(peer: RealPeer, epoch: number): Parsec | undefined {
    return peer.epoch === epoch ? peer.engine : peer.retired.get(epoch)
  }

  private newPeer(name: string, secret: MockSecretId, machine: Membership): RealPeer {
    const peer: RealPeer = {
      name,
      secret,
      machine,
      engine: undefined,
      mode: 'none',
      server: undefined,
      events: [],
      faults: [],
      engineErrors: [],
      hashes: new Map(),
      epoch: 0,
      directives: [],
      retired: new Map(),
    }
    this.peers.set(name, peer)
    return peer
  }

  private sorted(): RealPeer[] {
    return [...this.peers.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  }

  /** Feeds one engine step to the machine: blocks by election, decisions, activity, others' votes. */
  private absorb<M>(peer: RealPeer, step: EngineStep<M>, engine = peer.engine): EngineStep<M> {
    if (step.error !== undefined) peer.engineErrors.push(`${step.error.code}: ${step.error.message}`)
    const epoch = engine === undefined ? undefined : this.epochs.get(engine)
    // A retired engine's decisions come after its epoch's end: never delivered.
    if (epoch === undefined || epoch.retired) return step
    const offset = epoch.epoch * ELECTIONS_PER_EPOCH
    const globalOf = (position: number) => (epoch.epoch === 0 ? position : epoch.start + position - 1)
    const electionAt = new Map<number, number>()
    for (const decision of step.decisions) {
      for (let i = 0; i < decision.observations.length; i++)
        electionAt.set(decision.firstPosition + i, offset + decision.election)
    }
    let group:
      | { position: number; election: number | undefined; blocks: (typeof step.blocks)[number]['block'][] }
      | undefined
    const flush = () => {
      if (group === undefined || epoch.retired) return
      this.apply(peer, peer.machine.blocks(group.blocks, group.position, group.election))
      const state = peer.machine.state
      if (state !== undefined) peer.hashes.set(state.agreedBlocks, toHex(state.hash()))
      group = undefined
    }
    for (const { position, block } of step.blocks) {
      // A later epoch's genesis block is not delivered: the checkpoint block stands for it.
      if (epoch.epoch > 0 && position === 0) continue
      const election = electionAt.get(position)
      if (group === undefined || group.election !== election) {
        flush()
        group = { position: globalOf(position), election, blocks: [] }
      }
      group.blocks.push(block)
    }
    flush()
    if (epoch.retired) return step
    for (const decision of step.decisions) {
      const lastAncestors = new Map(decision.lastAncestors.map((a) => [a.voter.name, a.last]))
      this.apply(peer, peer.machine.decision({ index: offset + decision.election, lastAncestors }))
    }
    const heard = new Map<string, PublicId>()
    for (const event of step.events) {
      if (event.creator.name === peer.name) continue
      heard.set(event.creator.name, event.creator)
      if (event.cause.kind === 'observation' && peer.mode === 'voter') {
        const payload: Observation = event.cause.vote.payload
        if (payload.kind === 'add' || payload.kind === 'remove')
          this.apply(peer, peer.machine.observedVote(event.creator, payload))
      }
    }
    if (peer.mode === 'voter') for (const id of heard.values()) this.apply(peer, peer.machine.activity(id))
    return step
  }

  private absorbPolled(peer: RealPeer): void {
    const engine = peer.engine!
    const first = engine.decidedBlockCount
    const polled = []
    for (let block = engine.poll(); block !== undefined; block = engine.poll()) polled.push(block)
    if (polled.length > 0) {
      this.apply(peer, peer.machine.blocks(polled, first - polled.length))
      const state = peer.machine.state!
      peer.hashes.set(state.agreedBlocks, toHex(state.hash()))
    }
  }

  /** The joiner pulls one page of its server's graph (observer ingest). */
  private pullCatchUp(peer: RealPeer): void {
    const server = peer.server === undefined ? undefined : this.peers.get(peer.server)
    const from = server === undefined ? undefined : this.engineOf(server, peer.epoch)
    const engine = peer.engine
    if (server === undefined || from === undefined || engine === undefined) return
    const page = from.exportEvents(engine.frontier(), 0, (_, taken) => taken < 64)
    if (page.events.length === 0) return
    this.absorb(peer, engine.ingest(server.secret.publicId, page.events), engine)
    if (peer.machine.role === 'member') peer.mode = 'voter'
  }

  /** One sync between two engines; a draining peer pushes its final sync, which the receiver ingests. */
  private gossipOnce(): void {
    const senders = this.sorted().filter((p) => p.mode === 'voter' || p.mode === 'serveOnly')
    if (senders.length === 0) return
    const from = senders[Math.floor(this.random() * senders.length)]
    const engine = from.engine!
    const recipients = engine.gossipRecipients().filter((id) => this.peers.get(id.name)?.mode === 'voter')
    if (recipients.length === 0) return
    const to = this.peer(recipients[Math.floor(this.random() * recipients.length)].name)
    // Not in the same epoch: the one behind pulls a page of its epoch from the other's old engine.
    if (to.epoch !== from.epoch) {
      const [behind, ahead] = to.epoch < from.epoch ? [to, from] : [from, to]
      const old = ahead.retired.get(behind.epoch)
      if (old === undefined || behind.engine === undefined || behind.mode !== 'voter') return
      const page = old.exportEvents(behind.engine.frontier(), 0, (_, taken) => taken < 64)
      if (page.events.length > 0)
        this.absorb(behind, behind.engine.ingest(ahead.secret.publicId, page.events), behind.engine)
      return
    }
    const request = this.absorb(from, engine.createGossip(to.secret.publicId), engine).message
    const theirs = to.engine!
    if (request === undefined) return
    if (from.mode === 'serveOnly') {
      this.absorb(to, theirs.ingest(from.secret.publicId, request.packedEvents), theirs)
      return
    }
    const answer = this.absorb(to, theirs.handleRequest(from.secret.publicId, request), theirs)
    // The receiver no longer counts us a member: perhaps we were removed without deciding it.
    if (answer.error?.code === 'InvalidPeerState')
      this.apply(from, from.machine.engineSelf({ refusedBy: to.secret.publicId }))
    if (answer.message === undefined) return
    this.absorb(from, engine.handleResponse(to.secret.publicId, answer.message), engine)
  }

  /** Every voter votes the same opaque payload (application traffic makes the section decide). */
  private opaqueTraffic(): void {
    const payload = new TextEncoder().encode(`op${this.opaqueCount++}`)
    for (const peer of this.voters())
      if (peer.engine?.canVote())
        this.absorb(peer, peer.engine.voteFor({ kind: 'opaque', payload }), peer.engine)
  }
}
