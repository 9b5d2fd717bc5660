/** The concrete coin (spec §16) is the simulation's default, and seeded simulations with it agree. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { type Coin, concreteCoin } from '@parsec-section/parsec-core'
import { scenarios, simulate } from '../src/index.js'

describe('concrete coin in running sections', () => {
  it('is the simulation default, and seeded simulations with it terminate and agree', () => {
    const used = new Set<string>()
    const recording = (): Coin => ({
      name: 'recording',
      toss: (context) => {
        used.add('tossed')
        return concreteCoin.toss(context)
      },
    })
    const names = ['minimal-network', 'faulty-third-never-gossips', 'add-few-peers-and-vote']
    for (const name of names) {
      const scenario = scenarios.find((s) => s.name === name)!
      for (const seed of [1, 2]) {
        const options = scenario.options(seed)
        const result = simulate(options)
        assert.deepEqual(result.violations, [], `${name} seed ${seed}`)
        assert.deepEqual(scenario.check(result, options), [], `${name} seed ${seed}`)
        const explicit = simulate({ ...options, coin: 'concrete' })
        assert.deepEqual(explicit.peers, result.peers, 'concrete is the default coin')
        assert.equal(simulate({ ...options, coin: recording }).agreed, true)
      }
    }
  })
})
