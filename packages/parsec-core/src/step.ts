/**
 * The one output of every engine call that changes it (hbbft's `Step`, etcd's `Ready`): the
 * message to send, the blocks agreed, the decisions made, faults, warnings, the new events to
 * persist, and the error when a peer's input was bad. A host persists `events`, then delivers
 * `blocks`, then sends `message`, in that order. Steps merge (`mergeSteps`), so a host may drive
 * several calls and flush once.
 */
import type { Block } from './blocks.js'
import type { ParsecError } from './errors.js'
import type { Fault } from './faults.js'
import type { PackedEvent } from './graph/event.js'
import type { PublicId } from './identity/identity.js'
import type { Observation } from './observations/observation.js'

/** An agreed block with its 0-based position in the section's agreed order (genesis is 0). */
export interface AgreedBlock {
  readonly position: number
  readonly block: Block
}

/** A voter's last ancestor in the deciding event: its chain position, -1 when none. */
export interface LastAncestor {
  readonly voter: PublicId
  readonly last: number
}

/** One decided meta-election (spec §6.8) and what MEMBERSHIP.md §4 reads from it. */
export interface Decision {
  /** 0-based index of the election (the number of decisions before it). */
  readonly election: number
  /** The decided observations, in block order. */
  readonly observations: readonly Observation[]
  /** Position of the first block of this decision in the agreed order. */
  readonly firstPosition: number
  /**
   * Per voter of the decided election (id order), the chain position of its latest event in
   * the deciding event's ancestry (its `last` row): a voter whose entry did not grow since the
   * previous decision took no part in it.
   */
  readonly lastAncestors: readonly LastAncestor[]
}

/** Something the caller may want to know that is not a peer's fault nor an error. */
export type Warning =
  /** `voteFor` an observation we already voted: nothing made (spec §11's `DuplicateVote`). */
  | { readonly kind: 'duplicate-vote'; readonly observation: Observation }
  /**
   * A decided membership change that changes nothing (MEMBERSHIP.md §4): a Remove (or an
   * accusation) of a peer that is not a member or was removed already, an Add of a member.
   */
  | {
      readonly kind: 'irrelevant-membership'
      readonly observation: Observation
      readonly reason: 'not-a-member' | 'already-removed' | 'already-a-member'
    }
  /** An observer's orphan buffer is full: these events were dropped (fetch them again later). */
  | { readonly kind: 'orphans-dropped'; readonly count: number }
  /** We were removed: the call only served (no event made, nothing received was added). */
  | { readonly kind: 'serve-only'; readonly detail: string }

export interface Step<M = never> {
  /** The message to send: the request from `createGossip`, the response from `handleRequest`. */
  readonly message?: M
  /** Every block agreed and not yet handed over, in agreed order. */
  readonly blocks: readonly AgreedBlock[]
  readonly decisions: readonly Decision[]
  /** Misbehaviour found, each naming the real offender (a relayed event's creator included). */
  readonly faults: readonly Fault[]
  readonly warnings: readonly Warning[]
  /**
   * The events added to our graph during the call, in insertion order (parents first): what a
   * host persists before sending anything. Packed on first read.
   */
  readonly events: readonly PackedEvent[]
  /**
   * A peer's input was bad (spec §5.3): the events accepted before the bad one stay and are in
   * `events`; `error.faults` are also in `faults`.
   */
  readonly error?: ParsecError
}

const NONE: readonly never[] = Object.freeze([])

/** A step whose events are packed from the engine's graph only when read. */
export class EngineStep<M> implements Step<M> {
  private packed: readonly PackedEvent[] | undefined

  constructor(
    readonly message: M | undefined,
    readonly blocks: readonly AgreedBlock[],
    readonly decisions: readonly Decision[],
    readonly faults: readonly Fault[],
    readonly warnings: readonly Warning[],
    private readonly pack: (() => readonly PackedEvent[]) | undefined,
    readonly error?: ParsecError,
  ) {}

  get events(): readonly PackedEvent[] {
    if (this.packed === undefined) this.packed = this.pack === undefined ? NONE : this.pack()
    return this.packed
  }
}

/** An empty step (nothing happened). */
export function emptyStep<M = never>(): Step<M> {
  return { blocks: NONE, decisions: NONE, faults: NONE, warnings: NONE, events: NONE }
}

/**
 * Several steps as one, in call order: lists concatenated; `message` is the last step's that has
 * one and `error` the first one (a host merging calls that each send a message keeps those
 * messages itself and sends them after flushing the merged step).
 */
export function mergeSteps<M>(...steps: readonly Step<M>[]): Step<M> {
  const concat = <T>(pick: (s: Step<M>) => readonly T[]): readonly T[] => {
    const lists = steps.map(pick).filter((list) => list.length > 0)
    return lists.length === 0 ? NONE : lists.length === 1 ? lists[0] : lists.flat()
  }
  let message: M | undefined
  let error: ParsecError | undefined
  for (const step of steps) {
    if (step.message !== undefined) message = step.message
    if (error === undefined && step.error !== undefined) error = step.error
  }
  return {
    ...(message === undefined ? {} : { message }),
    blocks: concat((s) => s.blocks),
    decisions: concat((s) => s.decisions),
    faults: concat((s) => s.faults),
    warnings: concat((s) => s.warnings),
    events: concat((s) => s.events),
    ...(error === undefined ? {} : { error }),
  }
}
