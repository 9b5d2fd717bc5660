import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { describeBlock, MockSecretId, mockId, opaque, Parsec, utf8 } from '../src/index.js'
import { NAMES, seededRandom, TestSection, took } from './support.js'

describe('restore', () => {
  it('resumes from stored events: same blocks, no second Initial event, keeps agreeing', () => {
    const seed = 7
    const section = new TestSection(4, seededRandom(seed), 'single')
    took(section.node('Alice'), section.node('Alice').voteFor(opaque(utf8('one'))))
    took(section.node('Bob'), section.node('Bob').voteFor(opaque(utf8('two'))))
    section.runUntilBlocks(3)
    const alice = section.node('Alice')
    const stored = alice.packedEvents()
    assert.equal(stored.length, alice.graphSize)

    const ids = NAMES.slice(0, 4).map(mockId)
    const restored = Parsec.restore({
      us: new MockSecretId('Alice'),
      genesis: ids,
      events: stored,
      consensusMode: 'single',
    })
    assert.equal(restored.graphSize, alice.graphSize)
    const blocks = []
    for (let b = restored.poll(); b !== undefined; b = restored.poll()) blocks.push(describeBlock(b))
    assert.deepEqual(
      blocks,
      section.blocks[0].map((b) => describeBlock(b)),
      `seed ${seed}`,
    )
    const initials = restored
      .packedEvents()
      .filter((e) => e.cause.kind === 'initial' && e.creator.name === 'Alice')
    assert.equal(initials.length, 1)
    // Our genesis vote is not cast again, and a repeated vote is still refused (a warning).
    assert.deepEqual(
      restored.voteFor(opaque(utf8('one'))).warnings.map((w) => w.kind),
      ['duplicate-vote'],
    )

    // The restored peer replaces the old one and the section keeps agreeing.
    section.nodes[0] = restored
    section.blocks[0] = [...section.blocks[0]]
    took(restored, restored.voteFor(opaque(utf8('three'))))
    section.runUntilBlocks(4)
    const descriptions = section.descriptions()
    for (const list of descriptions) assert.deepEqual(list, descriptions[0], `seed ${seed}`)
  })

  it('restores the same engine a batch at a time, from a lazy sequence, and refuses more after finish', () => {
    const section = new TestSection(4, seededRandom(11), 'single')
    section.node('Alice').voteFor(opaque(utf8('one')))
    section.node('Carol').voteFor(opaque(utf8('two')))
    section.runUntilBlocks(3)
    const alice = section.node('Alice')
    const ids = NAMES.slice(0, 4).map(mockId)
    const params = { us: new MockSecretId('Alice'), genesis: ids, consensusMode: 'single' as const }
    const restoring = Parsec.restoring(params)
    for (let from = 0; from < alice.graphSize; from += 5) {
      // Each batch a generator: the engine reads each event once, in order, and keeps none.
      const batch = alice.packedEvents(from, from + 5)
      restoring.add(
        (function* () {
          yield* batch
        })(),
      )
    }
    const restored = restoring.finish()
    assert.throws(() => restoring.add([]), { code: 'InvalidArgument' })
    assert.equal(restored.graphSize, alice.graphSize)
    assert.deepEqual(restored.packedEvents(), alice.packedEvents())
    const blocks = []
    for (let b = restored.poll(); b !== undefined; b = restored.poll()) blocks.push(describeBlock(b))
    assert.deepEqual(
      blocks,
      section.blocks[0].map((b) => describeBlock(b)),
    )
  })

  it('with no stored events it makes no event until begin(), then starts like fromGenesis', () => {
    const ids = NAMES.slice(0, 4).map(mockId)
    const fresh = Parsec.restore({ us: new MockSecretId('Alice'), genesis: ids, events: [] })
    assert.equal(fresh.graphSize, 0)
    assert.equal(fresh.hasBegun, false)
    assert.equal(fresh.begin().events.length, 2)
    assert.equal(fresh.graphSize, 2)
    assert.equal(fresh.hasBegun, true)
    assert.equal(fresh.begin().events.length, 0)
    assert.equal(fresh.graphSize, 2)
    // Others' events first (fetched by catch-up before our first event): still none of ours.
    const bob = Parsec.fromGenesis({ us: new MockSecretId('Bob'), genesis: ids })
    const caughtUp = Parsec.restore({
      us: new MockSecretId('Alice'),
      genesis: ids,
      events: bob.packedEvents(),
    })
    assert.equal(caughtUp.graphSize, 2)
    assert.equal(caughtUp.hasBegun, false)
    caughtUp.begin()
    assert.equal(caughtUp.graphSize, 4)
    // Our first stored event must be our Initial event.
    const alice = Parsec.fromGenesis({ us: new MockSecretId('Alice'), genesis: ids })
    assert.throws(
      () =>
        Parsec.restore({
          us: new MockSecretId('Alice'),
          genesis: ids,
          events: alice.packedEvents().slice(1),
        }),
      { code: 'InvalidArgument' },
    )
  })
})
