/**
 * The RFC's concrete coin (RFC 0049 "gradient leadership based concrete coin", spec §16), behind
 * the engine's `Coin` interface. The reference v0.7.3 never implemented it (spec §14 item 1).
 *
 * The value for (election, voter under vote v, round r), at an event E of creator c whose
 * meta-vote about v leaves step 2 (genuine flip) of round r without a supermajority of agreeing
 * aux values (spec §16.1):
 *
 * 1. Leadership order (§16.2): `roundHash = H(H(id of v) ‖ OH(last consensused observation, or the
 *    genesis observation before the first decision) ‖ H(r as u64 little-endian))`; the current
 *    voters sorted by the xor distance of `H(their id)` to `roundHash` (big-endian), nearest
 *    first: the first is the most leader. H = SHA3-256, ids hashed in their bincode form.
 * 2. Source (§16.3): a peer's *aux event* is its earliest event carrying its step-2 aux value of
 *    round r about v (an entry at that step with aux set, or decided). If E sees the leader's aux
 *    event, that is the source. Otherwise c waits (the toss is undefined and the meta-vote stays
 *    in step 2, spec §6.7) until it has created `ceil(log2 N)` events of cause Response since its
 *    own aux event (since it reached that step, if it never cast an aux value there); from then
 *    on the source is the aux event of the highest-ranked peer whose aux event E sees.
 * 3. Value (§16.4): the least significant bit of the source event's hash (its last byte).
 *
 * Everything read is agreed (voters, decisions, the genesis) or part of E's ancestry, whose
 * meta-votes every peer computes alike, so every peer derives the same value at the same event:
 * the coin keeps the engine deterministic. "Sees" is the graph's fork-aware relation (spec §4.3):
 * a peer E knows to have forked counts as unseen.
 *
 * What it guarantees (§16.5): the coin is common (every honest creator gets the same value for
 * (v, r)) whenever the most leader peer is honest and its aux event reaches the others within
 * the threshold, which the RFC argues is so in more than two thirds of the rounds; and nobody can
 * predict it before the previous decision exists, since the order depends on that decision.
 *
 * What it does not guarantee: it is not a cryptographic common coin. A Byzantine leader can choose
 * among events it could create (grind their hashes) to pick its rounds' values, and an adversary
 * that delays the leader's aux event past the threshold splits the coin for that round (some
 * creators use the leader's value, others a fallback). Termination is then probabilistic, the
 * number of rounds geometric in the fraction of rounds whose coin is common. The first election
 * (the one that decides the genesis block) hashes the genesis observation, which every member
 * knows in advance, so its order is predictable. A threshold-signature coin (BLS, after a
 * distributed key generation among the voters) removes the grinding and is the stronger design.
 *
 * Engine specifics: a sole voter's elections are decided without meta-votes (spec §6.8 rule 1), so
 * its coin is just E's hash bit; if a voter's id cannot be resolved (only possible before the
 * genesis block is decided, without a unique genesis vote in the store) the parity value is used.
 */
import { sha3 } from '../encoding/hash.js'
import { isDescendant, seenLast } from '../graph/ancestry.js'
import type { GraphEvent } from '../graph/graph.js'
import type { PublicId } from '../identity/identity.js'
import { compareIds } from '../identity/order.js'
import type { Coin, CoinContext, CoinView } from './coin.js'
import { type MetaVote, STEP_GENUINE_FLIP } from './meta-vote.js'

/** How the concrete coin chose (or did not yet choose) its value at an event. */
export type ConcreteCoinReason =
  /** The source is the leader's aux event. */
  | 'leader'
  /** Past the responsiveness threshold without the leader's: the highest-ranked seen aux event. */
  | 'fallback'
  /** The leader's aux event is not seen and the threshold is not reached: no value yet. */
  | 'waiting'
  /** Past the threshold and no aux event seen at all (cannot happen on leaving step 2): E's hash. */
  | 'unseen'
  /** A single voter: E's hash. */
  | 'sole-voter'
  /** Some voter's id is unknown: the parity value. */
  | 'unranked'

