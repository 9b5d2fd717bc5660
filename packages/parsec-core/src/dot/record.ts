/**
 * Rebuilding a recorded peer's history (spec §12.3-12.4): events are re-created in the parser's
 * order as signed packed events, then the recording peer's own events become the actions that
 * reproduce them (votes, gossip requests, handled requests and responses), exactly as the
 * reference's `Record` does.
 */

import { fromHex, toHex, utf8 } from '../encoding/bytes.js'
import type { Cause, PackedEvent } from '../graph/event.js'
import { encodeContent, eventHash } from '../graph/event.js'
import type { PublicId } from '../identity/identity.js'
import { MockSecretId, mockId } from '../identity/mock.js'
import type { ConsensusMode } from '../observations/consensus-mode.js'
import {
  add,
  checkpoint,
  encodeObservation,
  genesis,
  type Observation,
  opaque,
  remove,
} from '../observations/observation.js'
import { type DotCause, type DotEvent, type DotGraph, type DotObservation, DotParseError } from './parse.js'

export type ReplayAction =
  | { readonly kind: 'vote'; readonly observation: Observation }
  | { readonly kind: 'requesting'; readonly recipient: PublicId }
  | {
      readonly kind: 'request' | 'response'
      readonly src: PublicId
      readonly packedEvents: readonly PackedEvent[]
    }

export interface Record {
  readonly ourId: PublicId
  readonly genesis: readonly PublicId[]
  readonly consensusMode: ConsensusMode
  readonly actions: readonly ReplayAction[]
  /** Events in the parsed graph. */
  readonly parsedEvents: number
  /** Hashes (hex) of the parsed events, for the smoke check of spec §12.5. */
  readonly parsedHashes: readonly string[]
  /** Whether a synthetic final request was needed (it adds two events to the replayed graph). */
  readonly synthetic: boolean
}

export function toObservation(observation: DotObservation): Observation {
  switch (observation.kind) {
    case 'genesis':
      return genesis(observation.group.map(mockId))
    case 'add':
      return add(mockId(observation.peer))
    case 'remove':
      return remove(mockId(observation.peer))
    case 'opaque':
      return opaque(utf8(observation.payload))
    case 'checkpoint':
      return checkpoint(fromHex(observation.payload))
  }
}

interface ParsedEvent {
  readonly dot: DotEvent
  readonly creator: PublicId
  readonly selfParent: number
  readonly otherParent: number
  readonly packed: PackedEvent
  readonly hash: Uint8Array
  readonly hashHex: string
}

function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** Spec §12.3: the parse order, each event signed with its creator's mock key. */
function buildParsedEvents(graph: DotGraph): ParsedEvent[] {
  const listed = new Set(graph.peerList)
  const byCreator = new Map<string, DotEvent[]>()
  for (const event of graph.events) {
    let list = byCreator.get(event.creator)
    if (list === undefined) {
      list = []
      byCreator.set(event.creator, list)
    }
    list.push(event)
  }
  const unlisted = [...byCreator.keys()].filter((id) => !listed.has(id)).sort(compareNames)
  const others = graph.peerList.filter((id) => id !== graph.ourId).sort(compareNames)
  const order = [...unlisted, graph.ourId, ...others]
  const remaining = order.map((id) =>
    (byCreator.get(id) ?? [])
      .slice()
      .sort((a, b) => a.indexByCreator - b.indexByCreator || a.forkIndex - b.forkIndex),
  )
  const cursor = order.map(() => 0)
  const created = new Map<string, number>()
  const parsed: ParsedEvent[] = []
  const secrets = new Map<string, MockSecretId>()
  while (parsed.length < graph.events.length) {
    let progressed = false
    for (let p = 0; p < order.length; p++) {
      const event = remaining[p][cursor[p]]
      if (event === undefined) continue
      const sp = event.selfParent === undefined ? -1 : (created.get(event.selfParent) ?? -2)
      const op = event.otherParent === undefined ? -1 : (created.get(event.otherParent) ?? -2)
      if (sp === -2 || op === -2) continue
      let secret = secrets.get(event.creator)
      if (secret === undefined) {
        secret = new MockSecretId(event.creator)
        secrets.set(event.creator, secret)
      }
      const cause = toCause(event, sp, op, parsed, secret)
      const content = encodeContent(secret.publicId, cause)
      const hash = eventHash(content)
      const packed: PackedEvent = { creator: secret.publicId, cause, signature: secret.sign(content) }
      created.set(event.name, parsed.length)
      parsed.push({
        dot: event,
        creator: secret.publicId,
        selfParent: sp,
        otherParent: op,
        packed,
        hash,
        hashHex: toHex(hash),
      })
      cursor[p]++
      progressed = true
      break
    }
    if (!progressed) throw new DotParseError('the graph has a cycle or events with missing parents')
  }
  return parsed
}

