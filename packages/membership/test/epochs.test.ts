/**
 * The membership machine's side of the epoch switch (docs/epochs.md §2, §4): the epoch-start
 * history digest, `SectionState.epochVoters`, a voter's `newEpoch` with the re-cast of its undecided
 * votes, a joiner starting from the last checkpoint, and a replaying joiner crossing one.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { describe, it } from 'node:test'
import {
  type Block,
  checkpoint,
  encodeObservation,
  genesis,
  MockSecretId,
  mockId,
  type Observation,
  opaque,
  type PublicId,
  toHex,
  utf8,
} from '@parsec-section/parsec-core'
import {
  decodeChain,
  decodeMessage,
  decodeMessageOf,
  encodeChain,
  encodeCheckpoint,
  epochStartDigest,
  genesisRecord,
  Membership,
  type MembershipConfig,
  mockPeerIds,
  SectionState,
  type Step,
  verifyChain,
} from '../src/index.js'
import { FAST, Harness } from './harness.js'
import { type RealPeer, RealSection } from './real-engine.js'
import { ids, seededRandom, signedBlock } from './support.js'

const FOUR = ['Alice', 'Bob', 'Carol', 'Dave']
const record = genesisRecord(ids(FOUR), utf8('epochs'))

function sha256(...parts: Uint8Array[]): Uint8Array {
  const hash = createHash('sha256')
  for (const part of parts) hash.update(part)
  return new Uint8Array(hash.digest())
}

/** A state of the four founders folding blocks as an uninterrupted member does. */
function founded(checkpointBlocks: number) {
  const state = new SectionState(record, 256, undefined, checkpointBlocks)
  const blocks: Block[] = []
  const fold = (payload: Observation, signers = FOUR) => {
    const block = signedBlock(payload, signers)
    blocks.push(block)
    return state.applyBlock(block, state.agreedBlocks)
  }
  fold(genesis(ids(FOUR), utf8('epochs')))
  /** Folds the due checkpoint: its position. */
  const foldCheckpoint = (signers = FOUR) => {
    const due = state.dueCheckpoint
    assert.ok(due !== undefined, 'a checkpoint is due')
    const at = state.agreedBlocks
    fold(checkpoint(encodeCheckpoint(due)), signers)
    return at
  }
  return { state, fold, foldCheckpoint, blocks }
}

const addOf = (name: string): Observation => ({
  kind: 'add',
  peer: mockId(name),
  relatedInfo: new Uint8Array(0),
})

