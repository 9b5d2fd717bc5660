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

  it('report each reason once while two checks disagree (no event storm from a flapping reason)', () => {
    // Found by membership-sybil-200 seed 524: a ready Sybil's join retries were deferred by the
    // candidate limit and its Ready by the young cap, an event every retry, so the run never quieted.
    const deferrals = new Deferrals()
    const step = emptyStep()
    const sybil = mockId('sybil')
    for (let i = 0; i < 10; i++) {
      deferrals.report(step, 'add', sybil, 'TooManyCandidates')
      deferrals.report(step, 'add', sybil, 'YoungCap')
    }
    assert.equal(step.events.length, 2)
    deferrals.clear('add', sybil.name)
    deferrals.report(step, 'add', sybil, 'YoungCap')
    assert.equal(step.events.length, 3, 'a deferral after the change was voted is news again')
  })
})
