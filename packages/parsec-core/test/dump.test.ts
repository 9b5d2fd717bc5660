import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { dumpDot, parseRecording, replay } from '../src/dot/index.js'
import { checkpoint, opaque, utf8 } from '../src/index.js'
import { seededRandom, TestSection } from './support.js'

describe('DOT dump', () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    it(`replays a dumped graph to the blocks its peer agreed (seed ${seed})`, () => {
      const section = new TestSection(4, seededRandom(seed))
      for (const node of section.nodes) {
        for (const payload of ['apple', 'banana', 'cherry']) node.voteFor(opaque(utf8(payload)))
      }
      section.runUntilBlocks(4)
      const alice = section.nodes[0]
      const text = dumpDot(alice)
      const { record } = parseRecording(text)
      const result = replay(record)
      const agreed = section.descriptions()[0]
      const replayed = result.blocks.map(({ voters: _v, ...rest }) => JSON.stringify(rest))
      assert.deepEqual(replayed.slice(0, agreed.length), agreed, `seed ${seed}`)
      assert.ok(result.events >= alice.graphSize)
    })
  }

  it('a graph with a checkpoint (ours) dumps and replays to the same blocks', () => {
    const section = new TestSection(4, seededRandom(11))
    for (const node of section.nodes) {
      node.voteFor(opaque(utf8('before')))
      node.voteFor(checkpoint(utf8('epoch 0')))
    }
    section.runUntilBlocks(3)
    const text = dumpDot(section.nodes[0])
    assert.match(text, /Checkpoint\(65706f63682030\)/)
    const result = replay(parseRecording(text).record)
    const agreed = section.descriptions()[0]
    const replayed = result.blocks.map(({ voters: _v, ...rest }) => JSON.stringify(rest))
    assert.deepEqual(replayed.slice(0, agreed.length), agreed)
    assert.ok(agreed.some((d) => d.includes('"checkpoint"')))
  })

  it('writes the reference layout', () => {
    const section = new TestSection(4, seededRandom(9))
    section.runUntilBlocks(1)
    const text = dumpDot(section.nodes[1])
    assert.match(
      text,
      /^\/\/\/ our_id: Bob\n\/\/\/ peer_list: \{\n\/\/\/ {3}Bob: PeerState\(VOTE\|SEND\|RECV\)/,
    )
    assert.match(text, /subgraph cluster_Alice \{/)
    assert.match(text, /\/\/\/ cause: Observation\(Genesis\(\{Alice, Bob, Carol, Dave\}\)\)/)
    assert.match(text, /\/\/\/ consensus_history:\n\/\/\/ [0-9a-f]{64}/)
  })

  it('a view of the last N events says so, and holds only their details and edges among them', () => {
    const section = new TestSection(4, seededRandom(9))
    for (const node of section.nodes) node.voteFor(opaque(utf8('apple')))
    section.runUntilBlocks(2)
    const bob = section.nodes[1]
    const text = dumpDot(bob, { lastEvents: 6, nameOf: (id) => `peer${id.name}` })
    assert.match(text, new RegExp(`/// view: the last 6 of ${bob.graphSize} events \\(not replayable\\)`))
    assert.equal(text.match(/\/\/\/ cause: /g)?.length, 6)
    assert.match(text, /^\/\/\/ our_id: peerBob/)
    assert.doesNotMatch(text, /Genesis\(/, 'the genesis vote is older than the last 6 events')
    assert.throws(() => dumpDot(bob, { lastEvents: -1 }), /bad event count/)
    assert.throws(() => parseRecording(text), /not replayable.*dump the whole graph/)
    // The whole graph is the default, and no view line.
    assert.doesNotMatch(dumpDot(bob), /\/\/\/ view:/)
  })
})
