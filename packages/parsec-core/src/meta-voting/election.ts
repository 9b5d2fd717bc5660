/**
 * One meta-election (spec §6): interesting content, observers, meta-votes and the decision, all
 * computed once per voter sync event as it is inserted, plus the hand-over to the next election
 * after a decision (§6.9).
 */
import { isDescendant, lastOf, seenLast } from '../graph/ancestry.js'
import type { Graph, GraphEvent } from '../graph/graph.js'
import type { PublicId } from '../identity/identity.js'
import { sortIds } from '../identity/order.js'
import type { ObservationEntry, ObservationStore } from '../observations/store.js'
import { supermajority } from '../quorum.js'
import type { Coin, CoinView } from './coin.js'
import { KeyMarks } from './key-marks.js'
import { MetaEvent, OBSERVER, OBSERVER_ANCESTOR, OBSERVER_NONE } from './meta-event.js'
import { coinPass, initialVotes, type MetaVote, NO_COIN, needsCoin, nextVotes, TRUE } from './meta-vote.js'

export type MembershipChange = { readonly kind: 'add' | 'remove'; readonly peer: number }

const ZERO_HASH = new Uint8Array(32)

export class MetaElection implements CoinView {
  /** Voters of this election, ascending local index. */
  voters: number[]
  /** The voters of the first election (the genesis group), ascending local index. */
  private readonly initialVoters: readonly number[]
  /** Public ids of peers as far as resolved for the coin (see `peerId`), by local index. */
  private readonly ids: (PublicId | undefined)[] = []
  /** Store key of the genesis observation once known (decided, or our own genesis vote), else -1. */
  private genesisKey = -1
  private genesisDecided = false
  /** The last key of the last decision, or -1 before the first. */
  private lastDecidedKey = -1
  readonly memo = new Map<string, unknown>()
  /** Per decision so far, the highest meta-vote round of the deciding event (see `decisionRounds`). */
  private readonly roundsToDecision: number[] = []
  private voterPosition: number[] = []
  /** Interesting events per creator (peer index), in insertion order (spec §6.4). */
  private interesting: number[][] = []
  private readonly interestingKeys = new KeyMarks()
  /** Events carrying a not-yet-consensused observation, ascending (spec §6.1 step 4). */
  private unconsensused: number[] = []
  private readonly unconsensusedByKey = new Map<number, number[]>()
  /** Graph indices of events holding a meta-event of this election. */
  private metaIndices: number[] = []
  private limitsBuffer = new Int32Array(64)
  private sumsBuffer = new Float64Array(256)
  private decisionsBuffer = new Uint8Array(256)
  /** Per-peer visit stamps for counting distinct creators without allocating. */
  private seen: number[] = []
  private stamp = 0

  constructor(
    voters: Iterable<number>,
    readonly graph: Graph,
    private readonly store: ObservationStore,
    private readonly coin: Coin,
    /** The engine's peer list, when there is one: the authoritative ids by local index. */
    private readonly knownIds?: (peer: number) => PublicId | undefined,
  ) {
    this.voters = [...voters].sort((a, b) => a - b)
    this.initialVoters = [...this.voters]
    this.indexVoters()
  }

  private indexVoters(): void {
    this.voterPosition = []
    this.voters.forEach((peer, position) => {
      this.voterPosition[peer] = position
    })
  }

  /**
   * Read-only, for tools measuring rounds-to-decision: per decision so far, in order, the highest
   * meta-vote round of the event that made it (0 for a sole voter's).
   */
  get decisionRounds(): readonly number[] {
    return this.roundsToDecision
  }

  get voterCount(): number {
    return this.voters.length
  }

  isVoter(peer: number): boolean {
    return this.voterPosition[peer] !== undefined
  }

  // ------------------------------------------------------------------ the coin's view (CoinView)

  positionOf(peer: number): number | undefined {
    return this.voterPosition[peer]
  }

  /**
   * The public id of `peer`. A peer's own events name it; added peers are named by their decided
   * Add blocks (recorded in `startNext`); the genesis group is named by the genesis observation,
   * matched to local indices the way the peer list assigns them (the group in id order, after us),
   * for the members that have no event in our graph yet.
   */
  peerId(peer: number): PublicId | undefined {
    const known = this.knownIds?.(peer) ?? this.ids[peer] ?? this.idFromGraph(peer)
    if (known !== undefined) return known
    if (this.initialVoters.includes(peer)) this.resolveGenesisIds()
    return this.ids[peer]
  }

  get lastConsensused(): Uint8Array {
    if (this.lastDecidedKey >= 0) return this.store.get(this.lastDecidedKey).hash
    return this.genesisEntry()?.hash ?? ZERO_HASH
  }

  private idFromGraph(peer: number): PublicId | undefined {
    if (!this.graph.hasEventsOf(peer)) return undefined
    const id = this.knownIds?.(peer)
    if (id !== undefined) this.ids[peer] = id
    return id
  }

