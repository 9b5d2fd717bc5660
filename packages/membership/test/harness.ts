/**
 * A tiny in-test host: several Membership machines over a fake consensus (a vote is decided once a
 * supermajority of the current voters cast it; one decision per block) and a lossless in-memory
 * network. Every machine with an engine receives the same blocks, so their states must agree.
 */
import {
  type Block,
  encodeObservation,
  genesis,
  MockSecretId,
  mockId,
  type Observation,
  type PublicId,
  sortIds,
  toHex,
} from '@parsec-section/parsec-core'
import {
  type EngineDirective,
  type GenesisRecord,
  genesisRecord,
  Membership,
  type MembershipConfig,
  type MembershipEvent,
  type MembershipFault,
  type Step,
  supermajority,
} from '../src/index.js'
import { seededRandom } from './support.js'

type EngineMode = 'none' | 'observer' | 'voter' | 'serveOnly' | 'stopped'

export interface HarnessNode {
  readonly name: string
  readonly secret: MockSecretId
  readonly machine: Membership
  alive: boolean
  engine: EngineMode
  fed: number
  readonly events: MembershipEvent[]
  readonly faults: MembershipFault[]
  readonly votes: Observation[]
  readonly engineLog: string[]
  readonly epochs: Extract<EngineDirective, { kind: 'newEpoch' }>[]
  readonly constructs: Extract<EngineDirective, { kind: 'construct' }>[]
}

interface Pending {
  readonly observation: Observation
  readonly votes: Map<string, Uint8Array>
}

interface Envelope {
  readonly from: PublicId
  readonly to: string
  readonly kind: string
  readonly bytes: Uint8Array
}

export class Harness {
  now = 0
  readonly nodes = new Map<string, HarnessNode>()
  readonly blocks: Block[] = []
  private voters: string[]
  private readonly pending = new Map<string, Pending>()
  private inbox: Envelope[] = []
  private observations: { voter: PublicId; observation: Observation }[] = []
  /** Joiners that asked discovery for members: answered with the current voters next step. */
  private readonly pendingDiscovery = new Set<string>()
  private readonly progress = new Map<string, number>()
  private seed = 1
  /** Every this many steps the live voters vote an opaque payload (0: a quiet section). */
  trafficEvery = 0
  private steps = 0
  /** Blocks an observer (a joiner catching up) replays per step: a long history's slow replay. */
  replayBlocksPerStep = Number.POSITIVE_INFINITY
  /** Drops a message when it returns true (a partial view, a lost link). */
  dropMessage: (envelope: Envelope) => boolean = () => false

  readonly record: GenesisRecord

  constructor(
    founders: readonly string[],
    readonly config: Partial<MembershipConfig>,
    readonly stepMs = 10,
  ) {
    const record = genesisRecord(founders.map(mockId))
    this.record = record
    this.voters = sortIds(founders.map(mockId)).map((id) => id.name)
    const payload = genesis(founders.map(mockId))
    this.blocks.push(this.signed(payload, this.voters))
    for (const name of founders) {
      const secret = new MockSecretId(name)
      const machine = Membership.found({ us: secret, now: 0, rng: seededRandom(this.seed++), config, record })
      const node = this.newNode(name, secret, machine, 'voter')
      this.handle(node, machine.start())
      this.handle(node, machine.blocks(this.blocks, 0))
      node.fed = 1
    }
  }

  get sectionId(): Uint8Array {
    return this.node(this.voters[0]).machine.sectionId
  }

  get voterNames(): readonly string[] {
    return this.voters
  }

  node(name: string): HarnessNode {
    const node = this.nodes.get(name)
    if (node === undefined) throw new Error(`no node ${name}`)
    return node
  }

  addJoiner(name: string, contacts: readonly string[] = this.voters): HarnessNode {
    const secret = new MockSecretId(name)
    const machine = Membership.join({
      us: secret,
      now: this.now,
      rng: seededRandom(this.seed++),
      config: this.config,
      sectionId: this.sectionId,
      contacts: contacts.map(mockId),
    })
    const node = this.newNode(name, secret, machine, 'none')
    this.handle(node, machine.start())
    return node
  }

  /**
   * Restarts a crashed node from what its host persisted: the genesis record and the blocks it had
   * folded (or `blocks`). The new machine replaces the old one; the driver feeds it what it missed.
   */
  resume(name: string, blocks: readonly Block[] = this.blocks.slice(0, this.node(name).fed)): HarnessNode {
    const old = this.node(name)
    const machine = Membership.resume({
      us: old.secret,
      now: this.now,
      rng: seededRandom(this.seed++),
      config: this.config,
      record: this.record,
      blocks,
    })
    const node = this.newNode(name, old.secret, machine, machine.role === 'member' ? 'voter' : 'stopped')
    node.fed = blocks.length
    this.handle(node, machine.start())
    return node
  }

