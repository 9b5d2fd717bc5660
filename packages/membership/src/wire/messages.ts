/**
 * The membership wire messages (spec §3, §4) as typed objects with one canonical, versioned,
 * length-prefixed codec. Decoding checks sizes before anything is allocated and ends every
 * malformed input in a typed `MembershipError`. Signed messages sign `domain ‖ body`, each with its
 * own domain prefix, so a signature over one kind can never pass as another.
 */

import {
  type CanonicalReader,
  type CanonicalWriter,
  decodeCanonical,
  encodeCanonical,
} from '../encoding/canonical.js'
import type { PeerIdDecoder } from '../encoding/peer-ids.js'
import { type PublicId, type SecretId, utf8 } from '../engine-exports.js'
import { MembershipError } from '../errors.js'
import type { MembershipChange } from '../state/change.js'
import { type GenesisRecord, readGenesisRecord, writeGenesisRecord } from '../state/genesis-record.js'
import type { ChainEntry } from '../state/section-state.js'
import { LIMITS } from './limits.js'
import { readAddrs, readId, writeAddrs } from './records.js'

export const WIRE_VERSION = 1

export const DOMAINS = {
  join: utf8('parsec-section/join/v1'),
  ready: utf8('parsec-section/ready/v1'),
  leave: utf8('parsec-section/leave/v1'),
  invite: utf8('parsec-section/invite/v1'),
  announce: utf8('parsec-section/announce/v1'),
} as const

/** Why a member refuses or holds back a join request. */
export const REJECT_REASONS = [
  'Malformed',
  'UnsupportedVersion',
  'WrongSection',
  'PeerMismatch',
  'RateLimited',
  'BadSignature',
  'InsufficientWork',
  'StaleTicket',
  'AlreadyMember',
  'Banned',
  'Resurrection',
  'RejoinCooldown',
  'NotAllowed',
  'BadInvitation',
  'InvitationQuota',
  'PolicyRejected',
  'SectionFull',
  'TooManyCandidates',
  'YoungCap',
  'TooSoon',
  'Budget',
  'NotAMember',
] as const
export type RejectReason = (typeof REJECT_REASONS)[number]

export interface JoinInfoRequest {
  readonly kind: 'joinInfoRequest'
  readonly sectionId: Uint8Array
}

export interface MemberAddress {
  readonly peer: PublicId
  readonly addrs: readonly string[]
}

export interface JoinInfo {
  readonly kind: 'joinInfo'
  readonly sectionId: Uint8Array
  readonly record: GenesisRecord
  readonly chain: readonly ChainEntry[]
  readonly members: readonly MemberAddress[]
  /** The work the section asks for (0 under policies that need none). */
  readonly powBits: number
  /** The server's count of agreed blocks: how far a candidate must replay before Ready. */
  readonly agreedBlocks: number
}

/** A member's invitation (invitation policy): signed by the inviter for one invitee. */
export interface Invitation {
  readonly sectionId: Uint8Array
  readonly inviter: PublicId
  readonly invitee: PublicId
  readonly serial: number
  readonly signature: Uint8Array
}

export interface JoinRequestFields {
  readonly sectionId: Uint8Array
  readonly peer: PublicId
  readonly addrs: readonly string[]
  readonly head: Uint8Array
  readonly nonce: Uint8Array
  readonly powNonce: number
  readonly invitation?: Invitation
}

export interface JoinRequest extends JoinRequestFields {
  readonly kind: 'joinRequest'
  readonly signature: Uint8Array
}

export type CandidateOutcome =
  | { readonly kind: 'admit'; readonly agreedBlocks: number }
  | { readonly kind: 'reject'; readonly reason: RejectReason; readonly retryAfterMs: number }
  | { readonly kind: 'defer'; readonly reason: RejectReason; readonly retryAfterMs: number }

export interface CandidateReply {
  readonly kind: 'candidateReply'
  readonly sectionId: Uint8Array
  readonly ticketDigest: Uint8Array
  readonly outcome: CandidateOutcome
}

export interface ReadyFields {
  readonly sectionId: Uint8Array
  readonly peer: PublicId
  readonly ticketDigest: Uint8Array
  /** The candidate replayed `k` agreed blocks... */
  readonly k: number
  /** ...whose history digest is this. */
  readonly historyDigest: Uint8Array
}