  /**
   * The genesis observation: the decided one, else our own genesis vote, else the only genesis
   * vote received whose group has as many members as the first election's voters and names every
   * one of them we know from their events (a joiner before it has decided the genesis block).
   */
  private genesisEntry(): ObservationEntry | undefined {
    if (this.genesisKey >= 0) return this.store.get(this.genesisKey)
    let candidate: ObservationEntry | undefined
    let candidates = 0
    for (const entry of this.store.entries) {
      const observation = entry.observation
      if (observation.kind !== 'genesis') continue
      if (entry.createdByUs) {
        this.genesisKey = entry.key
        return entry
      }
      if (observation.group.length !== this.initialVoters.length) continue
      const names = new Set(observation.group.map((id) => id.name))
      let consistent = true
      for (const peer of this.initialVoters) {
        const id = this.ids[peer] ?? this.idFromGraph(peer)
        if (id !== undefined && !names.has(id.name)) consistent = false
      }
      if (consistent) {
        candidate = entry
        candidates++
      }
    }
    return candidates === 1 ? candidate : undefined
  }

  private resolveGenesisIds(): void {
    const entry = this.genesisEntry()
    if (entry === undefined || entry.observation.kind !== 'genesis') return
    const unknown: number[] = []
    const knownNames = new Set<string>()
    for (const peer of this.initialVoters) {
      const id = this.ids[peer] ?? this.idFromGraph(peer)
      if (id === undefined) unknown.push(peer)
      else knownNames.add(id.name)
    }
    const rest = sortIds(entry.observation.group).filter((id) => !knownNames.has(id.name))
    if (rest.length !== unknown.length) return
    unknown.forEach((peer, i) => {
      this.ids[peer] = rest[i]
    })
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
    if (meta.content.length > 0) this.recordInteresting(event.creator, event.index, meta.content)
  }

  private recordInteresting(creator: number, index: number, content: readonly number[]): void {
    const list = this.interesting[creator]
    if (list === undefined) this.interesting[creator] = [index]
    else list.push(index)
    for (const key of content) this.interestingKeys.add(creator, key)
  }

  /** Spec §6.3, grouped by key so keys this creator already found interesting are skipped whole. */
  private interestingContent(event: GraphEvent): number[] {
    if (this.unconsensusedByKey.size === 0) return []
    const have = this.interestingKeys
    const creatorOfEvent = event.creator
    const events = this.graph.events
    const n = this.voters.length
    const candidates: number[] = []
    const ownIndex = new Map<number, number>()
    let votersInPast = -1
    for (const [key, carriers] of this.unconsensusedByKey) {
      if (have.has(creatorOfEvent, key)) continue
      const stamp = ++this.stamp
      let voters = 0
      let any = false
      let own = Number.POSITIVE_INFINITY
      for (let i = 0; i < carriers.length; i++) {
        const carrier = events[carriers[i]]
        if (!isDescendant(event, carrier)) continue
        any = true
        const creator = carrier.creator
        if (this.voterPosition[creator] !== undefined && this.seen[creator] !== stamp) {
          this.seen[creator] = stamp
          voters++
        }
        if (creator === event.creator && own === Number.POSITIVE_INFINITY) own = carrier.indexByCreator
      }
      if (!any) continue
      let interesting: boolean
      if (this.store.get(key).creator === undefined) {
        interesting = supermajority(n, voters)
      } else {
        if (votersInPast < 0) {
          votersInPast = 0
          for (const voter of this.voters) if (lastOf(event, voter) >= 0) votersInPast++
        }
        interesting = supermajority(n, votersInPast)
      }
      if (interesting) {
        candidates.push(key)
        ownIndex.set(key, own)
      }
    }
    if (candidates.length > 1) {
      candidates.sort((a, b) => {
        const oa = ownIndex.get(a)!
        const ob = ownIndex.get(b)!
        if (oa !== ob) return oa < ob ? -1 : 1
        return this.store.compare(a, b)
      })
    }
    return candidates
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
    let withInteresting = 0
    for (const voter of this.voters) if (this.interesting[voter]?.length) withInteresting++
    if (supermajority(n, withInteresting)) {
      const threshold = Math.floor((2 * n) / 3) + 1
      let remaining = withInteresting
      for (const voter of this.voters) {
        const first = this.firstInteresting(voter)
        if (first === undefined) continue
        if (this.graph.stronglySeeingCount(event, first, threshold) >= threshold) observees.push(voter)
        remaining--
        // Too few left to make an observer: the status is None whatever the rest give.
        if (observees.length + remaining < threshold) break
      }
    }
    if (supermajority(n, observees.length)) {
      meta.observer = OBSERVER
      meta.observees = observees
    } else {
      meta.observer = OBSERVER_NONE
      meta.observees = []
    }
  }

  private scratchLimits(n: number): Int32Array {
    if (this.limitsBuffer.length < n) this.limitsBuffer = new Int32Array(n * 2)
    return this.limitsBuffer
  }

