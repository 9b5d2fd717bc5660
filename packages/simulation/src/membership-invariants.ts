/**
 * MEMBERSHIP.md §7's invariants, checked as the host runs (their names appear in violations):
 * - M1: equal agreed-block count ⇒ equal SectionState hash (agreement gives equal prefixes);
 * - M2: a member's engine voter set = its SectionState members;
 * - M3: a joiner emits no member event and makes no event of its own before `self:joined` (its
 *   blocks equal the members': the `agreement` invariant covers joiners too);
 * - M4: every membership vote met the budget rule (in its weakest form: with the other pending Adds
 *   left out, as concurrent Adds are ordered by key, and a Remove judged as a graceful leaver's);
 * - M5: pending membership votes within `maxPendingVotes`, the engine's orphan buffer within bound;
 * - M6: no Add decided for a peer named by a membership block after its ticket's head; a banned
 *   peer is never added;
 * - M7: outside the fragile phase, an Add keeps the section within `maxSize` and the young cap
 *   (an Add that adds nobody, of a member or a removed id, is not judged: it changes nothing);
 * - `checkpoint` (docs/epochs.md §1): an agreed Checkpoint carries the votes of a supermajority of
 *   the voters of the election that decided it, and of nobody else.
 */

import { addAllowed, decodeAdmissionRecord, removeAllowed } from '@parsec-section/membership'
import { type Block, mockId, type Observation, supermajority, toHex } from '@parsec-section/parsec-core'
import type { RunContext } from './context.js'
import type { HostedPeer, MembershipHosting } from './membership-host.js'

/** parsec-core's bound on an observer's orphan buffer (`MAX_ORPHAN_EVENTS`). */
const MAX_ORPHANS = 4096

export class MembershipInvariants {
  /** M1: agreed-block count → SectionState hash, as the first member that reached it had it. */
  private readonly hashAt = new Map<number, string>()
  private readonly checkedAt = new Map<string, number>()

  constructor(
    private readonly ctx: RunContext,
    private readonly hosting: MembershipHosting,
  ) {}

  private violate(invariant: string, detail: string): void {
    this.ctx.violations.violate(invariant, detail)
  }

  /** M4, before `h` votes `vote`. */
  checkVote(h: HostedPeer, vote: Observation): void {
    if (vote.kind !== 'add' && vote.kind !== 'remove') return
    const view = h.machine.budgetView(vote.kind === 'add' ? vote.peer.name : undefined)
    const ok =
      vote.kind === 'add'
        ? addAllowed({ ...view, pendingAdds: 0 })
        : removeAllowed(view, vote.peer.name, true)
    if (!ok) {
      this.violate(
        'M4',
        `${h.name} voted ${vote.kind}(${vote.peer.name}) against the budget rule (N=${view.voters}, P=${[...view.silent].join(',')}, J=${view.pendingAdds})`,
      )
    }
  }

  /** `checkpoint`, for a checkpoint `h` agreed, decided by `electionVoters`. */
  checkpoint(h: HostedPeer, block: Block, electionVoters: readonly string[]): void {
    const voters = new Set(electionVoters)
    const signers = block.proofs.map((p) => p.publicId.name)
    if (signers.some((v) => !voters.has(v)) || !supermajority(voters.size, new Set(signers).size)) {
      this.violate(
        'checkpoint',
        `${h.name} agreed a checkpoint signed by ${signers.join(',')}, the voters were ${electionVoters.join(',')}`,
      )
    }
  }

  /** M6, before `h` folds `block`. */
  beforeFold(h: HostedPeer, block: Block): void {
    const payload = block.payload
    if (payload.kind !== 'add') return
    const state = h.machine.state
    if (state === undefined) return
    const name = payload.peer.name
    if (state.isBanned(name)) this.violate('M6', `${h.name} decided Add(${name}) of a banned peer`)
    if (payload.relatedInfo.length === 0) return // an operator's Add: no ticket
    try {
      const record = decodeAdmissionRecord(payload.relatedInfo, h.machine.ids)
      // A second Add of a current member (a restarted join's new ticket) is a no-op, not a resurrection.
      if (!state.isMember(name) && state.mentionedAfter(record.head, name)) {
        this.violate('M6', `${h.name} decided Add(${name}) with a ticket older than its removal`)
      }
    } catch {
      this.violate('M6', `${h.name} decided Add(${name}) with an unreadable admission record`)
    }
  }

  /** M7, after `h` folded `block` (the section had `before` members). */
  afterFold(h: HostedPeer, block: Block, before: number): void {
    if (block.payload.kind !== 'add') return
    const state = h.machine.state
    const config = this.hosting.config
    if (state === undefined || before < config.minSize) return
    // An Add of a member or of a removed id (a joiner's second ticket decided too) adds nobody: the
    // young it finds were judged when they were added, perhaps in the fragile phase (seed 2587).
    if (state.size === before) return
    if (state.size > config.maxSize) {
      this.violate(
        'M7',
        `${h.name}: ${state.size} members after Add(${block.payload.peer.name}), max ${config.maxSize}`,
      )
    }
    const young = state.youngCount(config.probationBlocks)
    if (3 * young >= state.size + 1) {
      this.violate(
        'M7',
        `${h.name}: young cap broken by Add(${block.payload.peer.name}): ${young} young of ${state.size}`,
      )
    }
  }

  /** M1, M2, M3 (own events), M5, after every step. */
  afterStep(): void {
    for (const h of this.hosting.hosts.values()) {
      const sim = h.sim
      if (!h.alive || sim === undefined || h.sybil) continue
      const state = h.machine.state
      if (!h.joined) {
        if (sim.parsec.latestEventOf(mockId(h.name)) !== undefined) {
          this.violate('M3', `${h.name} made an event of its own before self:joined`)
        }
      } else if (state !== undefined && state.seq > 0 && h.machine.role === 'member') {
        const blocks = state.agreedBlocks
        if (this.checkedAt.get(h.name) !== blocks) {
          this.checkedAt.set(h.name, blocks)
          const hash = toHex(state.hash())
          const first = this.hashAt.get(blocks)
          if (first === undefined) this.hashAt.set(blocks, hash)
          else if (first !== hash)
            this.violate('M1', `${h.name}'s SectionState after ${blocks} blocks differs`)
        }
        if (sim.agreed.length === 0 && !sim.parsec.isRemoved) {
          const voters = sim.parsec
            .voters()
            .map((id) => id.name)
            .sort()
            .join(',')
          const members = state
            .memberIds()
            .map((id) => id.name)
            .sort()
            .join(',')
          if (voters !== members) this.violate('M2', `${h.name}: engine voters ${voters}, members ${members}`)
        }
      }
      const pending = h.machine.pendingVotes()
      if (pending > this.hosting.config.maxPendingVotes) {
        this.violate('M5', `${h.name} has ${pending} pending membership votes`)
      }
      if (sim.parsec.orphanCount > MAX_ORPHANS) {
        this.violate('M5', `${h.name} holds ${sim.parsec.orphanCount} orphan events`)
      }
    }
  }
}
