/**
 * Membership runs: the simulation hosts a `Membership` machine beside every peer's engine
 * (MEMBERSHIP.md §6: a second host beside p2p-section). What such a run is asked to do (outsiders
 * joining, members leaving or going silent, a Sybil burst) and the machine's configuration, with
 * defaults sized for runs of a few thousand steps of 10 ms.
 */

import { DEFAULTS, type Membership, type MembershipConfig } from '@parsec-section/membership'
import type { Parsec } from '@parsec-section/parsec-core'

export interface MembershipRunOptions {
  /** Outsiders that join through the protocol, each at a random step of `joinWindow` (default 0). */
  readonly joins?: number
  /** Members that leave gracefully (LeaveRequest, Remove, the drain), at random steps (default 0). */
  readonly leaves?: number
  /** Members that go silent at random steps and must be removed for it (default 0). */
  readonly unresponsive?: number
  /**
   * Operator removals (`--remove`): every honest member is told `proposeRemove` of a random live
   * member, judged by the machines' rules (default 0). They start once every operator add happened or was held back.
   */
  readonly proposeRemoves?: number
  /**
   * Operator adds (`--add`): the operator names an outsider to every member (an `allowlist`
   * admission, or `openWithWork` when the run also has `joins` or `sybil`), and the outsider joins
   * through the protocol (ticket, catch-up as an observer replaying the history, Ready, Add), judged
   * by the machines' capacity rules (default 0).
   */
  readonly operatorAdds?: number
  /** Proof-of-work-valid candidates that all ask to join in one burst (default 0). */
  readonly sybil?: number
  /**
   * Outsiders that join through the protocol and go silent once the members decide their Add (they
   * never make an event as members): removed after the join grace at N ≥ 4 (default 0).
   */
  readonly silentJoins?: number
  /** Steps over which the Sybil candidates' requests are spread (default 0: all in one step). */
  readonly sybilSpread?: number
  /**
   * Steps after the burst's first request at which the Sybil candidates that have not sent Ready
   * give up (stop; their requests count as rejected), so a long burst ends (default: never).
   */
  readonly sybilGiveUpAfter?: number
  /** Leavers crash within the first half of their drain (default false). */
  readonly crashMidDrain?: boolean
  /**
   * Joiners that leave once joined and then replay their first JoinRequest (the old ticket) to the
   * members: a resurrection, refused (default 0).
   */
  readonly resurrections?: number
  /** A peer banned by an agreed accusation asks to join again under its key, once stopped (default false). */
  readonly rejoinBanned?: boolean
  /**
   * The first founder serves forged or stale JoinInfo to every joiner: `genesis` a GenesisRecord
   * that does not hash to the section id, `chain` a membership chain with an Add nobody signed,
   * `stale` the genesis chain only (default none).
   */
  readonly forgedJoinInfo?: 'genesis' | 'chain' | 'stale'
  /**
   * Steps a peer keeps its retired engine after an epoch switch while some running peer is still in
   * that epoch (default 3000); it is dropped at once when none is (docs/epochs.md §2).
   */
  readonly epochDrainSteps?: number
  /**
   * The first founder is killed as it delivers each of the first `epochRestarts` checkpoints,
   * alternately before its switch is stored and after, and restarts `restartDownSteps` later
   * (default 20) from what it stored (default 0; docs/epochs.md §5).
   */
  readonly epochRestarts?: number
  readonly restartDownSteps?: number
  /** Steps within which the joins, leaves and silences are drawn (default 600). */
  readonly window?: number
  /**
   * History before the changes (the join-latency benchmark): the requested changes wait until every
   * honest member has agreed this many blocks (genesis included), and their steps, drawn in
   * `window`, count from then; no extra traffic is voted before (default 0: no wait).
   */
  readonly afterBlocks?: number
  /**
   * The machine's configuration: `'simulation'` (default) for `SIMULATION_MEMBERSHIP` (shortened
   * for short runs), `'live'` for MEMBERSHIP.md §8's defaults; overrides apply on top.
   */
  readonly profile?: 'simulation' | 'live'
  readonly config?: Partial<MembershipConfig>
  /** Per-step chance of voting an extra opaque payload while membership work is open (default 0.05):
   * decisions are what suspicion and probation count. */
  readonly probTraffic?: number
  /**
   * Steps without any membership event after which changes still deferred count as settled
   * (default: `candidateTimeoutMs` in steps plus 100, at least 400).
   */
  readonly quietSteps?: number
  /** Every membership event with its step, as it happens (`--trace`). */
  readonly trace?: (entry: MembershipTraceEntry) => void
  /**
   * Test-only: called after every step with the hosted machines, before the membership invariants
   * are checked, so a test can break a state deliberately and see the invariants catch it.
   */
  readonly tamper?: (step: number, hosts: readonly MembershipHostView[]) => void
  // --- changes that test one rule each (MEMBERSHIP.md §7; membership-scenarios-changes.ts) ---
  /**
   * Members that go silent together at one step drawn in `window`, without the run's safety check
   * of `unresponsive`: more than a third of the voters stalls the section (default 0).
   */
  readonly silentTogether?: number
  /** Outsiders that ask to join once every honest member sees a silenced member's Remove pending. */
  readonly joinsWhileRemoving?: number
  /**
   * Outsiders whose Ready reaches only the first `readyTo` members by name (0: none), so their
   * Add cannot gather a supermajority; the run gives up on them after `giveUpSteps` (default 1200).
   */
  readonly unreadyJoins?: { readonly count: number; readonly readyTo: number; readonly giveUpSteps?: number }
  /**
   * Outsiders whose first JoinRequest is held until the section agreed `ticketMaxAge` more
   * membership blocks, so it arrives stale; they ask at the first step (the run's other changes
   * make the blocks) and must fetch a fresh ticket.
   */
  readonly staleJoins?: number
  /**
   * A member (not one of the `impatient`) that goes silent for `silentSteps` and back for
   * `activeSteps`, `periods` times, from a step drawn in `window`.
   */
  readonly flapping?: { readonly silentSteps: number; readonly activeSteps: number; readonly periods: number }
  /** The first `count` founders suspect sooner: their machines take these config overrides too. */
  readonly impatient?: { readonly count: number; readonly config: Partial<MembershipConfig> }
  /** The leaves' steps (drawn in `window`) count from when every join is done: grow, then shrink. */
  readonly leavesAfterJoins?: boolean
  /** A join that comes due while another is under way waits until that one is done: one at a time. */
  readonly joinsInTurn?: boolean
}

