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
import {
  DECIDED_FALSE,
  DECIDED_TRUE,
  EMPTY_CONTRIBUTIONS,
  MetaEvent,
  NONE_DECIDED,
  OBSERVER,
  OBSERVER_ANCESTOR,
  OBSERVER_NONE,
  type OtherSums,
} from './meta-event.js'
import {
  coinPass,
  FALSE,
  initialVotes,
  type MetaVote,
  NO_COIN,
  needsCoin,
  nextVotes,
  TRUE,
} from './meta-vote.js'

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
  /** The keys of `unconsensusedByKey` in its order, and their lists: iterated per meta-event. */
  private openKeys: number[] = []
  private openCarriers: number[][] = []
  /**
   * Per creator, how many of the first open keys are known to be interesting to it already
   * (marks only grow until a hand-over), so its next meta-event's scan starts past them.
   */
  private keyCursor: number[] = []
  /** Graph indices of events holding a meta-event of this election. */
  private metaIndices: number[] = []
  private decisionsBuffer = new Uint8Array(256)
  private limitsBuffer = new Int32Array(64)
  /** Changes to the voter list (positions): sums kept on meta-events count for one generation. */
  private generation = 0
  /** Row width of the meta-events' flattened votes: grows to the longest list, so rows mostly match. */
  private layoutWidth = 0
  /** Hand-overs so far (`startNext`): meta-events may have been rebuilt or dropped at each. */
  private epoch = 0
  /** Scratch for `otherSums`: the positions whose source changed, and their new sources. */
  private changedPositions: number[] = []
  private changedSources: (MetaEvent | null)[] = []
  /** Per-peer visit stamps for counting distinct creators without allocating. */
  private seen: number[] = []
  private stamp = 0
  /**
   * Single-mode keys of one voter are listed in the order it voted them (our rule; the reference
   * orders them by hash, so it may agree one voter's payloads out of their voting order). Off for
   * replays of recorded graphs (`referenceRules`).
   */
  votingOrder = false

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

  /**
   * Read-only, for views: the highest meta-vote round and step any event of this election holds
   * (round -1 before any meta-vote), and how many events hold a meta-event.
   */
  progress(): { round: number; step: number; metaEvents: number } {
    let round = -1
    let step = 0
    for (const index of this.metaIndices) {
      for (const list of this.graph.get(index).meta?.votes ?? []) {
        const last = list[list.length - 1]
        if (last.round > round || (last.round === round && last.step > step)) {
          round = last.round
          step = last.step
        }
      }
    }
    return { round, step, metaEvents: this.metaIndices.length }
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
      this.openKeys.push(key)
      this.openCarriers.push(list)
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
    /** Per candidate, the index of its first carrier by the event's creator (infinity: none). */
    const owns: number[] = []
    /** Per candidate, the lowest creator index of its carriers `event` descends from. */
    const firsts: number[] = []
    let votersInPast = -1
    const keys = this.openKeys
    let start = this.keyCursor[creatorOfEvent] ?? 0
    while (start < keys.length && have.has(creatorOfEvent, keys[start])) start++
    this.keyCursor[creatorOfEvent] = start
    for (let k = start; k < keys.length; k++) {
      const key = keys[k]
      if (have.has(creatorOfEvent, key)) continue
      const carriers = this.openCarriers[k]
      const stamp = ++this.stamp
      let voters = 0
      let any = false
      let own = Number.POSITIVE_INFINITY
      let first = Number.POSITIVE_INFINITY
      for (let i = 0; i < carriers.length; i++) {
        const carrier = events[carriers[i]]
        if (!isDescendant(event, carrier)) continue
        any = true
        if (carrier.indexByCreator < first) first = carrier.indexByCreator
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
        owns.push(own)
        firsts.push(first)
      }
    }
    if (candidates.length > 1) {
      const order = candidates.map((_, i) => i)
      order.sort((a, b) => {
        const oa = owns[a]
        const ob = owns[b]
        if (oa !== ob) return oa < ob ? -1 : 1
        return this.store.compare(candidates[a], candidates[b])
      })
      if (this.votingOrder) this.inVotingOrder(order, candidates, firsts)
      return order.map((i) => candidates[i])
    }
    return candidates
  }

  /**
   * Reorders `order` (positions into `candidates`, sorted) so that each voter's Single-mode keys
   * take the places its keys hold, in the order it voted them (`firsts`); every other key keeps
   * its place. A permutation within each voter's places, so the order stays total and the same at
   * every peer. Why it is enough (spec §6.8) for a voter that does not fork: a voter's later key
   * is interesting to an event only if its earlier one is too (its carrier is an ancestor of the
   * later one's) or already decided, so in every first-interesting list the earlier key comes
   * first, its least position is lower, and it is decided first or in an earlier election.
   */
  private inVotingOrder(order: number[], candidates: readonly number[], firsts: readonly number[]): void {
    let places: Map<string, number[]> | undefined
    for (let at = 0; at < order.length; at++) {
      const creator = this.store.get(candidates[order[at]]).creator
      if (creator === undefined) continue
      places ??= new Map()
      const list = places.get(creator.name)
      if (list === undefined) places.set(creator.name, [at])
      else list.push(at)
    }
    if (places === undefined) return
    for (const list of places.values()) {
      if (list.length < 2) continue
      // Stable: keys voted at one index (a fork) keep their consistent order.
      const held = list.map((at) => order[at]).sort((a, b) => firsts[a] - firsts[b])
      for (let i = 0; i < list.length; i++) order[list[i]] = held[i]
    }
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

  private scratchDecisions(size: number): Uint8Array {
    if (this.decisionsBuffer.length < size) this.decisionsBuffer = new Uint8Array(size * 2)
    return this.decisionsBuffer
  }

  /**
   * The other voters' sums as `event` sees them (spec §6.6's counting over the other voters'
   * latest meta-events): its self-parent's sums with only the voters whose latest meta-event
   * changed taken out and put back in, or counted afresh when the self-parent has none for this
   * voter list. The result is kept on `meta` for the creator's next meta-event.
   */
  private otherSums(
    event: GraphEvent,
    meta: MetaEvent,
    parentEvent: GraphEvent | null,
    limits: Int32Array,
  ): OtherSums {
    const parent = parentEvent?.meta ?? null
    const n = this.voters.length
    const events = this.graph.events
    const forkBlind = this.graph.forkBlind
    const base = parent?.otherSums
    const valid = base != null && base.generation === this.generation && base.sources.length === n
    const quick =
      valid &&
      base.epoch === this.epoch &&
      event.forks === null &&
      parentEvent !== null &&
      parentEvent.forks === null
    // Which positions change, and the width the sums need.
    let width = valid ? base.width : 0
    let changed = 0
    const creator = event.creator
    const changedPositions = this.changedPositions
    const changedSources = this.changedSources
    for (let position = 0; position < n; position++) {
      const w = this.voters[position]
      // The same latest event of w as the parent saw, and no meta-event rebuilt since: unchanged.
      if (quick && lastOf(event, w) === lastOf(parentEvent!, w)) continue
      let source: MetaEvent | null = null
      if (w !== creator) {
        const j = seenLast(event, w, forkBlind)
        if (j >= 0) {
          const other = events[this.graph.firstInSlot(w, j)].meta
          if (other?.votes != null) source = other
        }
      }
      const contributions = source === null ? EMPTY_CONTRIBUTIONS : source.contributions
      if (valid ? contributions === base.sources[position] : contributions.length === 0) continue
      changedPositions[changed] = position
      changedSources[changed] = source
      changed++
      if (contributions.length > width * n) width = contributions.length / n
    }
    if (width < this.layoutWidth) width = this.layoutWidth
    let result: OtherSums
    if (valid) {
      // Taken over and updated in place: a creator's next meta-event is the only one that
      // normally starts from these sums (a fork's other side or a rebuild counts afresh).
      parent!.otherSums = null
      result = base
      result.epoch = this.epoch
      if (width !== base.width) {
        const sums = new Float64Array(n * width)
        const decided = new Int32Array(n * width)
        const before = base.width
        for (let position = 0; position < n; position++) {
          for (let stage = 0; stage < before; stage++) {
            sums[position * width + stage] = base.sums[position * before + stage]
            decided[position * width + stage] = base.decided[position * before + stage]
          }
        }
        result.sums = sums
        result.decided = decided
        result.width = width
      }
    } else {
      result = {
        generation: this.generation,
        epoch: this.epoch,
        width,
        sums: new Float64Array(n * width),
        decided: new Int32Array(n * width),
        sources: new Array(n).fill(EMPTY_CONTRIBUTIONS),
        sourceDecided: new Array(n).fill(NONE_DECIDED),
      }
    }
    const { sums, decided, sources, sourceDecided } = result
    for (let k = 0; k < changed; k++) {
      const position = changedPositions[k]
      const source = changedSources[k]
      changedSources[k] = null
      const contributions = source === null ? EMPTY_CONTRIBUTIONS : source.contributions
      replaceSource(sums, width, n, limits, sources[position], contributions)
      countDecided(decided, width, limits, sourceDecided[position], -1)
      const entries = source === null ? NONE_DECIDED : source.decided
      countDecided(decided, width, limits, entries, 1)
      sources[position] = contributions
      sourceDecided[position] = entries
    }
    meta.otherSums = result
    return result
  }

  /** Spec §6.6. */
  private setMetaVotes(event: GraphEvent, meta: MetaEvent): void {
    const n = this.voters.length
    const parentEvent = this.graph.selfSyncParent(event) ?? null
    const parentMeta = parentEvent?.meta ?? null
    const parentVotes = parentMeta?.votes ?? null
    if (parentVotes === null && meta.observer !== OBSERVER) {
      meta.otherSums = null
      meta.setVotes(null)
      return
    }
    // Stages each voter's list can read: nextVotes stops at the first decided entry it is given,
    // and the first decided stage never rises along a creator's events, so nothing from there on
    // is counted, here or for this creator's later events.
    // The parent's decided entries are its lists' decided stages.
    const limits = this.scratchLimits(n)
    limits.fill(0x7fffffff, 0, n)
    if (parentVotes !== null) {
      const entries = parentMeta!.decided
      for (let k = 0; k < entries.length; k += 2) {
        const stage = entries[k + 1] >>> 1
        if (stage < limits[entries[k]]) limits[entries[k]] = stage
      }
    }
    const other = this.otherSums(event, meta, parentEvent, limits)
    const stages = other.width
    const sums = other.sums
    // The first decided value among the other voters at each entry, in ascending voter order:
    // unambiguous from the counts unless both values occur there.
    const decisions = this.scratchDecisions(n * stages)
    const decided = other.decided
    for (let i = 0; i < n * stages; i++) {
      const d = decided[i]
      if (d === 0) decisions[i] = 0
      else if (d >>> 16 === 0) decisions[i] = TRUE
      else if ((d & 0xffff) === 0) decisions[i] = FALSE
      else decisions[i] = firstDecided(other, n, i)
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
    meta.setVotes(votes, this.layoutWidth, parentMeta)
    // Grown with room to spare, so that rows are seldom laid out anew.
    if (meta.width > this.layoutWidth) this.layoutWidth = meta.width + 2
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
    this.epoch++
    for (const change of changes) {
      if (change.kind === 'add') {
        if (!this.isVoter(change.peer)) this.voters.push(change.peer)
      } else {
        this.voters = this.voters.filter((v) => v !== change.peer)
      }
    }
    this.voters.sort((a, b) => a - b)
    this.indexVoters()
    if (changes.length > 0) {
      this.generation++
      this.layoutWidth = 0
    }

    const decidedSet = new Set(decided)
    let dropped = false
    for (const key of decided) {
      if (this.unconsensusedByKey.delete(key)) dropped = true
    }
    if (dropped) {
      const keys: number[] = []
      const carriers: number[][] = []
      // keptBefore[k]: how many of the first k open keys stay open (where cursors move to).
      const keptBefore = new Int32Array(this.openKeys.length + 1)
      for (let k = 0; k < this.openKeys.length; k++) {
        keptBefore[k] = keys.length
        if (!this.unconsensusedByKey.has(this.openKeys[k])) continue
        keys.push(this.openKeys[k])
        carriers.push(this.openCarriers[k])
      }
      keptBefore[this.openKeys.length] = keys.length
      this.keyCursor = this.keyCursor.map((cursor) => keptBefore[cursor])
      this.openKeys = keys
      this.openCarriers = carriers
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
    this.resetKeyCursors(kept, continueStart, changes.length > 0)
    return continueStart
  }

  /**
   * After a hand-over, the marks are those of the kept meta-events before `continueStart` (those
   * before the first unconsensused event carried only decided keys): a creator whose meta-events
   * from `continueStart` on had marked open keys scans from the first key again.
   */
  private resetKeyCursors(kept: readonly number[], continueStart: number, cleared: boolean): void {
    if (cleared) {
      this.keyCursor = []
      return
    }
    for (const index of kept) {
      if (index < continueStart) continue
      const event = this.graph.get(index)
      if (event.meta!.content.length > 0) this.keyCursor[event.creator] = 0
    }
  }
}

/**
 * `sums` (rows of `width` stages per voter position) with one voter's flattened contributions
 * `before` taken out and `after` put in, each row only below its limit; either array may have
 * narrower rows than `width`, or be empty.
 */
function replaceSource(
  sums: Float64Array,
  width: number,
  n: number,
  limits: Int32Array,
  before: Float64Array,
  after: Float64Array,
): void {
  if (before.length === after.length && before.length === width * n) {
    for (let position = 0; position < n; position++) {
      const row = position * width
      const end = row + Math.min(width, limits[position])
      for (let i = row; i < end; i++) sums[i] += after[i] - before[i]
    }
    return
  }
  addRows(sums, width, n, limits, before, -1)
  addRows(sums, width, n, limits, after, 1)
}

function addRows(
  sums: Float64Array,
  width: number,
  n: number,
  limits: Int32Array,
  rows: Float64Array,
  sign: number,
): void {
  if (rows.length === 0) return
  const from = rows.length / n
  for (let position = 0; position < n; position++) {
    const src = position * from
    const dst = position * width
    const end = Math.min(from, limits[position])
    for (let stage = 0; stage < end; stage++) sums[dst + stage] += sign * rows[src + stage]
  }
}

/** Counts in (sign 1) or out (sign -1) one voter's decided entries (see `MetaEvent.decided`). */
function countDecided(
  decided: Int32Array,
  width: number,
  limits: Int32Array,
  entries: readonly number[],
  sign: number,
): void {
  for (let k = 0; k < entries.length; k += 2) {
    const position = entries[k]
    const stage = entries[k + 1] >>> 1
    if (stage >= limits[position]) continue
    decided[position * width + stage] += sign * (entries[k + 1] & 1 ? DECIDED_FALSE : DECIDED_TRUE)
  }
}

/** The first decided value at flat entry `i` among the counted voters, in ascending voter order. */
function firstDecided(other: OtherSums, n: number, i: number): number {
  const position = Math.floor(i / other.width)
  const stage = i - position * other.width
  for (let v = 0; v < n; v++) {
    const entries = other.sourceDecided[v]
    for (let k = 0; k < entries.length; k += 2) {
      if (entries[k] === position && entries[k + 1] >>> 1 === stage) return entries[k + 1] & 1 ? FALSE : TRUE
    }
  }
  return 0
}
