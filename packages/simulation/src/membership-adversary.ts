/**
 * The adversarial side of a membership run (MEMBERSHIP.md §7's adversarial scenarios,
 * `membership-scenarios-adversarial.ts`): a leaver that crashes while it drains, a removed peer
 * that replays its old join request (resurrection), a banned peer that asks to join again under its
 * key, and a member that serves forged or stale JoinInfo to joiners ("naughty Carol"). The host
 * (`membership-host.ts`) calls it at a few points; what it does is only what the options ask.
 */

import {
  decodeMessage,
  encodeMessage,
  type JoinInfo,
  type MembershipEvent,
  type Step as MembershipStep,
  type OutboundMessage,
} from '@parsec-section/membership'
import { encodeObservation, type MockSecretId, mockId, type Observation } from '@parsec-section/parsec-core'
import type { RunContext } from './context.js'
import type { HostedPeer } from './membership-host.js'
import type { MembershipRunOptions } from './membership-options.js'

/** Steps a resurrecting joiner stays a member before it leaves. */
const STAY_STEPS = 30
/**
 * Steps after a replay or renewed request before the plan counts as done with some refusal: a
 * joiner refused for good (`NEVER`) stops asking, so members it had not reached yet never answer.
 */
const REFUSAL_STEPS = 50

/** What the adversary needs of the host. */
export interface AdversaryHooks {
  readonly hosts: ReadonlyMap<string, HostedPeer>
  apply(h: HostedPeer, step: MembershipStep): void
  /** Queues membership message bytes from `from` to `to` over the simulated network. */
  send(from: string, to: string, bytes: Uint8Array): void
  honestMembers(): HostedPeer[]
  /** A fresh outsider machine under `name`'s key (it replaces the host entry of that name). */
  outsider(name: string, secret: MockSecretId): HostedPeer
}

/** A peer the adversary drives through a plan. */
interface Plan {
  readonly name: string
  /** Resurrection: step it joined, then it leaves; rejoin: started once banned everywhere. */
  from: number
  acted: boolean
  replayed: boolean
  /** Honest members that refused its replayed or renewed request. */
  readonly refusedBy: Set<string>
}

export class MembershipAdversary {
  /** Each peer's first JoinRequest, as sent (the ticket a resurrection replays). */
  private readonly firstRequest = new Map<string, Uint8Array>()
  private readonly resurrections: Plan[] = []
  private readonly rejoins: Plan[] = []
  /** Peers whose dials get past the members' transport bans (to reach the machines' own checks). */
  private readonly bypass = new Set<string>()
  private readonly crashAt = new Map<string, number>()
  /** JoinInfo messages the malicious responder rewrote. */
  rewritten = 0
  /** Leavers that crashed while draining. */
  readonly drainCrashes: string[] = []

  constructor(
    private readonly ctx: RunContext,
    private readonly options: MembershipRunOptions,
    private readonly hooks: AdversaryHooks,
  ) {}

  /** Whether `from`'s messages get past the recipients' transport bans. */
  bypassesBans(from: string): boolean {
    return this.bypass.has(from)
  }

  /** Every plan carried out (the run waits for it). */
  settled(): boolean {
    if (this.crashAt.size > 0) return false
    const want = this.options.resurrections ?? 0
    if (this.resurrections.length < want) return false
    if (this.options.rejoinBanned === true && this.rejoins.length === 0) return false
    return [...this.resurrections, ...this.rejoins].every(
      (p) =>
        p.replayed &&
        (this.refusedEverywhere(p) || (p.refusedBy.size > 0 && this.ctx.step - p.from >= REFUSAL_STEPS)),
    )
  }

  /** The message `h` sends, as the adversary lets it go (recording first join requests). */
  outgoing(h: HostedPeer, message: OutboundMessage): Uint8Array {
    if (message.kind === 'joinRequest' && !this.firstRequest.has(h.name)) {
      this.firstRequest.set(h.name, message.bytes)
    }
    const forge = this.options.forgedJoinInfo
    if (forge === undefined || message.kind !== 'joinInfo' || h.name !== this.ctx.peers.genesisIds[0].name) {
      return message.bytes
    }
    const info = decodeMessage(message.bytes, h.machine.ids)
    // The genesis chain served as stale is no lie yet: only count (and send) real rewrites.
    if (info.kind !== 'joinInfo' || (forge === 'stale' && info.chain.length <= 1)) return message.bytes
    this.rewritten++
    return encodeMessage(forgedInfo(info, forge))
  }

  /** `h` starts its drain: a leaver of a `crashMidDrain` run crashes within its linger. */
  onDrain(h: HostedPeer, lingerMs: number): void {
    if (this.options.crashMidDrain !== true) return
    const stepMs = this.ctx.options.stepMs ?? 10
    const linger = Math.max(1, Math.floor(lingerMs / stepMs))
    this.crashAt.set(h.name, this.ctx.step + this.ctx.rng.range(1, Math.max(1, Math.floor(linger / 2))))
  }

