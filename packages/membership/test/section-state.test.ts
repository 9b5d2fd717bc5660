import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { describe, it } from 'node:test'
import {
  add,
  Ed25519SecretId,
  genesis,
  MockSecretId,
  mockId,
  opaque,
  remove,
  sortIds,
  toHex,
  utf8,
} from '@parsec-section/parsec-core'
import {
  type ChainEntry,
  encodeAdmissionRecord,
  encodeRemoveInfo,
  genesisRecord,
  MembershipError,
  SectionState,
  sectionIdBytes,
  sectionIdOf,
  supermajority,
  verifyChain,
} from '../src/index.js'
import { ids, signedBlock } from './support.js'

const FOUR = ['Alice', 'Bob', 'Carol', 'Dave']
const record = genesisRecord(ids(FOUR), utf8('test'))

function admission(state: SectionState, name: string) {
  return encodeAdmissionRecord({
    sectionId: state.sectionId,
    peer: mockId(name),
    addrs: [`/ip4/127.0.0.1/tcp/${name.length}`],
    head: state.head,
    nonce: utf8(`nonce-${name}`),
  })
}

/** Genesis, an opaque block, Add(Eric), Remove(Bob), Accusation(Carol). */
function history(state: SectionState, signers: (voters: string[]) => string[] = (v) => v) {
  let position = 0
  const apply = (payload: Parameters<typeof signedBlock>[0], voters: string[]) =>
    state.applyBlock(signedBlock(payload, signers(voters)), position++)
  const results = [apply(genesis(ids(FOUR), utf8('test')), FOUR)]
  results.push(apply(opaque(utf8('hello')), FOUR))
  results.push(apply(add(mockId('Eric'), admission(state, 'Eric')), FOUR))
  const five = [...FOUR, 'Eric']
  results.push(
    apply(remove(mockId('Bob'), encodeRemoveInfo({ addHash: state.member('Bob')!.addHash, round: 0 })), five),
  )
  results.push(
    apply({ kind: 'accusation', offender: mockId('Carol'), malice: { type: 'Unprovable' } }, [
      'Alice',
      'Dave',
      'Eric',
    ]),
  )
  return results
}