  private scratchSums(size: number): { sums: Float64Array; decisions: Uint8Array } {
    if (this.sumsBuffer.length < size) {
      this.sumsBuffer = new Float64Array(size * 2)
      this.decisionsBuffer = new Uint8Array(size * 2)
    } else {
      this.sumsBuffer.fill(0, 0, size)
      this.decisionsBuffer.fill(0, 0, size)
    }
    return { sums: this.sumsBuffer, decisions: this.decisionsBuffer }
  }

  /** Spec §6.6. */
  private setMetaVotes(event: GraphEvent, meta: MetaEvent): void {
    const n = this.voters.length
    const parentVotes = this.graph.selfSyncParent(event)?.meta?.votes ?? null
    if (parentVotes === null && meta.observer !== OBSERVER) {
      meta.setVotes(null)
      return
    }
    // The other voters' latest meta-events this event sees, in ascending local index.
    const others: MetaEvent[] = []
    let stages = 0
    const events = this.graph.events
    for (const w of this.voters) {
      if (w === event.creator) continue
      const j = seenLast(event, w, this.graph.forkBlind)
      if (j < 0) continue
      const other = events[this.graph.firstInSlot(w, j)].meta
      if (other?.votes != null) {
        others.push(other)
        if (other.stages > stages) stages = other.stages
      }
    }
    // Stages each voter's list will read: nextVotes stops at the first decided entry it is given,
    // so nothing from there on is counted.
    const limits = this.scratchLimits(n)
    limits.fill(stages, 0, n)
    if (parentVotes !== null) {
      for (let position = 0; position < n; position++) {
        const list = parentVotes[position]
        for (let stage = 0; stage < list.length && stage < stages; stage++) {
          if (list[stage].decided) {
            limits[position] = stage
            break
          }
        }
      }
    }
    // Sum their contributions per (voter-under-vote, stage) once; counting is then a lookup.
    // The sums live in scratch buffers: they are only read while this event's votes are computed.
    const { sums, decisions } = this.scratchSums(n * stages)
    for (const other of others) {
      const width = other.stages
      const contributions = other.contributions
      const decided = other.decisions
      for (let position = 0; position < n; position++) {
        const from = position * width
        const to = position * stages
        const end = Math.min(width, limits[position])
        for (let stage = 0; stage < end; stage++) {
          const c = contributions[from + stage]
          if (c < 0) break
          sums[to + stage] += c
          if (decisions[to + stage] === 0) decisions[to + stage] = decided[from + stage]
        }
      }
    }
    const votes: (readonly MetaVote[])[] = new Array(n)
    const eventIndex = event.index
    const view = { sums, decisions, offset: 0, stages }
    for (let position = 0; position < n; position++) {
      view.offset = position * stages
      if (parentVotes !== null) {
        const temp = nextVotes(parentVotes[position], view, NO_COIN, n)
        if (!needsCoin(temp, n)) {
          votes[position] = temp
          continue
        }
        // The final pass has coins for the rounds present in temp (0..last round: lists are contiguous).
        const lastRound = temp[temp.length - 1].round
        const voter = this.voters[position]
        const coin = this.coin
        votes[position] = coinPass(
          temp,
          (round, flipRound) =>
            round <= lastRound
              ? coin.toss({ round, flipRound, voter, eventIndex, votes: temp, election: this })
              : undefined,
          n,
        )
      } else {
        votes[position] = initialVotes(meta.observees.includes(this.voters[position]), view, n)
      }
    }
    meta.setVotes(votes)
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
    let round = 0
    for (const list of event.meta?.votes ?? []) round = Math.max(round, list[list.length - 1].round)
    this.roundsToDecision.push(round)
    return [...count.keys()].sort(
      (a, b) =>
        minPosition.get(a)! - minPosition.get(b)! ||
        count.get(b)! - count.get(a)! ||
        this.store.compare(a, b),
    )
  }

  /**
   * What the coin's view needs from a decision: the last decided observation, the genesis
   * observation, and the ids of added peers (the k-th Add change is the k-th Add key decided).
   */
  private recordDecision(decided: readonly number[], changes: readonly MembershipChange[]): void {
    this.memo.clear()
    if (decided.length > 0) this.lastDecidedKey = decided[decided.length - 1]
    const adds = changes.filter((change) => change.kind === 'add')
    let next = 0
    for (const key of decided) {
      const observation = this.store.get(key).observation
      if (observation.kind === 'genesis' && !this.genesisDecided) {
        this.genesisKey = key
        this.genesisDecided = true
      }
      if (observation.kind === 'add' && next < adds.length) this.ids[adds[next++].peer] = observation.peer
    }
  }

  /**
   * Spec §6.9: hand over to the next election after `decided` keys with membership `changes`.
   * Returns the index processing restarts from.
   */
  startNext(decided: readonly number[], changes: readonly MembershipChange[], graphSize: number): number {
    this.recordDecision(decided, changes)
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
    this.interestingKeys.clear()
    for (const index of kept) {
      if (index >= continueStart) break
      const event = this.graph.get(index)
      if (event.meta!.content.length > 0) this.recordInteresting(event.creator, index, event.meta!.content)
    }
    return continueStart
  }
}
