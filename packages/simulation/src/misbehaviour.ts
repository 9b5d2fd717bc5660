import type { MaliceType } from '@parsec-section/parsec-core'
/**
 * What Byzantine peers can do in the simulation, and the record of what they did: every
 * Byzantine action is written down, so the checks can tell a peer that really misbehaved (and
 * may be accused) from an honest one (which must never be).
 */

/**
 * - `fork`: once, two events with one self-parent, each shown to a different honest peer;
 * - `duplicate-vote`: once, votes again for an observation it already voted;
 * - `invalid-signature`: corrupts the signature of an event in some of its messages (its own
 *   latest, or one it relays);
 * - `invalid-accusation`: once, votes an accusation of an honest peer with bogus evidence;
 * - `skip-events`: leaves events out of some of its messages (receivers miss their parents);
 * - `silent`: from some step on, neither gossips nor answers;
 * - `spam`: for a while (40 steps), sends requests at more than ten times the honest rate,
 *   concentrated on one victim per step.
 */
export type Behaviour =
  | 'fork'
  | 'duplicate-vote'
  | 'invalid-signature'
  | 'invalid-accusation'
  | 'skip-events'
  | 'silent'
  | 'spam'

export const BEHAVIOURS: readonly Behaviour[] = [
  'fork',
  'duplicate-vote',
  'invalid-signature',
  'invalid-accusation',
  'skip-events',
  'silent',
  'spam',
]

/** Every behaviour but `silent` (which would hide the others): what a Byzantine peer does by default. */
export const DEFAULT_BEHAVIOURS: readonly Behaviour[] = BEHAVIOURS.filter((b) => b !== 'silent')

export function isBehaviour(name: string): name is Behaviour {
  return (BEHAVIOURS as readonly string[]).includes(name)
}

/** The malice an honest peer can prove from a behaviour (the others are refused, not accused). */
export const PROVABLE_MALICE: Partial<Record<Behaviour, MaliceType>> = {
  fork: 'Fork',
  'duplicate-vote': 'DuplicateVote',
  'invalid-accusation': 'InvalidAccusation',
}

export interface Misbehaviour {
  readonly step: number
  /** The Byzantine peer. */
  readonly peer: string
  readonly behaviour: Behaviour
  /** What an honest peer may accuse `peer` of for it, if anything. */
  readonly malice?: MaliceType
  readonly detail: string
  /** Hex hashes of the events that carry it (for checking that it reached honest peers). */
  readonly events: readonly string[]
  /**
   * In a simulation result, for provable misbehaviour: the honest peers whose graph holds every
   * one of `events` at the end (the fork's two branches, the duplicate vote, the false accusation).
   */
  readonly reached?: readonly string[]
}

/** Byzantine actions in the order they happened. */
export class MisbehaviourLog {
  readonly entries: Misbehaviour[] = []
  private readonly counts = new Map<string, number>()

  add(entry: Misbehaviour): void {
    this.entries.push(entry)
    const key = `${entry.peer}:${entry.behaviour}`
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1)
  }

  /** How often `peer` acted with `behaviour`. */
  count(peer: string, behaviour: Behaviour): number {
    return this.counts.get(`${peer}:${behaviour}`) ?? 0
  }

  /** Whether `peer` did something an honest peer can prove and accuse it of. */
  provablyMisbehaved(peer: string): boolean {
    return this.entries.some((e) => e.peer === peer && e.malice !== undefined)
  }

  /** The malice types `peer` can be proven guilty of. */
  maliceOf(peer: string): MaliceType[] {
    const types = new Set<MaliceType>()
    for (const e of this.entries) if (e.peer === peer && e.malice !== undefined) types.add(e.malice)
    return [...types]
  }
}