describe('SectionState', () => {
  it('folds Genesis, Add, Remove and Accusation; opaque blocks only count positions', () => {
    const state = new SectionState(record)
    const results = history(state)
    assert.equal(state.agreedBlocks, 5)
    assert.equal(state.seq, 4)
    assert.deepEqual(
      state.members().map((m) => m.id.name),
      ['Alice', 'Dave', 'Eric'],
    )
    assert.deepEqual(
      state.bannedIds().map((id) => id.name),
      ['Carol'],
    )
    const eric = state.member('Eric')!
    assert.equal(eric.addedAtBlock, 2)
    assert.deepEqual(eric.addrs, ['/ip4/127.0.0.1/tcp/4'])
    assert.equal(state.age('Eric'), 2)
    assert.equal(results[1].entry, undefined)
    assert.equal(state.chain.length, 4)
    assert.deepEqual(
      results[3].removed.map((m) => m.id.name),
      ['Bob'],
    )
    assert.deepEqual(
      results[4].banned.map((id) => id.name),
      ['Carol'],
    )
  })

  it('M1: the same prefix gives byte-identical states whatever proofs each peer held', () => {
    const a = new SectionState(record)
    const b = new SectionState(record)
    history(a)
    history(b, (voters) => voters.slice(0, voters.length - 1))
    assert.deepEqual(a.encode(), b.encode())
    assert.equal(toHex(a.hash()), toHex(b.hash()))
    const c = new SectionState(record)
    c.applyBlock(signedBlock(genesis(ids(FOUR), utf8('test')), FOUR), 0)
    assert.notEqual(toHex(c.hash()), toHex(a.hash()))
  })

  it('warns on a Remove of a non-member and an Add of a member, never throws', () => {
    const state = new SectionState(record)
    state.applyBlock(signedBlock(genesis(ids(FOUR), utf8('test')), FOUR), 0)
    const r1 = state.applyBlock(signedBlock(remove(mockId('Zed')), FOUR), 1)
    assert.deepEqual(
      r1.warnings.map((w) => w.kind),
      ['RemoveOfNonMember'],
    )
    const r2 = state.applyBlock(signedBlock(add(mockId('Bob')), FOUR), 2)
    assert.deepEqual(
      r2.warnings.map((w) => w.kind),
      ['AddOfMember'],
    )
    assert.equal(state.size, 4)
    assert.throws(
      () => state.applyBlock(signedBlock(opaque(utf8('x')), FOUR), 7),
      (e) => e instanceof MembershipError && e.code === 'InvalidArgument',
    )
  })

  it('an Add of a removed id changes nothing, as in the engine (an incarnation is never re-added)', () => {
    const state = new SectionState(record)
    state.applyBlock(signedBlock(genesis(ids(FOUR), utf8('test')), FOUR), 0)
    state.applyBlock(signedBlock(remove(mockId('Dave')), FOUR), 1)
    assert.ok(state.wasRemoved('Dave'))
    const before = state.size
    const result = state.applyBlock(signedBlock(add(mockId('Dave')), ['Alice', 'Bob', 'Carol']), 2)
    assert.deepEqual(
      result.warnings.map((w) => w.kind),
      ['AddOfRemoved'],
    )
    assert.deepEqual(result.added, [])
    assert.equal(state.isMember('Dave'), false)
    assert.equal(state.size, before)
    // Removed ids are agreed state: a peer that folded one removal more holds other bytes.
    const other = new SectionState(record)
    other.applyBlock(signedBlock(genesis(ids(FOUR), utf8('test')), FOUR), 0)
    other.applyBlock(signedBlock(remove(mockId('Dave')), FOUR), 1)
    other.applyBlock(signedBlock(add(mockId('Dave')), ['Alice', 'Bob', 'Carol']), 2)
    assert.equal(toHex(other.hash()), toHex(state.hash()))
  })

  it('knows fresh heads and which peers a later block names', () => {
    const state = new SectionState(record)
    history(state)
    const chainHeads: Uint8Array[] = []
    const replay = new SectionState(record)
    let position = 0
    for (const entry of state.chain) {
      replay.applyChainEntry(entry)
      chainHeads.push(replay.head)
      position = entry.position
    }
    assert.ok(position > 0)
    assert.deepEqual(replay.head, state.head)
    assert.ok(state.isFreshHead(chainHeads[3], 1))
    assert.ok(!state.isFreshHead(chainHeads[0], 2))
    assert.ok(state.isFreshHead(chainHeads[0], 4))
    assert.ok(state.mentionedAfter(chainHeads[0], 'Bob'))
    assert.ok(!state.mentionedAfter(chainHeads[2], 'Bob'))
    assert.ok(!state.isFreshHead(utf8('nonsense'), 4))
  })

  it('genesis members are never young; added members are young during probation', () => {
    const state = new SectionState(record)
    history(state)
    assert.equal(state.isYoung('Alice', 50), false)
    assert.equal(state.isYoung('Eric', 50), true)
    assert.equal(state.isYoung('Eric', 1), false)
    assert.equal(state.youngCount(50), 1)
  })
})