  /** A membership event at `h`. */
  onEvent(h: HostedPeer, event: MembershipEvent): void {
    if (event.type === 'self:joined' && this.resurrections.length < (this.options.resurrections ?? 0)) {
      this.resurrections.push(plan(h.name, this.ctx.step))
    }
    if (event.type === 'join:rejected' && event.by === undefined) {
      for (const p of [...this.resurrections, ...this.rejoins]) {
        if (p.name === event.peer.name && p.replayed) p.refusedBy.add(h.name)
      }
    }
  }

  /** Start of a step: crashes due, leaves, replays and rejoins. */
  begin(): void {
    const { ctx, hooks } = this
    for (const [name, at] of this.crashAt) {
      if (at > ctx.step) continue
      this.crashAt.delete(name)
      const h = hooks.hosts.get(name)
      if (h === undefined || !h.alive) continue
      h.alive = false
      h.draining = false
      if (h.sim !== undefined && ctx.peers.running(h.sim)) {
        h.sim.status = 'crashed'
        h.sim.votes = []
      }
      this.drainCrashes.push(name)
      ctx.log(`${name} crashes while it drains`)
    }
    for (const p of this.resurrections) this.resurrect(p)
    if (this.options.rejoinBanned === true) this.rejoinBanned()
  }

  /** A resurrecting joiner leaves once it has stayed a while, then replays its first request. */
  private resurrect(p: Plan): void {
    const { ctx, hooks } = this
    const h = hooks.hosts.get(p.name)
    if (h === undefined) return
    if (!p.acted) {
      if (ctx.step - p.from < STAY_STEPS || !h.alive) return
      p.acted = true
      ctx.log(`${p.name} leaves (it will replay its old ticket)`)
      hooks.apply(h, h.machine.command({ kind: 'leave' }))
      return
    }
    if (p.replayed || h.alive) return
    const members = hooks.honestMembers()
    if (members.length === 0 || members.some((m) => m.machine.state?.isMember(p.name) !== false)) return
    const bytes = this.firstRequest.get(p.name)
    if (bytes === undefined) return
    p.replayed = true
    p.from = ctx.step
    ctx.log(`${p.name} replays its old join request`)
    for (const m of members) hooks.send(p.name, m.name, bytes)
  }

  /** A peer banned by every honest member, and stopped, asks to join again under its key. */
  private rejoinBanned(): void {
    const { ctx, hooks } = this
    const members = hooks.honestMembers()
    if (members.length === 0) return
    for (const h of [...hooks.hosts.values()]) {
      if (this.rejoins.some((p) => p.name === h.name)) continue
      if (!members.every((m) => m.machine.state?.isBanned(h.name) === true)) continue
      if (h.sim !== undefined && ctx.peers.running(h.sim)) continue
      const p = plan(h.name, ctx.step)
      p.replayed = true
      this.rejoins.push(p)
      this.bypass.add(h.name)
      ctx.log(`banned ${h.name} asks to join again under its key`)
      const outsider = hooks.outsider(h.name, h.secret)
      hooks.apply(outsider, outsider.machine.start())
    }
  }

  private refusedEverywhere(p: Plan): boolean {
    const members = this.hooks.honestMembers()
    return members.length > 0 && members.every((m) => p.refusedBy.has(m.name))
  }

  /** For the report: per driven peer, the honest members that refused it. */
  refusals(): Record<string, string[]> {
    const out: Record<string, string[]> = {}
    for (const p of [...this.resurrections, ...this.rejoins]) out[p.name] = [...p.refusedBy].sort()
    return out
  }
}

function plan(name: string, from: number): Plan {
  return { name, from, acted: false, replayed: false, refusedBy: new Set() }
}

/**
 * JoinInfo as the malicious responder serves it: `genesis` lies about the founders (the record no
 * longer hashes to the section id), `chain` appends an Add of a peer nobody voted for (the proofs
 * are the previous entry's, signatures over other bytes), `stale` serves the genesis chain only
 * (validly signed, but old).
 */
function forgedInfo(info: JoinInfo, forge: 'genesis' | 'chain' | 'stale'): JoinInfo {
  switch (forge) {
    case 'genesis':
      return { ...info, record: { ...info.record, group: [...info.record.group, mockId('Mallory')] } }
    case 'chain': {
      const last = info.chain[info.chain.length - 1]
      const observation: Observation = { kind: 'add', peer: mockId('Mallory'), relatedInfo: new Uint8Array() }
      const entry = {
        change: { kind: 'add' as const, peer: observation.peer, relatedInfo: observation.relatedInfo },
        observation: encodeObservation(observation),
        proofs: last.proofs,
        position: last.position + 1,
      }
      return { ...info, chain: [...info.chain, entry], agreedBlocks: info.agreedBlocks + 1 }
    }
    case 'stale':
      return { ...info, chain: info.chain.slice(0, 1) }
  }
}
