/** What a simulation run reports: its result, the statistics and the violated invariants. */

import type { BlockDescription } from '@parsec-section/parsec-core'
import type { AdversaryStats } from './adversarial-scheduler.js'
import type { ByzantineHosting } from './byzantine-hosting.js'
import type { RunContext } from './context.js'
import type { Failures } from './failures.js'
import type { BlockInvariants } from './invariants.js'
import type { MembershipReport } from './membership-host.js'
import type { Behaviour, Misbehaviour } from './misbehaviour.js'
import type { PeerStatus } from './peers.js'
import { decisionRounds } from './statistics.js'
import type { Votes } from './votes.js'
import type { Workload } from './workload.js'

export interface Violation {
  readonly invariant: string
  readonly step: number
  readonly detail: string
}

export interface SimulationStats {
  readonly requests: number
  readonly responses: number
  /** Messages dropped because their recipient had stopped (crashed or removed). */
  readonly dropped: number
  /** Engine errors the protocol allows (e.g. gossip from a removed peer), by code. */
  readonly toleratedErrors: Record<string, number>
  /** Duplicate votes attempted and refused with `DuplicateVote`. */
  readonly duplicateVotesRefused: number
  /** Requests sent, by sender (spam included). */
  readonly requestsSent: Record<string, number>
  /** Engine errors at honest peers handling a Byzantine peer's message, by code (expected). */
  readonly rejected: Record<string, number>
  /** Faults honest peers' handle calls reported: `malice:TYPE` or `rejected:CODE`, with counts. */
  readonly faults: Record<string, number>
  /** Messages to a silent Byzantine peer, never handled. */
  readonly silenced: number
  /** Spam requests: sent, reaching an honest receiver, and refused there by the inbound limit. */
  readonly spam: { readonly sent: number; readonly arrived: number; readonly refused: number }
  /** Requests the inbound limit refused (Byzantine senders only, or `containment` is violated). */
  readonly refused: number
  /** Events in honest graphs whose signature does not verify (forged ones that got in: must be 0). */
  readonly forgedEventsAccepted: number
  /** Failed engine calls of Byzantine peers (their own tricks can break their engines), by code. */
  readonly byzantineErrors: Record<string, number>
  /** Epoch switches at peers (one per peer per checkpoint it delivered as a voter). */
  readonly epochSwitches: number
  /** The workload's payloads voted again in a new epoch because the old one had not delivered them. */
  readonly recast: number
  /**
   * Per decision (election) so far, in order: the highest meta-vote round of the deciding event,
   * the largest among the honest peers (rounds-to-decision).
   */
  readonly decisionRounds: number[]
}

export interface SimulationResult {
  readonly seed: number
  /** True iff no invariant was violated (so every honest peer holds every expected block, in order). */
  readonly agreed: boolean
  /** Peers that neither crashed nor were removed and were members at the end, by name (never Byzantine). */
  readonly honest: string[]
  /** Offenders of the accusations the honest peers agreed on, in order. */
  readonly accused: string[]
  /** The Byzantine peers and their behaviours. */
  readonly byzantine: Record<string, Behaviour[]>
  /** Every Byzantine action, in order. */
  readonly misbehaviour: Misbehaviour[]
  /** The blocks every peer polled (crashed and removed peers included), in order. */
  readonly peers: Record<string, BlockDescription[]>
  readonly status: Record<string, PeerStatus>
  /** Steps run. */
  readonly steps: number
  /** Simulated time the run took: `steps` × `stepMs` milliseconds. */
  readonly simulatedMs: number
  /** The largest gossip graph among the honest peers at the end (events). */
  readonly events: number
  readonly violations: Violation[]
  /** What was voted: opaque payloads, added and removed peers, and the membership at the end. */
  readonly expected: {
    readonly opaque: string[]
    readonly added: string[]
    readonly removed: string[]
    readonly crashed: string[]
    readonly members: string[]
    /** Opaque payload → the peers that voted it (in Single mode each vote is its own block). */
    readonly votes: Record<string, string[]>
  }
  readonly stats: SimulationStats
  /** The adversarial scheduler's attacks, when there is one. */
  readonly adversary?: AdversaryStats
  /** A membership run's outcome (members per honest peer, joined, left, ...). */
  readonly membership?: MembershipReport
}

/** The parts of a finished run the result is read from. */
export interface ResultSources {
  readonly ctx: RunContext
  readonly workload: Workload
  readonly votes: Votes
  readonly failures: Failures
  readonly invariants: BlockInvariants
  readonly byzantine: ByzantineHosting
  readonly adversary: AdversaryStats | undefined
  readonly membership?: MembershipReport
}

/** The result of a run, at its end. */
export function buildResult(sources: ResultSources): SimulationResult {
  const { ctx, workload, votes, failures, invariants, byzantine, adversary, membership } = sources
  const { peers } = ctx
  const honest = peers.honest()
  const blocks: Record<string, BlockDescription[]> = {}
  const status: Record<string, PeerStatus> = {}
  for (const peer of peers.all) {
    blocks[peer.name] = peer.blocks
    status[peer.name] = peer.status
  }
  const accused: string[] = []
  for (const key of invariants.canonical) {
    if (!key.startsWith('accusation:')) continue
    const offender = key.split(':')[1]
    if (!accused.includes(offender)) accused.push(offender)
  }
  const behaviours: Record<string, Behaviour[]> = {}
  for (const peer of peers.all) if (peer.byzantine) behaviours[peer.name] = [...peer.byzantine.behaviours]
  return {
    seed: ctx.options.seed,
    agreed: !ctx.violations.any,
    honest: honest.map((p) => p.name),
    accused,
    byzantine: behaviours,
    misbehaviour: byzantine.misbehaviour.entries.map((entry) => byzantine.withReach(entry, honest)),
    peers: blocks,
    status,
    steps: ctx.step,
    simulatedMs: ctx.clock.now,
    events: Math.max(0, ...honest.map((p) => p.parsec.graphSize)),
    violations: ctx.violations.list,
    expected: {
      opaque: [...workload.opaquePayloads],
      added: [...workload.added],
      removed: [...workload.removed],
      crashed: [...failures.crashed],
      members: [...peers.members].map((p) => p.name).sort(),
      votes: Object.fromEntries(
        workload.opaquePayloads.map((payload) => [
          payload,
          [...(votes.cast.get(`opaque:${payload}`) ?? [])].sort(),
        ]),
      ),
    },
    stats: ctx.stats.snapshot(decisionRounds(honest)),
    ...(adversary === undefined ? {} : { adversary }),
    ...(membership === undefined ? {} : { membership }),
  }
}