/** One membership event at one peer (`--trace` writes these as JSON lines). */
export interface MembershipTraceEntry {
  readonly step: number
  readonly peer: string
  readonly type: string
  readonly subject?: string
  readonly detail?: string
}

/** What a test's `tamper` hook gets of one hosted peer. */
export interface MembershipHostView {
  readonly name: string
  readonly machine: Membership
  readonly parsec: Parsec | undefined
}

/**
 * The membership defaults the simulation shortens (MEMBERSHIP.md §8 values in comments): at
 * 10 ms a step, 1 s is 100 steps. Everything else keeps its live default.
 */
export const SIMULATION_MEMBERSHIP: Partial<MembershipConfig> = {
  powBits: 4, // 20: ~1.7 s of CPU per ticket
  probationBlocks: 4, // 50
  minBlocksBetweenAdds: 1, // 10
  readyLag: 2, // 5
  unresponsiveDecisions: 3, // 30
  unresponsiveMs: 1_500, // 60 s
  joinGraceBlocks: 6, // 40
  joinGraceMs: 3_000, // 120 s
  suspicionWindow: 12, // 50
  lingerMs: 500, // 10 s
  rejoinCooldownMs: 5_000, // 5 min
  candidateTimeoutMs: 5_000, // 60 s
  joinInfoRetryMs: 500, // 5 s
  deferRetryAfterMs: 300, // 5 s
  fullRetryAfterMs: 2_000, // 60 s
  announceIntervalMs: 5_000, // 60 s
  joinRate: { burst: 8, perSecond: 4 }, // 4 / 0.2 per s
  joinInfoRate: { burst: 8, perSecond: 4 }, // 2 / 0.1 per s
}

/** Each shortened default with its value here and its live value (for `simulate --help`). */
export function shortenedDefaults(): string[] {
  const show = (value: unknown) => (typeof value === 'object' ? JSON.stringify(value) : String(value))
  return Object.entries(SIMULATION_MEMBERSHIP).map(
    ([key, value]) => `${key} ${show(value)} (${show(DEFAULTS[key as keyof MembershipConfig])})`,
  )
}

/** The machine's configuration for a run. */
export function membershipConfigOf(options: MembershipRunOptions): Partial<MembershipConfig> {
  const base = options.profile === 'live' ? {} : SIMULATION_MEMBERSHIP
  return { ...base, ...options.config }
}
