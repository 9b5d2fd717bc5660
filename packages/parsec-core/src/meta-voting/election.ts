/**
 * One meta-election (spec §6): interesting content, observers, meta-votes and the decision, all
 * computed once per voter sync event as it is inserted, plus the hand-over to the next election
 * after a decision (§6.9).
 */
import { descendsFromFork, isDescendant } from '../graph/ancestry.js'
import type { Graph, GraphEvent } from '../graph/graph.js'
import type { ObservationStore } from '../observations/store.js'
import type { Coin } from './coin.js'
import { MetaEvent, OBSERVER, OBSERVER_ANCESTOR, OBSERVER_NONE } from './meta-event.js'
import { type MetaVote, NO_COIN, TRUE, initialVotes, nextVotes, supermajority } from './meta-vote.js'

export type MembershipChange = { readonly kind: 'add' | 'remove'; readonly peer: number }

interface Candidate {
  voters: number
  seen: Set<number> | null
  firstVoter: number
  ownIndex: number
}

export class MetaElection {
  /** Voters of this election, ascending local index. */
  voters: number[]
  private voterPosition: number[] = []
  /** Interesting events per creator (peer index), in insertion order (spec §6.4). */
  private interesting: number[][] = []
  private interestingKeys: Set<number>[] = []
  /** Events carrying a not-yet-consensused observation, ascending (spec §6.1 step 4). */
  private unconsensused: number[] = []
  private readonly unconsensusedByKey = new Map<number, number[]>()
  /** Graph indices of events holding a meta-event of this election. */
  private metaIndices: number[] = []

  constructor(
    voters: Iterable<number>,
    private readonly graph: Graph,
    private readonly store: ObservationStore,
    private readonly coin: Coin,
  ) {
    this.voters = [...voters].sort((a, b) => a - b)
    this.indexVoters()
  }

  private indexVoters(): void {
    this.voterPosition = []
    this.voters.forEach((peer, position) => {
      this.voterPosition[peer] = position
    })
  }

  get voterCount(): number {
    return this.voters.length
  }

  isVoter(peer: number): boolean {
    return this.voterPosition[peer] !== undefined
  }

  addUnconsensused(eventIndex: number, key: number): void {
    this.unconsensused.push(eventIndex)
    let list = this.unconsensusedByKey.get(key)
    if (list === undefined) {
      list = []
      this.unconsensusedByKey.set(key, list)
    }
    list.push(eventIndex)
  }

  /** Unconsensused events carrying `key`, ascending. */
  eventsCarrying(key: number): readonly number[] {
    return this.unconsensusedByKey.get(key) ?? []
  }

  hasUnconsensused(): boolean {
    return this.unconsensused.length > 0
  }

  firstInteresting(peer: number): GraphEvent | undefined {
    const list = this.interesting[peer]
    return list === undefined || list.length === 0 ? undefined : this.graph.get(list[0])
  }

  interestingEventsOf(peer: number): readonly number[] {
    return this.interesting[peer] ?? []
  }

  /** Spec §6.2: build (or rebuild) the meta-event of a voter's sync event. */
  buildMetaEvent(event: GraphEvent): void {
    let meta = event.meta
    if (meta === null) {
      meta = new MetaEvent(this.interestingContent(event))
      event.meta = meta
      this.metaIndices.push(event.index)
    }
    this.setObserver(event, meta)
    this.setMetaVotes(event, meta)
    if (meta.content.length > 0) {
      const creator = event.creator
      const list = this.interesting[creator]
      if (list === undefined) {
        this.interesting[creator] = [event.index]
        this.interestingKeys[creator] = new Set(meta.content)
      } else {
        list.push(event.index)
        const keys = this.interestingKeys[creator]
        for (const key of meta.content) keys.add(key)
      }
    }
  }