export interface ConcreteCoinChoice {
  readonly value: boolean | undefined
  readonly reason: ConcreteCoinReason
  /** The event whose hash gives the value. */
  readonly source?: GraphEvent
  /** The leadership order (local peer indices, most leader first), when it could be computed. */
  readonly order?: readonly number[]
}

/** `ceil(log2 N)` (0 for N ≤ 1): Response events a creator waits for the leader's aux value. */
export function responsivenessThreshold(n: number): number {
  return n <= 1 ? 0 : 32 - Math.clz32(n - 1)
}

/** `H(H(voter id) ‖ lastConsensused ‖ H(round))` of spec §16.2 (round as a u64, little-endian). */
export function roundHash(voter: PublicId, lastConsensused: Uint8Array, round: number): Uint8Array {
  const roundBytes = new Uint8Array(8)
  new DataView(roundBytes.buffer).setBigUint64(0, BigInt(round), true)
  const input = new Uint8Array(96)
  input.set(sha3(voter.encoded), 0)
  input.set(lastConsensused.subarray(0, 32), 32)
  input.set(sha3(roundBytes), 64)
  return sha3(input)
}

/**
 * The positions in `ids` sorted by the xor distance of `H(id)` to `hash`, nearest (most leader)
 * first; the distance is compared as a big-endian number, ties (equal ids) by id order.
 */
export function leaderOrder(ids: readonly PublicId[], hash: Uint8Array): number[] {
  const distances = ids.map((id) => {
    const h = sha3(id.encoded)
    const d = new Uint8Array(h.length)
    for (let i = 0; i < h.length; i++) d[i] = h[i] ^ hash[i]
    return d
  })
  return ids
    .map((_, i) => i)
    .sort((a, b) => {
      const da = distances[a]
      const db = distances[b]
      for (let i = 0; i < da.length; i++) if (da[i] !== db[i]) return da[i] - db[i]
      return compareIds(ids[a], ids[b])
    })
}

/** The least significant bit of a hash read as a big-endian number. */
export function hashBit(hash: Uint8Array): boolean {
  return (hash[hash.length - 1] & 1) === 1
}

/** The leadership order of (voter, round) as local peer indices, cached for the election. */
function orderOf(view: CoinView, voter: number, round: number): readonly number[] | undefined {
  const last = view.lastConsensused
  // The last decision is in the key: before the first one it is the genesis vote, once known.
  const key = `order:${voter}:${round}:${last[0]}:${last[1]}:${last[2]}:${last[3]}`
  const cached = view.memo.get(key) as readonly number[] | undefined
  if (cached !== undefined) return cached
  const voterId = view.peerId(voter)
  if (voterId === undefined) return undefined
  const ids: PublicId[] = []
  for (const peer of view.voters) {
    const id = view.peerId(peer)
    if (id === undefined) return undefined
    ids.push(id)
  }
  const order = leaderOrder(ids, roundHash(voterId, last, round)).map((i) => view.voters[i])
  view.memo.set(key, order)
  return order
}

/** The meta-votes about the voter at `position` that `x` holds (`votes` for the event itself). */
function listAt(x: GraphEvent, event: GraphEvent, votes: readonly MetaVote[], position: number) {
  return x === event ? votes : x.meta?.votes?.[position]
}

/**
 * The aux event of `peer` about the voter at `position` for `stage` (round * 3 + 2) that `event`
 * sees, if any: the earliest event of `peer`'s chain carrying its aux value at that stage. Along a
 * chain the entries carrying it form one run (set once, kept until the list ends at an earlier
 * decided entry), so the walk skips the later decided-short lists, then walks the run back.
 */
