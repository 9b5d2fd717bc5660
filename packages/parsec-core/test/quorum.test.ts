/** The supermajority rule: strictly more than two thirds, `3x > 2n`. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { supermajority } from '../src/index.js'

describe('supermajority(n, x)', () => {
  it('is strictly more than two thirds of n', () => {
    assert.equal(supermajority(4, 3), true)
    assert.equal(supermajority(4, 2), false)
    assert.equal(supermajority(3, 2), false, 'exactly two thirds is not enough')
    assert.equal(supermajority(3, 3), true)
    assert.equal(supermajority(7, 5), true)
    assert.equal(supermajority(7, 4), false)
    assert.equal(supermajority(1, 1), true)
    assert.equal(supermajority(0, 0), false)
  })

  it('of the honest peers holds iff fewer than a third are faulty', () => {
    for (let n = 1; n <= 30; n++) {
      for (let f = 0; f <= n; f++) assert.equal(supermajority(n, n - f), 3 * f < n, `n ${n} f ${f}`)
    }
  })
})