export interface Ready extends ReadyFields {
  readonly kind: 'ready'
  readonly signature: Uint8Array
}

export interface LeaveFields {
  readonly sectionId: Uint8Array
  readonly peer: PublicId
  readonly addHash: Uint8Array
}

export interface LeaveRequest extends LeaveFields {
  readonly kind: 'leaveRequest'
  readonly signature: Uint8Array
}

export interface AnnounceFields {
  readonly sectionId: Uint8Array
  readonly peer: PublicId
  readonly addrs: readonly string[]
  readonly seq: number
  readonly head: Uint8Array
}

export interface Announce extends AnnounceFields {
  readonly kind: 'announce'
  readonly signature: Uint8Array
}

export type MembershipMessage =
  | JoinInfoRequest
  | JoinInfo
  | JoinRequest
  | CandidateReply
  | Ready
  | LeaveRequest
  | Announce

export type MessageKind = MembershipMessage['kind']

const KIND_CODES: Record<MessageKind, number> = {
  joinInfoRequest: 1,
  joinInfo: 2,
  joinRequest: 3,
  candidateReply: 4,
  ready: 5,
  leaveRequest: 6,
  announce: 7,
}
/** Message kinds by their wire byte (the second byte of every message). */
export const KIND_NAMES: ReadonlyMap<number, MessageKind> = new Map(
  Object.entries(KIND_CODES).map(([kind, code]) => [code, kind as MessageKind]),
)

// --- signed bodies ---------------------------------------------------------------------------

function writeInvitationBody(w: CanonicalWriter, inv: Omit<Invitation, 'signature'>): void {
  w.bytes(inv.sectionId).bytes(inv.inviter.encoded).bytes(inv.invitee.encoded).u32(inv.serial)
}

function writeInvitation(w: CanonicalWriter, inv: Invitation): void {
  writeInvitationBody(w, inv)
  w.bytes(inv.signature)
}

function readInvitation(r: CanonicalReader, ids: PeerIdDecoder): Invitation {
  return {
    sectionId: r.bytes(LIMITS.maxHashBytes, 'section id'),
    inviter: readId(r, ids),
    invitee: readId(r, ids),
    serial: r.u32(),
    signature: r.bytes(LIMITS.maxSignatureBytes, 'signature'),
  }
}

function writeJoinBody(w: CanonicalWriter, f: JoinRequestFields): void {
  w.u8(WIRE_VERSION).bytes(f.sectionId).bytes(f.peer.encoded)
  writeAddrs(w, f.addrs)
  w.bytes(f.head)
    .bytes(f.nonce)
    .u64(f.powNonce)
    .bool(f.invitation !== undefined)
  if (f.invitation !== undefined) writeInvitation(w, f.invitation)
}

const signed = (domain: Uint8Array, write: (w: CanonicalWriter) => void) =>
  encodeCanonical((w) => {
    w.raw(domain)
    write(w)
  })

export function joinRequestSigningBytes(fields: JoinRequestFields): Uint8Array {
  return signed(DOMAINS.join, (w) => writeJoinBody(w, fields))
}

export function signJoinRequest(secret: SecretId, fields: Omit<JoinRequestFields, 'peer'>): JoinRequest {
  const full: JoinRequestFields = { ...fields, peer: secret.publicId }
  return { kind: 'joinRequest', ...full, signature: secret.sign(joinRequestSigningBytes(full)) }
}

export function verifyJoinRequest(request: JoinRequest): boolean {
  return request.peer.verify(request.signature, joinRequestSigningBytes(request))
}

export function invitationSigningBytes(inv: Omit<Invitation, 'signature'>): Uint8Array {
  return signed(DOMAINS.invite, (w) => writeInvitationBody(w, inv))
}

export function signInvitation(
  inviter: SecretId,
  fields: Omit<Invitation, 'signature' | 'inviter'>,
): Invitation {
  const body = { ...fields, inviter: inviter.publicId }
  return { ...body, signature: inviter.sign(invitationSigningBytes(body)) }
}

export function verifyInvitation(inv: Invitation): boolean {
  return inv.inviter.verify(inv.signature, invitationSigningBytes(inv))
}

