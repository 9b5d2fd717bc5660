/**
 * The common coin behind a small interface (spec §6.7, §16). The reference v0.7.3 uses a parity
 * stand-in, `coin(r) = r is odd`: predictable, so an adversary controlling message timing can stall
 * an election. Replays of recorded graphs must use it to reach the recorded blocks. The RFC's
 * concrete coin (spec §16) is in `concrete-coin.ts`; it reads the graph and the election through
 * the `CoinView` of the context.
 */
import type { Graph } from '../graph/graph.js'
import type { PublicId } from '../identity/identity.js'
import type { MetaVote } from './meta-vote.js'

export interface CoinContext {
  /**
   * The round of the meta-vote the coin gives its estimate to: a coin tossed when a meta-vote
   * leaves step 2 of round r is asked for with `round` r + 1 (spec §6.7), so the parity coin's
   * `coin(r + 1)` is what leaving round r uses.
   */
  readonly round: number
  /** The round whose genuine-flip step (step 2) is being left: the step-2 aux values a coin may read. */
  readonly flipRound: number
  /** Local peer index of the voter whose meta-vote this is (the voter under vote). */
  readonly voter: number
  /** Graph index of the event computing the meta-vote (already in `election.graph`). */
  readonly eventIndex: number
  /**
   * The meta-votes about `voter` of the event's creator at this event so far (before the coin is
   * applied); the event's own meta-event does not hold them yet.
   */
  readonly votes: readonly MetaVote[]
  /** What a coin may read of the current meta-election and the graph. */
  readonly election: CoinView
}

/**
 * A read-only view of the current meta-election. Everything in it is either agreed (the voters,
 * the decisions) or part of the graph, so a coin that derives its value from it and from the
 * event's ancestors gives the same value on every peer.
 */
export interface CoinView {
  readonly graph: Graph
  /** The voters of the current election, ascending local index. */
  readonly voters: readonly number[]
  /** The position of `peer` in `voters` (the index of its meta-vote lists), or undefined. */
  positionOf(peer: number): number | undefined
  /**
   * The public id of `peer`, from its events, the decided genesis and Add blocks, or (before the
   * genesis block is decided) the genesis vote; undefined when none of these names it yet.
   */
  peerId(peer: number): PublicId | undefined
  /**
   * `OH` of the last consensused observation (spec §1.5), or of the genesis observation before
   * the first decision; 32 zero bytes when not even the genesis observation is known.
   */
  readonly lastConsensused: Uint8Array
  /** Scratch memory of the current election (cleared at every decision), for coins that cache. */
  readonly memo: Map<string, unknown>
}

export interface Coin {
  readonly name: string
  /** The coin value, or undefined while it is not yet known at this event. */
  toss(context: CoinContext): boolean | undefined
}

export const parityCoin: Coin = {
  name: 'parity',
  toss: ({ round }) => round % 2 === 1,
}
