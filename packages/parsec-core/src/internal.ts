/**
 * @parsec-section/parsec-core/internal: engine internals for the project's own tools (the seeded
 * simulation's adversarial scheduler models meta-votes). Not part of the stable API: names and
 * shapes here change without notice. (Events are signed and hashed with the public `signEvent`
 * and `packedEventHash`.)
 */

export { lastOf } from './graph/ancestry.js'
export type { GraphEvent } from './graph/graph.js'
export {
  coinPass,
  FALSE,
  MetaVote,
  NO_COIN,
  needsCoin,
  nextVotes,
  type StageView,
  TRUE,
} from './meta-voting/meta-vote.js'
