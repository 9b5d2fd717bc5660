import {
  coinPass,
  type MetaVote,
  NO_COIN,
  needsCoin,
  nextVotes,
  type StageView,
} from '@parsec-section/parsec-core/internal'
/**
 * The adversary's model of one voter-under-vote's binary agreement (spec §6.6-6.7): every peer's
 * chain of events, each with its meta-votes about that voter and the events of the others it sees.
 * A new event's meta-votes are computed exactly as the engine does (`nextVotes`, then the coin pass),
 * from its self-parent's votes and the latest events of the others it sees, with the coin the
 * adversary believes in (the parity coin: it is predictable, which is the point).
 *
 * Immutable-by-convention: `receive` returns a new model sharing the old one's chains, so a planner
 * can explore many futures cheaply.
 */

/** Meta-votes about the voter under vote, or null for an event without any (not a voter sync event). */
export type VoteList = readonly MetaVote[] | null

/** One event of a peer's chain: its votes and, per peer (model order), the latest event index it sees. */
export interface ModelEvent {
  readonly votes: VoteList
  readonly view: Int32Array
}

/** The coin the model tosses for round `round` (the round the estimate goes to). */
export type ModelCoin = (round: number) => boolean

export const parityModelCoin: ModelCoin = (round) => round % 2 === 1

export class VoteModel {
  private constructor(
    /** Peer names, in model order. */
    readonly peers: readonly string[],
    /** Per peer, its events in chain order (index = index_by_creator in the real graph). */
    private readonly chains: readonly (readonly ModelEvent[])[],
    readonly coin: ModelCoin,
  ) {}

  static of(peers: readonly string[], chains: readonly (readonly ModelEvent[])[], coin = parityModelCoin) {
    return new VoteModel(peers, chains, coin)
  }

  get size(): number {
    return this.peers.length
  }

  indexOf(name: string): number {
    return this.peers.indexOf(name)
  }

  chain(peer: number): readonly ModelEvent[] {
    return this.chains[peer]
  }

  latest(peer: number): ModelEvent {
    const chain = this.chains[peer]
    return chain[chain.length - 1]
  }

  /** The votes of `peer`'s latest event that has any (its current state), or null. */
  votes(peer: number): readonly MetaVote[] | null {
    const chain = this.chains[peer]
    for (let i = chain.length - 1; i >= 0; i--) if (chain[i].votes !== null) return chain[i].votes
    return null
  }

  /** The votes `viewer`'s latest event sees of `peer` (null when it sees none). */
  seenVotes(viewer: number, peer: number): VoteList {
    const index = this.latest(viewer).view[peer]
    return index < 0 ? null : this.chains[peer][index].votes
  }

  /**
   * `peer` makes a new event whose other-parent is event `index` of `other` (seeing everything that
   * one sees); `index` defaults to `other`'s latest. Returns the new model.
   */
  receive(peer: number, other: number, index = this.chains[other].length - 1): VoteModel {
    const own = this.latest(peer).view
    const theirs = this.chains[other][index].view
    const view = new Int32Array(own.length)
    for (let i = 0; i < own.length; i++) view[i] = Math.max(own[i], theirs[i])
    view[other] = Math.max(view[other], index)
    return this.withEvent(peer, view)
  }

  /** `peer` makes a new event seeing what its latest sees (e.g. a Requesting): usually no change. */
  tick(peer: number): VoteModel {
    return this.withEvent(peer, Int32Array.from(this.latest(peer).view))
  }

  private withEvent(peer: number, view: Int32Array): VoteModel {
    const chain = this.chains[peer]
    view[peer] = chain.length
    const votes = this.nextVotesAt(peer, view)
    const chains = this.chains.slice()
    chains[peer] = [...chain, { votes, view }]
    return new VoteModel(this.peers, chains, this.coin)
  }

  /** The engine's meta-votes for a new event of `peer` with `view` (election.ts `setMetaVotes`). */
  private nextVotesAt(peer: number, view: Int32Array): VoteList {
    const parent = this.votes(peer)
    if (parent === null) return null
    const others: (readonly MetaVote[])[] = []
    let stages = 0
    for (let w = 0; w < this.chains.length; w++) {
      if (w === peer || view[w] < 0) continue
      const votes = this.chains[w][view[w]].votes
      if (votes === null) continue
      others.push(votes)
      if (votes.length > stages) stages = votes.length
    }
    let limit = stages
    for (let stage = 0; stage < parent.length && stage < stages; stage++) {
      if (parent[stage].decided) {
        limit = stage
        break
      }
    }
    const sums = new Float64Array(stages)
    const decisions = new Uint8Array(stages)
    for (const list of others) {
      const end = Math.min(list.length, limit)
      for (let stage = 0; stage < end; stage++) {
        sums[stage] += list[stage].contribution
        if (decisions[stage] === 0) decisions[stage] = list[stage].decided
      }
    }
    const stageView: StageView = { sums, decisions, offset: 0, stages }
    const n = this.chains.length
    const temp = nextVotes(parent, stageView, NO_COIN, n)
    if (!needsCoin(temp, n)) return temp
    const lastRound = temp[temp.length - 1].round
    return coinPass(temp, (round) => (round <= lastRound ? this.coin(round) : undefined), n)
  }

  /** Whether some peer's current votes hold a decided entry. */
  anyDecided(): boolean {
    for (let p = 0; p < this.chains.length; p++) {
      const votes = this.votes(p)
      if (votes?.some((v) => v.decided !== 0)) return true
    }
    return false
  }

  /**
   * A key of the state that matters from stage `from` on: each peer's votes and what it sees of the
   * others (their entries from that stage, and how many stages they hold).
   */
  key(from = 0): string {
    const parts: string[] = []
    for (let p = 0; p < this.chains.length; p++) {
      parts.push(listKey(this.votes(p), from))
      for (let w = 0; w < this.chains.length; w++)
        if (w !== p) parts.push(listKey(this.seenVotes(p, w), from))
    }
    return parts.join('|')
  }
}

function listKey(votes: VoteList, from: number): string {
  if (votes === null) return '-'
  let out = `${votes.length}:`
  for (let i = Math.max(0, from); i < votes.length; i++) {
    const v = votes[i]
    out += `${v.est}${v.bin}${v.aux}${v.decided}`
  }
  return out
}