describe('epochs: the section state', () => {
  it('the digest after a checkpoint is the epoch-start digest; every other block chains', () => {
    const { state, fold, foldCheckpoint } = founded(2)
    fold(opaque(utf8('one')))
    const before = state.historyDigest(state.agreedBlocks)!
    const q = foldCheckpoint()
    const entry = state.chain.at(-1)!
    assert.equal(entry.change.kind, 'checkpoint')
    const observation = entry.observation
    const start = state.historyDigest(q + 1)!
    assert.equal(toHex(start), toHex(epochStartDigest(observation, q)))
    assert.notEqual(toHex(start), toHex(sha256(before, observation)), 'not chained')
    fold(opaque(utf8('two')))
    assert.equal(
      toHex(state.historyDigest(q + 2)!),
      toHex(sha256(start, encodeObservation(opaque(utf8('two'))))),
    )
    // The next epoch's checkpoint names the digest chained from the start digest.
    fold(opaque(utf8('three')))
    assert.equal(toHex(state.dueCheckpoint!.historyDigest), toHex(state.historyDigest(q + 3)!))
    // A checkpoint the fold refuses (another epoch's) starts nothing: it chains like any block.
    const wrong = checkpoint(encodeCheckpoint({ ...state.dueCheckpoint!, epoch: 7 }))
    const k = state.agreedBlocks
    const previous = state.historyDigest(k)!
    fold(wrong)
    assert.equal(state.epoch, 1)
    assert.equal(toHex(state.historyDigest(k + 1)!), toHex(sha256(previous, encodeObservation(wrong))))
  })

  it('epochVoters: the genesis group in epoch 0, the members after the checkpoint later', () => {
    const { state, fold, foldCheckpoint } = founded(3)
    assert.deepEqual(
      state.epochVoters.map((id) => id.name),
      FOUR,
    )
    assert.deepEqual(state.epochRelatedInfo, utf8('epochs'))
    fold(addOf('Eric'))
    fold(opaque(utf8('one')))
    const cpBytes = encodeCheckpoint(state.dueCheckpoint!)
    fold({ kind: 'remove', peer: mockId('Bob'), relatedInfo: new Uint8Array(0) })
    foldCheckpoint()
    assert.equal(state.epoch, 1)
    assert.deepEqual(
      state.epochVoters.map((id) => id.name),
      ['Alice', 'Carol', 'Dave', 'Eric'],
    )
    assert.deepEqual(state.epochRelatedInfo, cpBytes)
    // Changes within the epoch do not move its voters.
    fold(addOf('Fred'))
    assert.deepEqual(
      state.epochVoters.map((id) => id.name),
      ['Alice', 'Carol', 'Dave', 'Eric'],
    )
  })

  it('atLastCheckpoint: a chain-only start at the last checkpoint folds on to the members’ state', () => {
    const member = founded(3)
    member.fold(opaque(utf8('a')))
    member.fold(addOf('Eric'))
    member.foldCheckpoint()
    member.fold(opaque(utf8('b')))
    member.fold({ kind: 'remove', peer: mockId('Bob'), relatedInfo: new Uint8Array(0) })
    member.fold(opaque(utf8('c')))
    const q2 = member.foldCheckpoint(['Alice', 'Carol', 'Dave', 'Eric'])
    assert.equal(member.state.epoch, 2)
    const chain = [...member.state.chain]
    const verified = verifyChain(member.state.sectionId, record, chain)
    const joiner = SectionState.atLastCheckpoint(record, verified.chain, 256, undefined, 3)
    assert.ok(joiner !== undefined)
    assert.equal(joiner.agreedBlocks, q2 + 1)
    assert.equal(joiner.epoch, 2)
    assert.equal(joiner.epochStart, q2 + 1)
    assert.deepEqual(joiner.checkpoint, member.state.checkpoint)
    assert.equal(toHex(joiner.historyDigest(q2 + 1)!), toHex(member.state.historyDigest(q2 + 1)!))
    assert.equal(joiner.historyDigest(q2), undefined, 'nothing before the epoch start')
    assert.equal(toHex(joiner.hash()), toHex(member.state.hash()), 'the same state at Q+1')
    assert.deepEqual(
      joiner.epochVoters.map((id) => id.name),
      member.state.epochVoters.map((id) => id.name),
    )
    // Both fold the same later blocks to the same state and digests, and the next checkpoint.
    for (const block of [
      signedBlock(opaque(utf8('d')), FOUR),
      signedBlock(addOf('Fred'), ['Alice', 'Carol', 'Dave', 'Eric']),
      signedBlock(opaque(utf8('e')), FOUR),
    ]) {
      const at = member.state.agreedBlocks
      member.state.applyBlock(block, at)
      joiner.applyBlock(block, at)
      assert.equal(toHex(joiner.hash()), toHex(member.state.hash()))
      assert.equal(toHex(joiner.historyDigest(at + 1)!), toHex(member.state.historyDigest(at + 1)!))
    }
    assert.deepEqual(joiner.dueCheckpoint, member.state.dueCheckpoint)
    assert.ok(joiner.dueCheckpoint !== undefined)
    // No checkpoint in the chain: no such start.
    const young = founded(0)
    young.fold(addOf('Eric'))
    assert.equal(SectionState.atLastCheckpoint(record, young.state.chain), undefined)
  })
})