function writeReadyBody(w: CanonicalWriter, f: ReadyFields): void {
  w.u8(WIRE_VERSION)
    .bytes(f.sectionId)
    .bytes(f.peer.encoded)
    .bytes(f.ticketDigest)
    .u64(f.k)
    .bytes(f.historyDigest)
}

export function signReady(secret: SecretId, fields: Omit<ReadyFields, 'peer'>): Ready {
  const full: ReadyFields = { ...fields, peer: secret.publicId }
  return {
    kind: 'ready',
    ...full,
    signature: secret.sign(signed(DOMAINS.ready, (w) => writeReadyBody(w, full))),
  }
}

export function verifyReady(ready: Ready): boolean {
  return ready.peer.verify(
    ready.signature,
    signed(DOMAINS.ready, (w) => writeReadyBody(w, ready)),
  )
}

function writeLeaveBody(w: CanonicalWriter, f: LeaveFields): void {
  w.u8(WIRE_VERSION).bytes(f.sectionId).bytes(f.peer.encoded).bytes(f.addHash)
}

export function signLeaveRequest(secret: SecretId, fields: Omit<LeaveFields, 'peer'>): LeaveRequest {
  const full: LeaveFields = { ...fields, peer: secret.publicId }
  return {
    kind: 'leaveRequest',
    ...full,
    signature: secret.sign(signed(DOMAINS.leave, (w) => writeLeaveBody(w, full))),
  }
}

export function verifyLeaveRequest(leave: LeaveRequest): boolean {
  return leave.peer.verify(
    leave.signature,
    signed(DOMAINS.leave, (w) => writeLeaveBody(w, leave)),
  )
}

function writeAnnounceBody(w: CanonicalWriter, f: AnnounceFields): void {
  w.u8(WIRE_VERSION).bytes(f.sectionId).bytes(f.peer.encoded)
  writeAddrs(w, f.addrs)
  w.u64(f.seq).bytes(f.head)
}

export function signAnnounce(secret: SecretId, fields: Omit<AnnounceFields, 'peer'>): Announce {
  const full: AnnounceFields = { ...fields, peer: secret.publicId }
  return {
    kind: 'announce',
    ...full,
    signature: secret.sign(signed(DOMAINS.announce, (w) => writeAnnounceBody(w, full))),
  }
}

export function verifyAnnounce(announce: Announce): boolean {
  return announce.peer.verify(
    announce.signature,
    signed(DOMAINS.announce, (w) => writeAnnounceBody(w, announce)),
  )
}

// --- chain entries -----------------------------------------------------------------------------

const CHANGE_CODES = { genesis: 0, add: 1, remove: 2, accusation: 3, checkpoint: 4 } as const

function writeChange(w: CanonicalWriter, change: MembershipChange): void {
  w.u8(CHANGE_CODES[change.kind])
  switch (change.kind) {
    case 'genesis':
      w.list(change.group, (w2, id) => w2.bytes(id.encoded)).bytes(change.relatedInfo)
      return
    case 'add':
    case 'remove':
      w.bytes(change.peer.encoded).bytes(change.relatedInfo)
      return
    case 'accusation':
      w.bytes(change.offender.encoded)
      return
    case 'checkpoint':
      w.bytes(change.payload)
      return
  }
}

function readChange(r: CanonicalReader, ids: PeerIdDecoder): MembershipChange {
  const code = r.u8()
  switch (code) {
    case 0: {
      const group = r.list(LIMITS.maxGroup, 4, (r2) => readId(r2, ids), 'group')
      return { kind: 'genesis', group, relatedInfo: r.bytes(LIMITS.maxRelatedInfoBytes, 'related info') }
    }
    case 1:
    case 2: {
      const peer = readId(r, ids)
      const relatedInfo = r.bytes(LIMITS.maxRelatedInfoBytes, 'related info')
      return { kind: code === 1 ? 'add' : 'remove', peer, relatedInfo }
    }
    case 3:
      return { kind: 'accusation', offender: readId(r, ids) }
    case 4:
      return { kind: 'checkpoint', payload: r.bytes(LIMITS.maxRelatedInfoBytes, 'checkpoint') }
    default:
      throw new MembershipError('Malformed', `membership change kind ${code}`)
  }
}

