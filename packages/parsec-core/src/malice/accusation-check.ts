/**
 * Whether an accusation holds, judged from one event's past (spec §9.2 rule 9, fixed per §15).
 *
 * The reference calls an accusation invalid when the judge did not make the same accusation
 * itself, so an honest accuser who saw evidence the judge never stored (an event the accuser
 * rejected) was punished. Here an accusation is `invalid` only when the judge can prove it false
 * from the accuser's own past (the events before the accuser's sync event) or from the signed
 * evidence it carries; `unknown` when that past cannot settle it (an accuser is never punished
 * then); `valid` when it is proven.
 */
import { compareBytes } from '../encoding/bytes.js'
import { type Ancestry, isDescendant } from '../graph/ancestry.js'
import { encodeContent, type PackedEvent } from '../graph/event.js'
import type { Graph, GraphEvent } from '../graph/graph.js'
import type { Malice } from '../observations/malice.js'
import type { Observation } from '../observations/observation.js'
import type { ObservationStore } from '../observations/store.js'
import type { PeerList } from '../peers/peer-list.js'
import { supermajority } from '../quorum.js'
import { evidenceEvent } from './packed-evidence.js'

export type Verdict = 'valid' | 'invalid' | 'unknown'

/** Accusations about accusations nest; deeper than this is not judged. */
const MAX_DEPTH = 4

export interface JudgeContext {
  readonly graph: Graph
  readonly peers: PeerList
  readonly store: ObservationStore
  /** Names of the genesis group. */
  readonly genesisGroup: ReadonlySet<string>
  /** Number of current voters. */
  voterCount(): number
  /** Events voting an accusation against, or the removal of, `peer`. */
  votesAgainst(peer: number): readonly number[]
  /** The Request that first used a Requesting, by graph index. */
  requestUsing(requesting: number): number | undefined
  /** The Response that first answered a Request, by graph index. */
  responseTo(request: number): number | undefined
}

/** The observation an event carries, if it is a vote. */
export function carried(ctx: JudgeContext, event: GraphEvent): Observation | undefined {
  return event.observationKey >= 0 ? ctx.store.get(event.observationKey).observation : undefined
}

export function isGenesisGroup(ctx: JudgeContext, group: readonly { name: string }[]): boolean {
  if (group.length !== ctx.genesisGroup.size) return false
  return group.every((id) => ctx.genesisGroup.has(id.name))
}

/** The sync event itself, or its nearest sync self-ancestor (spec §9.2 rule 4). */
export function syncSelfOrAncestor(graph: Graph, event: GraphEvent): GraphEvent | undefined {
  return event.isSync ? event : graph.selfSyncParent(event)
}

/** The peer a malice is about, read from its evidence (an Accomplice's inner malice names none). */
export function offenderOf(ctx: JudgeContext, malice: Malice): number | undefined {
  const byHash = (hash: Uint8Array) => {
    const index = ctx.graph.indexOf(hash)
    return index === undefined ? undefined : ctx.graph.get(index).creator
  }
  switch (malice.type) {
    case 'UnexpectedGenesis':
    case 'MissingGenesis':
    case 'Fork':
    case 'InvalidAccusation':
    case 'Accomplice':
      return byHash(malice.event)
    case 'DuplicateVote':
      return byHash(malice.first)
    case 'IncorrectGenesis':
    case 'OtherParentBySameCreator':
    case 'SelfParentByDifferentCreator':
    case 'InvalidRequest':
    case 'InvalidResponse': {
      const event = evidenceEvent(malice.packedEvent)
      return event === undefined ? undefined : ctx.peers.indexOf(event.creator)
    }
    case 'Unprovable':
      return undefined
  }
}

/**
 * Malice proven by the signed event it carries (an event we rejected, which other peers may never
 * hold), rather than by events of the graph.
 */
export function carriesItsEvidence(malice: Malice): boolean {
  switch (malice.type) {
    case 'IncorrectGenesis':
    case 'OtherParentBySameCreator':
    case 'SelfParentByDifferentCreator':
    case 'InvalidRequest':
    case 'InvalidResponse':
      return true
    default:
      return false
  }
}

/** Events of `parent`'s creator whose self-parent is `parent`. */
export function forkChildren(graph: Graph, parent: GraphEvent): number[] {
  const slot = graph.slot(parent.creator, parent.indexByCreator + 1)
  return slot.filter((i) => graph.get(i).selfParent === parent.index)
}

function ancestorOf(at: Ancestry, graph: Graph, hash: Uint8Array): GraphEvent | undefined {
  const index = graph.indexOf(hash)
  if (index === undefined) return undefined
  const event = graph.get(index)
  return isDescendant(at, event) ? event : undefined
}

