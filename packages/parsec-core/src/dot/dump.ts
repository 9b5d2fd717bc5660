/**
 * Writes a peer's gossip graph in the reference's DOT layout (spec §12.1-12.2), so graphs from
 * our simulations and live peers can be inspected with graphviz and replayed by `parsec-peer
 * replay` like the reference's recordings.
 */
import { payloadText } from '../block-description.js'
import { toHex } from '../encoding/bytes.js'
import { internalsOf } from '../engine-internals.js'
import { ParsecError } from '../errors.js'
import { lastOf } from '../graph/ancestry.js'
import type { GraphEvent } from '../graph/graph.js'
import type { PublicId } from '../identity/identity.js'
import { OBSERVER } from '../meta-voting/meta-event.js'
import type { MetaVote } from '../meta-voting/meta-vote.js'
import { BOTH, FALSE, TRUE } from '../meta-voting/meta-vote.js'
import type { Observation } from '../observations/observation.js'
import type { Parsec } from '../parsec.js'
import { describeState } from '../peers/peer-state.js'

/** Ids as the reference writes them: non-alphanumerics removed (spec §12.2). */
export function sanitizeId(name: string): string {
  return name.replace(/[^A-Za-z0-9]/g, '')
}

/** Short names: sanitized ids cut to 1 + the longest common prefix of adjacent sorted ids. */
export function shortNames(ids: readonly string[]): Map<string, string> {
  const sorted = [...new Set(ids.map(sanitizeId))].sort()
  let common = 0
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1]
    const b = sorted[i]
    let k = 0
    while (k < a.length && k < b.length && a[k] === b[k]) k++
    common = Math.max(common, k)
  }
  const length = sorted.length <= 1 ? 1 : common + 1
  return new Map(ids.map((id) => [id, sanitizeId(id).slice(0, length)]))
}

function observationText(observation: Observation, nameOf: (id: PublicId) => string): string {
  switch (observation.kind) {
    case 'genesis':
      return `Genesis({${observation.group.map((id) => sanitizeId(nameOf(id))).join(', ')}})`
    case 'add':
      return `Add(${sanitizeId(nameOf(observation.peer))})`
    case 'remove':
      return `Remove(${sanitizeId(nameOf(observation.peer))})`
    case 'accusation':
      return `Accusation { ${sanitizeId(nameOf(observation.offender))}, ${observation.malice.type} }`
    case 'opaque': {
      const text = payloadText(observation.payload)
      return `OpaquePayload(${/^[A-Za-z0-9]*$/.test(text) ? text : toHex(observation.payload)})`
    }
    case 'checkpoint':
      return `Checkpoint(${toHex(observation.payload)})`
  }
}

function boolSet(mask: number): string {
  return mask === BOTH ? 'b' : mask === TRUE ? 't' : mask === FALSE ? 'f' : '-'
}

function metaVoteLine(vote: MetaVote): string {
  if (vote.decided) {
    const d = vote.decided === TRUE ? 't' : 'f'
    return `${vote.round}/${vote.step}   ${d}   ${d}   ${d}   ${d}`
  }
  return `${vote.round}/${vote.step}   ${boolSet(vote.est)}   ${boolSet(vote.bin)}   ${boolSet(vote.aux)}   -`
}

export interface DumpOptions {
  /**
   * Only the last `lastEvents` events of the graph (a view for reading: edges from older parents
   * are left out, and the header says it cannot be replayed).
   */
  readonly lastEvents?: number
  /** How peers are named (default: their id's name); the reference's sanitizing still applies. */
  readonly nameOf?: (id: PublicId) => string
}

