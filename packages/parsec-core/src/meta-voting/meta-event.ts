import { type MetaVote, TRUE } from './meta-vote.js'

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
  /**
   * The votes flattened for counting, in rows of `width` stages per voter position:
   * `[position * width + stage]` is the packed contribution of that entry (0 where a list is
   * shorter, which counts as nothing). A new array each time the votes are set.
   */
  contributions: Float64Array = EMPTY_CONTRIBUTIONS
  /**
   * The decided entries, as pairs: the voter position, then `stage * 2` plus 1 when decided FALSE.
   */
  decided: readonly number[] = NONE_DECIDED
  /** Row width of `contributions`: at least the longest list among `votes`. */
  width = 0
  /**
   * What the other voters' meta-votes sum to, as seen by this event (see `OtherSums`), kept so that
   * this creator's next meta-event starts from them and only adds what changed; null until computed.
   */
  otherSums: OtherSums | null = null

  constructor(
    /** Interesting content: observation keys, in the order of spec §6.3. */
    public content: number[],
  ) {}

  /**
   * Sets the votes, flattened in rows of at least `minWidth` stages. Lists that are the same
   * objects as `parent`'s (nextVotes returns a list unchanged when nothing changed) are copied
   * from its rows, and when all are, its flattened arrays are shared: the same votes, the same
   * arrays, so counting skips them.
   */
  setVotes(votes: (readonly MetaVote[])[] | null, minWidth = 0, parent: MetaEvent | null = null): void {
    this.votes = votes
    this.decided = NONE_DECIDED
    if (votes === null) {
      this.contributions = EMPTY_CONTRIBUTIONS
      this.width = 0
      return
    }
    const n = votes.length
    const before = parent?.votes
    let same = 0
    if (before != null && before.length === n) for (let p = 0; p < n; p++) if (votes[p] === before[p]) same++
    if (same === n) {
      this.contributions = parent!.contributions
      this.decided = parent!.decided
      this.width = parent!.width
      return
    }
    let width = minWidth
    for (const list of votes) if (list.length > width) width = list.length
    const contributions = new Float64Array(n * width)
    let decided: number[] | null = null
    const rows = same > 0 ? parent!.contributions : EMPTY_CONTRIBUTIONS
    const from = same > 0 ? parent!.width : 0
    for (let position = 0; position < n; position++) {
      const list = votes[position]
      const base = position * width
      if (same > 0 && list === before![position]) {
        const src = position * from
        for (let stage = 0; stage < list.length; stage++) contributions[base + stage] = rows[src + stage]
        continue
      }
      for (let stage = 0; stage < list.length; stage++) {
        const vote = list[stage]
        contributions[base + stage] = vote.contribution
        if (vote.decided) {
          decided ??= []
          decided.push(position, stage * 2 + (vote.decided === TRUE ? 0 : 1))
        }
      }
    }
    if (same > 0) {
      const kept = parent!.decided
      for (let k = 0; k < kept.length; k += 2) {
        if (votes[kept[k]] === before![kept[k]]) {
          decided ??= []
          decided.push(kept[k], kept[k + 1])
        }
      }
    }
    this.contributions = contributions
    if (decided !== null) this.decided = decided
    this.width = width
  }
}

/**
 * The packed sums of some voters' meta-vote contributions per (voter-under-vote, stage):
 * `sums[position * width + stage]` adds up the `contributions` of the meta-events in `sources`,
 * and `decided[...]` counts their decided entries there (TRUE in the low 16 bits, FALSE above).
 * Only the entries that meta-votes can still read are kept up to date: a list that is decided at
 * some stage is never counted from that stage on again (see `setMetaVotes`), so sums there may be
 * stale. Each source is a meta-event's `contributions` array itself: `setVotes`
 * always replaces it, so the same array means the same votes. A creator's next meta-event takes
 * the sums over from its self-parent's and updates them in place.
 */
export interface OtherSums {
  /** Identifies the election's voter list (positions) these sums were counted for. */
  readonly generation: number
  /** The election's hand-over count when last updated (see `MetaElection.otherSums`). */
  epoch: number
  width: number
  sums: Float64Array
  decided: Int32Array
  /** Per voter position, the contributions array counted (EMPTY_CONTRIBUTIONS: none). */
  readonly sources: Float64Array[]
  /** Per voter position, the decided entries that go with `sources` (see `MetaEvent.decided`). */
  readonly sourceDecided: (readonly number[])[]
}

/** A decided TRUE entry in `OtherSums.decided`; decided FALSE counts in the high bits. */
export const DECIDED_TRUE = 1
export const DECIDED_FALSE = 0x10000

export const EMPTY_CONTRIBUTIONS = new Float64Array(0)
export const NONE_DECIDED: readonly number[] = []
