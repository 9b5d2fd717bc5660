/** What a simulation run is asked to do: the options of `simulate` and their defaults. */

import type { Coin, ConsensusMode, Parsec } from '@parsec-section/parsec-core'
import type { AdversarialSchedulerOptions } from './adversarial-scheduler.js'
import type { MembershipRunOptions } from './membership-options.js'
import type { Behaviour } from './misbehaviour.js'

/** An inclusive range of steps. */
export interface StepRange {
  readonly min: number
  readonly max: number
}

export interface FailureSpec {
  /** The step at which the peer crashes, or a range the step is drawn from. */
  readonly at: number | StepRange
  /**
   * The peer that crashes. Absent: a random live member, chosen when the failure is due, and
   * only if the section stays safe (more than two thirds of every possible voter set live);
   * otherwise the failure waits for a later step.
   */
  readonly peer?: string
}

/**
 * The genuine-flip coin of every peer: the RFC's concrete coin (spec §16), the reference's parity
 * coin (spec §6.7), or a function giving each peer (by name) its own coin (tests wrap one).
 */
export type SimulationCoin = 'parity' | 'concrete' | ((peer: string) => Coin)

/** One Byzantine member of the genesis group. */
export interface ByzantineSpec {
  /** Its name; absent: a random genesis member not otherwise taken. */
  readonly peer?: string
  /** What it does (any combination; see `Behaviour`). */
  readonly behaviours: readonly Behaviour[]
}

export interface SimulationOptions {
  /** Seed of the run (an unsigned 32-bit integer). */
  readonly seed: number
  /** The peers' coin (default `concrete`). */
  readonly coin?: SimulationCoin
  /** Number of founding members (default 4). */
  readonly genesisSize?: number
  /** Consensus mode of opaque payloads (default `supermajority`). */
  readonly consensusMode?: ConsensusMode
  /** Single mode only: every member votes every opaque payload (one block per voter). */
  readonly voteForSame?: boolean
  /** Number of opaque payloads to vote (default 5); payloads are "0", "1", … */
  readonly opaque?: number
  /** Per-step probability of scheduling the next opaque payload (default 0.2). */
  readonly probOpaque?: number
  /** Schedule every opaque payload at step 0 and vote them all before any gossip. */
  readonly votesBeforeGossip?: boolean
  /** Steps between scheduling an observation and a given voter voting it (default 0..8). */
  readonly voteDelay?: StepRange
  /** Peers to add (default 0) and the per-step probability of scheduling the next add (default 0.1). */
  readonly peersToAdd?: number
  readonly probAdd?: number
  /** Peers to remove (default 0) and the per-step probability of scheduling the next remove (default 0.1). */
  readonly peersToRemove?: number
  readonly probRemove?: number
  /** `adds-first`: no remove is scheduled before every add is done (default `interleaved`). */
  readonly membershipOrder?: 'interleaved' | 'adds-first'
  /** Remove crashed members before live ones. */
  readonly removeCrashedFirst?: boolean
  /** Membership bounds for scheduling adds and removes (defaults 1 and 64). */
  readonly minPeers?: number
  readonly maxPeers?: number
  /** Crash failures (crash-stop: the peer stops handling anything). */
  readonly failures?: readonly FailureSpec[]
  /**
   * Byzantine members of the genesis group (default none). With the crash failures they must stay
   * fewer than a third of the section for it to make progress; the simulation does not enforce it.
   */
  readonly byzantine?: readonly ByzantineSpec[]
  /**
   * Deliver the messages through the adversarial scheduler (`adversarial-scheduler.ts`) instead of
   * with independent random delays: every message delayed and reordered within `bound` steps
   * (default 40), to keep the peers' views apart at the coin step. Byzantine peers without any
   * behaviour become its accomplices: they send and handle messages only when it says.
   */
  readonly adversarialScheduler?: boolean | AdversarialSchedulerOptions
  /** Per-step probability that a running peer gossips (default 0.25). */
  readonly probGossip?: number
  /** Delay of each request and response, in steps (default 0..2); 0 = handled within the step. */
  readonly delay?: StepRange
  /** Probability that a voter tries to vote the same observation again later (must be refused). */
  readonly probVoteDuplication?: number
  /** The run fails (`termination`) if it has not finished after this many steps (default 3000). */
  readonly maxSteps?: number
  /**
   * Called once the run ended (however it ended) with every peer's engine, by name: to dump the
   * graphs (`dumpDot` of `@parsec-section/parsec-core/dot`) or inspect them. Read only.
   */
  readonly atEnd?: (engines: ReadonlyMap<string, Parsec>) => void
  /**
   * Called after every step with what the engines hold (a host samples memory against it, e.g.
   * `scripts/soak-sim.mjs`): `eventsCreated`, the largest count among the running peers of every
   * event their graphs held, all epochs together; `eventsHeld`, the events in the graphs they hold
   * now, the retired ones included, over all running peers. Returning true ends the run there (it
   * then reports `termination`: it was cut short).
   */
  readonly onStep?: (view: {
    readonly step: number
    readonly eventsCreated: number
    readonly eventsHeld: number
  }) => boolean | undefined
  /**
   * The run fails (`termination`) early when nothing happens for this many steps: no block polled
   * by any peer, nothing scheduled, no crash, no membership change completed (default 400).
   */
  readonly stallSteps?: number
  /**
   * Simulated milliseconds per step (default 10): the clock (`now`) what runs in the simulation
   * reads, and the run's simulated duration. It changes no outcome.
   */
  readonly stepMs?: number
  /**
   * Host a membership machine beside every engine (`membership-host.ts`): peers join and leave by
   * exchanging membership messages, and M1-M7 are checked after every step. Absent: the section's
   * membership changes only through `peersToAdd`/`peersToRemove` (votes scheduled by the run).
   */
  readonly membership?: MembershipRunOptions
  /** Progress lines (scheduling, crashes, joins, removals), for human output. */
  readonly log?: (line: string) => void
}
