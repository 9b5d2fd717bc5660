/**
 * @parsec-section/parsec-core: the PARSEC consensus engine (spec v0.7.3 semantics, with the fixes
 * of spec §15 where noted). A pure, deterministic state machine: feed it votes and gossip; every
 * call that changes it returns one `Step` (message, blocks, decisions, faults, warnings, events).
 */

export { decodeBlock, encodeBlock } from './block-codec.js'
export type { BlockDescription, PeerNaming } from './block-description.js'
export { describeBlock, describeObservation, payloadText } from './block-description.js'
export type { Block, Proof } from './blocks.js'
export { isSignedBy } from './blocks.js'
export { fromHex, fromUtf8, toHex, utf8 } from './encoding/bytes.js'
export type { ParsecErrorCode } from './errors.js'
export { isParsecError, ParsecError } from './errors.js'
export type { Fault } from './faults.js'
export type { ExportedPage, Frontier, FrontierEntry, LatestEvent } from './gossip/frontier.js'
export type { Request, Response } from './gossip/messages.js'
export { decodeMessage, encodeMessage } from './gossip/messages.js'
export type { Cause, CauseKind, EventHash, PackedEvent, Vote } from './graph/event.js'
export {
  decodePackedEvent,
  encodePackedEvent,
  hasValidSignature,
  packedEventHash,
  signEvent,
} from './graph/event.js'
export { Ed25519PublicId, Ed25519SecretId, ed25519Id, ed25519Scheme } from './identity/ed25519.js'
export type { IdentityScheme, PublicId, SecretId } from './identity/identity.js'
export { MockPublicId, MockSecretId, mockId, mockScheme } from './identity/mock.js'
export { compareIds, sortIds } from './identity/order.js'
export type { Coin, CoinContext, CoinView } from './meta-voting/coin.js'
export { parityCoin } from './meta-voting/coin.js'
export type { ConcreteCoinChoice, ConcreteCoinReason } from './meta-voting/concrete-coin.js'
export {
  concreteCoin,
  explainConcreteCoin,
  leaderOrder,
  responsivenessThreshold,
  roundHash,
} from './meta-voting/concrete-coin.js'
export type { ConsensusMode } from './observations/consensus-mode.js'
export type { Malice, MaliceType } from './observations/malice.js'
export type { Observation, ObservationKind } from './observations/observation.js'
export {
  add,
  checkpoint,
  encodeObservation,
  genesis,
  observationHash,
  opaque,
  remove,
} from './observations/observation.js'
export { decodeObservation } from './observations/read.js'
export type {
  ExistingParams,
  GenesisParams,
  MaliceDetection,
  ParsecOptions,
  RestoreParams,
  Restoring,
} from './parsec.js'
export { MAX_ORPHAN_EVENTS, Parsec } from './parsec.js'
export { supermajority } from './quorum.js'
export { Rng } from './rng.js'
export type { AgreedBlock, Decision, LastAncestor, Step, Warning } from './step.js'
export { emptyStep, mergeSteps } from './step.js'
export type {
  CurrentElectionView,
  DecidedElectionView,
  MembershipVote,
  ParsecView,
  PeerView,
} from './view.js'
