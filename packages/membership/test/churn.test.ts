import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { churn } from './churn-scenario.js'

describe('churn over the driver (seeded)', () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    it(`seed ${seed}: agreement (M1, M2) and no removal of a live member`, () => {
      churn(seed)
    })
  }
  for (const seed of [6, 7, 8]) {
    it(`seed ${seed}, 10 % of membership messages lost, up to 3 crashes: agreement, and joins still complete`, () => {
      const summary = churn(seed, { dropRate: 0.1, crashes: 3 })
      assert.deepEqual(summary.pending, [], `seed ${seed}`)
      assert.ok(summary.joined >= 6, `seed ${seed}: ${summary.joined} joined`)
    })
  }
  it('seed 9, a replay of one block per step (catch-ups outlast candidateTimeoutMs), 10 % lost: joins complete', () => {
    // A join grace the slow replay can meet (FAST's 200 ms is 20 blocks of replay here).
    const config = { joinGraceMs: 2_000, joinGraceBlocks: 100 }
    const summary = churn(9, { dropRate: 0.1, replayBlocksPerStep: 1, steps: 3000, joinUntil: 1200, config })
    assert.deepEqual(summary.pending, [])
    assert.ok(summary.joined >= 6, `${summary.joined} joined`)
  })
  for (const seed of [10, 11]) {
    it(`seed ${seed}, crashed members restart from their blocks (resume), 10 % lost: agreement`, () => {
      const summary = churn(seed, { dropRate: 0.1, crashes: 3, restarts: true })
      assert.deepEqual(summary.pending, [], `seed ${seed}`)
    })
  }
})