function verifiedEvidence(
  ctx: JudgeContext,
  offender: number,
  bytes: Uint8Array,
): PackedEvent | 'unknown' | 'invalid' {
  const event = evidenceEvent(bytes)
  if (event === undefined) return 'unknown'
  const id = ctx.peers.ids[offender]
  if (event.creator.name !== id.name) return 'invalid'
  if (!id.verify(event.signature, encodeContent(event.creator, event.cause))) return 'invalid'
  return event
}

/**
 * Whether `offender` committed `malice`, judged from the past of `at` (the accuser's sync event
 * following the accusation, or for an inner malice the accomplice's previous sync event).
 */
export function judge(ctx: JudgeContext, offender: number, malice: Malice, at: Ancestry, depth = 0): Verdict {
  if (depth > MAX_DEPTH) return 'unknown'
  const { graph } = ctx
  const yes = (holds: boolean): Verdict => (holds ? 'valid' : 'invalid')
  switch (malice.type) {
    case 'UnexpectedGenesis': {
      const e = ancestorOf(at, graph, malice.event)
      if (e === undefined || e.creator !== offender) return 'invalid'
      const o = carried(ctx, e)
      if (o?.kind !== 'genesis') return 'invalid'
      return yes(
        !ctx.genesisGroup.has(ctx.peers.ids[offender].name) || graph.get(e.selfParent).kind !== 'initial',
      )
    }
    case 'MissingGenesis': {
      const e = ancestorOf(at, graph, malice.event)
      if (e === undefined || e.creator !== offender) return 'invalid'
      return yes(
        e.indexByCreator === 1 &&
          carried(ctx, e)?.kind !== 'genesis' &&
          ctx.genesisGroup.has(ctx.peers.ids[offender].name),
      )
    }
    case 'DuplicateVote': {
      const a = ancestorOf(at, graph, malice.first)
      const b = ancestorOf(at, graph, malice.second)
      if (a === undefined || b === undefined || a === b) return 'invalid'
      return yes(
        a.creator === offender &&
          b.creator === offender &&
          a.observationKey >= 0 &&
          a.observationKey === b.observationKey,
      )
    }
    case 'Fork': {
      const parent = ancestorOf(at, graph, malice.event)
      if (parent === undefined || parent.creator !== offender) return 'invalid'
      const seen = forkChildren(graph, parent).filter((i) => isDescendant(at, graph.get(i)))
      return yes(seen.length >= 2)
    }
    case 'InvalidAccusation':
      return judgeInvalidAccusation(ctx, offender, malice.event, at, depth)
    case 'Accomplice':
      return judgeAccomplice(ctx, offender, malice.event, malice.malice, at, depth)
    case 'IncorrectGenesis': {
      const event = verifiedEvidence(ctx, offender, malice.packedEvent)
      if (typeof event === 'string') return event
      const vote = event.cause.kind === 'observation' ? event.cause.vote.payload : undefined
      return yes(vote?.kind === 'genesis' && !isGenesisGroup(ctx, vote.group))
    }
    case 'OtherParentBySameCreator': {
      const event = verifiedEvidence(ctx, offender, malice.packedEvent)
      if (typeof event === 'string') return event
      if (event.cause.kind !== 'request' && event.cause.kind !== 'response') return 'invalid'
      const parent = graph.indexOf(event.cause.otherParent)
      return parent === undefined ? 'unknown' : yes(graph.get(parent).creator === offender)
    }
    case 'SelfParentByDifferentCreator': {
      const event = verifiedEvidence(ctx, offender, malice.packedEvent)
      if (typeof event === 'string') return event
      if (event.cause.kind === 'initial') return 'invalid'
      const parent = graph.indexOf(event.cause.selfParent)
      return parent === undefined ? 'unknown' : yes(graph.get(parent).creator !== offender)
    }
    case 'InvalidRequest': {
      const event = verifiedEvidence(ctx, offender, malice.packedEvent)
      if (typeof event === 'string') return event
      if (event.cause.kind !== 'request') return 'invalid'
      const parent = graph.indexOf(event.cause.otherParent)
      if (parent === undefined) return 'unknown'
      const requesting = graph.get(parent)
      if (requesting.kind !== 'requesting' || requesting.recipient !== offender) return 'valid'
      return usedByAnother(graph, ctx.requestUsing(parent), event) ? 'valid' : 'unknown'
    }
    case 'InvalidResponse': {
      const event = verifiedEvidence(ctx, offender, malice.packedEvent)
      if (typeof event === 'string') return event
      if (event.cause.kind !== 'response') return 'invalid'
      const parent = graph.indexOf(event.cause.otherParent)
      if (parent === undefined) return 'unknown'
      const request = syncSelfOrAncestor(graph, graph.get(parent))
      if (request === undefined || request.kind !== 'request') return 'valid'
      if (graph.get(request.otherParent).creator !== offender) return 'valid'
      return usedByAnother(graph, ctx.responseTo(request.index), event) ? 'valid' : 'unknown'
    }
    case 'Unprovable':
      // We never make one, and nothing can be checked: an accusation without proof.
      return 'invalid'
  }
}

