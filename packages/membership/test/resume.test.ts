import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  add,
  type Block,
  genesis,
  MockSecretId,
  mockId,
  opaque,
  remove,
  toHex,
  utf8,
} from '@parsec-section/parsec-core'
import {
  encodeRemoveInfo,
  genesisRecord,
  Membership,
  MembershipError,
  type MembershipErrorCode,
  mergeSteps,
  type SectionState,
} from '../src/index.js'
import { FAST, Harness } from './harness.js'
import { ids, seededRandom, signedBlock } from './support.js'

const allFed = (h: Harness) => () =>
  [...h.nodes.values()].every((n) => !n.alive || n.engine !== 'voter' || n.fed === h.blocks.length)

/** The chain as a comparable value: heads, positions, batch flags and signers of every entry. */
function chainOf(state: SectionState) {
  return state.chain.map((entry, i) => ({
    head: toHex(state.headAt(i + 1)!),
    position: entry.position,
    batched: entry.batchedWithPrevious,
    signers: entry.proofs.map((p) => p.publicId.name),
  }))
}

function throwsCode(code: MembershipErrorCode) {
  return (error: unknown) => error instanceof MembershipError && error.code === code
}

describe('Membership.resume', () => {
  it('a member resumed from its blocks holds an uninterrupted peer’s state and keeps agreeing', () => {
    const h = new Harness(['Alice', 'Bob', 'Carol', 'Dave'], FAST)
    const eric = h.addJoiner('Eric')
    h.run(() => eric.machine.role === 'member')
    h.run(allFed(h))
    const before = h.node('Bob').machine
    h.node('Bob').alive = false
    // Blocks it misses while down (fewer decisions than would make the others suspect it).
    h.opaqueTraffic('while Bob was down')
    h.step()
    const bob = h.resume('Bob')
    assert.equal(bob.machine.role, 'member')
    assert.equal(toHex(bob.machine.state!.hash()), toHex(before.state!.hash()))
    assert.deepEqual(chainOf(bob.machine.state!), chainOf(before.state!))
    assert.equal(bob.machine.peerState('Eric'), 'member')
    assert.equal(bob.votes.length, 0)
    h.run(allFed(h))
    assert.equal(new Set(h.stateHashes().values()).size, 1)
    assert.equal(h.stateHashes().size, 5)
    // Joins and a leave afterwards, the resumed member voting along.
    const fred = h.addJoiner('Fred')
    h.run(() => fred.machine.role === 'member')
    h.handle(h.node('Carol'), h.node('Carol').machine.command({ kind: 'leave' }))
    h.run(() => !h.voterNames.includes('Carol'))
    const gina = h.addJoiner('Gina')
    h.run(() => gina.machine.role === 'member')
    h.run(allFed(h))
    assert.deepEqual(h.voterNames, ['Alice', 'Bob', 'Dave', 'Eric', 'Fred', 'Gina'])
    assert.equal(new Set(h.stateHashes().values()).size, 1)
    assert.equal(h.stateHashes().size, 6)
    assert.ok(bob.votes.some((v) => v.kind === 'add' && v.peer.name === 'Fred'))
    assert.ok(bob.votes.some((v) => v.kind === 'remove' && v.peer.name === 'Carol'))
    for (const node of h.nodes.values())
      assert.ok(!node.votes.some((v) => v.kind === 'remove' && v.peer.name === 'Bob'), `${node.name}`)
  })

  it('gives every member a fresh grace from its restart: no suspicion before unresponsiveMs', () => {
    const names = ['Alice', 'Bob', 'Carol', 'Dave']
    const blocks = [signedBlock(genesis(ids(names)), names), signedBlock(opaque(utf8('x')), names)]
    const restartedAt = 1_000_000
    const alice = Membership.resume({
      us: new MockSecretId('Alice'),
      now: restartedAt,
      rng: seededRandom(1),
      config: FAST,
      record: genesisRecord(ids(names)),
      blocks,
    })
    const started = alice.start()
    assert.deepEqual(
      started.peers.filter((d) => d.kind === 'keepAlive').map((d) => d.peer.name),
      ['Bob', 'Carol', 'Dave'],
    )
    // Decisions in which Dave never progresses; the clock has not moved since the restart.
    const decisions = []
    for (let i = 1; i <= 2 * (FAST.unresponsiveDecisions ?? 0); i++) {
      decisions.push(
        alice.decision({
          index: i,
          lastAncestors: new Map([
            ['Bob', i],
            ['Carol', i],
          ]),
        }),
      )
    }
    const early = mergeSteps(...decisions, alice.tick(restartedAt + (FAST.unresponsiveMs ?? 0) - 1))
    assert.equal(early.votes.length, 0)
    const due = alice.tick(restartedAt + (FAST.unresponsiveMs ?? 0))
    assert.deepEqual(
      due.votes.map((v) => (v.kind === 'remove' ? v.peer.name : v.kind)),
      ['Dave'],
    )
  })

  it('keeps the batch flags of blocks decided in one election (the chain a joiner checks)', () => {
    const names = ['Alice', 'Bob', 'Carol', 'Dave', 'Eric']
    const record = genesisRecord(ids(names))
    const init = { us: new MockSecretId('Alice'), now: 0, rng: seededRandom(2), config: FAST, record }
    const uninterrupted = Membership.found(init)
    uninterrupted.start()
    const info = (peer: string) =>
      encodeRemoveInfo({ addHash: uninterrupted.state!.member(peer)!.addHash, round: 0 })
    const blocks: Block[] = [signedBlock(genesis(ids(names)), names)]
    uninterrupted.blocks(blocks, 0, 0)
    // Two Removes decided in one election, by the five voters of its start.
    const batch = [
      signedBlock(remove(mockId('Dave'), info('Dave')), names),
      signedBlock(remove(mockId('Eric'), info('Eric')), names),
    ]
    uninterrupted.blocks(batch, 1, 1)
    const later = signedBlock(add(mockId('Fred'), new Uint8Array(0)), ['Alice', 'Bob', 'Carol'])
    uninterrupted.blocks([later], 3, 2)
    blocks.push(...batch, later)
    const resumed = Membership.resume({ ...init, blocks, elections: [0, 1, 1, 2] })
    assert.deepEqual(
      chainOf(resumed.state!).map((e) => e.batched),
      [false, false, true, false],
    )
    assert.deepEqual(chainOf(resumed.state!), chainOf(uninterrupted.state!))
    assert.equal(toHex(resumed.state!.hash()), toHex(uninterrupted.state!.hash()))
    assert.throws(
      () => Membership.resume({ ...init, blocks, elections: [0, 1] }),
      throwsCode('InvalidArgument'),
    )
  })

  it('a resumed removed peer stays out: it drains again, stops, and cannot rejoin under its id', () => {
    const h = new Harness(['Alice', 'Bob', 'Carol', 'Dave', 'Eric'], FAST)
    h.handle(h.node('Dave'), h.node('Dave').machine.command({ kind: 'leave' }))
    h.run(() => h.node('Dave').machine.role === 'removed')
    h.node('Dave').alive = false
    h.accuse('Eric')
    h.run(() => h.node('Eric').machine.role === 'removed')
    h.node('Eric').alive = false
    h.run(allFed(h))
    for (const [name, reason] of [
      ['Dave', 'left'],
      ['Eric', 'banned'],
    ] as const) {
      const node = h.resume(name)
      assert.equal(node.machine.role, 'draining')
      assert.ok(node.engineLog.some((l) => l.endsWith(':serveOnly')))
      assert.equal(node.machine.state!.isMember(name), false)
      h.run(() => node.machine.role === 'removed')
      assert.ok(node.engineLog.some((l) => l.endsWith(':stop')))
      assert.deepEqual(
        node.events.filter((e) => e.type === 'self:removed'),
        [{ type: 'self:removed', reason }],
      )
      assert.equal(node.votes.length, 0)
      assert.throws(
        () => node.machine.command({ kind: 'join', contacts: ids(['Alice']) }),
        throwsCode('InvalidArgument'),
      )
    }
    h.run(allFed(h))
    assert.deepEqual(h.voterNames, ['Alice', 'Bob', 'Carol'])
    assert.equal(new Set(h.stateHashes().values()).size, 1)
    assert.equal(h.stateHashes().size, 3)
  })

  it('refuses blocks whose chain does not verify, and a peer that never joined, with typed errors', () => {
    const h = new Harness(['Alice', 'Bob', 'Carol', 'Dave'], FAST)
    const eric = h.addJoiner('Eric')
    h.run(() => eric.machine.role === 'member')
    const blocks = h.blocks
    const addAt = blocks.findIndex((b) => b.payload.kind === 'add')
    const resume = (list: readonly Block[], us = 'Alice') =>
      Membership.resume({
        us: new MockSecretId(us),
        now: h.now,
        rng: seededRandom(4),
        config: FAST,
        record: h.record,
        blocks: list,
      })
    const withAdd = (proofs: Block['proofs']) => blocks.map((b, i) => (i === addAt ? { ...b, proofs } : b))
    const addBlock = blocks[addAt]
    const forged = addBlock.proofs.map((p, i) =>
      i === 0 ? { ...p, signature: new MockSecretId(p.publicId.name).sign(utf8('something else')) } : p,
    )
    assert.throws(() => resume(withAdd(forged)), throwsCode('ForgedSignature'))
    assert.throws(() => resume(withAdd(addBlock.proofs.slice(0, 2))), throwsCode('NoSupermajority'))
    const outsider = { publicId: mockId('Zed'), signature: new MockSecretId('Zed').sign(utf8('x')) }
    assert.throws(() => resume(withAdd([...addBlock.proofs, outsider])), throwsCode('NotAVoter'))
    assert.throws(() => resume(blocks.slice(1)), throwsCode('GenesisMismatch'))
    assert.throws(() => resume([]), throwsCode('GenesisMismatch'))
    assert.throws(() => resume(blocks, 'Zed'), throwsCode('InvalidArgument'))
    // The blocks before its Add: Eric had not joined in them.
    assert.throws(() => resume(blocks.slice(0, addAt), 'Eric'), throwsCode('InvalidArgument'))
    assert.equal(resume(blocks, 'Eric').role, 'member')
  })
})
