import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Ed25519SecretId, genesis, MockSecretId, mockId, utf8 } from '@parsec-section/parsec-core'
import {
  decodeAdmissionRecord,
  decodeMessage,
  decodeMessageOf,
  decodeRemoveInfo,
  ed25519PeerIds,
  encodeAdmissionRecord,
  encodeMessage,
  encodeRemoveInfo,
  genesisRecord,
  hasWork,
  LIMITS,
  leadingZeroBits,
  MembershipError,
  type MembershipMessage,
  mockPeerIds,
  powHash,
  SectionState,
  sha256,
  signAnnounce,
  signInvitation,
  signJoinRequest,
  signLeaveRequest,
  signReady,
  solvePow,
  verifyAnnounce,
  verifyChain,
  verifyInvitation,
  verifyJoinRequest,
  verifyLeaveRequest,
  verifyReady,
} from '../src/index.js'
import { ids, seededRandom, signedBlock } from './support.js'

const FOUR = ['Alice', 'Bob', 'Carol', 'Dave']
const record = genesisRecord(ids(FOUR))
const state = new SectionState(record)
state.applyBlock(signedBlock(genesis(ids(FOUR)), FOUR), 0)
const sectionId = state.sectionId
const eric = new MockSecretId('Eric')
const alice = new MockSecretId('Alice')

function samples(): MembershipMessage[] {
  const invitation = signInvitation(alice, { sectionId, invitee: eric.publicId, serial: 3 })
  return [
    { kind: 'joinInfoRequest', sectionId },
    {
      kind: 'joinInfo',
      sectionId,
      record,
      chain: state.chain,
      members: [{ peer: mockId('Alice'), addrs: ['/ip4/10.0.0.1/tcp/1'] }],
      powBits: 20,
      agreedBlocks: 1,
    },
    signJoinRequest(eric, {
      sectionId,
      addrs: ['/ip4/10.0.0.5/tcp/5'],
      head: state.head,
      nonce: utf8('n1'),
      powNonce: 17,
    }),
    signJoinRequest(eric, {
      sectionId,
      addrs: [],
      head: state.head,
      nonce: utf8('n2'),
      powNonce: 0,
      invitation,
    }),
    {
      kind: 'candidateReply',
      sectionId,
      ticketDigest: sha256(utf8('t')),
      outcome: { kind: 'admit', agreedBlocks: 9 },
    },
    {
      kind: 'candidateReply',
      sectionId,
      ticketDigest: sha256(utf8('t')),
      outcome: { kind: 'reject', reason: 'SectionFull', retryAfterMs: 60_000 },
    },
    {
      kind: 'candidateReply',
      sectionId,
      ticketDigest: sha256(utf8('t')),
      outcome: { kind: 'defer', reason: 'YoungCap', retryAfterMs: 5_000 },
    },
    signReady(eric, { sectionId, ticketDigest: sha256(utf8('t')), k: 12, historyDigest: sha256(utf8('h')) }),
    signLeaveRequest(alice, { sectionId, addHash: state.member('Alice')!.addHash }),
    signAnnounce(alice, { sectionId, addrs: ['/dns4/x/tcp/1'], seq: 1, head: state.head }),
  ]
}

const isMembershipError = (e: unknown) => e instanceof MembershipError