/** The first Request/Response that used the same parent is another event than `event`. */
function usedByAnother(graph: Graph, first: number | undefined, event: PackedEvent): boolean {
  return first !== undefined && compareBytes(graph.signature(first), event.signature) !== 0
}

/**
 * InvalidAccusation(h): `h` is the offender's accusation vote; it is judged from the past of each
 * of the offender's sync events in `at`'s past that closes the run of votes `h` belongs to (where
 * the offender itself had to hold the evidence; several only if the offender forked). Proven when
 * the accusation is false at one of them.
 */
function judgeInvalidAccusation(
  ctx: JudgeContext,
  offender: number,
  hash: Uint8Array,
  at: Ancestry,
  depth: number,
): Verdict {
  const { graph } = ctx
  const vote = ancestorOf(at, graph, hash)
  if (vote === undefined || vote.creator !== offender) return 'invalid'
  const accusation = carried(ctx, vote)
  if (accusation?.kind !== 'accusation') return 'invalid'
  const closings = closingSyncs(graph, vote, at)
  if (closings.length === 0) return 'invalid'
  const accused = ctx.peers.indexOf(accusation.offender)
  if (accused === undefined) return 'valid'
  let unknown = false
  for (const closing of closings) {
    const inner = judge(ctx, accused, accusation.malice, closing, depth + 1)
    if (inner === 'invalid') return 'valid'
    if (inner === 'unknown') unknown = true
  }
  return unknown ? 'unknown' : 'invalid'
}

/** The sync events after `vote` in its creator's chain, past a run of votes only, within `at`'s past. */
export function closingSyncs(graph: Graph, vote: GraphEvent, at: Ancestry): GraphEvent[] {
  const out: GraphEvent[] = []
  let frontier = [vote]
  while (frontier.length > 0) {
    const next: GraphEvent[] = []
    for (const current of frontier) {
      for (const i of graph.slot(vote.creator, current.indexByCreator + 1)) {
        const e = graph.get(i)
        if (e.selfParent !== current.index || !isDescendant(at, e)) continue
        if (e.isSync) out.push(e)
        else if (e.kind === 'observation') next.push(e)
      }
    }
    frontier = next
  }
  return out
}

/**
 * Accomplice(e, m): the offender's Request/Response `e` was made after a full exchange in which
 * `m` was proven (in the past of its previous sync event), yet none of its
 * events up to `e` accuses (or votes to remove) `m`'s offender. Evidence-free malice (a packed
 * event only the receiver saw) never makes an accomplice (spec §15). When a supermajority of
 * the voters has already voted against `m`'s offender in `e`'s past, the offender may have
 * decided that peer's removal already and then rightly stops accusing it: no accomplice.
 */
function judgeAccomplice(
  ctx: JudgeContext,
  offender: number,
  hash: Uint8Array,
  malice: Malice,
  at: Ancestry,
  depth: number,
): Verdict {
  const { graph } = ctx
  const event = ancestorOf(at, graph, hash)
  if (event === undefined || event.creator !== offender) return 'invalid'
  if (event.kind !== 'request' && event.kind !== 'response') return 'invalid'
  return isAccomplice(ctx, event, malice, depth) ?? 'invalid'
}

/** The accomplice rule for `event` and an inner malice (undefined: it is not an accomplice). */
export function isAccomplice(
  ctx: JudgeContext,
  event: GraphEvent,
  malice: Malice,
  depth = 0,
): Verdict | undefined {
  const { graph } = ctx
  const previous = graph.selfSyncParent(event)
  if (previous === undefined) return undefined
  const accused = offenderOf(ctx, malice)
  if (accused === undefined || accused === event.creator) return undefined
  // Malice without evidence in the graph never makes an accomplice (spec §15).
  if (carriesItsEvidence(malice) || malice.type === 'Unprovable') return undefined
  // Proven in the past of its previous sync event: an honest creator had voted it by then.
  if (judge(ctx, accused, malice, previous, depth + 1) !== 'valid') return undefined
  const against = ctx.votesAgainst(accused).map((i) => graph.get(i))
  if (against.some((v) => v.creator === event.creator && isDescendant(event, v))) return undefined
  const voters = new Set(against.filter((v) => isDescendant(event, v)).map((v) => v.creator))
  if (supermajority(ctx.voterCount(), voters.size)) return undefined
  return 'valid'
}
