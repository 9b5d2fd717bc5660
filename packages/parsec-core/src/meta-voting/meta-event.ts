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
  votes: (readonly MetaVote[])[] | null = null
  /** The votes flattened for counting: `[position * stages + stage]` (-1 where a list is shorter). */
  contributions: Float64Array = EMPTY_CONTRIBUTIONS
  decisions: Uint8Array = EMPTY_DECISIONS
  /** Longest list length among `votes`. */
  stages = 0

  constructor(
    /** Interesting content: observation keys, in the order of spec §6.3. */
    public content: number[],
  ) {}

  setVotes(votes: (readonly MetaVote[])[] | null): void {
    this.votes = votes
    if (votes === null) {
      this.contributions = EMPTY_CONTRIBUTIONS
      this.decisions = EMPTY_DECISIONS
      this.stages = 0
      return
    }
    let stages = 0
    for (const list of votes) if (list.length > stages) stages = list.length
    const contributions = new Float64Array(votes.length * stages).fill(-1)
    const decisions = new Uint8Array(votes.length * stages)
    for (let position = 0; position < votes.length; position++) {
      const list = votes[position]
      const base = position * stages
      for (let stage = 0; stage < list.length; stage++) {
        contributions[base + stage] = list[stage].contribution
        decisions[base + stage] = list[stage].decided
      }
    }
    this.contributions = contributions
    this.decisions = decisions
    this.stages = stages
  }
}

const EMPTY_CONTRIBUTIONS = new Float64Array(0)
const EMPTY_DECISIONS = new Uint8Array(0)
