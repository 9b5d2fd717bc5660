/**
 * A read-only snapshot of the engine for operators, researchers and the membership machine:
 * plain data, copied when built (mutating it changes nothing in the engine).
 */
import type { PublicId } from './identity/identity.js'
import type { Observation } from './observations/observation.js'

export interface PeerView {
  readonly id: PublicId
  /** Spec §8.1 state as text (`VOTE|SEND|RECV`, `INACTIVE` once removed). */
  readonly state: string
  readonly removed: boolean
  /** We hold two events of this peer at one chain position (it forked). */
  readonly forked: boolean
  /** Events of this peer we hold (its chain positions). */
  readonly events: number
}

/** A decided election: how many observations it decided and the round it took. */
export interface DecidedElectionView {
  readonly index: number
  readonly decided: true
  readonly size: number
  /** The highest meta-vote round of the deciding event (0 for a sole voter's). */
  readonly round: number
}

/** The election under way. */
export interface CurrentElectionView {
  readonly index: number
  readonly decided: false
  readonly voters: readonly PublicId[]
  /** The highest meta-vote round and step reached by any of its events (round -1: none yet). */
  readonly round: number
  readonly step: number
  /** Events holding a meta-event of this election. */
  readonly metaEvents: number
}

/** A vote by another peer for an Add or Remove not yet decided (MEMBERSHIP.md §6 item 4). */
export interface MembershipVote {
  readonly voter: PublicId
  readonly observation: Observation
}

export interface ParsecView {
  readonly us: PublicId
  readonly graphSize: number
  /** Blocks agreed so far (handed over or not). */
  readonly decidedBlocks: number
  /** We were removed: the engine only serves (see README "Serve-only"). */
  readonly removed: boolean
  readonly canVote: boolean
  /** The current voters, in id order. */
  readonly voters: readonly PublicId[]
  /** Every peer the engine knows, us first. */
  readonly peers: readonly PeerView[]
  readonly decisions: readonly DecidedElectionView[]
  readonly election: CurrentElectionView
  /** Observations carried by some event and not agreed yet. */
  readonly pendingObservations: number
  /** Every observation seen so far (agreed or not). */
  readonly observations: number
  /** Our votes not yet handed over in a block: agreed and queued first, then open ones. */
  readonly ourUnpolledVotes: readonly Observation[]
  /** Others' votes for Adds and Removes not agreed yet, in key order. */
  readonly membershipVotes: readonly MembershipVote[]
}
