import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { mockId } from '@parsec-section/parsec-core'
import { emptyStep } from '../src/index.js'
import { Deferrals, MAX_DEFERRAL_KEYS } from '../src/machine/deferrals.js'

describe('deferral events', () => {
  it('stay bounded under a flood of distinct candidates (network input), reporting each once', () => {
    const deferrals = new Deferrals()
    const step = emptyStep()
    const flood = MAX_DEFERRAL_KEYS + 500
    for (let i = 0; i < flood; i++) deferrals.report(step, 'add', mockId(`sybil${i}`), 'TooManyCandidates')
    assert.equal(step.events.length, flood)
    assert.ok(deferrals.size <= MAX_DEFERRAL_KEYS, `${deferrals.size} keys kept`)
    // The newest are remembered: no second event for the same change and reason.
    deferrals.report(step, 'add', mockId(`sybil${flood - 1}`), 'TooManyCandidates')
    assert.equal(step.events.length, flood)
  })
})