describe('epochs: resume', () => {
  it('resume from the stored chain (to the last checkpoint) and the epoch’s blocks: the uninterrupted state', () => {
    const member = founded(3)
    member.fold(opaque(utf8('a')))
    member.fold(addOf('Eric'))
    member.foldCheckpoint()
    member.fold(opaque(utf8('b')))
    member.fold(opaque(utf8('c')))
    member.fold(opaque(utf8('c2')))
    const q = member.foldCheckpoint(['Alice', 'Bob', 'Carol', 'Dave', 'Eric'])
    const stored = encodeChain(member.state.chain)
    const chain = decodeChain(stored, mockPeerIds)
    assert.equal(chain.length, member.state.chain.length)
    member.fold(opaque(utf8('d')))
    member.fold(addOf('Fred'), ['Alice', 'Bob', 'Carol', 'Dave', 'Eric'])
    const since = member.blocks.slice(q + 1)
    const resumed = Membership.resume({
      us: new MockSecretId('Alice'),
      now: 0,
      rng: seededRandom(1),
      config: { checkpointBlocks: 3 },
      record,
      chain,
      blocks: since,
    })
    const state = resumed.state!
    assert.equal(state.agreedBlocks, member.state.agreedBlocks)
    assert.equal(state.epoch, 2)
    assert.equal(toHex(state.hash()), toHex(member.state.hash()))
    assert.equal(
      toHex(state.historyDigest(state.agreedBlocks)!),
      toHex(member.state.historyDigest(state.agreedBlocks)!),
    )
    assert.deepEqual(
      state.memberIds().map((id) => id.name),
      ['Alice', 'Bob', 'Carol', 'Dave', 'Eric', 'Fred'],
    )
    // A chain with no checkpoint is no place to start from.
    assert.throws(
      () =>
        Membership.resume({
          us: new MockSecretId('Alice'),
          now: 0,
          rng: seededRandom(1),
          record,
          chain: chain.slice(0, 2),
          blocks: [],
        }),
      { code: 'InvalidArgument' },
    )
  })
})

/** Alice, a founder of four, fed blocks by hand (each signed by the founders). */
function alice(config: Partial<MembershipConfig>) {
  const machine = Membership.found({
    us: new MockSecretId('Alice'),
    now: 0,
    rng: seededRandom(1),
    config,
    record,
  })
  machine.start()
  machine.blocks([signedBlock(genesis(ids(FOUR), utf8('epochs')), FOUR)], 0)
  const feed = (payloads: readonly Observation[], signers = FOUR): Step =>
    machine.blocks(
      payloads.map((p) => signedBlock(p, signers)),
      machine.state!.agreedBlocks,
    )
  const due = () => checkpoint(encodeCheckpoint(machine.state!.dueCheckpoint!))
  return { machine, feed, due }
}

const keysOf = (votes: readonly Observation[]) => votes.map((v) => toHex(encodeObservation(v)))