  /** Injects an agreed accusation (the engine's malice detection is out of scope here). */
  accuse(offender: string): void {
    const payload: Observation = {
      kind: 'accusation',
      offender: mockId(offender),
      malice: { type: 'Unprovable' },
    }
    this.decide(payload, this.voters)
  }

  /** One step: clock, ticks, messages, observed votes, decisions, blocks, activity. */
  step(): void {
    this.now += this.stepMs
    for (const node of this.sorted()) if (node.alive) this.handle(node, node.machine.tick(this.now))
    for (const name of [...this.pendingDiscovery]) {
      this.pendingDiscovery.delete(name)
      const node = this.node(name)
      if (node.alive) this.handle(node, node.machine.addContacts(this.voters.map(mockId)))
    }
    const inbox = this.inbox
    this.inbox = []
    for (const envelope of inbox) this.deliver(envelope)
    const observations = this.observations
    this.observations = []
    for (const { voter, observation } of observations) {
      for (const node of this.sorted()) {
        if (node.alive && node.engine === 'voter' && node.name !== voter.name) {
          this.handle(node, node.machine.observedVote(voter, observation))
        }
      }
    }
    this.steps++
    if (this.trafficEvery > 0 && this.steps % this.trafficEvery === 0) this.opaqueTraffic(`t${this.steps}`)
    const decided = this.decideAll()
    for (const node of this.sorted()) {
      if (!node.alive || (node.engine !== 'observer' && node.engine !== 'voter')) continue
      let replayed = 0
      while (node.fed < this.blocks.length && (node.engine === 'observer' || node.engine === 'voter')) {
        if (node.engine === 'observer' && replayed++ >= this.replayBlocksPerStep) break
        const at = node.fed++
        this.handle(node, node.machine.blocks([this.blocks[at]], at))
        if (node.machine.role === 'member' && node.engine === 'observer') node.engine = 'voter'
      }
    }
    for (const name of this.voters) {
      if (this.nodes.get(name)?.alive && this.nodes.get(name)?.engine === 'voter') {
        this.progress.set(name, (this.progress.get(name) ?? 0) + 1)
      }
    }
    // Every live voter's events reach every other voter (the host reports them as activity).
    const live = this.sorted().filter((n) => n.alive && n.engine === 'voter')
    for (const node of live) {
      for (const other of live)
        if (other !== node) this.handle(node, node.machine.activity(other.secret.publicId))
    }
    for (let d = 0; d < decided; d++) {
      const lastAncestors = new Map(this.progress)
      for (const node of this.sorted()) {
        if (node.alive && node.engine === 'voter') {
          this.handle(node, node.machine.decision({ index: this.blocks.length - decided + d, lastAncestors }))
        }
      }
    }
  }

  run(until: () => boolean, maxSteps = 5000): number {
    for (let i = 0; i < maxSteps; i++) {
      if (until()) return i
      this.step()
    }
    throw new Error(`not done after ${maxSteps} steps`)
  }

  /** The state hashes of every live node holding state, with the block count each folded. */
  stateHashes(): Map<string, string> {
    const out = new Map<string, string>()
    for (const node of this.sorted()) {
      const state = node.machine.state
      if (node.alive && state !== undefined && node.engine === 'voter')
        out.set(node.name, toHex(state.hash()))
    }
    return out
  }

  private newNode(name: string, secret: MockSecretId, machine: Membership, engine: EngineMode): HarnessNode {
    const node: HarnessNode = {
      name,
      secret,
      machine,
      alive: true,
      engine,
      fed: 0,
      events: [],
      faults: [],
      votes: [],
      engineLog: [],
      epochs: [],
      constructs: [],
    }
    this.nodes.set(name, node)
    return node
  }

