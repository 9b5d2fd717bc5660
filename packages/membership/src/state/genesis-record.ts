/**
 * The GenesisRecord (spec §3.1): the genesis group sorted, its related info and the consensus mode.
 * `sectionId = SHA-256(canonical record)` makes the section self-certifying: no bootstrap peer can
 * lie about the founders, and a restart with another group is another section. The record travels
 * in JoinInfo in the package's canonical layout; the id hashes p2p-section's existing layout.
 */

import {
  type CanonicalReader,
  type CanonicalWriter,
  decodeCanonical,
  encodeCanonical,
} from '../encoding/canonical.js'
import { sha256 } from '../encoding/hash.js'
import type { PeerIdDecoder } from '../encoding/peer-ids.js'
import { type ConsensusMode, type PublicId, sortIds, utf8 } from '../engine-exports.js'
import { MembershipError } from '../errors.js'
import { LIMITS } from '../wire/limits.js'

export const GENESIS_RECORD_VERSION = 1
const SECTION_ID_TAG = utf8('parsec-section/genesis/v1')

export interface GenesisRecord {
  readonly group: readonly PublicId[]
  readonly relatedInfo: Uint8Array
  readonly mode: ConsensusMode
}

export function genesisRecord(
  group: Iterable<PublicId>,
  relatedInfo: Uint8Array = new Uint8Array(0),
  mode: ConsensusMode = 'supermajority',
): GenesisRecord {
  const sorted = sortIds(group)
  if (sorted.length === 0)
    throw new MembershipError('InvalidArgument', 'a genesis group needs at least one peer')
  if (new Set(sorted.map((id) => id.name)).size !== sorted.length) {
    throw new MembershipError('InvalidArgument', 'a genesis group lists a peer twice')
  }
  return { group: sorted, relatedInfo, mode }
}

export function writeGenesisRecord(writer: CanonicalWriter, record: GenesisRecord): void {
  writer.u8(GENESIS_RECORD_VERSION)
  writer.list(sortIds(record.group), (w, id) => w.bytes(id.encoded))
  writer.bytes(record.relatedInfo)
  writer.u8(record.mode === 'single' ? 0 : 1)
}

export function readGenesisRecord(reader: CanonicalReader, ids: PeerIdDecoder): GenesisRecord {
  const version = reader.u8()
  if (version !== GENESIS_RECORD_VERSION) {
    throw new MembershipError('UnsupportedVersion', `genesis record version ${version}`)
  }
  const group = reader.list(LIMITS.maxGroup, 4, (r) => ids.decode(r.bytes(LIMITS.maxIdBytes, 'id')), 'group')
  const relatedInfo = reader.bytes(LIMITS.maxRelatedInfoBytes, 'related info')
  const modeByte = reader.u8()
  if (modeByte > 1) throw new MembershipError('Malformed', `consensus mode ${modeByte}`)
  const sorted = sortIds(group)
  if (
    sorted.some((id, i) => id.name !== group[i].name) ||
    new Set(group.map((id) => id.name)).size !== group.length
  ) {
    throw new MembershipError('Malformed', 'genesis group not sorted or not distinct')
  }
  if (group.length === 0) throw new MembershipError('Malformed', 'empty genesis group')
  return { group, relatedInfo, mode: modeByte === 0 ? 'single' : 'supermajority' }
}

export function encodeGenesisRecord(record: GenesisRecord): Uint8Array {
  return encodeCanonical((w) => writeGenesisRecord(w, record))
}

export function decodeGenesisRecord(bytes: Uint8Array, ids: PeerIdDecoder): GenesisRecord {
  return decodeCanonical(bytes, (r) => readGenesisRecord(r, ids))
}

/**
 * The bytes the section id hashes, the layout p2p-section's genesis files already use (so a section
 * keeps its id): `"parsec-section/genesis/v1" ‖ u32le(count) ‖ each id's encoding, sorted ‖
 * u32le(len) ‖ related info ‖ mode byte (0 single, 1 supermajority)`. Ids' encodings are
 * self-delimiting (32-byte Ed25519 keys; length-prefixed mock ids), so the layout is unambiguous.
 */
export function sectionIdBytes(record: GenesisRecord): Uint8Array {
  const group = sortIds(record.group)
  const idsLength = group.reduce((sum, id) => sum + id.encoded.length, 0)
  const out = new Uint8Array(SECTION_ID_TAG.length + 4 + idsLength + 4 + record.relatedInfo.length + 1)
  const view = new DataView(out.buffer)
  let at = 0
  out.set(SECTION_ID_TAG, at)
  at += SECTION_ID_TAG.length
  view.setUint32(at, group.length, true)
  at += 4
  for (const id of group) {
    out.set(id.encoded, at)
    at += id.encoded.length
  }
  view.setUint32(at, record.relatedInfo.length, true)
  at += 4
  out.set(record.relatedInfo, at)
  at += record.relatedInfo.length
  out[at] = record.mode === 'single' ? 0 : 1
  return out
}

/** `SHA-256(canonical GenesisRecord)`: self-certifying. */
export function sectionIdOf(record: GenesisRecord): Uint8Array {
  return sha256(sectionIdBytes(record))
}
