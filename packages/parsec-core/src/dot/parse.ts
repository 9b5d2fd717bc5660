/**
 * Parser for the reference's DOT dumps (spec §12.1-12.3). It reads the peer list, the events
 * (creator from the cluster, parents from the edges, cause from the details) and the consensus
 * history; meta-election annotations are not needed for replay and are skipped.
 */
import type { ConsensusMode } from '../observations/consensus-mode.js'

export class DotParseError extends Error {
  override readonly name = 'DotParseError'

  constructor(
    message: string,
    readonly line?: number,
  ) {
    super(line === undefined ? message : `line ${line}: ${message}`)
  }
}

/** An observation as written in a DOT file. */
export type DotObservation =
  | { readonly kind: 'genesis'; readonly group: readonly string[] }
  | { readonly kind: 'add'; readonly peer: string }
  | { readonly kind: 'remove'; readonly peer: string }
  | { readonly kind: 'opaque'; readonly payload: string }
  /** Ours, not the reference's: a checkpoint's bytes in hex. */
  | { readonly kind: 'checkpoint'; readonly payload: string }

export type DotCause =
  | { readonly kind: 'initial' }
  | { readonly kind: 'requesting'; readonly recipient: string }
  | { readonly kind: 'request' }
  | { readonly kind: 'response' }
  | { readonly kind: 'observation'; readonly observation: DotObservation }

export interface DotEvent {
  readonly name: string
  readonly creator: string
  readonly indexByCreator: number
  readonly forkIndex: number
  readonly selfParent: string | undefined
  readonly otherParent: string | undefined
  readonly cause: DotCause
}

export interface DotGraph {
  readonly ourId: string
  /** Peer ids of the `peer_list` header, in file order (ours first). */
  readonly peerList: readonly string[]
  readonly consensusMode: ConsensusMode
  /** Events grouped by creator, in the order the clusters list them. */
  readonly events: readonly DotEvent[]
  /** The `consensus_history` annotation (hex), possibly one decision short (spec §12.6). */
  readonly consensusHistory: readonly string[]
}

const ID = '[A-Za-z0-9]+'
const PEER_LINE = new RegExp(String.raw`^///\s+(${ID}): PeerState\(([A-Z|]*)\)$`)
const CLUSTER = new RegExp(String.raw`^subgraph cluster_(${ID}) \{$`)
const EDGE = /^"([^"]+)" -> "([^"]+)" \[([^\]]*)\]$/
const DETAIL = /^"([^"]+)" \[/
const EVENT_NAME = /^[A-Za-z0-9]+_(\d+)(?:,(\d+))?$/

export function parseObservation(text: string, line?: number): DotObservation {
  const s = text.trim()
  let m = /^Genesis\(\{(.*)\}\)$/.exec(s)
  if (m) {
    const group = m[1]
      .split(',')
      .map((x) => x.trim())
      .filter((x) => x.length > 0)
    return { kind: 'genesis', group }
  }
  m = new RegExp(String.raw`^(Add|Remove)\((${ID})\)$`).exec(s)
  if (m === null) m = new RegExp(String.raw`^(Add|Remove)\{peer_id: (${ID}), related_info: \[.*\]\}$`).exec(s)
  if (m) return m[1] === 'Add' ? { kind: 'add', peer: m[2] } : { kind: 'remove', peer: m[2] }
  m = /^OpaquePayload\(([A-Za-z0-9]*)\)$/.exec(s)
  if (m) return { kind: 'opaque', payload: m[1] }
  m = /^Checkpoint\(((?:[0-9a-f]{2})*)\)$/.exec(s)
  if (m) return { kind: 'checkpoint', payload: m[1] }
  throw new DotParseError(`unsupported observation '${s}'`, line)
}

function parseCause(text: string, line: number): DotCause {
  const s = text.trim()
  if (s === 'Initial') return { kind: 'initial' }
  if (s === 'Request') return { kind: 'request' }
  if (s === 'Response') return { kind: 'response' }
  let m = new RegExp(String.raw`^Requesting\((${ID})\)$`).exec(s)
  if (m) return { kind: 'requesting', recipient: m[1] }
  m = /^Observation\((.*)\)$/.exec(s)
  if (m) return { kind: 'observation', observation: parseObservation(m[1], line) }
  throw new DotParseError(`unsupported cause '${s}'`, line)
}