describe('epochs: a voter switches', () => {
  const config = { ...FAST, checkpointBlocks: 3 }

  it('newEpoch, then its undecided Add re-cast in the same step, once', () => {
    const { machine, feed, due } = alice(config)
    const first = machine.command({ kind: 'proposeAdd', peer: mockId('Zed') })
    assert.deepEqual(keysOf(first.votes), keysOf([addOf('Zed')]))
    const voted = feed([opaque(utf8('a')), opaque(utf8('b'))])
    assert.deepEqual(
      voted.votes.map((v) => v.kind),
      ['checkpoint'],
    )
    const q = machine.state!.agreedBlocks
    const step = feed([due()])
    assert.deepEqual(step.engine, [
      {
        kind: 'newEpoch',
        epoch: 1,
        genesis: machine.state!.epochVoters,
        relatedInfo: machine.state!.epochRelatedInfo,
        start: q + 1,
      },
    ])
    assert.deepEqual(
      step.engine[0].kind === 'newEpoch' ? step.engine[0].genesis.map((id) => id.name) : [],
      FOUR,
    )
    assert.deepEqual(keysOf(step.votes), keysOf([addOf('Zed')]), 'the Add once, no checkpoint')
    // Next epoch's checkpoint: the Add is still undecided, re-cast again (the engine refuses
    // nothing: it is a new engine).
    feed([opaque(utf8('c')), opaque(utf8('d')), opaque(utf8('e'))])
    const again = feed([due()])
    assert.equal(again.engine[0]?.kind, 'newEpoch')
    assert.deepEqual(keysOf(again.votes), keysOf([addOf('Zed')]))
  })

  it('re-cast in the order cast; the old engine’s blocks after the checkpoint are dropped', () => {
    const { machine, feed, due } = alice(config)
    machine.command({ kind: 'proposeAdd', peer: mockId('Zed') })
    const removal = machine.command({ kind: 'proposeRemove', peer: mockId('Dave') }).votes
    assert.deepEqual(
      removal.map((v) => v.kind),
      ['remove'],
    )
    feed([opaque(utf8('a')), opaque(utf8('b'))])
    const q = machine.state!.agreedBlocks
    // One poll of the old engine: the checkpoint, then its decision of Add(Zed) after the epoch's end.
    const step = feed([due(), addOf('Zed')])
    assert.equal(step.engine.filter((d) => d.kind === 'newEpoch').length, 1)
    assert.deepEqual(keysOf(step.votes), keysOf([addOf('Zed'), ...removal]), 'in the order cast, once')
    assert.equal(machine.state!.agreedBlocks, q + 1, 'nothing folded after the checkpoint')
    assert.ok(step.warnings.some((w) => w.kind === 'Dropped' && w.detail.includes(`checkpoint at ${q}`)))
    assert.ok(!machine.state!.isMember('Zed'))
    // The new engine decides it: folded at Q+1, no longer re-cast at the next checkpoint.
    feed([addOf('Zed')])
    assert.ok(machine.state!.isMember('Zed'))
    feed([opaque(utf8('c')), opaque(utf8('d'))])
    const next = feed([due()])
    assert.equal(next.engine[0]?.kind, 'newEpoch')
    assert.deepEqual(keysOf(next.votes), keysOf(removal))
  })

  it('a removed peer emits no newEpoch', () => {
    const { machine, feed, due } = alice(config)
    feed([opaque(utf8('a')), opaque(utf8('b'))])
    const step = feed(
      [{ kind: 'remove', peer: mockId('Alice'), relatedInfo: new Uint8Array(0) }, due()],
      ['Bob', 'Carol', 'Dave'],
    )
    assert.equal(machine.role, 'draining')
    assert.equal(machine.state!.epoch, 1)
    assert.deepEqual(
      step.engine.map((d) => d.kind),
      ['serveOnly'],
    )
  })

  it('a new engine’s lower lastAncestors are progress, not silence', () => {
    const { machine, feed, due } = alice({ ...config, unresponsiveDecisions: 2, unresponsiveMs: 100 })
    const others = ['Bob', 'Carol', 'Dave']
    let index = 0
    const decide = (last: number) =>
      machine.decision({ index: index++, lastAncestors: new Map(others.map((n) => [n, last])) })
    for (let i = 0; i < 5; i++) {
      machine.tick(machine.now + 50)
      decide(100 + i)
    }
    feed([opaque(utf8('a')), opaque(utf8('b'))])
    feed([due()])
    for (let i = 0; i < 5; i++) {
      machine.tick(machine.now + 50)
      decide(i)
    }
    assert.deepEqual(machine.suspects(), [])
  })
})