describe('verifyChain', () => {
  const built = new SectionState(record)
  history(built)
  const chain = built.chain
  const id = sectionIdOf(record)

  const tamper = (index: number, change: (entry: ChainEntry) => ChainEntry) =>
    chain.map((entry, i) => (i === index ? change(entry) : entry))
  const code = (c: string) => (e: unknown) => e instanceof MembershipError && e.code === c

  it('accepts a well-signed chain and replays its state', () => {
    const replayed = verifyChain(id, record, chain)
    assert.deepEqual(replayed.head, built.head)
    assert.deepEqual(
      replayed.members().map((m) => m.id.name),
      ['Alice', 'Dave', 'Eric'],
    )
  })

  it('rejects a record that does not hash to the section id', () => {
    const other = genesisRecord(ids(['Alice', 'Bob', 'Carol']), utf8('test'))
    assert.throws(() => verifyChain(id, other, chain), code('WrongSectionId'))
    assert.throws(() => verifyChain(sectionIdOf(other), other, chain), code('GenesisMismatch'))
  })

  it('rejects a forged signature', () => {
    const forged = tamper(1, (e) => ({
      ...e,
      proofs: e.proofs.map((p, i) =>
        i === 0 ? { ...p, signature: new MockSecretId('Mallory').sign(e.observation) } : p,
      ),
    }))
    assert.throws(() => verifyChain(id, record, forged), code('ForgedSignature'))
  })

  it('rejects a signer that was not a voter when the block was decided', () => {
    const outsider = tamper(1, (e) => ({
      ...e,
      proofs: [
        ...e.proofs,
        { publicId: mockId('Mallory'), signature: new MockSecretId('Mallory').sign(e.observation) },
      ],
    }))
    assert.throws(() => verifyChain(id, record, outsider), code('NotAVoter'))
  })

  it('rejects fewer than a supermajority of the voter set computed so far', () => {
    // Remove(Bob) was decided by five voters (Eric included): 3 signatures are not enough.
    assert.ok(!supermajority(5, 3))
    const thin = tamper(2, (e) => ({ ...e, proofs: e.proofs.slice(0, 3), batchedWithPrevious: false }))
    assert.throws(() => verifyChain(id, record, thin), code('NoSupermajority'))
  })

  it('rejects an entry whose summary lies about the signed bytes', () => {
    const lying = tamper(1, (e) => ({
      ...e,
      change: { kind: 'add', peer: mockId('Mallory'), relatedInfo: new Uint8Array(0) },
    }))
    assert.throws(() => verifyChain(id, record, lying), code('InconsistentEntry'))
  })

  it('reports a chain shorter than one already verified as stale', () => {
    assert.throws(() => verifyChain(id, record, chain.slice(0, 2), { minSeq: 4 }), code('StaleChain'))
    assert.equal(verifyChain(id, record, chain.slice(0, 2)).seq, 2)
  })

  it('checks a batched block against the voters at the start of its election', () => {
    const state = new SectionState(record)
    state.applyBlock(signedBlock(genesis(ids(FOUR), utf8('test')), FOUR), 0)
    // One election decides Remove(Dave) then Add(Eric); Dave's vote on the Add is valid.
    state.applyBlock(signedBlock(remove(mockId('Dave')), FOUR), 1)
    state.applyBlock(signedBlock(add(mockId('Eric')), ['Alice', 'Bob', 'Dave']), 2, true)
    assert.equal(verifyChain(id, record, state.chain).size, 4)
    // Marked as decided alone, the Add is checked against the voters after Remove(Dave): refused.
    const alone = state.chain.map((e, i) => (i === 2 ? { ...e, batchedWithPrevious: false } : e))
    assert.throws(() => verifyChain(id, record, alone), code('NotAVoter'))
    // Unknown boundaries (no election index from the host): the previous election's voters are tried.
    const unknown = state.chain.map((e, i) => (i === 2 ? { ...e, batchedWithPrevious: undefined } : e))
    assert.equal(verifyChain(id, record, unknown).size, 4)
  })
})

describe('section id', () => {
  it('hashes the layout of p2p-section genesis files, so a section keeps its id', () => {
    const secrets = [Ed25519SecretId.generate(), Ed25519SecretId.generate()]
    const ed = genesisRecord(
      secrets.map((s) => s.publicId),
      Uint8Array.from([7, 8]),
      'single',
    )
    // "parsec-section/genesis/v1" ‖ u32le count ‖ 32-byte keys sorted ‖ u32le len ‖ related info ‖ mode.
    const keys = sortIds(secrets.map((s) => s.publicId)).map((id) => [...id.encoded])
    const expected = Uint8Array.from([
      ...utf8('parsec-section/genesis/v1'),
      2,
      0,
      0,
      0,
      ...keys[0],
      ...keys[1],
      2,
      0,
      0,
      0,
      7,
      8,
      0,
    ])
    assert.deepEqual(sectionIdBytes(ed), expected)
    assert.equal(toHex(sectionIdOf(ed)), createHash('sha256').update(expected).digest('hex'))
    assert.notEqual(toHex(sectionIdOf({ ...ed, mode: 'supermajority' })), toHex(sectionIdOf(ed)))
  })
})