export function parseDot(text: string): DotGraph {
  const lines = text.split('\n')
  let i = 0
  let ourId: string | undefined
  const peerList: string[] = []
  let consensusMode: ConsensusMode = 'supermajority'

  for (; i < lines.length; i++) {
    const line = lines[i]
    if (line.startsWith('/// our_id: ')) {
      ourId = line.slice('/// our_id: '.length).trim()
    } else if (line.startsWith('/// peer_list: {')) {
      for (i++; i < lines.length && lines[i].trim() !== '/// }'; i++) {
        const m = PEER_LINE.exec(lines[i].trim())
        if (m === null) throw new DotParseError(`malformed peer_list entry '${lines[i].trim()}'`, i + 1)
        peerList.push(m[1])
      }
    } else if (line.startsWith('/// consensus_mode: ')) {
      const mode = line.slice('/// consensus_mode: '.length).trim()
      if (mode === 'Single') consensusMode = 'single'
      else if (mode === 'Supermajority') consensusMode = 'supermajority'
      else throw new DotParseError(`unknown consensus mode '${mode}'`, i + 1)
    } else if (line.startsWith('/// view: ')) {
      // dumpDot's `lastEvents`: older parents are missing, so there is nothing to replay from.
      throw new DotParseError(
        `${line.slice('/// view: '.length).trim()}: a view for reading; dump the whole graph to replay it`,
        i + 1,
      )
    } else if (line.startsWith('digraph')) {
      break
    }
  }
  if (ourId === undefined) throw new DotParseError('missing "/// our_id:" header')
  if (i >= lines.length) throw new DotParseError('missing "digraph" section')

  const creatorOf = new Map<string, string>()
  const selfParent = new Map<string, string>()
  const otherParent = new Map<string, string>()
  const order: string[] = []
  let cluster: string | undefined
  for (i++; i < lines.length; i++) {
    const line = lines[i].trim()
    if (line.startsWith('/// ===== details of events')) break
    const c = CLUSTER.exec(line)
    if (c) {
      cluster = c[1]
      continue
    }
    if (line === '}') {
      cluster = undefined
      continue
    }
    const m = EDGE.exec(line)
    if (m === null) continue
    const [, from, to, attrs] = m
    if (cluster !== undefined) {
      if (creatorOf.has(to)) throw new DotParseError(`event '${to}' listed twice`, i + 1)
      creatorOf.set(to, cluster)
      order.push(to)
      if (attrs !== 'style=invis') selfParent.set(to, from)
    } else if (attrs === 'constraint=false') {
      otherParent.set(to, from)
    }
  }

  const causes = new Map<string, DotCause>()
  let current: string | undefined
  for (; i < lines.length; i++) {
    const raw = lines[i]
    if (raw.startsWith('/// ===== meta-elections')) break
    const d = DETAIL.exec(raw.trim())
    if (d && raw.startsWith('  "')) {
      current = d[1]
    } else if (raw.startsWith('/// cause: ')) {
      if (current === undefined) throw new DotParseError('cause outside an event', i + 1)
      causes.set(current, parseCause(raw.slice('/// cause: '.length), i + 1))
    }
  }

  const consensusHistory: string[] = []
  for (; i < lines.length; i++) {
    if (lines[i].startsWith('/// consensus_history:')) {
      for (i++; i < lines.length && /^\/\/\/ [0-9a-f]{64}$/.test(lines[i].trim()); i++) {
        consensusHistory.push(lines[i].trim().slice(4))
      }
      break
    }
  }

  const events: DotEvent[] = order.map((name) => {
    const n = EVENT_NAME.exec(name)
    if (n === null) throw new DotParseError(`malformed event name '${name}'`)
    const cause = causes.get(name)
    if (cause === undefined) throw new DotParseError(`event '${name}' has no cause`)
    const sp = selfParent.get(name)
    const op = otherParent.get(name)
    for (const parent of [sp, op]) {
      if (parent !== undefined && !creatorOf.has(parent)) {
        throw new DotParseError(`event '${name}' has an unknown parent '${parent}'`)
      }
    }
    return {
      name,
      creator: creatorOf.get(name)!,
      indexByCreator: Number(n[1]),
      forkIndex: n[2] === undefined ? 0 : Number(n[2]),
      selfParent: sp,
      otherParent: op,
      cause,
    }
  })
  if (events.length === 0) throw new DotParseError('the graph has no events')
  return { ourId, peerList, consensusMode, events, consensusHistory }
}
