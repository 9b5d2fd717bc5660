/**
 * Undecided membership votes: ours, and others' seen in the graph. A vote is live while it can
 * still be decided as cast: an Add while the peer is not a member, for at most `candidateTimeoutMs`
 * since we cast or first saw it, even if its ticket went stale meanwhile (so an Add that can no longer gather votes stops
 * blocking others even in a section whose membership does not move); a Remove during its round
 * while the peer is a member. Live votes make J and part of P (spec §1); lapsed ones are forgotten.
 * An Add key that lapsed here is never voted or counted again (see `mayVoteAdd`).
 */

import type { PeerIdDecoder } from '../encoding/peer-ids.js'
import { encodeObservation, type Observation, type PublicId, toHex } from '../engine-exports.js'
import { supermajority } from '../quorum.js'
import { type AdmissionRecord, decodeAdmissionRecord, decodeRemoveInfo } from '../wire/records.js'
import { currentRound, type MachineContext, requireState } from './context.js'
import type { Step } from './step.js'

export interface PendingVote {
  readonly kind: 'add' | 'remove'
  readonly peer: PublicId
  readonly observation: Observation
  /** A Remove's round (undefined: unreadable related info, live until decided). */
  readonly round?: number
  /** An Add's admission record (undefined: an operator's Add without one). */
  readonly record?: AdmissionRecord
  /** When we cast or first saw it (our clock). */
  readonly since: number
}

/** The engine key of an observation: its bincode bytes, as hex. */
export function keyOf(observation: Observation): string {
  return toHex(encodeObservation(observation))
}

export function pendingVoteOf(
  observation: Observation,
  ids: PeerIdDecoder,
  since: number,
): PendingVote | undefined {
  if (observation.kind === 'add') {
    let record: AdmissionRecord | undefined
    try {
      record = decodeAdmissionRecord(observation.relatedInfo, ids)
      if (record.peer.name !== observation.peer.name) record = undefined
    } catch {
      record = undefined
    }
    return {
      kind: 'add',
      peer: observation.peer,
      observation,
      since,
      ...(record === undefined ? {} : { record }),
    }
  }
  if (observation.kind === 'remove') {
    let round: number | undefined
    try {
      round = decodeRemoveInfo(observation.relatedInfo).round
    } catch {
      round = undefined
    }
    return {
      kind: 'remove',
      peer: observation.peer,
      observation,
      since,
      ...(round === undefined ? {} : { round }),
    }
  }
  return undefined
}

const MAX_REMEMBERED_VOTES = 16_384

/** How many `candidateTimeoutMs` a lapsed Add's voters are still counted (late votes arriving). */
const KEEP_LAPSED_FACTOR = 3

/** Adds `key`, bounded: a key forgotten after this many newer ones belongs to a long-dead ticket or round. */
function remember(keys: Set<string>, key: string): void {
  keys.add(key)
  if (keys.size > MAX_REMEMBERED_VOTES) keys.delete(keys.values().next().value as string)
}

interface Observed {
  readonly vote: PendingVote
  readonly voters: Set<string>
}

export class VoteBook {
  private readonly ours = new Map<string, PendingVote>()
  private readonly everCast = new Set<string>()
  /** Add keys that lapsed by age here (bounded like `everCast`). */
  private readonly lapsedAdds = new Set<string>()
  private readonly observed = new Map<string, Observed>()
  /** Members targeted by a Remove (ours or seen), and when we first saw that: see `targets`. */
  private readonly targetedAt = new Map<string, number>()
  private observedCount = 0

  constructor(private readonly ctx: MachineContext) {}

  /**
   * Whether we ever cast this observation. The engine refuses a second vote for a key, so a lapsed
   * vote of ours is never cast again (a Remove's next round and a new ticket are new keys).
   */
  hasOurs(observation: Observation): boolean {
    return this.everCast.has(keyOf(observation))
  }

  /**
   * Whether we may vote this Add: not once its key lapsed here, nor when we first saw it
   * `candidateTimeoutMs` ago or more. The engine still decides a lapsed Add with the votes it
   * gathers, and members that let it lapse have meanwhile voted other Adds the rules allowed only
   * without it: completing it would decide both (interleaved churn seed 2482, at N = 3: Add(Eric)
   * and Add(Fred) split 2-2 at N = 4, each lapsed, each member then voted the other, 2 young of 5).
   */
  mayVoteAdd(observation: Observation): boolean {
    const key = keyOf(observation)
    if (this.lapsedAdds.has(key)) return false
    const seen = this.observed.get(key)
    return seen === undefined || this.ctx.now - seen.vote.since < this.ctx.config.candidateTimeoutMs
  }