export function dumpDot(parsec: Parsec, options: DumpOptions = {}): string {
  const { graph, peers, store, election, consensusHistory } = internalsOf(parsec)
  const nameOf = options.nameOf ?? ((id: PublicId) => id.name)
  const names = peers.ids.map(nameOf)
  const text = (observation: Observation): string => observationText(observation, nameOf)
  const short = shortNames(names)
  const last = options.lastEvents
  if (last !== undefined && (!Number.isSafeInteger(last) || last < 0)) {
    throw new ParsecError('InvalidArgument', `bad event count ${last}`)
  }
  // The first event shown: 0 for the whole (replayable) graph.
  const from = last === undefined ? 0 : Math.max(0, graph.size - last)
  const shown = (index: number): boolean => index >= from
  const eventName = (event: GraphEvent): string => {
    const base = `${short.get(names[event.creator])}_${event.indexByCreator}`
    const slot = graph.slot(event.creator, event.indexByCreator)
    return slot.length > 1 ? `${base},${slot.indexOf(event.index)}` : base
  }
  const out: string[] = []
  out.push(`/// our_id: ${sanitizeId(names[0])}`)
  out.push('/// peer_list: {')
  for (let p = 0; p < peers.count; p++) {
    out.push(`///   ${sanitizeId(names[p])}: PeerState(${describeState(peers.state(p))})`)
  }
  out.push('/// }')
  out.push(`/// consensus_mode: ${parsec.consensusMode === 'single' ? 'Single' : 'Supermajority'}`)
  if (from > 0) out.push(`/// view: the last ${graph.size - from} of ${graph.size} events (not replayable)`)
  out.push('digraph GossipGraph {', '  splines=false', '  rankdir=BT', '')
  for (let p = 0; p < peers.count; p++) {
    const slots = graph.slotCount(p)
    if (slots === 0) continue
    const id = sanitizeId(names[p])
    const own: number[] = []
    for (let j = 0; j < slots; j++) own.push(...graph.slot(p, j).filter(shown))
    if (own.length === 0) continue
    own.sort((a, b) => a - b)
    out.push('  style=invis', `  subgraph cluster_${id} {`, `    label="${id}"`, `    "${id}" [style=invis]`)
    out.push(`    "${id}" -> "${eventName(graph.get(own[0]))}" [style=invis]`)
    for (const index of own) {
      const event = graph.get(index)
      if (event.selfParent >= 0 && shown(event.selfParent))
        out.push(`    "${eventName(graph.get(event.selfParent))}" -> "${eventName(event)}" [minlen=1]`)
    }
    out.push('  }')
    for (const index of own) {
      const event = graph.get(index)
      if (event.otherParent >= 0 && shown(event.otherParent)) {
        out.push(`  "${eventName(graph.get(event.otherParent))}" -> "${eventName(event)}" [constraint=false]`)
      }
    }
    out.push('')
  }
  out.push('/// ===== details of events =====')
  for (const event of graph.events) {
    if (!shown(event.index)) continue
    const name = eventName(event)
    const vote = event.observationKey >= 0 ? store.get(event.observationKey).observation : undefined
    let causeText: string
    switch (event.kind) {
      case 'initial':
        causeText = 'Initial'
        break
      case 'requesting':
        causeText = `Requesting(${sanitizeId(names[event.recipient])})`
        break
      case 'request':
        causeText = 'Request'
        break
      case 'response':
        causeText = 'Response'
        break
      case 'observation':
        causeText = `Observation(${text(vote as Observation)})`
        break
    }
    const label = vote !== undefined ? `<tr><td colspan="6">${text(vote)}</td></tr>\n` : ''
    out.push(
      `  "${name}" [fillcolor=white, label=<<table border="0" cellborder="0" cellpadding="0" cellspacing="0">`,
      `<tr><td colspan="6">${name}</td></tr>`,
      `${label}</table>>]`,
    )
    out.push(`/// cause: ${causeText}`)
    const ancestors: string[] = []
    for (let p = 0; p < event.width; p++) {
      const last = lastOf(event, p)
      if (last >= 0) ancestors.push(`${sanitizeId(names[p])}: ${last}`)
    }
    out.push(`/// last_ancestors: {${ancestors.join(', ')}}`, '')
  }
  out.push('}', '')
  out.push('/// ===== meta-elections =====', '/// consensus_history:')
  for (const key of consensusHistory) out.push(`/// ${toHex(store.get(key).hash)}`)
  out.push('')
  out.push('/// interesting_events: {')
  for (const voter of election.voters) {
    const list = election
      .interestingEventsOf(voter)
      .filter(shown)
      .map((i) => `"${eventName(graph.get(i))}"`)
    if (list.length > 0) out.push(`///   ${sanitizeId(names[voter])} -> [${list.join(', ')}]`)
  }
  out.push('/// }')
  out.push(`/// all_voters: {${election.voters.map((v) => sanitizeId(names[v])).join(', ')}}`)
  out.push('/// meta_events: {')
  for (const event of graph.events) {
    const meta = event.meta
    if (meta === null || !shown(event.index)) continue
    out.push(`///   ${eventName(event)} -> {`)
    out.push(
      `///     observees: {${meta.observer === OBSERVER ? meta.observees.map((p) => sanitizeId(names[p])).join(', ') : ''}}`,
    )
    out.push(
      `///     interesting_content: [${meta.content.map((k) => text(store.get(k).observation)).join(', ')}]`,
    )
    if (meta.votes !== null) {
      out.push('///     meta_votes: {', '///         stage est bin aux dec')
      meta.votes.forEach((list, position) => {
        const who = short.get(names[election.voters[position]]) ?? '?'
        list.forEach((vote, i) => {
          out.push(`///       ${i === 0 ? `${who}: ` : ' '.repeat(who.length + 2)}${metaVoteLine(vote)}`)
        })
      })
      out.push('///     }')
    }
    out.push('///   }')
  }
  out.push('/// }', '')
  return out.join('\n')
}
