import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { FAST, Harness } from './harness.js'
import { NAMES, seededRandom } from './support.js'

/**
 * Seeded churn over the driver: joins, graceful leaves and crashes at random steps. After every
 * step, live members that folded the same blocks hold the same state (M1) and their member lists
 * are the consensus voters (M2); a live member is never removed unless it asked to leave.
 */
function churn(seed: number): void {
  const random = seededRandom(seed)
  const h = new Harness(['Alice', 'Bob', 'Carol', 'Dave'], { ...FAST, maxSize: 9 })
  h.trafficEvery = 3
  const pool = NAMES.slice(4)
  const leaving = new Set<string>()
  const crashed = new Set<string>()
  for (let step = 0; step < 1500; step++) {
    const roll = random()
    const live = h.voterNames.filter((n) => h.node(n).alive && !leaving.has(n))
    if (roll < 0.01 && pool.length > 0) {
      h.addJoiner(pool.shift()!)
    } else if (roll < 0.015 && live.length > 4) {
      const name = live[Math.floor(random() * live.length)]
      leaving.add(name)
      h.handle(h.node(name), h.node(name).machine.command({ kind: 'leave' }))
    } else if (roll < 0.018 && live.length >= 6 && crashed.size === 0) {
      const name = live[Math.floor(random() * live.length)]
      crashed.add(name)
      h.node(name).alive = false
    }
    h.step()
    const byLength = new Map<number, Set<string>>()
    for (const node of h.nodes.values()) {
      const state = node.machine.state
      if (!node.alive || state === undefined || node.engine !== 'voter') continue
      const hashes = byLength.get(state.agreedBlocks) ?? new Set()
      hashes.add(Buffer.from(state.hash()).toString('hex'))
      byLength.set(state.agreedBlocks, hashes)
      if (state.agreedBlocks === h.blocks.length) {
        assert.deepEqual(
          state.memberIds().map((id) => id.name),
          [...h.voterNames],
          `seed ${seed} step ${step}: M2 at ${node.name}`,
        )
      }
    }
    for (const [length, hashes] of byLength)
      assert.equal(hashes.size, 1, `seed ${seed} step ${step}: M1 at ${length}`)
  }
  for (const node of h.nodes.values()) {
    for (const event of node.events) {
      if (event.type === 'member:left' && event.reason === 'removed') {
        assert.ok(crashed.has(event.peer.name), `seed ${seed}: ${event.peer.name} removed while live`)
      }
    }
    for (const vote of node.votes) {
      if (vote.kind === 'remove' && node.alive) {
        assert.ok(
          crashed.has(vote.peer.name) || leaving.has(vote.peer.name),
          `seed ${seed}: ${node.name} voted to remove live ${vote.peer.name}`,
        )
      }
    }
  }
  assert.ok(h.voterNames.length <= 9, `seed ${seed}: maxSize`)
}

describe('churn over the driver (seeded)', () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    it(`seed ${seed}: agreement (M1, M2) and no removal of a live member`, () => churn(seed))
  }
})