  /** Records our vote and puts it in the step. */
  cast(step: Step, vote: PendingVote): void {
    const key = keyOf(vote.observation)
    // Its age counts from when we first saw it, so it lapses here when it does for the others.
    const seen = this.observed.get(key)?.vote.since
    this.ours.set(key, seen === undefined ? vote : { ...vote, since: Math.min(seen, vote.since) })
    remember(this.everCast, key)
    if (vote.kind === 'remove') this.noteTarget(vote.peer.name)
    step.votes.push(vote.observation)
  }

  private noteTarget(name: string): void {
    if (!this.targetedAt.has(name)) this.targetedAt.set(name, this.ctx.now)
  }

  /**
   * Members some Remove targeted, with when we first saw it. Its round may have lapsed, but the
   * target stays silent until it is heard from (the caller compares), and a Remove of the next
   * round follows: dropping it from P in between let every member vote an Add the budget rule
   * forbade beside it (join-while-removing-5 seed 1757). Forgotten once it is no member.
   */
  targets(): ReadonlyMap<string, number> {
    if (this.ctx.state !== undefined)
      for (const name of this.targetedAt.keys())
        if (!this.ctx.state.isMember(name)) this.targetedAt.delete(name)
    return this.targetedAt
  }

  /** Records `voter`'s vote; the key, or undefined if ignored or over the bound (`full`). */
  observe(voter: string, observation: Observation): { key?: string; full: boolean } {
    const key = keyOf(observation)
    let entry = this.observed.get(key)
    // A lapsed key seen anew would look fresh: only one still counted (pruneLapsed) takes voters.
    if (entry === undefined && this.lapsedAdds.has(key)) return { full: false }
    if (entry === undefined) {
      if (this.observedCount >= this.ctx.config.maxObservedVotes) return { full: true }
      const vote = pendingVoteOf(observation, this.ctx.ids, this.ctx.now)
      if (vote === undefined) return { full: false }
      entry = { vote, voters: new Set() }
      this.observed.set(key, entry)
    }
    if (!entry.voters.has(voter)) {
      entry.voters.add(voter)
      this.observedCount++
    }
    if (entry.vote.kind === 'remove' && this.ctx.state?.isMember(voter)) this.noteTarget(entry.vote.peer.name)
    return { key, full: false }
  }

  observedKeys(): string[] {
    return [...this.observed.keys()]
  }

  /** An observed Add with the count of current members that cast it (seconding). */
  vouched(key: string): { vote: PendingVote; vouchers: number } | undefined {
    const entry = this.observed.get(key)
    if (entry === undefined || this.everCast.has(key)) return undefined
    const state = requireState(this.ctx)
    let vouchers = 0
    for (const voter of entry.voters) if (state.isMember(voter)) vouchers++
    return { vote: entry.vote, vouchers }
  }

  isLive(vote: PendingVote): boolean {
    const state = requireState(this.ctx)
    if (vote.kind === 'add') {
      // A removed id is never added again (the fold's AddOfRemoved): its Add is moot.
      if (state.isMember(vote.peer.name) || state.wasRemoved(vote.peer.name)) return false
      // Not its ticket going stale: the engine decides an Add with the votes it has whatever its
      // ticket's age (only new votes check it), so it still counts in J (churn seed 2657: Add(Hank)
      // voted at N = 3 beside a stale Add(Gina), both decided, 2 young of 5).
      if (this.ctx.now - vote.since < this.ctx.config.candidateTimeoutMs) return true
      // Past its time, an Add a supermajority voted will be decided all the same: it stays in J
      // until it is (Sybil-200 seed 2686: two such Adds lapsed a few steps before their decision,
      // members voted a third beside them, 3 young of 8).
      return this.supermajorityVoted(keyOf(vote.observation))
    }
    if (!state.isMember(vote.peer.name)) return false
    return vote.round === undefined || vote.round === currentRound(this.ctx)
  }

  /** Whether current members that voted this observation (we included) are a supermajority. */
  private supermajorityVoted(key: string): boolean {
    const state = requireState(this.ctx)
    const voters = new Set<string>()
    for (const voter of this.observed.get(key)?.voters ?? []) if (state.isMember(voter)) voters.add(voter)
    if (this.ours.has(key)) voters.add(this.ctx.us.publicId.name)
    return supermajority(state.size, voters.size)
  }

  /** Our live votes (bounded by `maxPendingVotes`). */
  liveOurs(): number {
    let count = 0
    for (const vote of this.ours.values()) if (this.isLive(vote)) count++
    return count
  }

  /** J: peers with a live Add vote, ours or seen. */
  pendingAddPeers(): Set<string> {
    return this.livePeers('add')
  }

