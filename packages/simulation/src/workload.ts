/**
 * The run's workload: what is voted and when. Opaque payloads ("0", "1", …), peers added (joiners
 * built with `fromExisting`) and members removed are scheduled at random steps, adds and removes
 * only while the safety rules below allow them; each change stays in transition until every
 * member that stays has decided it. (These engine-level adds and removes serve the spec §13.2
 * scenarios only, see `scenarios.ts`; the CLI's `--add`/`--remove` go through the membership
 * machine, `membership-host.ts`.)
 */

import {
  add,
  MockSecretId,
  mockId,
  type Observation,
  opaque,
  Parsec,
  remove,
  supermajority,
  utf8,
} from '@parsec-section/parsec-core'
import type { RunContext } from './context.js'
import { blockKeyOfPayload, observationKey } from './keys.js'
import { peerName } from './names.js'
import type { SimPeer } from './peers.js'
import type { Votes } from './votes.js'

export interface Transition {
  readonly kind: 'add' | 'remove'
  readonly peer: SimPeer
  readonly key: string
}

export class Workload {
  opaqueCount: number
  readonly toAdd: number
  readonly toRemove: number
  scheduledOpaque = 0
  readonly opaquePayloads: string[] = []
  readonly added: string[] = []
  readonly removed: string[] = []
  readonly transitions: Transition[] = []

  constructor(
    private readonly ctx: RunContext,
    private readonly votes: Votes,
  ) {
    this.opaqueCount = ctx.options.opaque ?? 5
    this.toAdd = ctx.options.peersToAdd ?? 0
    this.toRemove = ctx.options.peersToRemove ?? 0
  }

  /** Schedules this step's new observations with their per-voter vote steps. */
  schedule(): void {
    const o = this.ctx.options
    const { rng } = this.ctx
    if (this.scheduledOpaque < this.opaqueCount) {
      if (o.votesBeforeGossip) {
        if (this.ctx.step === 0) while (this.scheduledOpaque < this.opaqueCount) this.scheduleOpaque()
      } else if (rng.chance(o.probOpaque ?? 0.2)) {
        this.scheduleOpaque()
      }
    }
    // Adds and removes: as many as the probability draws and the safety rules allow in one step.
    while (this.added.length < this.toAdd && rng.chance(o.probAdd ?? 0.1) && this.addIsAllowed()) {
      this.scheduleAdd()
    }
    const addsDone = () => this.added.length === this.toAdd && !this.transitions.some((t) => t.kind === 'add')
    while (
      this.removed.length < this.toRemove &&
      (o.membershipOrder !== 'adds-first' || addsDone()) &&
      rng.chance(o.probRemove ?? 0.1)
    ) {
      if (!this.scheduleRemove()) break
    }
  }

  /** One more opaque payload, now (membership runs: decisions keep coming while changes are open). */
  extraOpaque(): void {
    this.opaqueCount++
    this.scheduleOpaque()
  }

  private scheduleOpaque(): void {
    const { ctx } = this
    const payload = String(this.scheduledOpaque++)
    this.opaquePayloads.push(payload)
    const observation = opaque(utf8(payload))
    const live = ctx.peers.liveMembers()
    let voters: SimPeer[]
    if (ctx.mode === 'single' && !ctx.options.voteForSame) voters = [ctx.rng.pick(live)]
    else voters = live
    // Byzantine members vote too (material for duplicate votes), but never a Single-mode block.
    if (ctx.mode === 'supermajority') voters = [...voters, ...ctx.peers.byzantineMembers()]
    for (const voter of voters) this.votes.queue(voter, observation, this.votes.dueStep())
    ctx.log(`opaque "${payload}" voted by ${voters.map((p) => p.name).join(', ')}`)
  }

  counts(): { joining: number; leaving: number; crashedMembers: number; live: number } {
    const { peers } = this.ctx
    const joining = this.transitions.filter((t) => t.kind === 'add').length
    const leaving = this.transitions.filter((t) => t.kind === 'remove').length
    const crashedMembers = [...peers.members].filter((p) => p.status === 'crashed').length
    return { joining, leaving, crashedMembers, live: peers.liveMembers().length }
  }

  /**
   * Spec §13.1: adds allowed if (joined < 3 and none joining) or 3·joined > 2·(joined+joining+1);
   * here "joined" counts only live members (crashed and leaving ones are not), so the rule also
   * keeps more than two thirds of the largest possible voter set live.
   */
  addIsAllowed(): boolean {
    const { members } = this.ctx.peers
    const { joining, leaving, crashedMembers, live } = this.counts()
    if (members.size + joining >= (this.ctx.options.maxPeers ?? 64)) return false
    if (joining === 0 && leaving === 0 && crashedMembers === 0 && live < 3) return true
    return supermajority(members.size + joining + 1, live)
  }

