import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  checkpoint,
  decodeMessage,
  describeBlock,
  Ed25519SecretId,
  ed25519Scheme,
  encodeMessage,
  encodeObservation,
  fromUtf8,
  MockPublicId,
  MockSecretId,
  mockId,
  opaque,
  type PackedEvent,
  Parsec,
  ParsecError,
  toHex,
  utf8,
} from '../src/index.js'
import { message, seededRandom, TestSection, takeBlocks, took } from './support.js'

describe('engine', () => {
  it('agrees over Ed25519 identities and the wire encoding', () => {
    const secrets = Array.from({ length: 4 }, () => Ed25519SecretId.generate())
    const ids = secrets.map((s) => s.publicId)
    const nodes = secrets.map((us) => Parsec.fromGenesis({ us, genesis: ids, consensusMode: 'single' }))
    nodes.forEach((node, i) => {
      node.voteFor(opaque(utf8(`payload-${i}`)))
    })
    const random = seededRandom(42)
    const blocks: string[][] = nodes.map(() => [])
    for (let step = 0; step < 2000 && blocks.some((b) => b.length < 5); step++) {
      const from = nodes[Math.floor(random() * 4)]
      const recipients = from.gossipRecipients()
      const toId = recipients[Math.floor(random() * recipients.length)]
      const to = nodes[ids.findIndex((id) => id.name === toId.name)]
      const request = decodeMessage(encodeMessage(message(from, from.createGossip(to.ourId))), ed25519Scheme)
      const response = message(to, to.handleRequest(from.ourId, request))
      took(from, from.handleResponse(to.ourId, decodeMessage(encodeMessage(response), ed25519Scheme)))
      nodes.forEach((node, i) => {
        for (const b of takeBlocks(node)) blocks[i].push(b.payload.kind)
      })
    }
    for (const list of blocks) assert.deepEqual(list, ['genesis', 'opaque', 'opaque', 'opaque', 'opaque'])
  })

  it("a duplicate vote is a warning; a caller's misuse throws InvalidArgument", () => {
    const section = new TestSection(4, seededRandom(1))
    const alice = section.nodes[0]
    assert.equal(alice.voteFor(opaque(utf8('x'))).events.length, 1)
    assert.ok(alice.haveVotedFor(opaque(utf8('x'))))
    const size = alice.graphSize
    const again = alice.voteFor(opaque(utf8('x')))
    assert.deepEqual(again.warnings, [{ kind: 'duplicate-vote', observation: opaque(utf8('x')) }])
    assert.equal(again.events.length, 0)
    assert.equal(alice.graphSize, size)
    assert.throws(
      () => alice.createGossip(mockId('Mallory')),
      (e) => e instanceof ParsecError && e.code === 'InvalidArgument',
    )
    const joiner = Parsec.fromExisting({
      us: new MockSecretId('Eric'),
      genesis: ['Alice', 'Bob', 'Carol', 'Dave'].map(mockId),
      section: ['Alice', 'Bob', 'Carol', 'Dave'].map(mockId),
    })
    assert.equal(joiner.canVote(), false)
    assert.deepEqual(joiner.gossipRecipients(), [])
    assert.throws(
      () => joiner.voteFor(opaque(utf8('y'))),
      (e) => e instanceof ParsecError && e.code === 'InvalidArgument',
    )
    assert.throws(
      () => joiner.createGossip(mockId('Alice')),
      (e) => e instanceof ParsecError && e.code === 'InvalidArgument',
    )
    assert.throws(
      () => Parsec.fromGenesis({ us: new MockSecretId('Zed'), genesis: [mockId('Alice')] }),
      (e) => e instanceof ParsecError && e.code === 'InvalidArgument',
    )
  })

  it('a sole voter decides its own votes at once', () => {
    const solo = Parsec.fromGenesis({ us: new MockSecretId('Alice'), genesis: [mockId('Alice')] })
    // fromGenesis decides the genesis block outside any step: poll() has it.
    assert.equal(solo.poll()?.payload.kind, 'genesis')
    const one = solo.voteFor(opaque(utf8('one')))
    assert.deepEqual(
      one.blocks.map((b) => [b.position, b.block.payload.kind]),
      [[1, 'opaque']],
    )
    assert.equal(one.decisions.length, 1)
    assert.deepEqual(
      one.decisions[0].lastAncestors.map((a) => a.voter.name),
      ['Alice'],
    )
    const two = solo.voteFor(opaque(utf8('two')))
    assert.deepEqual(
      two.blocks.map((b) => b.position),
      [2],
    )
    assert.equal(solo.poll(), undefined, 'steps hand every block over')
    assert.deepEqual(solo.ourUnpolledObservations(), [])
  })

  it('a checkpoint is decided by a supermajority, as one block, in a Single-mode section too', () => {
    const section = new TestSection(4, seededRandom(7), 'single')
    const bytes = utf8('epoch 0 at 10')
    // Two of four votes are no supermajority: opaque payloads decide meanwhile, the checkpoint not.
    for (const name of ['Alice', 'Bob'])
      took(section.node(name), section.node(name).voteFor(checkpoint(bytes)))
    took(section.node('Carol'), section.node('Carol').voteFor(opaque(utf8('x'))))
    section.runUntilBlocks(2)
    for (let i = 0; i < 300; i++) section.gossipOnce()
    assert.ok(section.blocks.every((list) => list.every((b) => b.payload.kind !== 'checkpoint')))
    took(section.node('Dave'), section.node('Dave').voteFor(checkpoint(bytes)))
    section.runUntilBlocks(3)
    for (const list of section.blocks) {
      const found = list.filter((b) => b.payload.kind === 'checkpoint')
      assert.equal(found.length, 1, 'one block for three identical votes')
      assert.deepEqual(describeBlock(found[0]), {
        kind: 'checkpoint',
        payload: toHex(bytes),
        voters: ['Alice', 'Bob', 'Dave'],
      })
    }
    assert.equal(new Set(section.descriptions().map((d) => JSON.stringify(d))).size, 1)
    // Its wire form reads back, and the voter set is unchanged.
    const encoded = encodeObservation(checkpoint(bytes))
    assert.equal(encoded[0], 5, 'variant 5, after the reference five')
    assert.deepEqual(
      section.nodes.map((n) => n.gossipRecipients().length),
      [3, 3, 3, 3],
    )
  })

  it("a block's proof signatures own their bytes: no view keeps the graph's storage alive", () => {
    // Hosts keep blocks after the engine goes (the membership chain keeps every checkpoint's
    // proofs across epochs): a view of the graph's signature arena kept a whole chunk per proof.
    const section = new TestSection(4, seededRandom(3), 'single')
    for (const node of section.nodes) took(node, node.voteFor(opaque(utf8(`p-${node.ourId.name}`))))
    section.runUntilBlocks(5)
    const proofs = section.blocks.flatMap((list) => list.flatMap((b) => b.proofs))
    assert.ok(proofs.length >= 16)
    for (const { signature } of proofs) {
      assert.ok(signature.length > 0)
      assert.equal(signature.byteOffset, 0)
      assert.equal(signature.buffer.byteLength, signature.length)
    }
  })

  it('createGossip sends only what the peer claims to lack (its frontier), not what its events do not show', () => {
    const section = new TestSection(4, seededRandom(5), 'single')
    section.runUntilBlocks(1)
    const [alice, bob] = [section.node('Alice'), section.node('Bob')]
    for (let i = 0; i < 50; i++) took(alice, alice.voteFor(opaque(utf8(`a${i}`))))
    // Bob takes Alice's events by catch-up: he makes no event, so none of his shows he has them.
    const page = alice.exportEvents(bob.frontier(), 0, () => true)
    took(bob, bob.ingest(alice.ourId, page.events))
    const blind = message(alice, alice.createGossip(bob.ourId)).packedEvents
    assert.ok(blind.length > 50, `without Bob's frontier, Alice sends all again (${blind.length})`)
    const trimmed = message(alice, alice.createGossip(bob.ourId, bob.frontier())).packedEvents
    assert.deepEqual(
      trimmed.map((e) => e.cause.kind),
      ['requesting', 'requesting'],
      'with it, only her two Requesting events made since',
    )
    // And the exchange goes on as usual from there.
    const response = message(
      bob,
      bob.handleRequest(alice.ourId, { packedEvents: trimmed, known: alice.frontier() }),
    )
    took(alice, alice.handleResponse(bob.ourId, response))
  })

  it('counts the events gossip brought and those of them already held', () => {
    const section = new TestSection(4, seededRandom(6), 'single')
    section.runUntilBlocks(1)
    const [alice, bob] = [section.node('Alice'), section.node('Bob')]
    for (let i = 0; i < 20; i++) took(alice, alice.voteFor(opaque(utf8(`a${i}`))))
    const [received, duplicates] = [bob.eventsReceived, bob.duplicateEventsReceived]
    const inRequests = [bob.eventsReceivedInRequests, bob.duplicateEventsReceivedInRequests]
    const page = alice.exportEvents(bob.frontier(), 0, () => true)
    took(bob, bob.ingest(alice.ourId, page.events))
    assert.equal(bob.eventsReceived, received, 'a catch-up page is not gossip: nothing counted')
    // Alice does not know Bob has her votes: all of them come again, only her Requesting is new.
    const request = message(alice, alice.createGossip(bob.ourId))
    // A duplicate is found by its hash before any signature is checked: only the new event (her
    // Requesting event) is verified.
    const verify = MockPublicId.prototype.verify
    let verified = 0
    MockPublicId.prototype.verify = function (this: MockPublicId, signature, data) {
      verified++
      return verify.call(this, signature, data)
    }
    try {
      took(bob, bob.handleRequest(alice.ourId, request))
    } finally {
      MockPublicId.prototype.verify = verify
    }
    assert.equal(verified, 1, 'one verification: the new event')
    assert.equal(bob.eventsReceived - received, request.packedEvents.length)
    assert.equal(bob.duplicateEventsReceived - duplicates, request.packedEvents.length - 1)
    assert.deepEqual(
      [bob.eventsReceivedInRequests - inRequests[0], bob.duplicateEventsReceivedInRequests - inRequests[1]],
      [request.packedEvents.length, request.packedEvents.length - 1],
      'they came in a request',
    )
  })

  it('finds a held event without its hash, by every field the hash covers: a copy changed in one is new', () => {
    const section = new TestSection(4, seededRandom(7), 'single')
    section.runUntilBlocks(1)
    const [alice, bob] = [section.node('Alice'), section.node('Bob')]
    took(alice, alice.voteFor(opaque(utf8('held'))))
    const page = alice.exportEvents(bob.frontier(), 0, () => true)
    took(bob, bob.ingest(alice.ourId, page.events))
    const vote = page.events.find((e) => e.cause.kind === 'observation')
    const sync = page.events.find((e) => e.cause.kind === 'request' || e.cause.kind === 'response')
    assert.ok(vote !== undefined && vote.cause.kind === 'observation')
    assert.ok(sync !== undefined && (sync.cause.kind === 'request' || sync.cause.kind === 'response'))
    const size = bob.graphSize
    // The same content with another event signature is the same event (the hash does not cover
    // the signature): held, as when it was found by its hash.
    const resigned = { ...vote, signature: Uint8Array.from(vote.signature, (b) => b ^ 1) }
    took(bob, bob.ingest(alice.ourId, [resigned, sync]))
    assert.equal(bob.graphSize, size, 'both held')
    // Changed in a field the hash covers, each copy is a new event: its signature fails.
    const changed: PackedEvent[] = [
      { ...vote, cause: { ...vote.cause, vote: { ...vote.cause.vote, payload: opaque(utf8('other')) } } },
      {
        ...vote,
        cause: {
          ...vote.cause,
          vote: { ...vote.cause.vote, signature: Uint8Array.from(vote.cause.vote.signature, (b) => b ^ 1) },
        },
      },
      { ...sync, cause: { ...sync.cause, otherParent: sync.cause.selfParent } },
    ]
    const requesting = page.events.find((e) => e.cause.kind === 'requesting')
    if (requesting !== undefined && requesting.cause.kind === 'requesting') {
      const other = section.node(requesting.cause.recipient.name === 'Carol' ? 'Dave' : 'Carol').ourId
      changed.push({ ...requesting, cause: { ...requesting.cause, recipient: other } })
    }
    for (const copy of changed) {
      const step = bob.ingest(alice.ourId, [copy])
      assert.equal(step.error?.code, 'SignatureFailure', `a changed copy of a ${copy.cause.kind} event`)
      assert.equal(bob.graphSize, size)
    }
  })

  it("agrees each voter's Single-mode payloads in the order it voted them (the reference may swap them)", () => {
    /** Per seed, the payloads agreed before an earlier one of their voter (every peer agreeing). */
    const swaps = (referenceRules: boolean): number => {
      let found = 0
      for (let seed = 1; seed <= 12; seed++) {
        const section = new TestSection(4, seededRandom(seed), 'single', { referenceRules })
        const random = seededRandom(1000 + seed)
        const voted = section.nodes.map(() => 0)
        for (let step = 0; step < 600; step++) {
          if (random() < 0.4) {
            const at = Math.floor(random() * section.nodes.length)
            section.nodes[at].voteFor(opaque(utf8(`${at}:${voted[at]++}`)))
          } else section.gossipOnce()
        }
        section.runUntilBlocks(1 + voted.reduce((a, b) => a + b, 0), 20_000)
        const orders = section.blocks.map((blocks) =>
          blocks.flatMap((b) => (b.payload.kind === 'opaque' ? [fromUtf8(b.payload.payload)] : [])),
        )
        for (const order of orders)
          assert.deepEqual(order, orders[0], `seed ${seed}: one order at every peer`)
        const next = voted.map(() => 0)
        for (const payload of orders[0]) {
          const [at, k] = payload.split(':').map(Number)
          if (k !== next[at]) {
            found++
            assert.ok(
              referenceRules,
              `seed ${seed}: voter ${at}'s payload ${k} agreed before its ${next[at]}`,
            )
          }
          next[at] = Math.max(next[at], k + 1)
        }
      }
      return found
    }
    assert.equal(swaps(false), 0)
    // The same runs under the reference's order: some payloads overtake (why the rule exists).
    assert.ok(swaps(true) > 0, 'the reference order swapped nothing: the test shows nothing')
  })
})
