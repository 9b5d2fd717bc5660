/**
 * The records membership puts inside agreed observations. Their encodings are canonical, so every
 * member that votes the same change builds byte-identical `relatedInfo`, hence one engine key
 * (Supermajority mode needs identical payloads).
 */

import {
  type CanonicalReader,
  type CanonicalWriter,
  decodeCanonical,
  encodeCanonical,
} from '../encoding/canonical.js'
import { sha256 } from '../encoding/hash.js'
import type { PeerIdDecoder } from '../encoding/peer-ids.js'
import type { PublicId } from '../engine-exports.js'
import { MembershipError } from '../errors.js'
import { LIMITS } from './limits.js'

export const RECORD_VERSION = 1

/** What `Add.relatedInfo` holds (spec §3.4): the admitted ticket, minus signature and PoW nonce. */
export interface AdmissionRecord {
  readonly sectionId: Uint8Array
  readonly peer: PublicId
  readonly addrs: readonly string[]
  /** The membership head the ticket was bound to. */
  readonly head: Uint8Array
  readonly nonce: Uint8Array
  /** The member whose invitation admitted the peer (invitation policy), so quotas are agreed. */
  readonly inviter?: PublicId
}

export function writeAddrs(writer: CanonicalWriter, addrs: readonly string[]): void {
  writer.list(addrs, (w, addr) => w.string(addr))
}

export function readAddrs(reader: CanonicalReader): string[] {
  return reader.list(LIMITS.maxAddrs, 4, (r) => r.string(LIMITS.maxAddrBytes, 'addr'), 'addrs')
}

export function readId(reader: CanonicalReader, ids: PeerIdDecoder): PublicId {
  return ids.decode(reader.bytes(LIMITS.maxIdBytes, 'id'))
}

function readVersion(reader: CanonicalReader, what: string): void {
  const version = reader.u8()
  if (version !== RECORD_VERSION)
    throw new MembershipError('UnsupportedVersion', `${what} version ${version}`)
}

export function encodeAdmissionRecord(record: AdmissionRecord): Uint8Array {
  return encodeCanonical((w) => {
    w.u8(RECORD_VERSION).bytes(record.sectionId).bytes(record.peer.encoded)
    writeAddrs(w, record.addrs)
    w.bytes(record.head)
      .bytes(record.nonce)
      .bool(record.inviter !== undefined)
    if (record.inviter !== undefined) w.bytes(record.inviter.encoded)
  })
}

export function decodeAdmissionRecord(bytes: Uint8Array, ids: PeerIdDecoder): AdmissionRecord {
  return decodeCanonical(bytes, (r) => {
    readVersion(r, 'admission record')
    const sectionId = r.bytes(LIMITS.maxHashBytes, 'section id')
    const peer = readId(r, ids)
    const addrs = readAddrs(r)
    const head = r.bytes(LIMITS.maxHashBytes, 'head')
    const nonce = r.bytes(LIMITS.maxNonceBytes, 'nonce')
    const inviter = r.bool() ? readId(r, ids) : undefined
    return inviter === undefined
      ? { sectionId, peer, addrs, head, nonce }
      : { sectionId, peer, addrs, head, nonce, inviter }
  })
}

/** The digest a candidate's Ready names: the hash of its admission record. */
export function ticketDigest(record: AdmissionRecord): Uint8Array {
  return sha256(encodeAdmissionRecord(record))
}

/** What `Remove.relatedInfo` holds (spec §4): unique per incarnation and per round. */
export interface RemoveInfo {
  readonly addHash: Uint8Array
  readonly round: number
}

export function encodeRemoveInfo(info: RemoveInfo): Uint8Array {
  return encodeCanonical((w) => w.u8(RECORD_VERSION).bytes(info.addHash).u64(info.round))
}

export function decodeRemoveInfo(bytes: Uint8Array): RemoveInfo {
  return decodeCanonical(bytes, (r) => {
    readVersion(r, 'remove info')
    return { addHash: r.bytes(LIMITS.maxHashBytes, 'add hash'), round: r.u64() }
  })
}

/**
 * What a Checkpoint observation carries (docs/epochs.md §1): epoch `epoch` ends with the blocks
 * agreed up to `position` (exclusive: the first `position` blocks), whose chained history digest
 * and SectionState hash it names. Every honest member builds the same bytes from the agreed
 * sequence alone, so the Supermajority key is one.
 */
export interface Checkpoint {
  readonly epoch: number
  /** Agreed blocks before the checkpoint: `historyDigest(position)`. */
  readonly position: number
  readonly historyDigest: Uint8Array
  /** `SectionState.hash()` with `position` blocks folded. */
  readonly sectionStateHash: Uint8Array
}

export function encodeCheckpoint(checkpoint: Checkpoint): Uint8Array {
  return encodeCanonical((w) =>
    w
      .u8(RECORD_VERSION)
      .u64(checkpoint.epoch)
      .u64(checkpoint.position)
      .bytes(checkpoint.historyDigest)
      .bytes(checkpoint.sectionStateHash),
  )
}

export function decodeCheckpoint(bytes: Uint8Array): Checkpoint {
  return decodeCanonical(bytes, (r) => {
    readVersion(r, 'checkpoint')
    return {
      epoch: r.u64(),
      position: r.u64(),
      historyDigest: r.bytes(LIMITS.maxHashBytes, 'history digest'),
      sectionStateHash: r.bytes(LIMITS.maxHashBytes, 'section state hash'),
    }
  })
}
