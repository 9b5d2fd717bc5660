/**
 * A burst of votes larger than a sync page at every member (in one process, libp2p TCP on
 * 127.0.0.1, pages of 4 KiB so that a few dozen events make one): once the burst ends, every
 * payload is decided everywhere. Before claimed frontiers (section/claimed-frontiers.ts), the
 * members' requests each carried everything the partner had taken by catch-up (which makes no
 * event of its), so every exchange became a catch-up that made no sync event, and the section
 * stopped deciding for good (BENCHMARKS.md, "the open-loop stall").
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { startSection, waitFor } from './support.js'

const SEED = Number(process.env.NETWORK_SEED ?? 1)

describe('a burst of votes larger than a page', () => {
  it('is decided everywhere once it ends', { timeout: 120_000 }, async () => {
    const section = await startSection(4, { pageBytes: 4 * 1024 })
    const encoder = new TextEncoder()
    try {
      let voted = 0
      // Every member votes batches of 25 back to back until the graphs hold 3,000 events.
      const burst = section.nodes.map(async (node, i) => {
        while (node.services.section.status().graphSize < 3000) {
          const batch = Array.from({ length: 25 }, (_, k) =>
            encoder.encode(`burst ${SEED} ${i} ${voted + k}`),
          )
          voted += batch.length
          await Promise.all(batch.map((payload) => node.services.section.vote(payload)))
        }
      })
      await Promise.all(burst)
      const expected = voted + 1 // and the genesis block
      await waitFor(
        section.nodes,
        () => section.blocks.every((list) => list.length >= expected),
        60_000,
        () =>
          `seed ${SEED}: blocks per peer ${section.blocks.map((b) => b.length)} of ${expected}, ` +
          `undecided ${section.nodes.map((n) => n.services.section.status().pendingObservations)}`,
      )
      const agreed = section.blocks.map((list) =>
        list.slice(0, expected).map(({ description: { voters: _voters, ...what } }) => JSON.stringify(what)),
      )
      for (const list of agreed) assert.deepEqual(list, agreed[0], `seed ${SEED}: the same blocks everywhere`)
    } finally {
      await section.stop()
    }
  })
})