describe('wire codec', () => {
  it('round-trips every message kind', () => {
    for (const message of samples()) {
      const bytes = encodeMessage(message)
      assert.deepEqual(decodeMessage(bytes, mockPeerIds), message, message.kind)
      assert.deepEqual(encodeMessage(decodeMessage(bytes, mockPeerIds)), bytes)
    }
  })

  it('a decoded JoinInfo chain still verifies', () => {
    const info = decodeMessageOf(encodeMessage(samples()[1]), 'joinInfo', mockPeerIds)
    assert.equal(verifyChain(info.sectionId, info.record, info.chain).size, 4)
  })

  it('verifies signatures and keeps the domains apart', () => {
    const [, , join, invited, , , , ready, leave, announce] = samples()
    assert.ok(join.kind === 'joinRequest' && verifyJoinRequest(join))
    assert.ok(invited.kind === 'joinRequest' && invited.invitation && verifyInvitation(invited.invitation))
    assert.ok(ready.kind === 'ready' && verifyReady(ready))
    assert.ok(leave.kind === 'leaveRequest' && verifyLeaveRequest(leave))
    assert.ok(announce.kind === 'announce' && verifyAnnounce(announce))
    assert.ok(join.kind === 'joinRequest' && !verifyJoinRequest({ ...join, addrs: ['/ip4/6.6.6.6/tcp/6'] }))
    assert.ok(join.kind === 'joinRequest' && !verifyJoinRequest({ ...join, peer: mockId('Fred') }))
    // A Ready's signature does not make a LeaveRequest with the same bytes valid.
    assert.ok(
      ready.kind === 'ready' &&
        leave.kind === 'leaveRequest' &&
        !verifyLeaveRequest({ ...leave, signature: ready.signature }),
    )
  })

  it('works over Ed25519 ids', () => {
    const secret = Ed25519SecretId.generate()
    const join = signJoinRequest(secret, {
      sectionId,
      addrs: [],
      head: state.head,
      nonce: utf8('n'),
      powNonce: 1,
    })
    const decoded = decodeMessageOf(encodeMessage(join), 'joinRequest', ed25519PeerIds)
    assert.ok(verifyJoinRequest(decoded))
    assert.equal(decoded.peer.name, secret.publicId.name)
  })

  it('ends every truncation in a typed error', () => {
    for (const message of samples()) {
      const bytes = encodeMessage(message)
      for (let length = 0; length < bytes.length; length++) {
        assert.throws(() => decodeMessage(bytes.subarray(0, length), mockPeerIds), isMembershipError)
      }
    }
  })

  it('never throws anything but a MembershipError on corrupted bytes (seeded)', () => {
    const seed = 20261202
    const random = seededRandom(seed)
    for (const message of samples()) {
      const bytes = encodeMessage(message)
      for (let trial = 0; trial < 300; trial++) {
        const copy = Uint8Array.from(bytes)
        const flips = 1 + Math.floor(random() * 3)
        for (let f = 0; f < flips; f++) copy[Math.floor(random() * copy.length)] = Math.floor(random() * 256)
        try {
          decodeMessage(copy, mockPeerIds)
        } catch (error) {
          assert.ok(error instanceof MembershipError, `seed ${seed}: ${String(error)}`)
        }
      }
    }
  })

  it('rejects trailing bytes, unknown versions and kinds, and oversize input', () => {
    const bytes = encodeMessage(samples()[0])
    const code = (c: string) => (e: unknown) => e instanceof MembershipError && e.code === c
    assert.throws(() => decodeMessage(Uint8Array.from([...bytes, 0]), mockPeerIds), code('Malformed'))
    assert.throws(
      () => decodeMessage(Uint8Array.from([9, ...bytes.subarray(1)]), mockPeerIds),
      code('UnsupportedVersion'),
    )
    assert.throws(
      () => decodeMessage(Uint8Array.from([1, 99, ...bytes.subarray(2)]), mockPeerIds),
      code('UnknownKind'),
    )
    const big = new Uint8Array(LIMITS.maxMessageBytes + 10)
    big.set(encodeMessage(samples()[2]))
    assert.throws(() => decodeMessage(big, mockPeerIds), code('TooLarge'))
    // A list count far beyond the bytes that follow is refused before allocating.
    const hugeList = Uint8Array.from([1, 2, 0, 0, 0, 32, ...sectionId, 1, 0xff, 0xff, 0xff, 0xff])
    assert.throws(() => decodeMessage(hugeList, mockPeerIds), isMembershipError)
    assert.throws(() => decodeMessageOf(bytes, 'ready', mockPeerIds), code('UnknownKind'))
  })

  it('round-trips the admission record and remove info canonically', () => {
    const admission = {
      sectionId,
      peer: mockId('Eric'),
      addrs: ['/ip4/1.2.3.4/tcp/5'],
      head: state.head,
      nonce: utf8('n'),
      inviter: mockId('Alice'),
    }
    const bytes = encodeAdmissionRecord(admission)
    assert.deepEqual(decodeAdmissionRecord(bytes, mockPeerIds), admission)
    const info = { addHash: sha256(utf8('x')), round: 7 }
    assert.deepEqual(decodeRemoveInfo(encodeRemoveInfo(info)), info)
    assert.throws(() => decodeRemoveInfo(encodeRemoveInfo(info).subarray(1)), isMembershipError)
  })
})

describe('proof of work', () => {
  const ticket = { sectionId, peer: mockId('Eric'), head: state.head, nonce: utf8('n') }

  it('counts leading zero bits', () => {
    assert.equal(leadingZeroBits(Uint8Array.from([0, 0, 0x10, 0xff])), 19)
    assert.equal(leadingZeroBits(Uint8Array.from([0x80])), 0)
    assert.equal(leadingZeroBits(Uint8Array.from([0, 0])), 16)
  })

  it('solves deterministically and the proof is bound to the ticket', () => {
    const powNonce = solvePow(ticket, 10)
    assert.equal(solvePow(ticket, 10), powNonce)
    assert.ok(hasWork(ticket, powNonce, 10))
    assert.ok(leadingZeroBits(powHash(ticket, powNonce)) >= 10)
    for (let n = 0; n < powNonce; n++) assert.ok(!hasWork(ticket, n, 10))
    const otherHead = { ...ticket, head: sha256(utf8('older head')) }
    assert.ok(!hasWork(otherHead, powNonce, 10) || leadingZeroBits(powHash(otherHead, powNonce)) >= 10)
    assert.notDeepEqual(powHash(otherHead, powNonce), powHash(ticket, powNonce))
    assert.ok(hasWork(ticket, 0, 0))
    assert.throws(() => solvePow(ticket, 30, 0, 5), isMembershipError)
  })
})
