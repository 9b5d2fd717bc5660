/**
 * The one output of the engine (`Step`) and its read-only view: what a host persists, delivers
 * and sends; merging; decisions with their last ancestors; warnings; `view()` as a copy.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  add,
  describeBlock,
  emptyStep,
  MockSecretId,
  mergeSteps,
  mockId,
  opaque,
  Parsec,
  ParsecError,
  remove,
  type Step,
  utf8,
} from '../src/index.js'
import { message, NAMES, seededRandom, TestSection, takeBlocks, took } from './support.js'

describe('engine steps', () => {
  it('a sync hands over the message, our new events in insertion order, and every queued block', () => {
    const seed = 3
    const section = new TestSection(4, seededRandom(seed), 'single')
    const [alice, bob] = section.nodes
    const size = alice.graphSize
    const vote = alice.voteFor(opaque(utf8('x')))
    assert.equal(vote.message, undefined)
    assert.deepEqual(
      vote.events.map((e) => [e.creator.name, e.cause.kind]),
      [['Alice', 'observation']],
    )
    assert.deepEqual(vote.events, alice.packedEvents(size), 'the events are the graph’s new ones')
    const gossip = alice.createGossip(bob.ourId)
    assert.deepEqual(
      gossip.events.map((e) => e.cause.kind),
      ['requesting'],
    )
    const request = gossip.message
    assert.ok(request !== undefined)
    assert.deepEqual(request.packedEvents.at(-1), gossip.events[0], 'the request ends with our new event')
    const bobSize = bob.graphSize
    const answer = bob.handleRequest(alice.ourId, request)
    assert.equal(answer.error, undefined)
    assert.ok(answer.message !== undefined)
    assert.deepEqual(answer.events, bob.packedEvents(bobSize), 'received events, then our Request event')
    assert.equal(answer.events.at(-1)?.cause.kind, 'request')
    // Blocks: positions follow the agreed order, each handed over once, nothing left for poll().
    const positions: number[] = []
    for (let i = 0; i < 400 && positions.length < 2; i++) {
      const from = section.nodes[i % 4]
      const to = section.nodes[(i + 1 + (i % 3)) % 4]
      const step = from.createGossip(to.ourId)
      const reply = to.handleRequest(from.ourId, step.message!)
      const last = from.handleResponse(to.ourId, reply.message!)
      const alices = from === alice ? [step, last] : to === alice ? [reply] : []
      for (const s of alices) positions.push(...s.blocks.map((b) => b.position))
      assert.equal(alice.poll(), undefined, `seed ${seed}: every block is in a step`)
    }
    assert.deepEqual(positions, [0, 1], `seed ${seed}`)
  })

  it('steps merge in call order: lists concatenated, the last message, the first error', () => {
    const section = new TestSection(4, seededRandom(5))
    const [alice, bob] = section.nodes
    const one = alice.voteFor(opaque(utf8('one')))
    const two = alice.createGossip(bob.ourId)
    const bad = bob.handleRequest(alice.ourId, { packedEvents: [] })
    const merged: Step<unknown> = mergeSteps<unknown>(one, two, emptyStep(), bad)
    assert.deepEqual(merged.events, [...one.events, ...two.events])
    assert.equal(merged.message, two.message)
    assert.equal(merged.error?.code, 'InvalidMessage')
    assert.deepEqual(merged.faults, bad.faults)
    assert.deepEqual(mergeSteps(emptyStep(), emptyStep()), emptyStep())
  })

  it('bad input never throws: an unknown sender, an empty message, a removed self are in the step', () => {
    const section = new TestSection(4, seededRandom(6))
    const [alice, bob] = section.nodes
    const request = message(alice, alice.createGossip(bob.ourId))
    const unknown = bob.handleRequest(mockId('Mallory'), request)
    assert.equal(unknown.error?.code, 'UnknownPeer')
    assert.equal(unknown.message, undefined)
    const empty = bob.handleResponse(alice.ourId, { packedEvents: [] })
    assert.equal(empty.error?.code, 'InvalidMessage')
    assert.deepEqual(
      empty.faults.map((f) => [f.kind, f.offender.name]),
      [['rejected', 'Alice']],
    )
    const ingested = bob.ingest(alice.ourId, [{ ...request.packedEvents[0], creator: mockId('Mallory') }])
    assert.equal(ingested.error?.code, 'UnknownPeer', 'a member refuses an unknown creator')
    // A caller's misuse throws: a peer that is not a recipient.
    assert.throws(() => alice.createGossip(mockId('Mallory')), ParsecError)
    assert.throws(() => alice.historyDigest(-1), { code: 'InvalidArgument' })
  })

  it('decisions name the election, the decided observations and each voter’s last ancestor', () => {
    const seed = 8
    const section = new TestSection(4, seededRandom(seed), 'single')
    for (const round of [1, 2]) {
      for (const node of section.nodes)
        took(node, node.voteFor(opaque(utf8(`${round} from ${node.ourId.name}`))))
      section.runUntilBlocks(1 + 4 * round)
    }
    const decisions = section.decisions.get('Alice') ?? []
    assert.ok(decisions.length >= 2, `seed ${seed}: ${decisions.length} decisions`)
    decisions.forEach((decision, i) => {
      assert.equal(decision.election, i, `seed ${seed}`)
      assert.deepEqual(
        decision.lastAncestors.map((a) => a.voter.name),
        NAMES.slice(0, 4),
      )
      const took = decision.lastAncestors.filter((a) => a.last >= 0).length
      assert.ok(3 * took > 2 * 4, `seed ${seed}: a supermajority in the deciding event's past`)
      const blocks = section.blocks[0].slice(
        decision.firstPosition,
        decision.firstPosition + decision.observations.length,
      )
      assert.deepEqual(
        blocks.map((b) => b.payload),
        decision.observations,
      )
    })
    // Each voter's entry only grows from one decision to the next.
    for (let i = 1; i < decisions.length; i++) {
      decisions[i].lastAncestors.forEach((a, v) => {
        assert.ok(a.last >= decisions[i - 1].lastAncestors[v].last, `seed ${seed}`)
      })
    }
  })

  it('view() is a copy: mutating it changes nothing in the engine', () => {
    const section = new TestSection(4, seededRandom(9))
    const alice = section.nodes[0]
    took(alice, alice.voteFor(opaque(utf8('mine'))))
    took(section.nodes[1], section.nodes[1].voteFor(add(mockId('Eric'))))
    section.runUntilBlocks(1)
    const view = alice.view()
    assert.equal(view.graphSize, alice.graphSize)
    assert.deepEqual(
      view.voters.map((id) => id.name),
      NAMES.slice(0, 4),
    )
    assert.equal(view.election.index, view.decisions.length)
    assert.equal(view.removed, false)
    assert.ok(view.pendingObservations >= 1)
    const before = JSON.stringify(alice.view(), (_k, v) => (v instanceof Uint8Array ? [...v] : v))
    const mutable = view as unknown as { voters: unknown[]; peers: { state: string }[]; graphSize: number }
    mutable.voters.length = 0
    mutable.peers[0].state = 'INACTIVE'
    mutable.graphSize = -1
    ;(view.ourUnpolledVotes as unknown[]).length = 0
    const after = JSON.stringify(alice.view(), (_k, v) => (v instanceof Uint8Array ? [...v] : v))
    assert.equal(after, before)
    assert.deepEqual(
      alice.voters().map((id) => id.name),
      NAMES.slice(0, 4),
    )
  })

  it('view() lists our unpolled votes and others’ unconsensused Add/Remove votes', () => {
    const section = new TestSection(4, seededRandom(10))
    const [alice, bob, carol] = section.nodes
    took(alice, alice.voteFor(opaque(utf8('ours'))))
    took(bob, bob.voteFor(add(mockId('Eric'))))
    took(carol, carol.voteFor(remove(mockId('Dave'))))
    // Alice hears of both votes without a decision: Bob and Carol sync with her.
    for (const other of [bob, carol]) {
      const request = message(other, other.createGossip(alice.ourId))
      const response = message(alice, alice.handleRequest(other.ourId, request))
      took(other, other.handleResponse(alice.ourId, response))
    }
    const view = alice.view()
    assert.ok(view.ourUnpolledVotes.some((o) => o.kind === 'opaque'))
    assert.deepEqual(view.membershipVotes.map((v) => `${v.voter.name} ${v.observation.kind}`).sort(), [
      'Bob add',
      'Carol remove',
    ])
  })
})

describe('membership decisions in the engine (MEMBERSHIP.md §6)', () => {
  it('a Remove of a non-member, an Add of a member and a second Remove are warnings', () => {
    const seed = 12
    const section = new TestSection(4, seededRandom(seed))
    for (const node of section.nodes) {
      took(node, node.voteFor(remove(mockId('Zed'))))
      took(node, node.voteFor(add(mockId('Bob'))))
    }
    section.runUntilBlocks(3)
    const kinds = (name: string) =>
      (section.warnings.get(name) ?? []).map((w) =>
        w.kind === 'irrelevant-membership' ? `${w.observation.kind} ${w.reason}` : w.kind,
      )
    for (const name of NAMES.slice(0, 4)) {
      assert.deepEqual(
        kinds(name).sort(),
        ['add already-a-member', 'remove not-a-member'],
        `seed ${seed}: ${name}`,
      )
    }
    // Dave removed, then removed again under another key: the second is a warning.
    for (const node of section.nodes) took(node, node.voteFor(remove(mockId('Dave'), utf8('round 0'))))
    const others = section.nodes.slice(0, 3)
    for (let i = 0; i < 3000 && others.some((n) => n.voters().length > 3); i++) section.gossipOnce()
    const alive = others.filter((n) => !n.isRemoved)
    assert.equal(alive.length, 3, `seed ${seed}`)
    for (const node of alive) assert.equal(node.voters().length, 3, `seed ${seed}: Dave removed`)
    for (const node of alive) took(node, node.voteFor(remove(mockId('Dave'), utf8('round 1'))))
    for (
      let i = 0;
      i < 3000 && alive.some((n) => !kinds(n.ourId.name).includes('remove already-removed'));
      i++
    )
      section.gossipOnce()
    for (const node of alive) {
      assert.ok(kinds(node.ourId.name).includes('remove already-removed'), `seed ${seed}: ${node.ourId.name}`)
    }
  })

  it('serve-only after our own removal: answers and final syncs, no new event, no vote', () => {
    const seed = 13
    const section = new TestSection(4, seededRandom(seed))
    for (const node of section.nodes) took(node, node.voteFor(remove(mockId('Dave'))))
    section.runUntilBlocks(2)
    const [alice, , , dave] = section.nodes
    assert.ok(dave.isRemoved && dave.view().removed, `seed ${seed}`)
    assert.throws(() => dave.voteFor(opaque(utf8('late'))), { code: 'InvalidArgument' })
    const size = dave.graphSize
    assert.deepEqual(
      dave.gossipRecipients().map((id) => id.name),
      ['Alice', 'Bob', 'Carol'],
    )
    const final = dave.createGossip(alice.ourId)
    assert.deepEqual(
      final.warnings.map((w) => w.kind),
      ['serve-only'],
    )
    assert.equal(final.events.length, 0)
    assert.equal(dave.graphSize, size, 'no new event')
    // A remaining member takes a final sync as catch-up (no sync event on it).
    if (final.message !== undefined)
      assert.equal(alice.ingest(dave.ourId, final.message.packedEvents).error, undefined)
    const request = message(alice, alice.createGossip(mockId('Bob')))
    const answer = dave.handleRequest(alice.ourId, request)
    assert.equal(answer.error, undefined)
    assert.ok(answer.message !== undefined, 'a removed peer still answers')
    assert.equal(answer.events.length, 0)
    assert.equal(dave.handleResponse(alice.ourId, { packedEvents: request.packedEvents }).events.length, 0)
    assert.equal(dave.ingest(alice.ourId, request.packedEvents).events.length, 0)
    assert.equal(dave.graphSize, size, 'nothing received is added')
  })

  it("retire(): the previous epoch's engine serves only: answers, final syncs, no event, no vote", () => {
    for (const seed of [31, 32, 33]) {
      const section = new TestSection(4, seededRandom(seed))
      for (const node of section.nodes) took(node, node.voteFor(opaque(utf8(`before ${seed}`))))
      section.runUntilBlocks(2)
      const [alice, bob] = section.nodes
      alice.retire()
      assert.ok(alice.isServeOnly && !alice.isRemoved && !alice.canVote(), `seed ${seed}`)
      assert.throws(() => alice.voteFor(opaque(utf8('late'))), { code: 'InvalidArgument' })
      const size = alice.graphSize
      const request = message(bob, bob.createGossip(alice.ourId))
      const answer = alice.handleRequest(bob.ourId, request)
      assert.equal(answer.error, undefined, `seed ${seed}`)
      assert.ok(answer.message !== undefined, 'a retired engine answers')
      assert.equal(answer.events.length, 0)
      assert.equal(alice.handleResponse(bob.ourId, { packedEvents: request.packedEvents }).events.length, 0)
      assert.equal(alice.graphSize, size, 'nothing received is added, no event made')
      const push = alice.createGossip(bob.ourId)
      assert.equal(push.events.length, 0)
      assert.equal(alice.graphSize, size)
    }
  })

  it('historyDigest(k) is equal at every peer, undefined beyond what is agreed', () => {
    for (const seed of [21, 22, 23]) {
      const section = new TestSection(5, seededRandom(seed), 'single')
      section.nodes.forEach((node, i) => {
        took(node, node.voteFor(opaque(utf8(`payload ${i} ${seed}`))))
      })
      section.runUntilBlocks(6)
      const agreed = Math.min(...section.nodes.map((n) => n.historyLength))
      assert.ok(agreed >= 6, `seed ${seed}`)
      for (let k = 0; k <= agreed; k++) {
        const digests = section.nodes.map((n) => Buffer.from(n.historyDigest(k)!).toString('hex'))
        assert.equal(new Set(digests).size, 1, `seed ${seed}: k=${k}`)
      }
      assert.notDeepEqual(section.nodes[0].historyDigest(1), section.nodes[0].historyDigest(2))
      assert.deepEqual(
        section.nodes[0].consensusHistory().slice(0, 6),
        section.blocks[0].slice(0, 6).map((b) => b.payload),
        `seed ${seed}`,
      )
      const most = Math.max(...section.nodes.map((n) => n.historyLength))
      assert.equal(section.nodes[0].historyDigest(most + 1), undefined, `seed ${seed}`)
    }
  })
})

describe('observer and joined peers', () => {
  const founders = NAMES.slice(0, 4).map(mockId)

  /** Four founders add Eric; Eric catches up by ingest, is added in its own replay, takes part. */
  function sectionWithEric(seed: number) {
    const section = new TestSection(4, seededRandom(seed), 'single')
    for (const node of section.nodes) took(node, node.voteFor(add(mockId('Eric'))))
    section.runUntilBlocks(2)
    const alice = section.nodes[0]
    const eric = Parsec.fromExisting({
      us: new MockSecretId('Eric'),
      genesis: founders,
      section: founders,
      consensusMode: 'single',
    })
    let from = 0
    const ericBlocks: string[] = []
    for (;;) {
      const page = alice.exportEvents(eric.frontier(), from, (_e, taken) => taken < 7)
      const step = took(eric, eric.ingest(alice.ourId, page.events))
      ericBlocks.push(...step.blocks.map((b) => JSON.stringify(describeBlock(b.block))))
      from = page.next
      if (page.done) break
    }
    assert.ok(eric.hasBegun && eric.canVote(), `seed ${seed}: Eric decided his own Add`)
    section.nodes.push(eric)
    section.blocks.push([])
    return { section, eric, ericBlocks }
  }

  it('an observer replaying history makes no event until its Add, and holds unknown creators as orphans', () => {
    const seed = 31
    const { section, eric } = sectionWithEric(seed)
    took(eric, eric.voteFor(opaque(utf8('Eric speaks'))))
    section.runUntilBlocks(3)
    const alice = section.nodes[0]
    // Fred was built with the founders only: Eric is unknown to him until Add(Eric) is replayed.
    const fred = Parsec.fromExisting({
      us: new MockSecretId('Fred'),
      genesis: founders,
      section: founders,
      consensusMode: 'single',
    })
    const all = alice.exportEvents([], 0, () => true).events
    const ericsInitial = all.find((e) => e.creator.name === 'Eric' && e.cause.kind === 'initial')
    assert.ok(ericsInitial !== undefined)
    // Eric's Initial event first: its creator is not known yet.
    const early = fred.ingest(alice.ourId, [ericsInitial])
    assert.equal(early.error, undefined)
    assert.equal(early.events.length, 0)
    assert.equal(fred.orphanCount, 1)
    const rest = fred.ingest(
      alice.ourId,
      all.filter((e) => e !== ericsInitial),
    )
    assert.equal(rest.error, undefined, `seed ${seed}: ${rest.error?.message}`)
    assert.equal(fred.orphanCount, 0, 'the orphan was added once Add(Eric) was decided')
    assert.equal(fred.graphSize, alice.graphSize, 'no event of the observer’s own, no sync event')
    assert.equal(fred.hasBegun, false)
    assert.deepEqual(
      rest.blocks.map((b) => JSON.stringify(describeBlock(b.block))).slice(0, 3),
      section.blocks[0].slice(0, 3).map((b) => JSON.stringify(describeBlock(b))),
      `seed ${seed}`,
    )
    // The orphan buffer is bounded: the excess is dropped with a warning.
    const stranger = Parsec.fromGenesis({ us: new MockSecretId('Zed'), genesis: [mockId('Zed')] })
    const strangers = Array.from({ length: 4100 }, () => stranger.packedEvents(0, 1)[0])
    const flood = Parsec.fromExisting({ us: new MockSecretId('Gina'), genesis: founders, section: founders })
    const flooded = flood.ingest(alice.ourId, strangers)
    assert.equal(flood.orphanCount, 4096)
    assert.deepEqual(flooded.warnings, [{ kind: 'orphans-dropped', count: 4 }])
  })

  it('Parsec.restore brings back a peer that joined after genesis: same blocks, still agreeing', () => {
    const seed = 32
    const { section, eric, ericBlocks } = sectionWithEric(seed)
    took(eric, eric.voteFor(opaque(utf8('Eric speaks'))))
    section.runUntilBlocks(3)
    const agreed = section.blocks[4].map((b) => JSON.stringify(describeBlock(b)))
    assert.deepEqual(agreed.slice(0, ericBlocks.length), ericBlocks)
    const restored = Parsec.restore({
      us: new MockSecretId('Eric'),
      genesis: founders,
      section: founders,
      events: eric.packedEvents(),
      consensusMode: 'single',
    })
    assert.equal(restored.graphSize, eric.graphSize)
    assert.deepEqual(restored.packedEvents(), eric.packedEvents(), 'no second Initial event')
    const blocks = takeBlocks(restored)
    assert.deepEqual(
      blocks.map((b) => JSON.stringify(describeBlock(b))),
      agreed,
      `seed ${seed}`,
    )
    assert.equal(restored.begin().events.length, 0, 'a joined peer makes no genesis vote')
    assert.ok(restored.canVote())
    section.nodes[4] = restored
    section.blocks[4] = blocks
    took(restored, restored.voteFor(opaque(utf8('after the restart'))))
    section.runUntilBlocks(4)
    const descriptions = section.descriptions()
    const shortest = Math.min(...descriptions.map((d) => d.length))
    for (const list of descriptions)
      assert.deepEqual(list.slice(0, shortest), descriptions[0].slice(0, shortest))
    assert.ok(
      descriptions[4].some((d) => d.includes('after the restart')),
      `seed ${seed}`,
    )
  })
})
