/**
 * The project's own regression graphs (test/graphs, written by scripts/regression-graphs.mjs from
 * seeded simulations under the reference's rules): each replays to exactly the blocks, decision
 * groups and consensus history recorded beside it, which the generator checked against the blocks
 * that peer agreed in the simulation. Unlike the reference vectors they are in the repository, so a
 * bare clone tests the DOT parser, the replay and (through the generator) the dump.
 */
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { dumpDot, parseRecording, replay } from '../src/dot/index.js'

interface Expected {
  our_id: string
  consensus_mode: string
  events: number
  blocks: unknown[]
  consensus_history: string[]
  block_group_sizes: number[]
}

// Compiled to dist/test: the graphs stay in the sources.
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'graphs')
const graphs = readdirSync(root, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .flatMap((d) =>
    readdirSync(join(root, d.name))
      .filter((f) => f.endsWith('.dot'))
      .map((f) => `${d.name}/${f}`),
  )
  .sort()

describe('replay of our own regression graphs', () => {
  it('finds them (supermajority, single mode, membership changes)', () => {
    assert.ok(graphs.length >= 4, graphs.join(', '))
  })

  for (const graph of graphs) {
    it(graph, () => {
      const expected = JSON.parse(
        readFileSync(join(root, graph.replace(/\.dot$/, '.expected.json')), 'utf8'),
      ) as Expected
      const text = readFileSync(join(root, graph), 'utf8')
      const result = replay(parseRecording(text).record)
      assert.equal(result.ourId, expected.our_id)
      assert.equal(result.consensusMode, expected.consensus_mode)
      assert.equal(result.events, expected.events)
      assert.deepEqual(result.blocks, expected.blocks)
      assert.deepEqual(result.consensusHistory, expected.consensus_history)
      assert.deepEqual(result.decisionSizes, expected.block_group_sizes)
      // Dumping the replayed engine gives a graph that replays to the same blocks again.
      const again = replay(parseRecording(dumpDot(result.parsec)).record)
      assert.deepEqual(again.blocks, expected.blocks)
    })
  }
})
