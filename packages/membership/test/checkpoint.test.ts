/**
 * Checkpoints (docs/epochs.md §1): the record's bytes, its fold into the membership chain (the
 * epoch advances, a wrong one is a warning), a served chain with checkpoints verifies, and over
 * real engines every member votes the same due checkpoint, which is decided once per epoch.
 */
import assert from 'node:assert/strict'
import { describe, it, test } from 'node:test'
import { add, checkpoint, genesis, mockId, opaque, remove, toHex, utf8 } from '@parsec-section/parsec-core'
import {
  type ChainEntry,
  type Checkpoint,
  decodeChain,
  decodeCheckpoint,
  decodeMessageOf,
  encodeAdmissionRecord,
  encodeChain,
  encodeCheckpoint,
  encodeMessage,
  encodeRemoveInfo,
  genesisRecord,
  mockPeerIds,
  resolveConfig,
  SectionState,
  verifyChain,
} from '../src/index.js'
import { RealSection } from './real-engine.js'
import { ids, signedBlock } from './support.js'

const FOUR = ['Alice', 'Bob', 'Carol', 'Dave']
const record = genesisRecord(ids(FOUR), utf8('checkpoints'))

/** A state of the four founders folding blocks as an uninterrupted member does. */
function founded(checkpointBlocks: number) {
  const state = new SectionState(record, 256, undefined, checkpointBlocks)
  const fold = (payload: Parameters<typeof signedBlock>[0], signers = FOUR) =>
    state.applyBlock(signedBlock(payload, signers), state.agreedBlocks)
  fold(genesis(ids(FOUR), utf8('checkpoints')))
  return { state, fold }
}

describe('checkpoints', () => {
  it('the record reads back as written', () => {
    const written = {
      epoch: 3,
      position: 4000,
      historyDigest: utf8('d'.repeat(32)),
      sectionStateHash: utf8('h'.repeat(32)),
    }
    assert.deepEqual(decodeCheckpoint(encodeCheckpoint(written)), written)
  })

  it('falls due after checkpointBlocks blocks of the epoch; folded, it starts the next epoch', () => {
    const { state, fold } = founded(3)
    // Read through a call: TypeScript would keep the getter narrowed by the first assertion.
    const dueOf = () => state.dueCheckpoint
    fold(opaque(utf8('one')))
    assert.ok(dueOf() === undefined)
    fold(opaque(utf8('two')))
    const due = dueOf()
    assert.ok(due !== undefined)
    assert.equal(due.epoch, 0)
    assert.equal(due.position, 3)
    assert.deepEqual(due.historyDigest, state.historyDigest(3))
    assert.deepEqual(due.sectionStateHash, state.hash())
    // Blocks keep coming while it is voted: the checkpoint is decided later, at position 4.
    fold(opaque(utf8('three')))
    const seq = state.seq
    const result = fold(checkpoint(encodeCheckpoint(due)), ['Alice', 'Bob', 'Carol'])
    assert.deepEqual(result.warnings, [])
    assert.equal(state.seq, seq, 'not a membership block')
    assert.equal(state.chain.at(-1)?.change.kind, 'checkpoint')
    assert.equal(state.epoch, 1)
    assert.equal(state.epochStart, 5)
    assert.deepEqual(state.checkpoint, due)
    assert.ok(dueOf() === undefined)
    for (let i = 0; i < 3; i++) fold(opaque(utf8(`epoch 1: ${i}`)))
    assert.equal(dueOf()?.epoch, 1)
    assert.equal(dueOf()?.position, 8)
  })

  it('also falls due once the epoch’s blocks reach checkpointBytes (large payloads, few blocks)', () => {
    const state = new SectionState(record, 256, undefined, { blocks: 1_000, bytes: 10_000 })
    const fold = (payload: Parameters<typeof signedBlock>[0], signers = FOUR) =>
      state.applyBlock(signedBlock(payload, signers), state.agreedBlocks)
    fold(genesis(ids(FOUR), utf8('checkpoints')))
    const dueOf = () => state.dueCheckpoint
    fold(opaque(new Uint8Array(6_000)))
    assert.ok(dueOf() === undefined, 'under the bound')
    fold(opaque(new Uint8Array(6_000)))
    const due = dueOf()
    assert.ok(due !== undefined, 'past the bound after 3 blocks, far from 1,000')
    assert.equal(due.position, 3)
    // Set once: more bytes do not move it.
    fold(opaque(new Uint8Array(6_000)))
    assert.deepEqual(dueOf(), due)
    fold(checkpoint(encodeCheckpoint(due)))
    assert.equal(state.epoch, 1)
    assert.ok(dueOf() === undefined, 'the next epoch counts its own bytes')
    fold(opaque(new Uint8Array(6_000)))
    assert.ok(dueOf() === undefined)
  })

  it('resolveConfig refuses a negative checkpointBytes', () => {
    assert.throws(() => resolveConfig({ checkpointBytes: -1 }), /checkpointBytes/)
    assert.equal(resolveConfig({}).checkpointBytes, 0)
  })

  it('a checkpoint of another epoch, or whose digest is not ours, is a warning', () => {
    const { state, fold } = founded(2)
    fold(opaque(utf8('one')))
    const due = state.dueCheckpoint!
    const wrongEpoch = fold(checkpoint(encodeCheckpoint({ ...due, epoch: 1 })))
    assert.deepEqual(
      wrongEpoch.warnings.map((w) => w.kind),
      ['UnexpectedCheckpoint'],
    )
    assert.equal(state.epoch, 0)
    const forked = fold(checkpoint(encodeCheckpoint({ ...due, historyDigest: new Uint8Array(32) })))
    assert.deepEqual(
      forked.warnings.map((w) => w.kind),
      ['CheckpointMismatch'],
    )
  })

  it('a served chain with checkpoints verifies; a joiner reads their entries', () => {
    const { state, fold } = founded(2)
    fold(opaque(utf8('one')))
    fold(checkpoint(encodeCheckpoint(state.dueCheckpoint!)))
    fold(opaque(utf8('two')))
    fold(opaque(utf8('three')))
    fold(checkpoint(encodeCheckpoint(state.dueCheckpoint!)))
    const verified = verifyChain(state.sectionId, record, state.chain)
    assert.equal(verified.epoch, 2)
    assert.equal(verified.seq, state.seq)
    assert.deepEqual(verified.head, state.head)
    // Too few signers for a checkpoint is no checkpoint.
    const weak = founded(2)
    weak.fold(opaque(utf8('one')))
    weak.fold(checkpoint(encodeCheckpoint(weak.state.dueCheckpoint!)), ['Alice', 'Bob'])
    assert.throws(() => verifyChain(weak.state.sectionId, record, weak.state.chain), {
      code: 'NoSupermajority',
    })
  })

  it('is off by default (until the epoch switch lands), and must be a count', () => {
    assert.equal(resolveConfig().checkpointBlocks, 0)
    assert.throws(() => resolveConfig({ checkpointBlocks: -1 }), { code: 'InvalidArgument' })
  })
})

