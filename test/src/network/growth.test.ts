/**
 * Gossip in proportion to the work: a 4-member section makes no event at all while nothing is
 * pending, agrees on a vote after an idle period, and under a light load (5 votes/s) makes few
 * events per agreed payload (about 10 measured; 50-90 with the old fixed 50 ms pace, and 12 events
 * a second when idle). Counts are asserted with headroom for a loaded machine; the figures are
 * printed.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startSection, type TestSection, waitFor } from './support.js'

const RATE = 5
const VOTES = 60

describe('growth in proportion to work', () => {
  let section: TestSection
  const graphSize = (): number => section.nodes[0].services.section.status().graphSize
  const blocks = (): number => Math.min(...section.nodes.map((n) => n.services.section.blocks().length))

  async function agreeOn(count: number): Promise<void> {
    await waitFor(
      section.nodes,
      () => blocks() >= count,
      60_000,
      () => `${blocks()} of ${count} blocks`,
    )
  }

  /** Resolves once no event was made anywhere for `quietMs` (polled), or rejects after `timeoutMs`. */
  async function quiet(quietMs: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs
    let size = graphSize()
    let since = Date.now()
    while (Date.now() - since < quietMs) {
      if (Date.now() > deadline) throw new Error(`the graph kept growing: ${graphSize()} events`)
      await new Promise((resolve) => setTimeout(resolve, 100))
      if (graphSize() !== size) {
        size = graphSize()
        since = Date.now()
      }
    }
  }

  before(async () => {
    section = await startSection(4, {})
    await Promise.all(section.nodes.map((n) => n.services.section.ready()))
    await agreeOn(1)
  })

  after(async () => {
    await section.stop()
  })

  it('makes no event when nothing is pending', async () => {
    await quiet(1_000, 30_000)
    const sizes = section.nodes.map((n) => n.services.section.status().graphSize)
    // Idle for 5 s (a timer, not a wait for correctness: the assertion is that nothing happened).
    await new Promise((resolve) => setTimeout(resolve, 5_000))
    assert.deepEqual(
      section.nodes.map((n) => n.services.section.status().graphSize),
      sizes,
      'no event while idle',
    )
  })

  it('agrees on a vote after an idle period (the time is printed)', async () => {
    const before = blocks()
    const votedAt = performance.now()
    await section.nodes[1].services.section.vote(new TextEncoder().encode('after idling'))
    await agreeOn(before + 1)
    console.log(
      `a vote after 5 s idle agreed at every peer in ${(performance.now() - votedAt).toFixed(0)} ms`,
    )
  })

  it(`makes few events per agreed payload at ${RATE} votes/s`, async () => {
    await quiet(1_000, 30_000)
    const size0 = graphSize()
    const blocks0 = blocks()
    for (let i = 0; i < VOTES; i++) {
      await section.nodes[i % 4].services.section.vote(new TextEncoder().encode(`light ${i}`))
      await new Promise((resolve) => setTimeout(resolve, 1000 / RATE))
    }
    await agreeOn(blocks0 + VOTES)
    await quiet(1_000, 30_000)
    const perPayload = (graphSize() - size0) / VOTES
    console.log(`${perPayload.toFixed(1)} events per agreed payload at ${RATE} votes/s (4 peers)`)
    assert.ok(perPayload <= 20, `${perPayload.toFixed(1)} events per payload`)
    // Gossip's waste is counted: events received, and those already held.
    const { events, duplicates } = section.nodes[0].services.section.status().gossipReceived
    console.log(`peer 0 received ${events} events by gossip, ${duplicates} of them already held`)
    assert.ok(events > 0 && duplicates >= 0 && duplicates < events)
  })
})