describe('epochs: joiners', () => {
  const config: Partial<MembershipConfig> = { ...FAST, checkpointBlocks: 8, ticketMaxAge: 8 }

  it('a joiner admitted after two checkpoints starts at the last one and joins', () => {
    const h = new Harness(FOUR, config)
    h.trafficEvery = 2
    h.run(() => h.node('Alice').machine.state!.epoch >= 2)
    const q2 = h.node('Alice').machine.state!.epochStart - 1
    h.trafficEvery = 0
    const readies: { k: number; digest: string }[] = []
    h.dropMessage = (envelope) => {
      if (envelope.kind === 'ready') {
        const ready = decodeMessageOf(envelope.bytes, 'ready', h.node('Alice').machine.ids)
        readies.push({ k: ready.k, digest: toHex(ready.historyDigest) })
      }
      return false
    }
    const eric = h.addJoiner('Eric')
    h.run(() => eric.machine.role === 'member')
    assert.deepEqual(eric.faults, [])
    assert.equal(eric.constructs.length, 1)
    const construct = eric.constructs[0]
    assert.equal(construct.epoch, 2)
    assert.equal(construct.start, q2 + 1)
    assert.deepEqual(
      construct.genesis.map((id) => id.name),
      FOUR,
    )
    assert.deepEqual(construct.relatedInfo, h.node('Alice').machine.state!.epochRelatedInfo)
    // Its Ready's digest is the members' at that k (computed from the checkpoint's start digest).
    assert.ok(readies.length > 0)
    for (const { k, digest } of readies) {
      assert.ok(k > q2)
      assert.equal(digest, toHex(h.node('Alice').machine.state!.historyDigest(k)!))
    }
    h.trafficEvery = 2
    h.run(
      () => eric.machine.state!.epoch >= 3 && [...h.nodes.values()].every((n) => n.fed === h.blocks.length),
    )
    const hashes = h.stateHashes()
    assert.equal(hashes.size, 5)
    assert.equal(new Set(hashes.values()).size, 1, 'the joiner holds the members’ state')
    assert.ok(eric.epochs.length >= 1, 'a voter now: it switches with the others')
  })

  it('an Add in flight at the checkpoint is re-cast and decided in the new epoch', () => {
    const h = new Harness(FOUR, { ...FAST, checkpointBlocks: 10 })
    // Eric's Ready reaches Alice only (held for the others): one vote, too few to be seconded.
    const held: { from: PublicId; to: string; bytes: Uint8Array }[] = []
    h.dropMessage = (envelope) => {
      if (envelope.kind !== 'ready' || envelope.to === 'Alice') return false
      held.push(envelope)
      return true
    }
    const eric = h.addJoiner('Eric')
    const alice = h.node('Alice')
    const isAddEric = (v: Observation) => v.kind === 'add' && v.peer.name === 'Eric'
    h.run(() => alice.votes.some(isAddEric))
    h.trafficEvery = 1
    h.run(() => alice.machine.state!.epoch >= 1)
    assert.ok(!h.blocks.some((b) => isAddEric(b.payload)), 'not decided in epoch 0')
    assert.equal(alice.votes.filter(isAddEric).length, 2, 'cast, then re-cast in the new epoch')
    assert.ok(alice.epochs.length === 1)
    h.trafficEvery = 4
    h.dropMessage = () => false
    for (const envelope of held) {
      const node = h.node(envelope.to)
      h.handle(node, node.machine.receive(envelope.from, envelope.bytes))
    }
    h.run(() => eric.machine.role === 'member')
    const add = h.blocks.find((b) => isAddEric(b.payload))
    assert.ok(add !== undefined)
    assert.ok(
      add.proofs.some((p) => p.publicId.name === 'Alice'),
      'the re-cast vote counted',
    )
    assert.deepEqual(eric.faults, [])
  })

  it('a replaying joiner that crosses a checkpoint rebuilds its observer in the new epoch; its Add is re-cast', () => {
    const h = new Harness(FOUR, config)
    h.trafficEvery = 1
    h.replayBlocksPerStep = 1
    h.run(() => h.blocks.length >= 4)
    const eric = h.addJoiner('Eric')
    h.run(() => eric.constructs.length >= 2, 2_000)
    h.trafficEvery = 4
    h.run(() => eric.machine.role === 'member', 5_000)
    assert.deepEqual(eric.faults, [])
    const kinds = eric.engineLog.map((l) => l.split(':')[1])
    const second = kinds.indexOf('construct', kinds.indexOf('construct') + 1)
    assert.equal(kinds[second + 1], 'catchUp', 'construct then catchUp')
    assert.equal(eric.constructs[0].epoch, 0)
    assert.equal(eric.constructs[1].epoch, 1)
    assert.equal(eric.constructs[1].start, h.blocks.findIndex((b) => b.payload.kind === 'checkpoint') + 1)
    h.run(() => [...h.nodes.values()].every((n) => n.fed === h.blocks.length))
    const hashes = h.stateHashes()
    assert.equal(hashes.size, 5)
    assert.equal(new Set(hashes.values()).size, 1)
    assert.equal(h.blocks.filter((b) => b.payload.kind === 'add').length, 1, 'added once')
  })

  /**
   * Eric is Ready, then its replay stalls (its server's graph of that epoch is gone) while the
   * section agrees its Add and moves on; a member answers its pull from a later epoch.
   */
  function stalledJoiner(epochsAfterAdd: number) {
    // Patient members: Eric makes no event while it lags, and is not removed for it.
    const patient = {
      unresponsiveDecisions: 10_000,
      unresponsiveMs: 1e9,
      joinGraceBlocks: 10_000,
      joinGraceMs: 1e9,
    }
    const h = new Harness(FOUR, { ...config, ...patient, candidateTimeoutMs: 1e9 })
    h.trafficEvery = 2
    h.run(() => h.blocks.length >= 3)
    const eric = h.addJoiner('Eric')
    h.run(() => eric.machine.role === 'ready')
    h.replayBlocksPerStep = 0
    const alice = h.node('Alice')
    h.run(() => alice.machine.state!.isMember('Eric'))
    const addEpoch = alice.machine.state!.epoch
    h.run(() => alice.machine.state!.epoch >= addEpoch + epochsAfterAdd)
    assert.equal(eric.machine.role, 'ready')
    h.handle(
      eric,
      eric.machine.engineSelf({
        aheadEpoch: { peer: alice.secret.publicId, epoch: alice.machine.state!.epoch },
      }),
    )
    return { h, eric, alice }
  }

  it('a ready joiner whose Add was agreed before the last checkpoint rebuilds as a voter of its epoch', () => {
    const { h, eric, alice } = stalledJoiner(2)
    h.run(() => eric.machine.role === 'member')
    assert.deepEqual(eric.faults, [])
    const rebase = eric.engineLog.find((l) => l.split(':')[1] === 'rebase')
    assert.ok(rebase !== undefined, 'a rebase, not a replay of the epochs in between')
    const state = eric.machine.state!
    assert.ok(
      state.epochVoters.some((id) => id.name === 'Eric'),
      'a genesis voter of its epoch',
    )
    assert.ok(eric.events.some((e) => e.type === 'self:joined'))
    const epoch = state.epoch
    h.run(() => eric.machine.state!.epoch > epoch && eric.fed === h.blocks.length)
    h.run(() => [...h.nodes.values()].every((n) => n.fed === h.blocks.length))
    const hashes = h.stateHashes()
    assert.equal(hashes.size, 5)
    assert.equal(new Set(hashes.values()).size, 1, 'the rebuilt joiner holds the members’ state')
    assert.ok(alice.machine.state!.isMember('Eric'))
  })

  it('a ready joiner whose Add was agreed after the last checkpoint pulls it from the member that proved it', () => {
    const logged = (eric: { engineLog: string[] }) => eric.engineLog.length
    const { h, eric } = stalledJoiner(0)
    const before = logged(eric)
    h.run(() => eric.engineLog.slice(before).some((l) => l.endsWith(':catchUp:Alice')))
    // Alice serves it: the replay goes on and folds the Add.
    h.replayBlocksPerStep = Number.POSITIVE_INFINITY
    h.run(() => eric.machine.role === 'member')
    assert.deepEqual(eric.faults, [])
    assert.ok(!eric.engineLog.some((l) => l.split(':')[1] === 'rebase'))
    h.run(() => [...h.nodes.values()].every((n) => n.fed === h.blocks.length))
    const hashes = h.stateHashes()
    assert.equal(new Set(hashes.values()).size, 1)
  })
})

