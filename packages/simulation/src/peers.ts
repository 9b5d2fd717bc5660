/**
 * The simulated peers: each one an engine with what the simulation tracks about it (status,
 * polled blocks, votes still to cast), and the registry of all of them with the section's
 * membership as the simulation sees it.
 */

import {
  type BlockDescription,
  type Coin,
  type ConsensusMode,
  concreteCoin,
  type MockPublicId,
  type Observation,
  type Parsec,
  parityCoin,
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
  votes: PendingVote[]
  /** The behaviour layer of a Byzantine peer. */
  byzantine?: ByzantinePeer
  /** Offenders of the accusations this peer agreed on. */
  readonly accused: Set<string>
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
      votes: [],
      accused: new Set(),
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