for (const seed of [1, 2, 3]) {
  test(`real engines: every epoch's checkpoint is voted by every member and decided once (seed ${seed})`, () => {
    const config = {
      powBits: 4,
      probationBlocks: 0,
      minBlocksBetweenAdds: 0,
      readyLag: 2,
      checkpointBlocks: 6,
    }
    const section = new RealSection(FOUR, config, seed)
    const founders = FOUR.map((name) => section.peer(name))
    // The chain keeps the last checkpoint only: record each one as it is folded.
    const seen = founders.map(() => [] as { position: number; checkpoint: Checkpoint }[])
    const record = () =>
      founders.forEach((p, i) => {
        const last = p.machine.state?.chain.at(-1)
        if (last?.change.kind !== 'checkpoint' || seen[i].at(-1)?.position === last.position) return
        seen[i].push({ position: last.position, checkpoint: decodeCheckpoint(last.change.payload) })
      })
    for (let i = 0; i < 60_000 && !founders.every((p) => (p.machine.state?.epoch ?? 0) >= 3); i++) {
      section.step()
      record()
    }
    assert.ok(
      founders.every((p) => (p.machine.state?.epoch ?? 0) >= 3),
      `seed ${seed}: epochs ${founders.map((p) => p.machine.state?.epoch)}`,
    )
    for (const p of founders) {
      const kept = p.machine.state!.chain.filter((e) => e.change.kind === 'checkpoint')
      assert.equal(kept.length, 1, `seed ${seed}: ${p.name} keeps the last checkpoint only`)
    }
    const chains = seen.map((list) => list.slice(0, 3))
    for (const chain of chains)
      assert.deepEqual(chain, chains[0], `seed ${seed}: the same checkpoints everywhere`)
    // Each at checkpointBlocks after its epoch's start, decided later, and voted by a supermajority.
    let start = 0
    for (const [epoch, { position, checkpoint: c }] of chains[0].entries()) {
      assert.equal(c.epoch, epoch)
      assert.equal(c.position, start + 6)
      assert.ok(position >= c.position)
      start = position + 1
    }
    for (const peer of founders) assert.deepEqual(peer.faults, [], `seed ${seed}: ${peer.name}`)
    // The chain a member serves verifies through its checkpoints.
    const alice = section.peer('Alice')
    const served = alice.machine.joinInfoRequest(
      mockId('Zed'),
      encodeMessage({ kind: 'joinInfoRequest', sectionId: alice.machine.sectionId }),
    )
    const reply = served.messages.find((m) => m.kind === 'joinInfo')
    assert.ok(reply)
    const info = decodeMessageOf(reply.bytes, 'joinInfo', alice.machine.ids)
    const verified = verifyChain(alice.machine.sectionId, info.record, info.chain, { ids: alice.machine.ids })
    assert.equal(verified.epoch, alice.machine.state!.epoch)
    assert.equal(toHex(verified.head), toHex(alice.machine.state!.head))
  })
}

