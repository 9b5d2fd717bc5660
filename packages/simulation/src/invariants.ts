/**
 * The invariants of a run and their violations (their names appear in `Violation.invariant`):
 * `agreement`, `validity`, `no-duplicates` and `accusation` on every block a peer polls;
 * `membership` and the forged-signature part of `validity` at the end. (The others are checked
 * where they arise: `termination` and `schedule` when termination.ts says the run cannot finish,
 * `vote`, `gossip` and `engine-error` at the engine calls, `containment` in delivery.ts.)
 */

import { type BlockDescription, hasValidSignature, isParsecError } from '@parsec-section/parsec-core'
import type { Clock } from './clock.js'
import type { RunContext } from './context.js'
import { payloadKey } from './keys.js'
import type { MisbehaviourLog } from './misbehaviour.js'
import type { SimPeer } from './peers.js'
import type { Violation } from './result.js'

/** The violations found so far; an unexpected exception also aborts the run. */
export class Violations {
  readonly list: Violation[] = []
  aborted = false

  constructor(private readonly clock: Clock) {}

  get any(): boolean {
    return this.list.length > 0
  }

  violate(invariant: string, detail: string): void {
    this.list.push({ invariant, step: this.clock.step, detail })
  }

  /** An engine call failed in a way the protocol does not allow; a non-`ParsecError` aborts the run. */
  engineError(invariant: string, context: string, error: unknown): void {
    if (isParsecError(error)) {
      this.violate(invariant, `${context}: ${error.message}`)
    } else {
      const text = error instanceof Error ? (error.stack ?? error.message) : String(error)
      this.violate(invariant, `${context}: unexpected exception ${text}`)
      this.aborted = true
    }
  }
}

/** The invariants about the blocks the honest peers decide. */
export class BlockInvariants {
  /** Agreement: the longest block sequence seen; every peer's must be a prefix of it. */
  readonly canonical: string[] = []

  constructor(
    private readonly ctx: RunContext,
    /** Payload key → names of the peers that voted it (`Votes.cast`). */
    private readonly castVotes: ReadonlyMap<string, ReadonlySet<string>>,
    private readonly misbehaviour: MisbehaviourLog,
  ) {}

  /**
   * `no-duplicates`, `agreement` and `validity` for honest `peer`'s block at `position`, before
   * its key is added to the peer's set.
   */
  check(peer: SimPeer, description: BlockDescription, key: string, position: number): void {
    if (peer.keySet.has(key)) this.violate('no-duplicates', `${peer.name} decided ${key} twice`)
    // agreement: every sequence is a prefix of the longest one
    if (position < this.canonical.length) {
      if (this.canonical[position] !== key) {
        this.violate(
          'agreement',
          `${peer.name} block #${position} is ${key}, another peer decided ${this.canonical[position]} there`,
        )
      }
    } else {
      this.canonical.push(key)
    }
    this.checkValidity(peer, description, key)
  }

  private violate(invariant: string, detail: string): void {
    this.ctx.violations.violate(invariant, detail)
  }

  private checkValidity(peer: SimPeer, description: BlockDescription, key: string): void {
    if (description.kind === 'accusation') {
      this.checkAccusation(peer, description.offender, description.voters)
      return
    }
    const payload = payloadKey(description)
    const voters = this.castVotes.get(payload)
    if (voters === undefined) {
      this.violate('validity', `${peer.name} decided ${key}, which nobody voted`)
      return
    }
    if (description.kind === 'genesis') {
      const expected = this.ctx.peers.genesisIds.map((id) => id.name).join(',')
      if (description.peers.join(',') !== expected) {
        this.violate(
          'validity',
          `${peer.name} decided genesis ${description.peers.join(',')}, expected ${expected}`,
        )
      }
    }
    if (description.voters.length === 0) {
      this.violate('validity', `${peer.name} decided ${key} without any vote`)
    }
    for (const voter of description.voters) {
      if (!voters.has(voter)) {
        this.violate('validity', `${peer.name} decided ${key} with a vote by ${voter}, who never voted it`)
      }
    }
    if (this.ctx.mode === 'single' && description.kind === 'opaque' && description.voters.length !== 1) {
      this.violate(
        'validity',
        `${peer.name} decided Single-mode ${key} with ${description.voters.length} votes`,
      )
    }
  }

  /**
   * An agreed accusation (voted by the engines themselves, so not in `castVotes`) must name a
   * Byzantine peer that did something provable: an honest peer is never accused, so never removed.
   */
  private checkAccusation(peer: SimPeer, offender: string, voters: readonly string[]): void {
    const accused = this.ctx.peers.get(offender)
    if (accused === undefined || accused.byzantine === undefined) {
      this.violate('accusation', `${peer.name} agreed on an accusation of honest ${offender}`)
    } else if (!this.misbehaviour.provablyMisbehaved(offender)) {
      this.violate(
        'accusation',
        `${peer.name} agreed on an accusation of ${offender}, who did nothing provable`,
      )
    }
    if (voters.length === 0)
      this.violate('validity', `${peer.name} decided an accusation of ${offender} without votes`)
  }

  /** `membership`, at the end of a finished run: every honest peer's voters are the members. */
  checkMembership(): void {
    const { peers } = this.ctx
    const expected = [...peers.members].map((p) => p.name).sort()
    for (const peer of peers.honest()) {
      const voters = peer.parsec
        .voters()
        .map((id) => id.name)
        .sort()
      if (voters.join(',') !== expected.join(',')) {
        this.ctx.violations.violate(
          'membership',
          `${peer.name} has voters ${voters.join(',')}, expected ${expected.join(',')}`,
        )
      }
    }
  }

  /** Forged signatures must never get into an honest graph (checked once, at the end). */
  checkForgedEvents(): void {
    const { peers, stats } = this.ctx
    if (!peers.all.some((p) => p.byzantine?.has('invalid-signature'))) return
    for (const peer of peers.honest()) {
      for (const event of peer.parsec.packedEvents(0)) {
        if (!hasValidSignature(event)) {
          stats.forgedEventsAccepted++
          this.ctx.violations.violate(
            'validity',
            `${peer.name} holds an event by ${event.creator.name} with a bad signature`,
          )
        }
      }
    }
  }
}
