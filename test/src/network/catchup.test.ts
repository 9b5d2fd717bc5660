/**
 * Paged catch-up: a member of 4 is stopped while the others agree on more than 6 MiB of events
 * (above the 4 MiB message bound), then restarted from its data directory; it fetches what it lacks
 * in bounded pages (one sync message sized by the gap once failed every exchange with "Read buffer
 * overflow") and reaches the same blocks in the same order. The time it took is printed, not
 * asserted.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import {
  createSectionNode,
  type DeliveredBlock,
  type PullProgress,
  type SectionFault,
} from '@parsec-section/p2p-section'
import { encodePackedEvent } from '@parsec-section/parsec-core'
import { LevelDatastore } from 'datastore-level'
import { connectAll, engineOf, payloadTexts, startSection, type TestNode, waitFor } from './support.js'

// Larger gaps for BENCHMARKS.md: CATCHUP_GAP_MIB=64 CATCHUP_PAYLOAD_BYTES=256 node scripts/test.mjs network/catchup
const GAP_BYTES = Number(process.env.CATCHUP_GAP_MIB ?? 6) * 1024 * 1024
const PAYLOAD_BYTES = Number(process.env.CATCHUP_PAYLOAD_BYTES ?? 64 * 1024)

function payload(label: string): Uint8Array {
  const bytes = new Uint8Array(PAYLOAD_BYTES).fill(0x2e)
  bytes.set(new TextEncoder().encode(label))
  return bytes
}

describe('paged catch-up', () => {
  it('a member back after the others agreed on more than 6 MiB of events catches up', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'parsec-catchup-'))
    const section = await startSection(4, {}, 1)
    let datastore = new LevelDatastore(join(dir, 'peer3'))
    await datastore.open()
    const options = {
      genesis: section.genesis,
      privateKey: section.keys[3],
      listen: ['/ip4/127.0.0.1/tcp/0'],
      discovery: false,
    }
    let node: TestNode | undefined
    const faults: SectionFault[] = []
    for (const n of section.nodes) n.services.section.addEventListener('fault', (e) => faults.push(e.detail))
    try {
      node = await createSectionNode({ ...options, datastore })
      const all = (): TestNode[] => [...section.nodes, node as TestNode]
      await connectAll(all())
      await node.services.section.vote(new TextEncoder().encode('before'))
      await waitFor(
        all(),
        () => all().every((n) => n.services.section.blocks().length >= 2),
        60_000,
        () => 'before',
      )
      await node.stop()
      await datastore.close()

      // The others go on: votes in rounds, each agreed before the next, until the events made
      // since the stop take more than GAP_BYTES.
      const engine = engineOf(section.nodes[0])
      const sizeAtStop = engine.graphSize
      let counted = sizeAtStop
      let counting = 0
      const gapBytes = (): number => {
        for (const event of engine.packedEvents(counted)) counting += encodePackedEvent(event).length
        counted = engine.graphSize
        return counting
      }
      let votes = 0
      for (let round = 0; gapBytes() <= GAP_BYTES; round++) {
        assert.ok(round < 2_000, `the gap stays at ${gapBytes()} bytes`)
        const batch = Math.max(12, Math.floor((256 * 1024) / PAYLOAD_BYTES))
        for (let i = 0; i < batch; i++)
          await section.nodes[votes % 3].services.section.vote(payload(`during ${votes++}`))
        const target = 2 + votes
        await waitFor(
          section.nodes,
          () => section.blocks.every((b) => b.length >= target),
          120_000,
          () => `round ${round}: ${section.blocks.map((b) => b.length)} of ${target}`,
        )
      }
      const gap = {
        events: engine.graphSize - sizeAtStop,
        bytes: gapBytes(),
        blocks: section.blocks[0].length,
      }

      datastore = new LevelDatastore(join(dir, 'peer3'))
      await datastore.open()
      const startedAt = performance.now()
      node = await createSectionNode({ ...options, datastore, start: false })
      const pages: PullProgress[] = []
      node.services.section.addEventListener('catchup:progress', (e) => pages.push(e.detail))
      await node.start()
      await connectAll(all())
      await node.services.section.ready()
      const target = gap.blocks
      await waitFor(
        all(),
        () => (node as TestNode).services.section.blocks().length >= target,
        180_000,
        () => `catching up: ${(node as TestNode).services.section.blocks().length} of ${target}`,
      )
      const seconds = (performance.now() - startedAt) / 1000
      console.log(
        `catch-up after a gap of ${gap.events} events (${(gap.bytes / 2 ** 20).toFixed(1)} MiB, ` +
          `${gap.blocks} blocks): ${seconds.toFixed(1)} s, ${pages.length} pages`,
      )
      assert.ok(
        pages.length >= Math.floor(gap.bytes / (1 << 20)),
        `${pages.length} pages for ${gap.bytes} bytes`,
      )

      // The same blocks in the same order, then the section goes on with it.
      await node.services.section.vote(new TextEncoder().encode('after'))
      await waitFor(
        all(),
        () => all().every((n) => n.services.section.blocks().length >= target + 1),
        60_000,
        () => `after: ${all().map((n) => n.services.section.blocks().length)}`,
      )
      const reference = payloadTexts(section.blocks[0]).slice(0, target + 1)
      const delivered: DeliveredBlock[] = node.services.section.blocks()
      assert.deepEqual(payloadTexts(delivered).slice(0, target + 1), reference)
      assert.deepEqual(faults, [], 'no fault anywhere')
      for (const other of section.nodes) assert.deepEqual(other.services.section.status().forkedMembers, [])
    } finally {
      await node?.stop()
      await datastore.close().catch(() => {})
      await section.stop()
      await rm(dir, { recursive: true, force: true })
    }
  })
})