export function writeChainEntry(w: CanonicalWriter, entry: ChainEntry): void {
  writeChange(w, entry.change)
  w.bytes(entry.observation)
  w.list(entry.proofs, (w2, p) => w2.bytes(p.publicId.encoded).bytes(p.signature))
  w.u64(entry.position).u8(entry.batchedWithPrevious === undefined ? 2 : entry.batchedWithPrevious ? 1 : 0)
}

export function readChainEntry(r: CanonicalReader, ids: PeerIdDecoder): ChainEntry {
  const change = readChange(r, ids)
  const observation = r.bytes(LIMITS.maxObservationBytes, 'observation')
  const proofs = r.list(
    LIMITS.maxProofs,
    8,
    (r2) => ({ publicId: readId(r2, ids), signature: r2.bytes(LIMITS.maxSignatureBytes, 'signature') }),
    'proofs',
  )
  const position = r.u64()
  const batched = r.u8()
  if (batched > 2) throw new MembershipError('Malformed', `batched flag ${batched}`)
  const base = { change, observation, proofs, position }
  return batched === 2 ? base : { ...base, batchedWithPrevious: batched === 1 }
}

/** A membership chain as a host stores it (at an epoch switch, docs/epochs.md §5). */
export function encodeChain(chain: readonly ChainEntry[]): Uint8Array {
  return encodeCanonical((w) => w.u8(WIRE_VERSION).list(chain, writeChainEntry))
}

/** A stored chain; `Malformed` for bytes that are none (verify it as any chain before use). */
export function decodeChain(bytes: Uint8Array, ids: PeerIdDecoder): ChainEntry[] {
  return decodeCanonical(bytes, (r) => {
    const version = r.u8()
    if (version !== WIRE_VERSION) throw new MembershipError('Malformed', `chain version ${version}`)
    return r.list(LIMITS.maxChainEntries, 16, (r2) => readChainEntry(r2, ids), 'chain')
  })
}

// --- messages ----------------------------------------------------------------------------------

function writeBody(w: CanonicalWriter, message: MembershipMessage): void {
  switch (message.kind) {
    case 'joinInfoRequest':
      w.bytes(message.sectionId)
      return
    case 'joinInfo':
      w.bytes(message.sectionId)
      writeGenesisRecord(w, message.record)
      w.list(message.chain, writeChainEntry)
      w.list(message.members, (w2, m) => {
        w2.bytes(m.peer.encoded)
        writeAddrs(w2, m.addrs)
      })
      w.u8(message.powBits).u64(message.agreedBlocks)
      return
    case 'joinRequest':
      writeJoinBody(w, message)
      w.bytes(message.signature)
      return
    case 'candidateReply': {
      w.bytes(message.sectionId).bytes(message.ticketDigest)
      const o = message.outcome
      if (o.kind === 'admit') w.u8(0).u64(o.agreedBlocks)
      else
        w.u8(o.kind === 'reject' ? 1 : 2)
          .string(o.reason)
          .u64(o.retryAfterMs)
      return
    }
    case 'ready':
      writeReadyBody(w, message)
      w.bytes(message.signature)
      return
    case 'leaveRequest':
      writeLeaveBody(w, message)
      w.bytes(message.signature)
      return
    case 'announce':
      writeAnnounceBody(w, message)
      w.bytes(message.signature)
      return
  }
}

export function encodeMessage(message: MembershipMessage): Uint8Array {
  return encodeCanonical((w) => {
    w.u8(WIRE_VERSION).u8(KIND_CODES[message.kind])
    writeBody(w, message)
  })
}

function readVersioned(r: CanonicalReader): void {
  const version = r.u8()
  if (version !== WIRE_VERSION) throw new MembershipError('UnsupportedVersion', `body version ${version}`)
}

function readReason(r: CanonicalReader): RejectReason {
  const reason = r.string(LIMITS.maxReasonBytes, 'reason')
  if (!(REJECT_REASONS as readonly string[]).includes(reason)) {
    throw new MembershipError('Malformed', `unknown reject reason ${reason}`)
  }
  return reason as RejectReason
}

