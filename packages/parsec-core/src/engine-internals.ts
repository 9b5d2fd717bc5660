/**
 * The engine's live internals for tools inside parsec-core (DOT dump, replay, conformance tests).
 * Not exported by the package: hosts read `Parsec.view()`. Registered by the Parsec class so that
 * its fields stay private to everyone else.
 */
import type { Graph } from './graph/graph.js'
import type { MetaElection } from './meta-voting/election.js'
import type { ObservationStore } from './observations/store.js'
import type { Parsec } from './parsec.js'
import type { PeerList } from './peers/peer-list.js'

export interface EngineInternals {
  readonly graph: Graph
  readonly peers: PeerList
  readonly store: ObservationStore
  readonly election: MetaElection
  /** Decided observation keys, in order (spec §12.5). */
  readonly consensusHistory: readonly number[]
  /** Keys decided together by each decision. */
  readonly decisionSizes: readonly number[]
}

let accessor: ((parsec: Parsec) => EngineInternals) | undefined

/** Called once by the Parsec class. */
export function registerInternals(read: (parsec: Parsec) => EngineInternals): void {
  accessor = read
}

export function internalsOf(parsec: Parsec): EngineInternals {
  if (accessor === undefined) throw new Error('the Parsec class is not loaded')
  return accessor(parsec)
}
