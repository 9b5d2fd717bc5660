import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { describeBlock, MockSecretId, mockId, opaque, Parsec, utf8 } from '../src/index.js'
import { keep, message, NAMES, seededRandom, TestSection, takeBlocks, took } from './support.js'

const IDS = NAMES.slice(0, 4).map(mockId)

/** Alice's engine as it was when `stored` was saved (what a restart from an old store gives). */
function restoreAlice(stored: ReturnType<Parsec['packedEvents']>): Parsec {
  return Parsec.restore({
    us: new MockSecretId('Alice'),
    genesis: IDS,
    events: stored,
    consensusMode: 'single',
  })
}

function drain(parsec: Parsec): string[] {
  return takeBlocks(parsec).map((b) => JSON.stringify(describeBlock(b)))
}

describe('paged catch-up', () => {
  it('a peer that was away fetches what it lacks in bounded pages, then syncs with a small response', () => {
    const seed = 11
    const section = new TestSection(4, seededRandom(seed), 'single')
    section.runUntilBlocks(1)
    const alice = section.node('Alice')
    const stored = alice.packedEvents()
    // Alice is away: the others go on without her.
    const others = section.nodes.slice(1)
    const away = new TestSection(4, seededRandom(seed + 1), 'single')
    away.nodes.splice(0, 4, ...section.nodes)
    for (let i = 0; i < 30; i++) took(others[i % 3], others[i % 3].voteFor(opaque(utf8(`payload ${i}`))))
    for (let i = 0; i < 600; i++) {
      const from = others[Math.floor(away.random() * 3)]
      const to = others.filter((o) => o !== from)[Math.floor(away.random() * 2)]
      const response = message(to, to.handleRequest(from.ourId, message(from, from.createGossip(to.ourId))))
      took(from, from.handleResponse(to.ourId, response))
    }
    const bob = section.node('Bob')
    const bobBlocks = [...section.blocks[1].map((b) => JSON.stringify(describeBlock(b))), ...drain(bob)]
    assert.ok(bobBlocks.length > 20, `seed ${seed}: ${bobBlocks.length} blocks at Bob`)

    const back = restoreAlice(stored)
    const before = back.graphSize
    let from = 0
    let pages = 0
    for (;;) {
      const page = bob.exportEvents(back.frontier(), from, (_event, taken) => taken < 50)
      assert.ok(page.events.length <= 50)
      const step = took(back, back.ingest(bob.ourId, page.events))
      assert.equal(step.events.length, page.events.length, 'each ingested event is in the step')
      pages++
      from = page.next
      if (page.done) break
    }
    assert.equal(bob.exportEvents(back.frontier(), 0, () => true).events.length, 0, `seed ${seed}`)
    assert.ok(pages >= Math.floor((bob.graphSize - before) / 50), `seed ${seed}: ${pages} pages`)
    assert.deepEqual(drain(back), bobBlocks, `seed ${seed}`)

    // Without the frontier, Bob would send Alice everything since her last event; with it, only
    // his own new Request event.
    const request = message(back, back.createGossip(bob.ourId))
    const plain = bob.exportEvents([], 0, () => true).events.length
    const response = message(bob, bob.handleRequest(back.ourId, { ...request, known: back.frontier() }))
    assert.ok(response.packedEvents.length <= 2, `seed ${seed}: ${response.packedEvents.length} of ${plain}`)
    took(back, back.handleResponse(bob.ourId, response))
  })

  it('refuses an event of ours that we do not hold (a lost store), without blaming the sender', () => {
    const section = new TestSection(4, seededRandom(5), 'single')
    const alice = section.node('Alice')
    const stored = alice.packedEvents()
    took(alice, alice.voteFor(opaque(utf8('made after the backup'))))
    section.runUntilBlocks(2)
    const old = restoreAlice(stored)
    const bob = section.node('Bob')
    const page = bob.exportEvents(old.frontier(), 0, () => true)
    const ingested = keep(old, old.ingest(bob.ourId, page.events))
    assert.equal(ingested.error?.code, 'UnknownOwnEvent')
    assert.deepEqual(ingested.faults, [])
    const latest = bob.latestEventOf(alice.ourId)
    assert.ok(latest !== undefined && latest.index > (old.latestEventOf(alice.ourId)?.index ?? -1))
    // Gossip carrying it is refused the same way.
    const handled = old.handleResponse(bob.ourId, { packedEvents: page.events })
    assert.equal(handled.error?.code, 'UnknownOwnEvent')
    assert.deepEqual(handled.faults, [])
  })
})