  private sorted(): HarnessNode[] {
    return [...this.nodes.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  }

  handle(node: HarnessNode, step: Step): void {
    node.events.push(...step.events)
    node.faults.push(...step.faults)
    // An epoch switch comes before the step's votes (Step.votes): they are the new engine's.
    for (const directive of step.engine) {
      if (directive.kind !== 'newEpoch') continue
      node.engineLog.push(`${this.now}:newEpoch:${directive.epoch}:${directive.start}`)
      node.epochs.push(directive)
      // The old engine's undecided membership votes die with it (the fake consensus is one for all
      // epochs; the host re-casts opaque payloads itself): only what the machine re-casts counts.
      for (const pending of this.pending.values()) {
        const kind = pending.observation.kind
        if (kind === 'add' || kind === 'remove') pending.votes.delete(node.name)
      }
    }
    for (const observation of step.votes) {
      node.votes.push(observation)
      if (!node.alive || node.engine !== 'voter' || !this.voters.includes(node.name)) continue
      const key = toHex(encodeObservation(observation))
      let pending = this.pending.get(key)
      if (pending === undefined) {
        pending = { observation, votes: new Map() }
        this.pending.set(key, pending)
      }
      pending.votes.set(node.name, node.secret.sign(encodeObservation(observation)))
      this.observations.push({ voter: node.secret.publicId, observation })
    }
    for (const message of step.messages) {
      this.inbox.push({
        from: node.secret.publicId,
        to: message.to.name,
        kind: message.kind,
        bytes: message.bytes,
      })
    }
    if (step.discovery.some((d) => d.kind === 'findMembers')) this.pendingDiscovery.add(node.name)
    for (const directive of step.engine) {
      if (directive.kind === 'newEpoch') continue
      node.engineLog.push(
        `${this.now}:${directive.kind}${directive.kind === 'catchUp' ? `:${directive.from.name}` : ''}${directive.kind === 'construct' ? `:${directive.epoch}:${directive.start}` : ''}`,
      )
      if (directive.kind === 'construct') {
        node.engine = 'observer'
        node.constructs.push(directive)
        // Positions are global: the observer engine of a later epoch delivers from its start.
        node.fed = directive.start
      } else if (directive.kind === 'rebase') {
        // A voter's engine of that epoch, delivering from its start.
        node.engine = 'voter'
        node.fed = directive.start
      } else if (directive.kind === 'serveOnly') node.engine = 'serveOnly'
      else if (directive.kind === 'stop') node.engine = 'stopped'
    }
  }

  private deliver(envelope: Envelope): void {
    const node = this.nodes.get(envelope.to)
    if (node === undefined || !node.alive || this.dropMessage(envelope)) return
    const m = node.machine
    const { from, bytes } = envelope
    this.handle(node, m.receive(from, bytes))
  }

  /** The live voters vote one opaque payload straight into consensus (application traffic). */
  opaqueTraffic(label: string): void {
    const observation: Observation = { kind: 'opaque', payload: new TextEncoder().encode(label) }
    const votes = new Map<string, Uint8Array>()
    for (const name of this.voters) {
      const node = this.nodes.get(name)
      if (node?.alive && node.engine === 'voter')
        votes.set(name, node.secret.sign(encodeObservation(observation)))
    }
    this.pending.set(toHex(encodeObservation(observation)), { observation, votes })
  }

  private decideAll(): number {
    let decided = 0
    let progress = true
    while (progress) {
      progress = false
      for (const [key, pending] of this.pending) {
        const signers = [...pending.votes.keys()].filter((v) => this.voters.includes(v))
        if (!supermajority(this.voters.length, signers.length)) continue
        this.pending.delete(key)
        this.decide(pending.observation, signers, pending.votes)
        decided++
        progress = true
        break
      }
    }
    return decided
  }

  private decide(payload: Observation, signers: readonly string[], votes?: Map<string, Uint8Array>): void {
    const block = this.signed(payload, signers, votes)
    this.blocks.push(block)
    if (payload.kind === 'add' && !this.voters.includes(payload.peer.name)) {
      this.voters = sortIds([...this.voters, payload.peer.name].map(mockId)).map((id) => id.name)
    } else if (payload.kind === 'remove' || payload.kind === 'accusation') {
      const gone = payload.kind === 'remove' ? payload.peer.name : payload.offender.name
      this.voters = this.voters.filter((v) => v !== gone)
    }
  }

  private signed(payload: Observation, signers: readonly string[], votes?: Map<string, Uint8Array>): Block {
    const encoded = encodeObservation(payload)
    const proofs = sortIds(signers.map(mockId)).map((id) => ({
      publicId: id,
      signature: votes?.get(id.name) ?? new MockSecretId(id).sign(encoded),
    }))
    return { payload, proofs }
  }
}

export const FAST: Partial<MembershipConfig> = {
  powBits: 4,
  probationBlocks: 0,
  minBlocksBetweenAdds: 0,
  unresponsiveDecisions: 3,
  unresponsiveMs: 200,
  joinGraceBlocks: 3,
  joinGraceMs: 200,
  suspicionWindow: 50,
  lingerMs: 100,
  candidateTimeoutMs: 2_000,
  rejoinCooldownMs: 1_000,
  joinInfoRate: { burst: 4, perSecond: 1 },
  readyLag: 2,
  announceIntervalMs: 10_000,
}