function auxEvent(
  view: CoinView,
  event: GraphEvent,
  votes: readonly MetaVote[],
  peer: number,
  position: number,
  stage: number,
): GraphEvent | undefined {
  const graph = view.graph
  const events = graph.events
  const forked = graph.hasForks(peer)
  const key = `aux:${peer}:${position}:${stage}`
  let x: GraphEvent | undefined
  if (peer === event.creator) {
    x = event
  } else {
    const j = seenLast(event, peer, graph.forkBlind)
    if (j < 0) return undefined
    // The event of that slot `event` descends from (the slot holds more only if the peer forked).
    const slot = graph.slot(peer, j)
    x = events[slot[0]]
    for (let k = 1; k < slot.length && !isDescendant(event, x); k++) x = events[slot[k]]
  }
  if (!forked) {
    // The earliest aux event of an unforked chain is one event: seen iff an ancestor. (Were the
    // peer forked in `event`'s past, our graph would hold both sides and `forked` would be true.)
    const known = view.memo.get(key) as GraphEvent | undefined
    if (known !== undefined) return isDescendant(event, known) ? known : undefined
  }
  let found: GraphEvent | undefined
  while (x !== undefined) {
    if (x.isSync) {
      const list = listAt(x, event, votes, position)
      if (list == null) break
      const entry = list[stage]
      if (entry === undefined) {
        // Past the run: the list ends at a decided entry before this stage.
        if (found !== undefined || !list[list.length - 1]?.decided) break
      } else if (entry.aux !== 0 || entry.decided !== 0) {
        found = x
      } else {
        break
      }
    }
    x = x.selfParent >= 0 ? events[x.selfParent] : undefined
  }
  if (found !== undefined && !forked) view.memo.set(key, found)
  return found
}

/** The concrete coin's choice at an event, with the reason and source (for tests and tools). */
export function explainConcreteCoin(context: CoinContext): ConcreteCoinChoice {
  const view = context.election
  const graph = view.graph
  const event = graph.get(context.eventIndex)
  const n = view.voters.length
  const position = view.positionOf(context.voter)
  const round = context.flipRound
  const bit = (source: GraphEvent) => hashBit(graph.hash(source.index))
  if (n <= 1) return { value: bit(event), reason: 'sole-voter', source: event }
  const order = position === undefined || round < 0 ? undefined : orderOf(view, context.voter, round)
  if (order === undefined || position === undefined) {
    return { value: context.round % 2 === 1, reason: 'unranked' }
  }
  const stage = round * 3 + STEP_GENUINE_FLIP
  const votes = context.votes
  const leader = auxEvent(view, event, votes, order[0], position, stage)
  if (leader !== undefined) return { value: bit(leader), reason: 'leader', source: leader, order }
  if (responsesSince(graph.events, event, votes, position, stage) < responsivenessThreshold(n)) {
    return { value: undefined, reason: 'waiting', order }
  }
  for (let i = 1; i < order.length; i++) {
    const source = auxEvent(view, event, votes, order[i], position, stage)
    if (source !== undefined) return { value: bit(source), reason: 'fallback', source, order }
  }
  return { value: bit(event), reason: 'unseen', source: event, order }
}

/**
 * Response events `event`'s creator made after its own aux event at `stage` (after the first of
 * its events at that stage if it never set an aux value there), up to and including `event`.
 */
function responsesSince(
  events: readonly GraphEvent[],
  event: GraphEvent,
  votes: readonly MetaVote[],
  position: number,
  stage: number,
): number {
  let after = 0
  let sinceAux = -1
  let sinceReached = -1
  let x: GraphEvent | undefined = event
  while (x !== undefined) {
    if (x.isSync) {
      const entry = listAt(x, event, votes, position)?.[stage]
      if (entry === undefined) break
      sinceReached = after
      if (entry.aux !== 0 || entry.decided !== 0) sinceAux = after
    }
    if (x.kind === 'response') after++
    x = x.selfParent >= 0 ? events[x.selfParent] : undefined
  }
  return sinceAux >= 0 ? sinceAux : Math.max(sinceReached, 0)
}

/** The RFC's gradient-leadership coin (spec §16); see the file header for what it guarantees. */
export const concreteCoin: Coin = {
  name: 'concrete',
  toss: (context) => explainConcreteCoin(context).value,
}