/** M1 over global positions: peers that folded the same count of blocks hold the same state. */
function checkM1(section: RealSection, seed: number): void {
  const byCount = new Map<number, { name: string; hash: string }>()
  for (const peer of section.peers.values()) {
    for (const [count, hash] of peer.hashes) {
      const other = byCount.get(count)
      if (other === undefined) byCount.set(count, { name: peer.name, hash })
      else assert.equal(hash, other.hash, `seed ${seed}: M1 at ${count}, ${peer.name} vs ${other.name}`)
    }
  }
}

/** M2 per epoch: a voter's current engine is of its state's epoch, its voters the state's members. */
function checkM2(peer: RealPeer, seed: number): void {
  const state = peer.machine.state!
  assert.equal(peer.epoch, state.epoch, `seed ${seed}: ${peer.name}'s engine epoch`)
  const voters = peer
    .engine!.view()
    .voters.map((id) => id.name)
    .sort()
  // A new epoch's engine knows its voters once its genesis block is decided.
  if (state.epoch > 0 && voters.length === 0) return
  assert.deepEqual(
    voters,
    state
      .memberIds()
      .map((id) => id.name)
      .sort(),
    `seed ${seed}: M2 at ${peer.name}`,
  )
}

for (const seed of [1, 2, 3]) {
  it(`real engines switch epochs; a joiner starts from the last checkpoint and switches with them (seed ${seed})`, () => {
    const config = {
      powBits: 4,
      probationBlocks: 0,
      minBlocksBetweenAdds: 0,
      readyLag: 2,
      checkpointBlocks: 8,
      ticketMaxAge: 8,
    }
    const section = new RealSection(FOUR, config, seed)
    const founders = FOUR.map((n) => section.peer(n))
    const run = (until: () => boolean, max: number, what: string) => {
      for (let i = 0; i < max && !until(); i++) {
        section.step()
        checkM1(section, seed)
        for (const peer of section.voters())
          if (peer.machine.role === 'member' && peer.machine.state!.seq > 0) checkM2(peer, seed)
      }
      assert.ok(until(), `seed ${seed}: ${what} not done after ${max} rounds`)
    }
    run(() => founders.every((p) => (p.machine.state?.epoch ?? 0) >= 2), 60_000, 'two epochs')
    const eric = section.addJoiner('Eric', ['Alice', 'Bob'])
    run(() => eric.machine.role === 'member', 60_000, 'Eric joining')
    const construct = eric.directives.find((d) => d.kind === 'construct')
    assert.ok(construct?.kind === 'construct')
    assert.ok(construct.epoch >= 2, `seed ${seed}: Eric started in epoch ${construct.epoch}`)
    assert.equal(
      construct.start,
      // The chain keeps the last checkpoint only: the founders' switch to that epoch says where it started.
      startOf(founders[0], construct.epoch),
    )
    const target = Math.max(...founders.map((p) => p.machine.state!.epoch)) + 2
    const everyone = [...founders, eric]
    run(() => everyone.every((p) => p.machine.state!.epoch >= target), 60_000, 'two more epochs')
    for (const peer of everyone) {
      assert.deepEqual(peer.faults, [], `seed ${seed}: ${peer.name} faults ${JSON.stringify(peer.faults)}`)
      assert.ok(peer.directives.some((d) => d.kind === 'newEpoch'))
    }
    assert.ok(eric.directives.filter((d) => d.kind === 'newEpoch').length >= 2, 'Eric switches as a voter')
    const members = section
      .peer('Alice')
      .machine.state!.memberIds()
      .map((id) => id.name)
    assert.deepEqual(members, [...FOUR, 'Eric'])
  })
}