  /** Spec §6.3. */
  private interestingContent(event: GraphEvent): number[] {
    if (this.unconsensused.length === 0) return []
    const have = this.interestingKeys[event.creator]
    const events = this.graph.events
    const candidates = new Map<number, Candidate>()
    for (const u of this.unconsensused) {
      const carrier = events[u]
      const key = carrier.observationKey
      if (have?.has(key)) continue
      if (!isDescendant(event, carrier)) continue
      let candidate = candidates.get(key)
      if (candidate === undefined) {
        candidate = { voters: 0, seen: null, firstVoter: -1, ownIndex: Number.POSITIVE_INFINITY }
        candidates.set(key, candidate)
      }
      const creator = carrier.creator
      if (this.isVoter(creator)) {
        if (candidate.voters === 0) {
          candidate.voters = 1
          candidate.firstVoter = creator
        } else if (creator !== candidate.firstVoter && !candidate.seen?.has(creator)) {
          candidate.seen ??= new Set()
          candidate.seen.add(creator)
          candidate.voters++
        }
      }
      if (creator === event.creator && candidate.ownIndex === Number.POSITIVE_INFINITY) {
        candidate.ownIndex = carrier.indexByCreator
      }
    }
    if (candidates.size === 0) return []
    const n = this.voters.length
    let votersInPast = -1
    const interesting: number[] = []
    for (const [key, candidate] of candidates) {
      let ok: boolean
      if (this.store.get(key).creator === undefined) {
        ok = supermajority(candidate.voters, n)
      } else {
        if (votersInPast < 0) {
          votersInPast = 0
          for (const voter of this.voters) if (voter < event.last.length && event.last[voter] >= 0) votersInPast++
        }
        ok = supermajority(votersInPast, n)
      }
      if (ok) interesting.push(key)
    }
    if (interesting.length > 1) {
      interesting.sort((a, b) => {
        const byOwn = candidates.get(a)!.ownIndex - candidates.get(b)!.ownIndex
        if (byOwn !== 0 && !Number.isNaN(byOwn)) return byOwn
        return this.store.compare(a, b)
      })
    }
    return interesting
  }

  /** Spec §6.5: the observer status is always recomputed. */
  private setObserver(event: GraphEvent, meta: MetaEvent): void {
    const parent = this.graph.selfSyncParent(event)
    if (parent?.meta != null && parent.meta.observer !== OBSERVER_NONE) {
      meta.observer = OBSERVER_ANCESTOR
      meta.observees = []
      return
    }
    const n = this.voters.length
    const observees: number[] = []
    for (const voter of this.voters) {
      const first = this.firstInteresting(voter)
      if (first !== undefined && supermajority(this.graph.stronglySeeingCount(event, first), n)) {
        observees.push(voter)
      }
    }
    if (supermajority(observees.length, n)) {
      meta.observer = OBSERVER
      meta.observees = observees
    } else {
      meta.observer = OBSERVER_NONE
      meta.observees = []
    }
  }

  /** Spec §6.6. */
  private setMetaVotes(event: GraphEvent, meta: MetaEvent): void {
    const n = this.voters.length
    const parentVotes = this.graph.selfSyncParent(event)?.meta?.votes ?? null
    if (parentVotes === null && meta.observer !== OBSERVER) {
      meta.votes = null
      return
    }
    const others: MetaVote[][][] = []
    const events = this.graph.events
    for (const w of this.voters) {
      if (w === event.creator) continue
      const j = w < event.last.length ? event.last[w] : -1
      if (j < 0 || (event.forks !== null && descendsFromFork(event, w))) continue
      const votes = events[this.graph.slots[w][j][0]].meta?.votes
      if (votes != null) others.push(votes)
    }
    const votes: MetaVote[][] = new Array(n)
    const lists: MetaVote[][] = new Array(others.length)
    for (let position = 0; position < n; position++) {
      for (let i = 0; i < others.length; i++) lists[i] = others[i][position]
      if (parentVotes !== null) {
        const temp = nextVotes(parentVotes[position], lists, NO_COIN, n)
        const voter = this.voters[position]
        const rounds = new Set(temp.map((v) => v.round))
        const coins = (round: number) =>
          rounds.has(round) ? this.coin.toss({ round, voter, eventIndex: event.index }) : undefined
        votes[position] = nextVotes(temp, [], coins, n)
      } else {
        votes[position] = initialVotes(meta.observees.includes(this.voters[position]), lists, n)
      }
    }
    meta.votes = votes
  }

