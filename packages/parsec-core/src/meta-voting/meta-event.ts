import type { MetaVote } from './meta-vote.js'

export const OBSERVER_NONE = 0
export const OBSERVER_ANCESTOR = 1
export const OBSERVER = 2

/** What a voter's sync event means to the current meta-election (spec §6.2-6.6). */
export class MetaEvent {
  /** Observer status: none, descends from an observer, or an observer itself. */
  observer = OBSERVER_NONE
  /** Peer indices this event strongly sees the first interesting events of (observers only). */
  observees: readonly number[] = []
  /** Meta-votes per voter position of the election, or null when it has none. */
  votes: MetaVote[][] | null = null

  constructor(
    /** Interesting content: observation keys, in the order of spec §6.3. */
    public content: number[],
  ) {}
}