for (const seed of [1, 2, 3]) {
  it(`real engines: an Add in flight is re-cast across the switch; the replaying joiner crosses the checkpoint (seed ${seed})`, () => {
    const config = {
      powBits: 4,
      probationBlocks: 0,
      minBlocksBetweenAdds: 0,
      readyLag: 2,
      checkpointBlocks: 4,
      ticketMaxAge: 30,
      candidateTimeoutMs: 10_000,
    }
    const section = new RealSection(FOUR, config, seed)
    const founders = FOUR.map((n) => section.peer(n))
    const alice = section.peer('Alice')
    const run = (until: () => boolean, max: number, what: string) => {
      for (let i = 0; i < max && !until(); i++) {
        section.step()
        checkM1(section, seed)
      }
      assert.ok(until(), `seed ${seed}: ${what} not done after ${max} rounds`)
    }
    run(() => founders.every((p) => (p.machine.state?.epoch ?? 0) >= 1), 60_000, 'an epoch')
    // Eric's Ready reaches Alice only: her Add vote alone, too few to be decided or seconded.
    const held: { from: PublicId; to: string; bytes: Uint8Array }[] = []
    section.dropMessage = (envelope) => {
      if (envelope.from.name !== 'Eric' || envelope.to === 'Alice') return false
      if (decodeMessage(envelope.bytes, alice.machine.ids).kind !== 'ready') return false
      held.push(envelope)
      return true
    }
    const eric = section.addJoiner('Eric', ['Alice', 'Bob'])
    run(() => alice.machine.peerState('Eric') === 'candidate-voted', 60_000, "Alice's Add vote")
    const epoch = alice.machine.state!.epoch
    const constructs = () => eric.directives.filter((d) => d.kind === 'construct')
    run(
      () => alice.machine.state!.epoch > epoch && constructs().length >= 2,
      60_000,
      'a checkpoint crossed by Alice and by Eric',
    )
    const isAddEric = (e: { change: { kind: string; peer?: PublicId } }) =>
      e.change.kind === 'add' && e.change.peer?.name === 'Eric'
    assert.ok(!alice.machine.state!.chain.some(isAddEric), 'undecided in the old epoch')
    const kinds = eric.directives.map((d) => d.kind)
    const second = kinds.indexOf('construct', kinds.indexOf('construct') + 1)
    assert.equal(kinds[second + 1], 'catchUp', `seed ${seed}: construct, then catchUp`)
    section.dropMessage = () => false
    for (const envelope of held) {
      const peer = section.peer(envelope.to)
      section.apply(peer, peer.machine.receive(envelope.from, envelope.bytes))
    }
    run(() => eric.machine.role === 'member', 60_000, 'Eric joining')
    const add = alice.machine.state!.chain.find(isAddEric)
    assert.ok(add !== undefined && add.position >= startOf(alice, epoch + 1), 'decided in a later epoch')
    assert.ok(
      add.proofs.some((p) => p.publicId.name === 'Alice'),
      `seed ${seed}: Alice's re-cast vote decided it`,
    )
    for (const peer of [...founders, eric])
      assert.deepEqual(peer.faults, [], `seed ${seed}: ${peer.name} ${JSON.stringify(peer.faults)}`)
  })
}

/** Where a peer's epoch `epoch` started, from the directive that switched it there. */
function startOf(peer: RealPeer, epoch: number): number {
  const switched = peer.directives.find(
    (d) => (d.kind === 'newEpoch' || d.kind === 'rebase' || d.kind === 'construct') && d.epoch === epoch,
  )
  assert.ok(
    switched?.kind === 'newEpoch' || switched?.kind === 'rebase' || switched?.kind === 'construct',
    `no switch to ${epoch}`,
  )
  return switched.start
}
