/**
 * @parsec-section/membership: permissionless join and leave for a PARSEC section
 * (spec/MEMBERSHIP.md). A pure, deterministic state machine: agreed blocks, decisions and peers'
 * messages in; votes, messages, engine directives, peer and discovery directives, events and faults
 * out. No I/O, timers or global randomness: `now` and an RNG come in as inputs.
 */

export type { BudgetCase, BudgetView } from './budget.js'
export { addAllowed, removeAllowed } from './budget.js'
export type { MembershipConfig, RateLimit } from './defaults.js'
export { DEFAULTS, NEVER, resolveConfig } from './defaults.js'
export type { CanonicalReader, CanonicalWriter } from './encoding/canonical.js'
export { decodeCanonical, encodeCanonical } from './encoding/canonical.js'
export { sha256 } from './encoding/hash.js'
export type { PeerIdDecoder } from './encoding/peer-ids.js'
export { ed25519PeerIds, mockPeerIds, peerIdsFor } from './encoding/peer-ids.js'
export type { MembershipErrorCode } from './errors.js'
export { isMembershipError, MembershipError } from './errors.js'
export type { Admission } from './join/admission.js'
export type { CapacityView } from './join/capacity.js'
export { capacityVerdict } from './join/capacity.js'
export type { AdmissionPolicy, PolicyContext } from './join/policies.js'
export { allowlist, customPolicy, invitation, openWithWork } from './join/policies.js'
export type { WorkTicket } from './join/pow.js'
export { hasWork, leadingZeroBits, POW_PREFIX, powHash, solvePow } from './join/pow.js'
export type { JoinCheckContext } from './join/validate.js'
export {
  admissionRecordOf,
  checkJoinRequest,
  checkProofs,
  checkRecord,
  checkStanding,
  checkTicket,
} from './join/validate.js'
export { MAX_CONTACTS } from './machine/joiner.js'
export type {
  Decision,
  EngineSelfReport,
  MembershipCommand,
  MembershipInit,
  PeerState,
  ResumeInit,
  Role,
} from './machine/membership.js'
export { Membership } from './machine/membership.js'
export { addressPrefix, KeyedBuckets } from './machine/rate-limit.js'
export type {
  DiscoveryDirective,
  EngineDirective,
  EpochStart,
  FaultKind,
  LeaveReason,
  MembershipEvent,
  MembershipFault,
  OutboundMessage,
  PeerDirective,
  Step,
  Warning,
} from './machine/step.js'
export { emptyStep, mergeSteps } from './machine/step.js'
export { maxFaulty, supermajority } from './quorum.js'
export type { MembershipChange } from './state/change.js'
export { changeOf, subjectOf } from './state/change.js'
export type { GenesisRecord } from './state/genesis-record.js'
export {
  decodeGenesisRecord,
  encodeGenesisRecord,
  genesisRecord,
  sectionIdBytes,
  sectionIdOf,
} from './state/genesis-record.js'
export type {
  ChainEntry,
  FoldResult,
  FoldWarning,
  FoldWarningKind,
  MemberRecord,
} from './state/section-state.js'
export { addHashOf, type CheckpointRule, epochStartDigest, SectionState } from './state/section-state.js'
export type { VerifyChainOptions } from './state/verify-chain.js'
export { verifyChain } from './state/verify-chain.js'
export { LIMITS } from './wire/limits.js'
export type {
  Announce,
  CandidateOutcome,
  CandidateReply,
  Invitation,
  JoinInfo,
  JoinInfoRequest,
  JoinRequest,
  JoinRequestFields,
  LeaveRequest,
  MemberAddress,
  MembershipMessage,
  MessageKind,
  Ready,
  RejectReason,
} from './wire/messages.js'
export {
  DOMAINS,
  decodeChain,
  decodeMessage,
  decodeMessageOf,
  encodeChain,
  encodeMessage,
  REJECT_REASONS,
  signAnnounce,
  signInvitation,
  signJoinRequest,
  signLeaveRequest,
  signReady,
  verifyAnnounce,
  verifyInvitation,
  verifyJoinRequest,
  verifyLeaveRequest,
  verifyReady,
  WIRE_VERSION,
} from './wire/messages.js'
export type { AdmissionRecord, Checkpoint, RemoveInfo } from './wire/records.js'
export {
  decodeAdmissionRecord,
  decodeCheckpoint,
  decodeRemoveInfo,
  encodeAdmissionRecord,
  encodeCheckpoint,
  encodeRemoveInfo,
  ticketDigest,
} from './wire/records.js'