  /**
   * Spec §13.1: removals if 3·(joined−1) > 2·(joined+leaving). Here, with `victim` leaving too,
   * the largest possible voter set (everyone, joiners and leavers included, counting only the
   * members that stay as live) and the smallest (without joiners and leavers) must both keep more
   * than two thirds live.
   */
  removeIsAllowed(victim: SimPeer): boolean {
    const { members } = this.ctx.peers
    const joining = this.transitions.filter((t) => t.kind === 'add').length
    const leaving = new Set(this.transitions.filter((t) => t.kind === 'remove').map((t) => t.peer))
    leaving.add(victim)
    const remaining = [...members].filter((p) => !leaving.has(p))
    if (remaining.length < (this.ctx.options.minPeers ?? 1)) return false
    const live = remaining.filter((p) => p.status === 'active').length
    return supermajority(members.size + joining, live) && supermajority(remaining.length, live)
  }

  private scheduleAdd(): void {
    const { ctx } = this
    const { peers } = ctx
    const name = peerName(peers.all.length)
    const secret = new MockSecretId(name)
    const section = peers.all
      .filter((p) => peers.running(p) || peers.members.has(p))
      .map((p) => mockId(p.name))
    const parsec = Parsec.fromExisting({
      us: secret,
      genesis: peers.genesisIds,
      section,
      consensusMode: ctx.mode,
      coin: peers.coinFor(name),
    })
    const peer = peers.add(name, parsec, 'joining')
    this.added.push(name)
    const observation = add(mockId(name))
    const voters = peers.liveMembers()
    for (const voter of voters) this.votes.queue(voter, observation, this.votes.dueStep())
    this.transitions.push({ kind: 'add', peer, key: observationKey(observation) })
    ctx.log(`Add(${name}) voted by ${voters.map((p) => p.name).join(', ')}`)
  }

  private scheduleRemove(): boolean {
    const { ctx } = this
    const { peers } = ctx
    const crashed = [...peers.members].filter((p) => p.status === 'crashed' && !p.leaving)
    const candidates = ctx.options.removeCrashedFirst && crashed.length > 0 ? crashed : peers.liveMembers()
    if (candidates.length === 0) return false
    const victim = ctx.rng.pick(candidates)
    if (!this.removeIsAllowed(victim)) return false
    victim.leaving = true
    this.votes.handOver(victim)
    victim.votes = []
    this.removed.push(victim.name)
    const observation = remove(mockId(victim.name))
    const voters = peers.liveMembers()
    for (const voter of voters) this.votes.queue(voter, observation, this.votes.dueStep())
    this.transitions.push({ kind: 'remove', peer: victim, key: observationKey(observation) })
    ctx.log(`Remove(${victim.name}) voted by ${voters.map((p) => p.name).join(', ')}`)
    return true
  }

  /** What a joiner that can vote now must still vote (spec §13.1: opaques only in Supermajority mode). */
  openObservations(peer: SimPeer): Observation[] {
    const open: Observation[] = []
    for (const t of this.transitions) {
      if (t.peer === peer) continue
      open.push(t.kind === 'add' ? add(mockId(t.peer.name)) : remove(mockId(t.peer.name)))
    }
    if (this.ctx.mode === 'supermajority') {
      for (const payload of this.opaquePayloads) open.push(opaque(utf8(payload)))
    }
    return open
  }

  /** Completes the changes every member that stays has decided (a removed peer then stops). */
  updateTransitions(): void {
    const { peers } = this.ctx
    for (let i = 0; i < this.transitions.length; i++) {
      const t = this.transitions[i]
      const key = blockKeyOfPayload(t.key, peers.genesisIds)
      const others = peers.all.filter((p) => p.status === 'active' && !p.leaving && p !== t.peer)
      if (!others.every((p) => p.keySet.has(key))) continue
      if (t.kind === 'add') {
        if (t.peer.status !== 'active' || !t.peer.keySet.has(key)) continue
        peers.members.add(t.peer)
      } else {
        peers.members.delete(t.peer)
        if (peers.running(t.peer)) {
          peers.stop(t.peer)
          this.ctx.log(`${t.peer.name} is removed everywhere and stops`)
        }
      }
      this.transitions.splice(i--, 1)
    }
  }
}
