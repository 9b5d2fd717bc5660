/**
 * Reads the real engines into the adversary's `VoteModel` for one voter-under-vote: each peer's
 * own chain from its own graph, with the meta-votes its engine computed and the latest event of
 * every other peer each of its events sees. Read-only: it only inspects the engines.
 */
import { mockId, type PackedEvent, type Parsec, packedEventHash } from '@parsec-section/parsec-core'
import { lastOf } from '@parsec-section/parsec-core/internal'
import { type ModelCoin, type ModelEvent, parityModelCoin, type VoteList, VoteModel } from './vote-model.js'

/** The model of `voter`'s binary agreement among `peers` (model order), from their engines. */
export function mirrorVotes(
  engines: (name: string) => Parsec,
  peers: readonly string[],
  voter: string,
  coin: ModelCoin = parityModelCoin,
): VoteModel {
  return VoteModel.of(
    peers,
    peers.map((name) => chainOf(engines(name), peers, voter)),
    coin,
  )
}

function chainOf(engine: Parsec, peers: readonly string[], voter: string): ModelEvent[] {
  const { graph, peers: list, election } = engine.inspect()
  const local = peers.map((name) => list.indexOf(mockId(name)) ?? -1)
  const voterIndex = list.indexOf(mockId(voter))
  const position = voterIndex === undefined ? undefined : election.positionOf(voterIndex)
  const chain: ModelEvent[] = []
  for (let j = 0; j < graph.slotCount(0); j++) {
    const event = graph.get(graph.firstInSlot(0, j))
    const votes: VoteList = position === undefined ? null : (event.meta?.votes?.[position] ?? null)
    const view = new Int32Array(peers.length)
    for (let w = 0; w < peers.length; w++) {
      const i = local[w]
      view[w] = i >= 0 ? lastOf(event, i) : -1
    }
    chain.push({ votes, view })
  }
  return chain
}

/** The index (in its creator's chain) of the event a message ends with, as the sender's engine knows it. */
export function lastEventIndex(sender: Parsec, events: readonly PackedEvent[]): number | undefined {
  const last = events[events.length - 1]
  if (last === undefined) return undefined
  const { graph } = sender.inspect()
  const index = graph.indexOf(packedEventHash(last))
  if (index === undefined) return undefined
  const event = graph.get(index)
  return event.creator === 0 ? event.indexByCreator : undefined
}
