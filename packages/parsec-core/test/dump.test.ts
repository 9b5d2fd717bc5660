import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { dumpDot, parseRecording, replay } from '../src/dot/index.js'
import { opaque, utf8 } from '../src/index.js'
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
})
