/**
 * The outbound partner choice follows the membership machine's partner weights (seeded, no
 * network, no timing): a member weighed 0.25 (added, not heard from yet) is chosen about a quarter
 * as often as one weighed 1, and nobody is starved.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { choosePartner } from '../src/section/partner-choice.js'
import { seeded } from './seeded.js'

function counts(partners: readonly { name: string; weight: number }[], draws: number, seed: number) {
  const random = seeded(seed)
  const counted = new Map(partners.map((p) => [p.name, 0]))
  for (let i = 0; i < draws; i++) {
    const chosen = choosePartner(partners, random)
    assert.ok(chosen !== undefined)
    counted.set(chosen.name, (counted.get(chosen.name) ?? 0) + 1)
  }
  return counted
}

describe('partner choice', () => {
  it('chooses in proportion to the weights: a joining member (0.25) a quarter as often as the others', () => {
    const partners = [
      { name: 'a', weight: 1 },
      { name: 'b', weight: 1 },
      { name: 'joining', weight: 0.25 },
      { name: 'unreachable', weight: 0.5 },
    ]
    const draws = 27_500
    const counted = counts(partners, draws, 11)
    // Expected shares: 1, 1, 0.25, 0.5 of 2.75.
    for (const { name, weight } of partners) {
      const expected = (draws * weight) / 2.75
      const got = counted.get(name) ?? 0
      assert.ok(
        Math.abs(got - expected) < expected * 0.1,
        `${name}: ${got} draws, expected about ${expected}`,
      )
    }
    assert.ok((counted.get('joining') ?? 0) < (counted.get('a') ?? 0) / 3)
  })

  it('is the same choice for the same random numbers (deterministic)', () => {
    const partners = [
      { name: 'a', weight: 1 },
      { name: 'b', weight: 0.25 },
      { name: 'c', weight: 0.5 },
    ]
    assert.deepEqual([...counts(partners, 1000, 7)], [...counts(partners, 1000, 7)])
    // The exact points: [0, 1) split 1 : 0.25 : 0.5 of 1.75.
    assert.equal(choosePartner(partners, () => 0)?.name, 'a')
    assert.equal(choosePartner(partners, () => 0.57)?.name, 'a')
    assert.equal(choosePartner(partners, () => 0.58)?.name, 'b')
    assert.equal(choosePartner(partners, () => 0.72)?.name, 'c')
    assert.equal(choosePartner(partners, () => 0.999_999)?.name, 'c')
  })

  it('weight 0 is never chosen beside a weighed partner; all 0 (or bad weights): uniform; none: undefined', () => {
    const random = seeded(3)
    for (let i = 0; i < 1000; i++) {
      const chosen = choosePartner(
        [
          { name: 'zero', weight: 0 },
          { name: 'nan', weight: Number.NaN },
          { name: 'negative', weight: -1 },
          { name: 'one', weight: 1 },
        ],
        random,
      )
      assert.equal(chosen?.name, 'one')
    }
    const flat = counts(
      [
        { name: 'x', weight: 0 },
        { name: 'y', weight: 0 },
      ],
      2000,
      5,
    )
    assert.ok((flat.get('x') ?? 0) > 800 && (flat.get('y') ?? 0) > 800, `uniform: ${[...flat]}`)
    assert.equal(choosePartner([], random), undefined)
  })
})
