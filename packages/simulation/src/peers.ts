/**
 * The simulated peers: each one an engine with what the simulation tracks about it (status,
 * polled blocks, votes still to cast), and the registry of all of them with the section's
 * membership as the simulation sees it.
 */

import {
  type Block,
  type BlockDescription,
  type Coin,
  type ConsensusMode,
  concreteCoin,
  type Decision,
  type MockPublicId,
  type Observation,
  type Parsec,
  type PublicId,
  parityCoin,
  type Step,
} from '@parsec-section/parsec-core'
import type { ByzantinePeer } from './byzantine.js'
import type { SimulationCoin } from './options.js'

/** `byzantine`: a running Byzantine member (never honest); `removed` also ends an accused one. */
export type PeerStatus = 'active' | 'joining' | 'crashed' | 'removed' | 'byzantine'

export interface PendingVote {
  readonly observation: Observation
  /** Key of the observation's block (without voter), to skip votes already decided. */
  readonly key: string
  readonly due: number
  /** A deliberate second vote that the engine must refuse. */
  readonly duplicate: boolean
}

export interface SimPeer {
  readonly name: string
  /** Its engine (a Byzantine peer may replace its own, see `byzantine.ts`). */
  parsec: Parsec
  status: PeerStatus
  /** Remove voted, not yet done. */
  leaving: boolean
  readonly blocks: BlockDescription[]
  /** Agreement keys of the polled blocks, in order, and as a set. */
  readonly keys: string[]
  readonly keySet: Set<string>
  /** Blocks its engine's steps handed over, recorded at the next poll (`Blocks.pollAll`). */
  readonly agreed: Block[]
  votes: PendingVote[]
  /** The behaviour layer of a Byzantine peer. */
  byzantine?: ByzantinePeer
  /** Offenders of the accusations this peer agreed on. */
  readonly accused: Set<string>
  /** Membership hosting: decisions its engine's steps reported, not yet handed to its machine. */
  readonly decisions: Decision[]
  /** Membership hosting: agreed position → election index, from the decisions (until recorded). */
  readonly electionAt: Map<number, number>
  /** Membership hosting: creators of the events that reached its engine since the last step. */
  heard?: Set<string>
  /** Its engine's epoch (docs/epochs.md; 0 unless the run has checkpoints). */
  epoch: number
  /** Global position = engine position + this (epoch e > 0: its start - 1, the genesis not delivered). */
  positionOffset: number
  /** Added to its engine's election indices, so they are unique across epochs. */
  electionBase: number
  /** The voters its current epoch's engine started from (a checkpoint's proofs are checked against them). */
  epochVoters: string[]
  /** The same voters, and the genesis related info of its epoch (a restart rebuilds the engine from them). */
  epochGenesis: readonly PublicId[]
  epochRelatedInfo: Uint8Array
  /** The previous epoch's engine, retired: it serves peers still in that epoch until dropped. */
  previous: { readonly parsec: Parsec; readonly epoch: number; readonly since: number } | undefined
  /** The workload's observations it voted in its current engine, in order (re-cast at a switch). */
  epochVotes: Observation[]
  /** Observation keys of its delivered blocks (Single-mode opaque: `key@voter`), for the re-cast. */
  readonly delivered: Set<string>
  /** The first position it delivered itself (a joiner that started from a checkpoint: its start). */
  firstDelivered: number
  /** The events its earlier epochs' graphs held, all together. */
  eventsBefore: number
  /**
   * Its engine agreed the checkpoint that ends its epoch: nothing that engine decides after it is
   * delivered (a peer that does not switch, e.g. a removed one draining, too).
   */
  epochEnded: boolean
}

/** The engine of `peer` for `epoch`: its current one, or its retired previous one. */
export function engineFor(peer: SimPeer, epoch: number): Parsec | undefined {
  if (epoch === peer.epoch) return peer.parsec
  return peer.previous?.epoch === epoch ? peer.previous.parsec : undefined
}

/** Keeps a step of `peer`'s engine (its blocks, for the next poll); throws its error, as calls once did. */
export function took<M>(peer: SimPeer, step: Step<M>): Step<M> {
  for (const { block } of step.blocks) peer.agreed.push(block)
  if (peer.heard !== undefined) {
    // Hosting membership: what its machine reads from the step (decisions, activity).
    for (const decision of step.decisions) {
      const election = decision.election + peer.electionBase
      peer.decisions.push(peer.electionBase === 0 ? decision : { ...decision, election })
      for (let i = 0; i < decision.observations.length; i++) {
        peer.electionAt.set(decision.firstPosition + i + peer.positionOffset, election)
      }
    }
    for (const event of step.events) peer.heard.add(event.creator.name)
  }
  if (step.error !== undefined) throw step.error
  return step
}

/** Every peer of the run (crashed, removed and Byzantine ones included) and the section's members. */
export class Peers {
  readonly all: SimPeer[] = []
  readonly genesisIds: MockPublicId[] = []
  /** Members: genesis plus completed adds, minus completed removes (leaving peers included). */
  readonly members = new Set<SimPeer>()
  private readonly byName = new Map<string, SimPeer>()

  constructor(
    readonly mode: ConsensusMode,
    private readonly coin: SimulationCoin,
  ) {}

  get(name: string): SimPeer | undefined {
    return this.byName.get(name)
  }

  add(name: string, parsec: Parsec, status: PeerStatus): SimPeer {
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
      decisions: [],
      electionAt: new Map(),
      epoch: 0,
      positionOffset: 0,
      electionBase: 0,
      epochVoters: this.genesisIds.map((id) => id.name),
      epochGenesis: this.genesisIds,
      epochRelatedInfo: new Uint8Array(),
      previous: undefined,
      epochVotes: [],
      delivered: new Set(),
      firstDelivered: 0,
      eventsBefore: 0,
      epochEnded: false,
    }
    this.all.push(peer)
    this.byName.set(name, peer)
    return peer
  }

  /** The genuine-flip coin of peer `name`. */
  coinFor(name: string): Coin {
    if (typeof this.coin === 'function') return this.coin(name)
    return this.coin === 'parity' ? parityCoin : concreteCoin
  }

  running(peer: SimPeer): boolean {
    return peer.status === 'active' || peer.status === 'joining' || peer.status === 'byzantine'
  }

  isHonest(peer: SimPeer): boolean {
    return peer.byzantine === undefined
  }

  /** Peers that are active and not leaving: the honest peers the invariants are about. */
  honest(): SimPeer[] {
    return this.all.filter((p) => p.status === 'active' && !p.leaving)
  }

  /** Members that are running, not leaving, and honest. */
  liveMembers(): SimPeer[] {
    return [...this.members].filter((p) => p.status === 'active' && !p.leaving)
  }

  /** Byzantine members still running. */
  byzantineMembers(): SimPeer[] {
    return [...this.members].filter((p) => p.status === 'byzantine')
  }

  /** Stops `peer` for good (removed or accused): it casts no more votes. */
  stop(peer: SimPeer): void {
    peer.status = 'removed'
    peer.votes = []
  }
}
