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
})
