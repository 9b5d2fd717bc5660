import assert from 'node:assert/strict'
import { type MembershipConfig, supermajority } from '../src/index.js'
import { FAST, Harness } from './harness.js'
import { NAMES, seededRandom } from './support.js'

/**
 * Seeded churn over the driver: joins, graceful leaves and crashes at random steps. After every
 * step, live members that folded the same blocks hold the same state (M1) and their member lists
 * are the consensus voters (M2); a live member is never removed unless it asked to leave.
 */
export interface ChurnOptions {
  /** Share of membership messages lost. */
  readonly dropRate?: number
  /** Members that may crash over the run (one at a time while 6 or more are live). */
  readonly crashes?: number
  readonly steps?: number
  /** No new joiner after this step (so the run can check that every join completes). */
  readonly joinUntil?: number
  /** Blocks a joiner replays per step (default: all at once); 1 makes catch-ups outlast timeouts. */
  readonly replayBlocksPerStep?: number
  /** A crashed member restarts 20-200 steps later from the blocks it had folded (`resume`). */
  readonly restarts?: boolean
  /** Overrides of the driver's configuration (FAST, `maxSize` 9). */
  readonly config?: Partial<MembershipConfig>
}

export function churn(seed: number, options: ChurnOptions = {}): ChurnSummary {
  const random = seededRandom(seed)
  const lossy = seededRandom(seed ^ 0x5eed)
  const h = new Harness(['Alice', 'Bob', 'Carol', 'Dave'], { ...FAST, maxSize: 9, ...options.config })
  h.trafficEvery = 3
  if (options.replayBlocksPerStep !== undefined) h.replayBlocksPerStep = options.replayBlocksPerStep
  const restartAt = new Map<string, number>()
  const dropRate = options.dropRate ?? 0
  h.dropMessage = () => dropRate > 0 && lossy() < dropRate
  const pool = NAMES.slice(4)
  const leaving = new Set<string>()
  const crashed = new Set<string>()
  for (let step = 0; step < (options.steps ?? 1500); step++) {
    const roll = random()
    const live = h.voterNames.filter((n) => h.node(n).alive && !leaving.has(n))
    if (roll < 0.01 && pool.length > 0 && step < (options.joinUntil ?? Number.POSITIVE_INFINITY)) {
      h.addJoiner(pool.shift()!)
    } else if (roll < 0.015 && live.length > 4) {
      const name = live[Math.floor(random() * live.length)]
      leaving.add(name)
      h.handle(h.node(name), h.node(name).machine.command({ kind: 'leave' }))
    } else if (
      roll < 0.018 &&
      live.length >= 6 &&
      crashed.size < (options.crashes ?? 1) &&
      // Never a third of the voters silent at once: that stalls any section (spec §5).
      supermajority(h.voterNames.length, h.voterNames.filter((n) => h.node(n).alive).length - 1)
    ) {
      const name = live[Math.floor(random() * live.length)]
      crashed.add(name)
      h.node(name).alive = false
      if (options.restarts) restartAt.set(name, step + 20 + Math.floor(random() * 180))
    }
    for (const [name, at] of [...restartAt]) {
      if (at > step) continue
      restartAt.delete(name)
      h.resume(name)
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
        const name = event.peer.name
        // A leaver whose LeaveRequest this member lost is removed, from its point of view.
        assert.ok(crashed.has(name) || leaving.has(name), `seed ${seed}: ${name} removed while live`)
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
  return summary(h, leaving, crashed)
}

export interface ChurnSummary {
  readonly joined: number
  readonly left: number
  readonly crashedRemoved: number
  /** Joiners neither member nor gone at the end (still trying). */
  readonly pending: readonly string[]
}

function summary(h: Harness, leaving: ReadonlySet<string>, crashed: ReadonlySet<string>): ChurnSummary {
  const pending: string[] = []
  let joined = 0
  for (const node of h.nodes.values()) {
    if (node.events.some((e) => e.type === 'self:joined')) joined++
    const role = node.machine.role
    if (!leaving.has(node.name) && !crashed.has(node.name) && role !== 'member')
      pending.push(`${node.name}:${role}`)
  }
  const left = [...leaving].filter((n) => !h.voterNames.includes(n)).length
  const crashedRemoved = [...crashed].filter((n) => !h.voterNames.includes(n)).length
  return { joined, left, crashedRemoved, pending }
}