function toCause(
  event: DotEvent,
  sp: number,
  op: number,
  parsed: ParsedEvent[],
  secret: MockSecretId,
): Cause {
  const cause: DotCause = event.cause
  if (cause.kind === 'initial') {
    if (sp !== -1) throw new DotParseError(`Initial event '${event.name}' has a self-parent`)
    return { kind: 'initial' }
  }
  if (sp < 0) throw new DotParseError(`event '${event.name}' has no self-parent`)
  const selfParent = parsed[sp].hash
  switch (cause.kind) {
    case 'requesting':
      return { kind: 'requesting', selfParent, recipient: mockId(cause.recipient) }
    case 'request':
    case 'response':
      if (op < 0) throw new DotParseError(`sync event '${event.name}' has no other-parent`)
      return { kind: cause.kind, selfParent, otherParent: parsed[op].hash }
    case 'observation': {
      const observation = toObservation(cause.observation)
      return {
        kind: 'observation',
        selfParent,
        vote: { payload: observation, signature: secret.sign(encodeObservation(observation)) },
      }
    }
  }
}

/** Spec §12.4: the actions that make our peer rebuild this history. */
export function record(graph: DotGraph): Record {
  const parsed = buildParsedEvents(graph)
  const ourId = mockId(graph.ourId)
  if (parsed.length < 2 || parsed[0].dot.creator !== graph.ourId || parsed[0].dot.cause.kind !== 'initial') {
    throw new DotParseError(`the first event in parse order is not ${graph.ourId}'s Initial event`)
  }
  const second = parsed[1].dot.cause
  if (
    parsed[1].dot.creator !== graph.ourId ||
    second.kind !== 'observation' ||
    second.observation.kind !== 'genesis'
  ) {
    throw new DotParseError(`the second event in parse order is not ${graph.ourId}'s Genesis vote`)
  }
  const genesisGroup = second.observation.group.map(mockId)
  if (!genesisGroup.some((id) => id.name === graph.ourId)) {
    throw new DotParseError(`${graph.ourId} is not in the genesis group`)
  }

  const known = new Uint8Array(parsed.length)
  const visited = new Uint32Array(parsed.length)
  let stamp = 0
  const actions: ReplayAction[] = []
  const stack: number[] = []
  for (let index = 2; index < parsed.length; index++) {
    const event = parsed[index]
    if (event.dot.creator !== graph.ourId) continue
    known[index] = 1
    const cause = event.dot.cause
    if (cause.kind === 'observation') {
      actions.push({ kind: 'vote', observation: toObservation(cause.observation) })
    } else if (cause.kind === 'requesting') {
      actions.push({ kind: 'requesting', recipient: mockId(cause.recipient) })
    } else if (cause.kind === 'request' || cause.kind === 'response') {
      const op = event.otherParent
      // Every ancestor of op (the walk does not stop at known events), op itself included.
      stamp++
      const list: number[] = []
      stack.push(op)
      visited[op] = stamp
      while (stack.length > 0) {
        const a = stack.pop()!
        if (!known[a] || a === op) list.push(a)
        for (const parent of [parsed[a].selfParent, parsed[a].otherParent]) {
          if (parent >= 0 && visited[parent] !== stamp) {
            visited[parent] = stamp
            stack.push(parent)
          }
        }
      }
      list.sort((a, b) => a - b)
      for (const a of list) known[a] = 1
      actions.push({
        kind: cause.kind,
        src: parsed[op].creator,
        packedEvents: list.map((a) => parsed[a].packed),
      })
    } else {
      throw new DotParseError(`unexpected ${cause.kind} event '${event.dot.name}' of ours after our Genesis`)
    }
  }

  const leftovers: number[] = []
  for (let index = 0; index < parsed.length; index++) if (!known[index]) leftovers.push(index)
  let synthetic = false
  if (leftovers.length > 0) {
    const z = parsed[leftovers[leftovers.length - 1]]
    const secret = new MockSecretId(z.dot.creator)
    const cause: Cause = { kind: 'requesting', selfParent: z.hash, recipient: ourId }
    const content = encodeContent(secret.publicId, cause)
    const packed: PackedEvent = { creator: secret.publicId, cause, signature: secret.sign(content) }
    actions.push({
      kind: 'request',
      src: z.creator,
      packedEvents: [...leftovers.map((i) => parsed[i].packed), packed],
    })
    synthetic = true
  }
  return {
    ourId,
    genesis: genesisGroup,
    consensusMode: graph.consensusMode,
    actions,
    parsedEvents: parsed.length,
    parsedHashes: parsed.map((e) => e.hashHex),
    synthetic,
  }
}
