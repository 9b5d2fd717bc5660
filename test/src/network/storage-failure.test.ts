/**
 * A write that fails (a full disk, an I/O error) in one process: the member whose store stops
 * accepting batches enters a failed state (a `failed` event with `StorageFailed`, `vote` rejects
 * with it), creates no more events and sends none it could not store; the other three keep
 * agreeing. Restarted over the same store, now working, it resumes its own chain: nobody holds a
 * fork of it, and all four agree.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createSectionNode, isSectionError, type SectionError } from '@parsec-section/p2p-section'
import { MemoryDatastore } from 'datastore-core'
import type { Batch } from 'interface-datastore'
import { connectAll, engineOf, payloadTexts, startSection, type TestNode, waitFor } from './support.js'

/** A memory datastore whose batch commits fail once `commitsLeft` is spent, as on a full disk. */
class FullDiskDatastore extends MemoryDatastore {
  commitsLeft = Number.POSITIVE_INFINITY

  override batch(): Batch {
    const inner = super.batch()
    return {
      put: (key, value) => inner.put(key, value),
      delete: (key) => inner.delete(key),
      commit: async () => {
        if (this.commitsLeft <= 0) {
          throw Object.assign(new Error('IO error: No space left on device'), { code: 'ENOSPC' })
        }
        this.commitsLeft--
        await inner.commit()
      },
    }
  }
}

/** How many events created by `creator` (an engine name) `node`'s graph holds. */
function eventsBy(node: TestNode, creator: string): number {
  return engineOf(node)
    .packedEvents()
    .filter((e) => e.creator.name === creator).length
}

describe('a member whose store fails', () => {
  it('stops creating events, never forks, and resumes after a restart', async () => {
    const section = await startSection(4, {}, 1)
    const store = new FullDiskDatastore()
    const options = {
      genesis: section.genesis,
      privateKey: section.keys[3],
      listen: ['/ip4/127.0.0.1/tcp/0'],
      discovery: false,
    }
    let node = await createSectionNode({ ...options, datastore: store })
    const all = () => [...section.nodes, node]
    const vote = async (target: TestNode, text: string) =>
      target.services.section.vote(new TextEncoder().encode(text))
    try {
      await connectAll(all())
      for (let i = 0; i < 4; i++) await vote(all()[i], `before ${i}`)
      await waitFor(
        all(),
        () => all().every((n) => n.services.section.blocks().length >= 5),
        60_000,
        () => `before: ${all().map((n) => n.services.section.blocks().length)}`,
      )
      const us = engineOf(node).ourId.name

      // The disk fills up a few batches from now, while the others keep voting.
      let failure: SectionError | undefined
      let ourEventsAtFailure = 0
      node.services.section.addEventListener('failed', ({ detail }) => {
        failure = detail
        ourEventsAtFailure = eventsBy(node, us)
      })
      store.commitsLeft = 3
      let voted = 0
      const voting = (async () => {
        while (failure === undefined && voted < 200) await vote(section.nodes[voted++ % 3], `during ${voted}`)
      })()
      await waitFor(
        [node],
        () => failure !== undefined,
        60_000,
        () => 'no failed event',
        'failed',
      )
      await voting
      assert.ok(failure !== undefined)
      assert.equal(failure.code, 'StorageFailed')
      assert.match(failure.message, /ENOSPC: IO error: No space left on device/)
      await assert.rejects(
        vote(node, 'refused'),
        (error) => isSectionError(error) && error.code === 'StorageFailed',
      )

      // The others keep agreeing without it; it creates nothing more.
      const agreed = section.nodes.map((n) => n.services.section.blocks().length)
      for (let i = 0; i < 3; i++) await vote(section.nodes[i], `without ${i}`)
      await waitFor(
        section.nodes,
        () => section.nodes.every((n, k) => n.services.section.blocks().length >= agreed[k] + 3),
        60_000,
        () => `without: ${section.nodes.map((n) => n.services.section.blocks().length)}`,
      )
      assert.equal(eventsBy(node, us), ourEventsAtFailure, 'no event created after the failure')
      // Nobody holds an event of ours that our store does not.
      let stored = 0
      for await (const _ of store.queryKeys({ prefix: `/parsec/${section.genesis.sectionId}/events/` }))
        stored++
      const storedOurs = engineOf(node)
        .packedEvents()
        .slice(0, stored)
        .filter((e) => e.creator.name === us).length
      for (const other of section.nodes) assert.ok(eventsBy(other, us) <= storedOurs)

      // Restarted over the same store, which works again.
      await node.stop()
      store.commitsLeft = Number.POSITIVE_INFINITY
      node = await createSectionNode({ ...options, datastore: store })
      await connectAll(all())
      await vote(node, 'after restart')
      const holds = (n: TestNode) =>
        payloadTexts(n.services.section.blocks()).some((text) => text.includes('"after restart"'))
      await waitFor(
        all(),
        () => all().every(holds),
        60_000,
        () => `after: ${all().map((n) => n.services.section.blocks().length)}`,
      )
      const length = Math.min(...all().map((n) => n.services.section.blocks().length))
      const reference = payloadTexts(section.nodes[0].services.section.blocks()).slice(0, length)
      for (const n of all())
        assert.deepEqual(payloadTexts(n.services.section.blocks()).slice(0, length), reference)
      for (const n of all()) assert.deepEqual(n.services.section.status().forkedMembers, [])
    } finally {
      await node.stop()
      await section.stop()
    }
  })
})