  /**
   * The peers (other than `peer`) with a live Add vote of ours, or one seen whose key orders before
   * `key`. Voting by this J, every member that sees the same pending Adds puts the first one through
   * first instead of each holding back for the others (split votes that nobody completes). Our own
   * votes count whatever their key: they cannot be withdrawn, and a member holding two Adds the
   * rule forbids together could decide both (found by the Sybil burst scenario: 2 young at N = 4).
   */
  pendingAddsAhead(peer: string, key: string): Set<string> {
    const peers = new Set<string>()
    const consider = (vote: PendingVote, ahead: boolean) => {
      if (vote.kind === 'add' && vote.peer.name !== peer && ahead && this.isLive(vote))
        peers.add(vote.peer.name)
    }
    for (const vote of this.ours.values()) consider(vote, true)
    for (const [voteKey, { vote }] of this.observed) consider(vote, voteKey < key)
    return peers
  }

  /** The peers (other than `peer`) of our own live Add votes. */
  ourPendingAdds(peer: string): Set<string> {
    const peers = new Set<string>()
    for (const vote of this.ours.values()) {
      if (vote.kind === 'add' && vote.peer.name !== peer && this.isLive(vote)) peers.add(vote.peer.name)
    }
    return peers
  }

  /** The peers of live Add votes, ours or seen (each once). */
  pendingAddIds(): PublicId[] {
    const ids = new Map<string, PublicId>()
    if (this.ctx.state === undefined) return []
    for (const vote of this.ours.values())
      if (vote.kind === 'add' && this.isLive(vote)) ids.set(vote.peer.name, vote.peer)
    for (const { vote } of this.observed.values())
      if (vote.kind === 'add' && this.isLive(vote)) ids.set(vote.peer.name, vote.peer)
    return [...ids.values()]
  }

  /** Members with a live Remove vote, ours or seen. */
  removalTargets(): Set<string> {
    return this.livePeers('remove')
  }

  private livePeers(kind: 'add' | 'remove'): Set<string> {
    const peers = new Set<string>()
    if (this.ctx.state === undefined) return peers
    for (const vote of this.ours.values())
      if (vote.kind === kind && this.isLive(vote)) peers.add(vote.peer.name)
    for (const { vote } of this.observed.values()) {
      if (vote.kind === kind && this.isLive(vote)) peers.add(vote.peer.name)
    }
    return peers
  }

  /**
   * A new epoch (docs/epochs.md §2): the old engine's undecided votes die with it, so our live ones
   * are voted again in the new engine, in the order we cast them, unless the step already votes
   * them. Lapsed ones are not: they would be completed beside the votes cast since without them.
   */
  recast(step: Step): void {
    const inStep = new Set(step.votes.map(keyOf))
    for (const [key, vote] of this.ours) {
      if (inStep.has(key) || !this.isLive(vote)) continue
      inStep.add(key)
      step.votes.push(vote.observation)
    }
  }

  /** A decided observation is no longer pending. */
  forgetDecided(payload: Observation): void {
    const key = keyOf(payload)
    this.ours.delete(key)
    this.dropObserved(key)
  }

  /** Votes about a peer that joined or left are moot. */
  dropAbout(peer: string): void {
    for (const [key, vote] of this.ours) if (vote.peer.name === peer) this.ours.delete(key)
    for (const [key, entry] of this.observed) if (entry.vote.peer.name === peer) this.dropObserved(key)
  }

  /** Forgets votes that no longer count (lapsed rounds, stale tickets): memory stays bounded. */
  pruneLapsed(): void {
    for (const [key, vote] of this.ours) {
      if (this.isLive(vote)) continue
      this.ours.delete(key)
      this.noteLapsed(key, vote)
    }
    for (const [key, entry] of this.observed) {
      const age = this.ctx.now - entry.vote.since
      if (this.isLive(entry.vote)) {
        if (entry.vote.kind === 'add' && age >= this.ctx.config.candidateTimeoutMs)
          this.noteLapsed(key, entry.vote)
        continue
      }
      // A lapsed Add's voters are still counted for a while: votes cast before the others let it
      // lapse may still arrive and make it a supermajority's (then it is live again, see isLive).
      if (entry.vote.kind === 'add' && age < KEEP_LAPSED_FACTOR * this.ctx.config.candidateTimeoutMs) {
        if (!this.isMoot(entry.vote)) {
          this.noteLapsed(key, entry.vote)
          continue
        }
      }
      this.dropObserved(key)
      this.noteLapsed(key, entry.vote)
    }
  }

  /** An Add whose peer joined or was removed: nothing more to count. */
  private isMoot(vote: PendingVote): boolean {
    const state = requireState(this.ctx)
    return state.isMember(vote.peer.name) || state.wasRemoved(vote.peer.name)
  }

  /** An Add that lapsed by age (not because its peer joined or left) is never voted again here. */
  private noteLapsed(key: string, vote: PendingVote): void {
    if (vote.kind !== 'add' || this.isMoot(vote)) return
    remember(this.lapsedAdds, key)
  }

  clearOurs(): void {
    this.ours.clear()
  }

  private dropObserved(key: string): void {
    const entry = this.observed.get(key)
    if (entry === undefined) return
    this.observedCount -= entry.voters.size
    this.observed.delete(key)
  }
}