function readBody(r: CanonicalReader, kind: MessageKind, ids: PeerIdDecoder): MembershipMessage {
  const hash = (what: string) => r.bytes(LIMITS.maxHashBytes, what)
  const signature = () => r.bytes(LIMITS.maxSignatureBytes, 'signature')
  switch (kind) {
    case 'joinInfoRequest':
      return { kind, sectionId: hash('section id') }
    case 'joinInfo': {
      const sectionId = hash('section id')
      const record = readGenesisRecord(r, ids)
      const chain = r.list(LIMITS.maxChainEntries, 16, (r2) => readChainEntry(r2, ids), 'chain')
      const members = r.list(
        LIMITS.maxGroup,
        8,
        (r2) => ({ peer: readId(r2, ids), addrs: readAddrs(r2) }),
        'members',
      )
      return { kind, sectionId, record, chain, members, powBits: r.u8(), agreedBlocks: r.u64() }
    }
    case 'joinRequest': {
      readVersioned(r)
      const sectionId = hash('section id')
      const peer = readId(r, ids)
      const addrs = readAddrs(r)
      const head = hash('head')
      const nonce = r.bytes(LIMITS.maxNonceBytes, 'nonce')
      const powNonce = r.u64()
      const invitation = r.bool() ? readInvitation(r, ids) : undefined
      const fields = { sectionId, peer, addrs, head, nonce, powNonce }
      return { kind, ...fields, ...(invitation === undefined ? {} : { invitation }), signature: signature() }
    }
    case 'candidateReply': {
      const sectionId = hash('section id')
      const ticketDigest = hash('ticket digest')
      const code = r.u8()
      let outcome: CandidateOutcome
      if (code === 0) outcome = { kind: 'admit', agreedBlocks: r.u64() }
      else if (code === 1 || code === 2) {
        const reason = readReason(r)
        outcome = { kind: code === 1 ? 'reject' : 'defer', reason, retryAfterMs: r.u64() }
      } else throw new MembershipError('Malformed', `candidate outcome ${code}`)
      return { kind, sectionId, ticketDigest, outcome }
    }
    case 'ready': {
      readVersioned(r)
      const sectionId = hash('section id')
      const peer = readId(r, ids)
      const ticketDigest = hash('ticket digest')
      const k = r.u64()
      return {
        kind,
        sectionId,
        peer,
        ticketDigest,
        k,
        historyDigest: hash('history digest'),
        signature: signature(),
      }
    }
    case 'leaveRequest': {
      readVersioned(r)
      const sectionId = hash('section id')
      const peer = readId(r, ids)
      return { kind, sectionId, peer, addHash: hash('add hash'), signature: signature() }
    }
    case 'announce': {
      readVersioned(r)
      const sectionId = hash('section id')
      const peer = readId(r, ids)
      const addrs = readAddrs(r)
      const seq = r.u64()
      return { kind, sectionId, peer, addrs, seq, head: hash('head'), signature: signature() }
    }
  }
}

/**
 * Decodes one message. Sizes are checked first (JoinInfo may be larger than the rest); any
 * malformed input throws a `MembershipError`, never anything else.
 */
export function decodeMessage(bytes: Uint8Array, ids: PeerIdDecoder): MembershipMessage {
  if (bytes.length > LIMITS.maxJoinInfoBytes) {
    throw new MembershipError('TooLarge', `message of ${bytes.length} bytes`)
  }
  try {
    return decodeCanonical(bytes, (r) => {
      const version = r.u8()
      if (version !== WIRE_VERSION) throw new MembershipError('UnsupportedVersion', `wire version ${version}`)
      const code = r.u8()
      const kind = KIND_NAMES.get(code)
      if (kind === undefined) throw new MembershipError('UnknownKind', `message kind ${code}`)
      if (kind !== 'joinInfo' && bytes.length > LIMITS.maxMessageBytes) {
        throw new MembershipError('TooLarge', `${kind} of ${bytes.length} bytes`)
      }
      return readBody(r, kind, ids)
    })
  } catch (error) {
    if (error instanceof MembershipError) throw error
    // An id decoder or a parser hit something unexpected: still the sender's malformed input.
    throw new MembershipError('Malformed', error instanceof Error ? error.message : String(error))
  }
}

/** Decodes and insists on one kind. */
export function decodeMessageOf<K extends MessageKind>(
  bytes: Uint8Array,
  kind: K,
  ids: PeerIdDecoder,
): Extract<MembershipMessage, { kind: K }> {
  const message = decodeMessage(bytes, ids)
  if (message.kind !== kind) throw new MembershipError('UnknownKind', `expected ${kind}, got ${message.kind}`)
  return message as Extract<MembershipMessage, { kind: K }>
}
