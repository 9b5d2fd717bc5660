import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { LargeMessageBudget } from '../src/inbound-stream.js'

describe('large message budget', () => {
  it('bounds large messages partly received per partner and in all; a finished one frees its place', () => {
    const budget = new LargeMessageBudget(3, 2)
    const a1 = budget.take('a')
    const a2 = budget.take('a')
    assert.ok(a1 !== undefined && a2 !== undefined)
    assert.equal(budget.take('a'), undefined, 'a third from one partner')
    const b1 = budget.take('b')
    assert.ok(b1 !== undefined)
    assert.equal(budget.take('c'), undefined, 'a fourth in all')
    a1()
    a1() // given back once only
    const c1 = budget.take('c')
    assert.ok(c1 !== undefined)
    assert.equal(budget.take('b'), undefined)
    a2()
    assert.ok(budget.take('b') !== undefined)
  })
})
