/**
 * Conformance: every reference graph replays to exactly the blocks (kinds, payloads, peers, order),
 * voters, decision groups and consensus history the reference's own replay produced.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { parseRecording, replay } from '../src/dot/index.js'
import { internalsOf } from '../src/engine-internals.js'
import { toHex } from '../src/index.js'
import { vectorGraphs, vectorsRoot } from './vectors.js'

interface Expected {
  our_id: string
  consensus_mode: string
  peers: string[]
  events: number
  blocks: { kind: string; voters: string[] }[]
  consensus_history: string[]
  block_group_sizes: number[]
}

const root = vectorsRoot()
const graphs = vectorGraphs(root)

describe('replay of the reference graphs', () => {
  it('finds all 34 shared graphs', () => {
    assert.equal(graphs.length, 34)
  })

  for (const graph of graphs) {
    it(graph, () => {
      const expected = JSON.parse(
        readFileSync(join(root, graph.replace(/\.dot$/, '.expected.json')), 'utf8'),
      ) as Expected
      const { record } = parseRecording(readFileSync(join(root, graph), 'utf8'))
      const result = replay(record)
      assert.equal(result.ourId, expected.our_id)
      assert.equal(result.consensusMode, expected.consensus_mode.toLowerCase())
      assert.deepEqual(result.blocks, expected.blocks)
      assert.deepEqual(result.consensusHistory, expected.consensus_history)
      assert.deepEqual(result.decisionSizes, expected.block_group_sizes)
      // Smoke (spec §12.5): the replayed graph holds exactly the parsed events (+2 synthetic).
      const replayedGraph = internalsOf(result.parsec).graph
      const replayed = new Set(replayedGraph.events.map((e) => toHex(replayedGraph.hash(e.index))))
      assert.equal(result.events, record.parsedEvents + (record.synthetic ? 2 : 0))
      for (const hash of record.parsedHashes) assert.ok(replayed.has(hash), `parsed event ${hash} missing`)
    })
  }

  it('with malice detection (report mode) every graph yields the same blocks; only the recorded fork is found', () => {
    // functional_tests_sees records Carol forking (the reference's docs/sees.md example).
    const knownMalice: Record<string, string[]> = { 'functional_tests_sees/alice.dot': ['Carol Fork'] }
    for (const graph of graphs) {
      const { record } = parseRecording(readFileSync(join(root, graph), 'utf8'))
      const plain = replay(record)
      const checked = replay(record, { maliceDetection: 'report' })
      assert.deepEqual(checked.blocks, plain.blocks, graph)
      assert.deepEqual(
        checked.faults.map((f) => `${f.offender.name} ${f.kind === 'malice' ? f.malice.type : f.code}`),
        knownMalice[graph] ?? [],
        graph,
      )
    }
  })
})