  /**
   * Spec §6.8: the decided payload keys at `event`, in block order, or null when this event decides
   * nothing.
   */
  decide(event: GraphEvent): number[] | null {
    let decidedTrue: number[]
    if (this.voters.length === 1 && this.voters[0] === event.creator) {
      decidedTrue = [event.creator]
    } else {
      const votes = event.meta?.votes
      if (votes == null) return null
      decidedTrue = []
      for (let position = 0; position < votes.length; position++) {
        const list = votes[position]
        const decided = list[list.length - 1].decided
        if (!decided) return null
        if (decided === TRUE) decidedTrue.push(this.voters[position])
      }
    }
    const count = new Map<number, number>()
    const minPosition = new Map<number, number>()
    for (const voter of decidedTrue) {
      const first = this.firstInteresting(voter)
      if (first === undefined) continue
      first.meta!.content.forEach((key, position) => {
        count.set(key, (count.get(key) ?? 0) + 1)
        const min = minPosition.get(key)
        if (min === undefined || position < min) minPosition.set(key, position)
      })
    }
    if (count.size === 0) return null
    return [...count.keys()].sort(
      (a, b) => minPosition.get(a)! - minPosition.get(b)! || count.get(b)! - count.get(a)! || this.store.compare(a, b),
    )
  }

  /**
   * Spec §6.9: hand over to the next election after `decided` keys with membership `changes`.
   * Returns the index processing restarts from.
   */
  startNext(decided: readonly number[], changes: readonly MembershipChange[], graphSize: number): number {
    for (const change of changes) {
      if (change.kind === 'add') {
        if (!this.isVoter(change.peer)) this.voters.push(change.peer)
      } else {
        this.voters = this.voters.filter((v) => v !== change.peer)
      }
    }
    this.voters.sort((a, b) => a - b)
    this.indexVoters()

    const decidedSet = new Set(decided)
    let dropped = false
    for (const key of decided) {
      if (this.unconsensusedByKey.delete(key)) dropped = true
    }
    if (dropped) {
      const events = this.graph.events
      this.unconsensused = this.unconsensused.filter((u) => !decidedSet.has(events[u].observationKey))
    }
    const newStart = this.unconsensused.length > 0 ? this.unconsensused[0] : graphSize

    let continueStart = newStart
    if (changes.length === 0) {
      let firstObserver = Number.POSITIVE_INFINITY
      for (const index of this.metaIndices) {
        if (this.graph.get(index).meta!.observer === OBSERVER && index < firstObserver) firstObserver = index
      }
      if (firstObserver !== Number.POSITIVE_INFINITY) continueStart = Math.max(newStart, firstObserver)
    }

    const kept: number[] = []
    for (const index of this.metaIndices) {
      const event = this.graph.get(index)
      if (changes.length > 0 || index < newStart) {
        event.meta = null
      } else {
        const meta = event.meta!
        if (meta.content.some((key) => decidedSet.has(key))) {
          meta.content = meta.content.filter((key) => !decidedSet.has(key))
        }
        kept.push(index)
      }
    }
    kept.sort((a, b) => a - b)
    this.metaIndices = kept

    this.interesting = []
    this.interestingKeys = []
    for (const index of kept) {
      if (index >= continueStart) break
      const event = this.graph.get(index)
      const content = event.meta!.content
      if (content.length === 0) continue
      const creator = event.creator
      const list = this.interesting[creator]
      if (list === undefined) {
        this.interesting[creator] = [index]
        this.interestingKeys[creator] = new Set(content)
      } else {
        list.push(index)
        for (const key of content) this.interestingKeys[creator].add(key)
      }
    }
    return continueStart
  }
}
