/**
 * The common coin behind a small interface (spec §6.7, §16). The reference v0.7.3 uses a parity
 * stand-in, `coin(r) = r is odd`: predictable, so an adversary controlling message timing can stall
 * an election. Replays of recorded graphs must use it to reach the recorded blocks.
 */
export interface CoinContext {
  /** The round whose genuine-flip coin is wanted. */
  readonly round: number
  /** Local peer index of the voter whose meta-vote this is. */
  readonly voter: number
  /** Graph index of the event computing the meta-vote. */
  readonly eventIndex: number
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