describe('the chain keeps the last checkpoint only (docs/epochs.md §4)', () => {
  const admissionOf = (state: SectionState, name: string) =>
    encodeAdmissionRecord({
      sectionId: state.sectionId,
      peer: mockId(name),
      addrs: [],
      head: state.head,
      nonce: utf8(`nonce-${name}`),
    })

  /** Folds `epochs` epochs of 3 blocks (2 opaque, the checkpoint); `during(epoch)` may add blocks. */
  function run(epochs: number, during: (epoch: number, fold: Fold, state: SectionState) => void = () => {}) {
    const state = new SectionState(record, 256, undefined, 2)
    const legacy: ChainEntry[] = []
    const fold: Fold = (payload, signers = FOUR, batched = false) => {
      const result = state.applyBlock(signedBlock(payload, signers), state.agreedBlocks, batched)
      if (result.entry !== undefined) legacy.push(result.entry)
      return result
    }
    fold(genesis(ids(FOUR), utf8('checkpoints')))
    const sizes: number[] = []
    for (let epoch = 0; epoch < epochs; epoch++) {
      fold(opaque(utf8(`${epoch} a`)))
      during(epoch, fold, state)
      fold(opaque(utf8(`${epoch} b`)))
      const due = state.dueCheckpoint
      assert.ok(due !== undefined && due.epoch === epoch)
      assert.deepEqual(
        fold(
          checkpoint(encodeCheckpoint(due)),
          state.memberIds().map((id) => id.name),
        ).warnings,
        [],
      )
      sizes.push(encodeChain(state.chain).length)
    }
    return { state, legacy, sizes }
  }
  type Fold = (
    payload: Parameters<typeof signedBlock>[0],
    signers?: string[],
    batched?: boolean,
  ) => ReturnType<SectionState['applyBlock']>

  it('over many epochs without a membership change, the chain stays at two entries', () => {
    const { state, legacy, sizes } = run(200)
    assert.equal(state.epoch, 200)
    assert.deepEqual(
      state.chain.map((e) => e.change.kind),
      ['genesis', 'checkpoint'],
    )
    assert.equal(state.seq, 1, 'checkpoints are not membership blocks')
    assert.equal(new Set(sizes.slice(10)).size <= 2, true, `constant size: ${sizes.slice(-3)}`)
    assert.equal(legacy.length, 201)
    console.log(
      `chain bytes after 200 epochs: pruned ${encodeChain(state.chain).length}, unpruned ${encodeChain(legacy).length}`,
    )
  })

  it('a joiner verifies the pruned chain and starts at the last checkpoint, byte-identical to a member', () => {
    const { state } = run(25)
    const last = state.chain.at(-1)!
    const verified = verifyChain(state.sectionId, record, state.chain)
    assert.equal(verified.epoch, 25)
    assert.deepEqual(verified.head, state.head)
    const start = SectionState.atLastCheckpoint(record, decodeChain(encodeChain(state.chain), mockPeerIds))
    assert.ok(start !== undefined)
    assert.equal(start.epoch, 25)
    assert.equal(start.epochStart, last.position + 1)
    assert.equal(start.agreedBlocks, last.position + 1)
    assert.deepEqual(start.checkpoint, state.checkpoint)
    assert.deepEqual(start.epochRelatedInfo, state.epochRelatedInfo)
    assert.deepEqual(start.encode(), state.encode(), 'the next checkpoint hashes the same state')
  })

  it('membership changes between checkpoints are kept and verify against their voters', () => {
    const five = [...FOUR, 'Eric']
    const { state, legacy } = run(12, (epoch, fold, at) => {
      if (epoch === 3) fold(add(mockId('Eric'), admissionOf(at, 'Eric')))
      if (epoch === 7) {
        // Decided in the election after the checkpoint of epoch 6, with it: by the five voters.
        const bob = at.member('Bob')!.addHash
        fold(remove(mockId('Bob'), encodeRemoveInfo({ addHash: bob, round: 0 })), five, true)
      }
    })
    assert.deepEqual(
      state.chain.map((e) => e.change.kind),
      ['genesis', 'add', 'remove', 'checkpoint'],
    )
    assert.equal(state.seq, 3)
    const verified = verifyChain(state.sectionId, record, state.chain)
    assert.equal(verified.epoch, 12)
    const start = SectionState.atLastCheckpoint(record, state.chain)!
    assert.deepEqual(start.encode(), state.encode())
    // An unpruned chain (as older peers stored and served it) verifies, folds to the pruned one.
    assert.equal(legacy.length, 15)
    const old = verifyChain(state.sectionId, record, legacy)
    assert.deepEqual(encodeChain(old.chain), encodeChain(state.chain))
    assert.deepEqual(SectionState.atLastCheckpoint(record, legacy)!.encode(), state.encode())
  })
})
