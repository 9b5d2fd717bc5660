/**
 * @packageDocumentation
 *
 * A PARSEC section as a libp2p 3 service. The peers of a section (founded by its genesis group,
 * then joining and leaving) gossip directly with each other on `/parsec/<section id>/sync/1.2.0`
 * and agree on one order of blocks, tolerating fewer than a third faulty peers.
 *
 * @example
 * ```ts
 * import { createLibp2p } from 'libp2p'
 * import { parsecSection, parseGenesis } from '@parsec-section/p2p-section'
 *
 * const node = await createLibp2p({
 *   privateKey, // an Ed25519 key of a genesis member
 *   // transports, encrypters, muxers...
 *   services: { section: parsecSection({ genesis: parseGenesis(text) }) },
 * })
 * // Not a founder: `parsecSection({ join: { sectionId, bootstrap: [memberMultiaddr] } })`.
 * node.services.section.addEventListener('block', (e) => console.log(e.detail.position))
 * await node.services.section.vote(new TextEncoder().encode('hello'))
 * ```
 */

import { requirePromiseWithResolvers } from './runtime.js'
import type { ParsecSection, ParsecSectionComponents, ParsecSectionInit } from './section/api.js'
import { ParsecSectionService } from './section/section.js'

export type {
  AnnouncementContext,
  AnnouncementMessage,
  AnnouncementVerdict,
  CheckedAnnouncement,
} from './announcement.js'
export { checkAnnouncement } from './announcement.js'
export type { PeerStatus, PullProgress } from './catchup.js'
export type { DecodedSync, SyncStatus } from './codec.js'
export { decodeSync, encodeSync, encodeSyncSignal } from './codec.js'
export * as constants from './constants.js'
export type { DhtNode, DhtNodeOptions } from './dht-node.js'
export { createDhtNode } from './dht-node.js'
export { announceTopic } from './discovery.js'
export type { LeaveRefusal, LinkErrorCode, SectionErrorCode } from './errors.js'
export { isSectionError, LeaveRefusedError, SectionError } from './errors.js'
export type { FindMembersComponents, FindMembersOptions } from './find-members.js'
export { findMembers } from './find-members.js'
export type { GenesisFile, GenesisMember, SectionGenesis } from './genesis.js'
export { createGenesis, genesisToFile, parseGenesis } from './genesis.js'
export { parsePeerId, peerIdFromPublicId, publicIdFromPeerId, secretIdFromPrivateKey } from './identity.js'
export { openLevelDatastore, PEER_WRITE_BUFFER_BYTES, PeerLevelDatastore } from './level-datastore.js'
export type { BanListener } from './limits/peer-bans.js'
export { BANNED_GOSSIP_SCORE, combineGaters, FOREVER, PeerBans } from './limits/peer-bans.js'
export type { IpHost, NetworkPrefixes } from './limits/source-network.js'
export { parseIp, SOURCE_NETWORK_PREFIXES, sourceNetwork } from './limits/source-network.js'
export type { RateLimit, RateLimitedSource, RateVerdict, SourceRateLimits } from './limits/source-rate.js'
export { SourceRateLimiter } from './limits/source-rate.js'
export type { GuardVerdict, ShedCounts, StreamGuardOptions } from './limits/stream-guard.js'
export { StreamGuard } from './limits/stream-guard.js'
export type { TokenBucketOptions } from './limits/token-bucket.js'
export { TokenBuckets } from './limits/token-bucket.js'
export type { SectionNodeOptions } from './node.js'
export { createSectionNode } from './node.js'
export type {
  CatchUpStatus,
  DeliveredBlock,
  DeliveredTransaction,
  FaultEvidence,
  GossipReceived,
  JoinRejected,
  MemberChange,
  MemberLeft,
  MembershipStatus,
  MessageFaultCode,
  ParsecSection,
  ParsecSectionComponents,
  ParsecSectionEvents,
  ParsecSectionInit,
  SectionFault,
  SectionFaultCode,
  SectionJoin,
  SectionLinkError,
  SectionState,
  SectionStatus,
  SelfState,
  SnapshotHook,
  SnapshotInstalled,
  SnapshotStatus,
} from './section/api.js'
export { CATCH_UP_TAG, KEEP_ALIVE_TAG } from './section/peer-tags.js'
export { ParsecSectionService } from './section/section.js'
export { findSectionPeers, provideSection, sectionCid, sharedDht } from './shared-dht.js'
export type { AgreedDigest, DigestAnswer } from './snapshot-quorum.js'
export { agreedDigest } from './snapshot-quorum.js'
export { sectionTcp } from './tcp-transport.js'
export type { BatchDecodeErrorCode, DecodedBatch } from './transactions/batch-codec.js'
export {
  BATCH_MAGIC,
  BATCH_VERSION,
  BatchDecodeError,
  decodeBatch,
  encodeBatch,
  isBatch,
} from './transactions/batch-codec.js'
export type { BatcherOptions } from './transactions/batcher.js'
export { maxTransactionBytes, TxBatcher } from './transactions/batcher.js'

/** The service factory, in the js-libp2p style: `services: { section: parsecSection(init) }`. */
export function parsecSection(
  init: ParsecSectionInit,
): (components: ParsecSectionComponents) => ParsecSection {
  requirePromiseWithResolvers()
  return (components) => new ParsecSectionService(components, init)
}
