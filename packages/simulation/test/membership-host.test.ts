/**
 * The simulation hosting the membership machine: peers join and leave through the protocol over the
 * simulated network, and M1-M7 are checked after every step.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { mockId } from '@parsec-section/parsec-core'
import {
  membershipScenarios,
  membershipSlowScenarios,
  runScenario,
  type SimulationOptions,
  type SimulationResult,
  simulate,
} from '../src/index.js'

function run(options: SimulationOptions): SimulationResult {
  const result = simulate(options)
  const detail = result.violations.map((v) => `${v.invariant}@${v.step}: ${v.detail}`).join('\n')
  assert.ok(result.agreed, `seed ${options.seed}: ${detail.slice(0, 2000)}`)
  return result
}

function sameMembers(result: SimulationResult): string[] {
  const members = Object.values(result.membership!.members)
  assert.ok(members.length > 0, `seed ${result.seed}: no honest member`)
  for (const list of members) assert.deepEqual(list, members[0], `seed ${result.seed}: members differ`)
  return members[0]
}

describe('simulation hosting membership', () => {
  it('grows a genesis of 1 to 4 through join requests, catch-up and Ready', () => {
    for (const seed of [1, 2]) {
      const result = run({ seed, genesisSize: 1, opaque: 3, maxSteps: 3000, membership: { joins: 3 } })
      const report = result.membership!
      assert.equal(report.joined.length, 3, `seed ${seed}`)
      assert.deepEqual(sameMembers(result), ['Alice', 'Bob', 'Carol', 'Dave'], `seed ${seed}`)
      assert.ok(report.pages > 0 && report.messages > 0, `seed ${seed}: catch-up and messages ran`)
    }
  })

  it('joins, a graceful leave and a silent member in one run: same blocks and same members', () => {
    for (const seed of [1, 3]) {
      const result = run({
        seed,
        genesisSize: 4,
        opaque: 3,
        maxSteps: 4000,
        membership: { joins: 3, leaves: 1, unresponsive: 1 },
      })
      const report = result.membership!
      const members = sameMembers(result)
      assert.equal(report.left.length, 1, `seed ${seed}: one leaver`)
      assert.equal(report.unresponsive.length, 1, `seed ${seed}: one silent member removed`)
      for (const name of [...report.left, ...report.unresponsive]) assert.ok(!members.includes(name))
      const honest = result.honest.map((name) => result.peers[name].length)
      assert.equal(new Set(honest).size, 1, `seed ${seed}: honest peers hold the same blocks`)
    }
  })

  it("an operator's removal is judged by the machines: done from 5, deferred (not refused) at 3 (#313)", () => {
    const five = run({
      seed: 1,
      genesisSize: 5,
      opaque: 3,
      maxSteps: 3000,
      membership: { proposeRemoves: 1 },
    })
    assert.equal(sameMembers(five).length, 4)
    assert.equal(five.membership!.unsettled.length, 0)
    const three = run({
      seed: 1,
      genesisSize: 3,
      opaque: 3,
      maxSteps: 3000,
      membership: { proposeRemoves: 1 },
    })
    assert.equal(sameMembers(three).length, 3)
    assert.ok(three.membership!.deferred >= 1)
    assert.match(three.membership!.unsettled.join(), /remove\(\w+\) deferred/)
  })

  it("an operator's adds: named outsiders join through the protocol, replaying the history; the removal waits for them", () => {
    for (const seed of [1, 2, 3]) {
      const result = run({
        seed,
        genesisSize: 4,
        opaque: 3,
        maxSteps: 4000,
        membership: { operatorAdds: 2, proposeRemoves: 1, window: 60 },
      })
      const report = result.membership!
      assert.equal(report.joined.length, 2, `seed ${seed}: ${report.unsettled.join()}`)
      assert.equal(sameMembers(result).length, 5, `seed ${seed}`)
      assert.deepEqual(report.unsettled, [], `seed ${seed}`)
      for (const timing of report.joins) {
        // It caught up as an observer: it ingested the section's events before its self:joined.
        assert.ok(timing.ingested > 0 && timing.joinedAt !== undefined, `seed ${seed}: ${timing.peer}`)
      }
      const blocks = result.peers[result.honest[0]]
      const firstAdd = blocks.findIndex((b) => b.kind === 'add')
      const remove = blocks.findIndex((b) => b.kind === 'remove')
      assert.ok(firstAdd >= 0 && remove > firstAdd, `seed ${seed}: the removal waits for the adds`)
    }
  })

  it('two Adds of one joiner decided in one election add it once (seed 10 found the engine adding it twice)', () => {
    const result = run({
      seed: 10,
      genesisSize: 4,
      opaque: 3,
      maxSteps: 4000,
      membership: { joins: 3, leaves: 1, unresponsive: 1 },
    })
    const fred = result.peers.Fred.filter((b) => b.kind === 'add' && b.peer === 'Gina')
    assert.equal(fred.length, 2, 'the run still decides both Add(Gina) keys')
    assert.ok(sameMembers(result).includes('Gina'))
  })

  it("a joiner's second Add, decided once it is a member, is not judged by the young cap (M7, seed 2587)", () => {
    // Bob and Carol (N = 2) split their Adds, the lapsed one was seconded later while the joiner's
    // new ticket was voted too: Add(Fred), Add(Gina) in the fragile phase, then Gina's second Add at
    // N = 4 (2 young), which adds nobody.
    const scenario = membershipScenarios.find((s) => s.name === 'membership-churn-interleaved')!
    const outcome = runScenario(scenario, 2587)
    const carol = outcome.result.peers.Carol.filter((b) => b.kind === 'add' && b.peer === 'Gina')
    assert.ok(carol.length >= 2, 'the run still decides more than one Add(Gina) key')
    assert.deepEqual(outcome.problems, [])
  })

  it('an Add whose ticket went stale still counts as pending: no second Add beside it in the fragile phase (M7, seed 2657)', () => {
    // At N = 3 Carol, Dave and Eric had voted Add(Gina); a no-op block aged her ticket past
    // ticketMaxAge, the machines dropped the vote from J and voted Add(Hank): both were decided.
    const scenario = membershipScenarios.find((s) => s.name === 'membership-churn-interleaved')!
    assert.deepEqual(runScenario(scenario, 2657).problems, [])
  })

  it('an Add that lapsed is never completed: its joiner comes back with a fresh ticket (M7, seeds 2482, 2562, 2605)', () => {
    // Add(Eric) and Add(Fred) split 2-2 at N = 4 and lapsed; the members then voted the other one
    // and both were decided at N = 3 (2 young of 5). Now a lapsed key is refused as a stale ticket.
    const scenario = membershipScenarios.find((s) => s.name === 'membership-churn-interleaved')!
    for (const seed of [2482, 2562, 2605])
      assert.deepEqual(runScenario(scenario, seed).problems, [], `seed ${seed}`)
  })

  it('a stale JoinInfo is served when the second joiner asks after the first joined (forged-join-info seed 2483)', () => {
    // Both joiners asked the forger while the chain held only its genesis entry: nothing was stale.
    const scenario = membershipScenarios.find((s) => s.name === 'membership-forged-join-info')!
    assert.deepEqual(runScenario(scenario, 2483).problems, [])
  })

  it('catches a deliberately broken SectionState (M1/M2)', () => {
    const result = simulate({
      seed: 1,
      genesisSize: 4,
      opaque: 3,
      maxSteps: 1000,
      membership: {
        joins: 1,
        tamper: (step, hosts) => {
          if (step !== 50) return
          const alice = hosts.find((h) => h.name === 'Alice')!
          const position = alice.machine.state!.agreedBlocks
          // A block nobody agreed: Alice's state now lists a member her engine does not have.
          alice.machine.blocks(
            [{ payload: { kind: 'add', peer: mockId('Zed'), relatedInfo: new Uint8Array() }, proofs: [] }],
            position,
          )
        },
      },
    })
    assert.ok(!result.agreed)
    assert.ok(
      result.violations.some((v) => v.invariant === 'M2' || v.invariant === 'M1'),
      JSON.stringify(result.violations),
    )
  })

  // Each scenario once here (seed 1). CI sweeps every one over 20 seeds (`parsec-peer soak --suite
  // membership`, .ci/run) and the live defaults over 3, so the slowest (10-20 s each: 200 Sybil
  // tickets, 20 bits of work per ticket, a dozen joiners) are left to it.
  const sweptOnly = ['membership-sybil-200', 'membership-live-defaults', 'membership-add-many']
  for (const scenario of [...membershipScenarios, ...membershipSlowScenarios]) {
    if (sweptOnly.includes(scenario.name)) continue
    it(`scenario ${scenario.name} (seed 1)`, () => {
      const { problems } = runScenario(scenario, 1)
      assert.deepEqual(problems, [], `simulate --scenario ${scenario.name} --seed 1`)
    })
  }
})
