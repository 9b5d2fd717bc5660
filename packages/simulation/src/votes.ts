/**
 * Votes: when each voter casts each scheduled observation (`voteDelay` after scheduling), casting
 * them through the engines (deliberate duplicates included, which the engines must refuse), and
 * the record of who voted what, which the validity invariant checks blocks against.
 */

import { isParsecError, type Observation } from '@parsec-section/parsec-core'
import type { RunContext } from './context.js'
import { blockKeyOfPayload, observationKey } from './keys.js'
import { type PendingVote, type SimPeer, took } from './peers.js'

export class Votes {
  /** Payload key → names of the peers that voted it. */
  readonly cast = new Map<string, Set<string>>()
  /** Single mode: the (payload, voter) blocks that must appear if the voter stays honest. */
  readonly single: { key: string; voter: SimPeer }[] = []

  constructor(private readonly ctx: RunContext) {}

  /** The step a newly scheduled observation is voted at by one voter. */
  dueStep(): number {
    const { options, rng, step } = this.ctx
    const delay = options.voteDelay ?? { min: 0, max: 8 }
    return options.votesBeforeGossip ? step : step + rng.range(delay.min, delay.max)
  }

  queue(peer: SimPeer, observation: Observation, due: number): void {
    peer.votes.push({ observation, key: observationKey(observation), due, duplicate: false })
  }

  /** Honest running peers with votes still to cast (the run is not done while there are any). */
  pending(): boolean {
    const { peers } = this.ctx
    return peers.all.some((p) => peers.running(p) && peers.isHonest(p) && p.votes.some((v) => !v.duplicate))
  }

  /** Every running peer casts its due votes (joiners keep theirs until they can vote). */
  castDue(): void {
    const { peers, violations } = this.ctx
    for (const peer of peers.all) {
      if (!peers.running(peer) || peer.votes.length === 0) continue
      const keep: PendingVote[] = []
      for (const pending of peer.votes) {
        if (pending.due > this.ctx.step || !peer.parsec.canVote()) {
          keep.push(pending)
          continue
        }
        this.castVote(peer, pending, keep)
        if (violations.aborted) return
      }
      peer.votes = keep
    }
  }

  private castVote(peer: SimPeer, pending: PendingVote, keep: PendingVote[]): void {
    const { ctx } = this
    const { observation, key } = pending
    if (pending.duplicate) {
      try {
        const step = took(peer, peer.parsec.voteFor(observation))
        if (step.warnings.some((w) => w.kind === 'duplicate-vote')) ctx.stats.duplicateVotesRefused++
        else ctx.violations.violate('vote', `${peer.name} voted ${key} twice and the engine accepted it`)
      } catch (error) {
        ctx.violations.engineError('vote', `${peer.name} re-voting ${key}`, error)
      }
      return
    }
    // Already decided (supermajority key) or already voted: nothing to do.
    if (ctx.mode !== 'single' || observation.kind !== 'opaque') {
      if (peer.keySet.has(blockKeyOfPayload(key, ctx.peers.genesisIds))) return
    }
    if (peer.parsec.haveVotedFor(observation)) return
    try {
      took(peer, peer.parsec.voteFor(observation))
    } catch (error) {
      // A removed peer may no longer vote: the engine refuses it as a caller's misuse.
      if (isParsecError(error) && error.code === 'InvalidArgument' && peer.leaving) {
        ctx.stats.tolerate(error.code)
        return
      }
      if (isParsecError(error) && peer.byzantine !== undefined) {
        ctx.stats.byzantineError(error.code)
        return
      }
      ctx.violations.engineError('vote', `${peer.name} voting ${key}`, error)
      return
    }
    peer.byzantine?.noteVote(observation)
    if (peer.byzantine === undefined) peer.epochVotes.push(observation)
    let voters = this.cast.get(key)
    if (voters === undefined) {
      voters = new Set()
      this.cast.set(key, voters)
    }
    voters.add(peer.name)
    if (ctx.mode === 'single' && observation.kind === 'opaque') {
      this.single.push({ key: `${key}@${peer.name}`, voter: peer })
    }
    if (ctx.rng.chance(ctx.options.probVoteDuplication ?? 0)) {
      keep.push({ observation, key, due: ctx.step + ctx.rng.range(1, 10), duplicate: true })
    }
  }

  /**
   * A crashing or leaving peer's Single-mode opaque votes not yet cast go to another live member,
   * so every payload is still voted by a peer that will see it decided.
   */
  handOver(peer: SimPeer): void {
    const { ctx } = this
    if (ctx.mode !== 'single' || ctx.options.voteForSame) return
    for (const pending of peer.votes) {
      if (pending.duplicate || pending.observation.kind !== 'opaque') continue
      const live = ctx.peers.liveMembers().filter((p) => p !== peer)
      if (live.length === 0) continue
      const heir = ctx.rng.pick(live)
      heir.votes.push(pending)
      ctx.log(`${peer.name}'s vote for ${pending.key} goes to ${heir.name}`)
    }
  }

  /** A joiner that can vote now votes what is still `open` and it neither decided nor queued. */
  revote(peer: SimPeer, open: readonly Observation[]): void {
    for (const observation of open) {
      const key = observationKey(observation)
      if (peer.keySet.has(key) || peer.votes.some((v) => v.key === key)) continue
      this.queue(peer, observation, this.ctx.step + 1)
    }
  }
}
