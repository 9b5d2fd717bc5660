/**
 * The fork rule of `sees` (spec §4.3, §15) on the reference's own example (docs/sees.md,
 * functional_tests_sees): Carol forks at her third event; Alice's A_3 has both sides in its past.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { parseRecording, replay } from '../src/dot/index.js'
import { internalsOf } from '../src/engine-internals.js'
import { isDescendant, sees } from '../src/graph/ancestry.js'
import { mockId } from '../src/index.js'
import { vectorsRoot } from './vectors.js'

describe('sees and forks', () => {
  const { record } = parseRecording(
    readFileSync(join(vectorsRoot(), 'functional_tests_sees/alice.dot'), 'utf8'),
  )
  const { graph, peers } = internalsOf(replay(record).parsec)
  const carol = peers.indexOf(mockId('Carol'))!
  const alice = peers.indexOf(mockId('Alice'))!
  const event = (peer: number, index: number, fork = 0) => graph.get(graph.slot(peer, index)[fork])
  const a3 = event(alice, 3)
  const c1 = event(carol, 1)
  const forks = graph.slot(carol, 2).map((i) => graph.get(i))

  it('the recorded graph holds the fork, both sides in the past of A_3', () => {
    assert.equal(forks.length, 2)
    for (const side of forks) assert.ok(isDescendant(a3, side))
  })

  it("the reference's fork-blind rule hides all of Carol's events from A_3", () => {
    assert.equal(sees(a3, c1, true), false)
    for (const side of forks) assert.equal(sees(a3, side, true), false)
  })

  it('our rule keeps her history below the fork visible and hides only the fork', () => {
    assert.equal(sees(a3, c1, false), true)
    for (const side of forks) assert.equal(sees(a3, side, false), false)
  })
})
