/**
 * Durability in one process: a peer with a LevelDB datastore is stopped while the section goes
 * on, then restarted from its data: it resumes its own chain (no second Initial event, no fork
 * seen by anyone), re-delivers nothing, and catches up to the same blocks in the same order.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { createSectionNode, type DeliveredBlock } from '@parsec-section/p2p-section'
import { LevelDatastore } from 'datastore-level'
import { connectAll, engineOf, payloadTexts, startSection, type TestNode, waitFor } from './support.js'

describe('restart from a data directory', () => {
  it('resumes without forking and without re-delivering', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'parsec-restart-'))
    const section = await startSection(4, {}, 1)
    let datastore = new LevelDatastore(join(dir, 'peer3'))
    await datastore.open()
    const key = section.keys[3]
    const options = {
      genesis: section.genesis,
      privateKey: key,
      listen: ['/ip4/127.0.0.1/tcp/0'],
      discovery: false,
    }
    let restarted: TestNode | undefined
    try {
      let node = await createSectionNode({ ...options, datastore })
      const firstRun: DeliveredBlock[] = []
      node.services.section.addEventListener('block', (e) => firstRun.push(e.detail))
      const all = () => [...section.nodes, node]
      await connectAll(all())
      const vote = async (target: TestNode, text: string) =>
        target.services.section.vote(new TextEncoder().encode(text))
      for (let i = 0; i < 6; i++) await vote(all()[i % 4], `before ${i}`)
      await waitFor(
        all(),
        () => [...section.blocks, firstRun].every((b) => b.length >= 7),
        60_000,
        () => 'before',
      )
      await node.stop()
      await datastore.close()

      // The section goes on without it (3 of 4 is a supermajority).
      for (let i = 0; i < 6; i++) await vote(section.nodes[i % 3], `during ${i}`)
      await waitFor(
        section.nodes,
        () => section.blocks.every((b) => b.length >= 13),
        60_000,
        () => 'during',
      )

      datastore = new LevelDatastore(join(dir, 'peer3'))
      await datastore.open()
      node = await createSectionNode({ ...options, datastore })
      restarted = node
      const secondRun: DeliveredBlock[] = []
      node.services.section.addEventListener('block', (e) => secondRun.push(e.detail))
      assert.equal(node.services.section.blocks().length, firstRun.length, 'delivered blocks are kept')
      await connectAll(all())
      await vote(node, 'after restart')
      await waitFor(
        all(),
        () => [...section.blocks, node.services.section.blocks()].every((b) => b.length >= 14),
        60_000,
        () => `after: ${[...section.blocks, node.services.section.blocks()].map((b) => b.length)}`,
      )
      // Nothing delivered twice: the second run starts where the first stopped.
      assert.ok(secondRun.length > 0)
      assert.equal(secondRun[0].position, firstRun.length)
      const reference = payloadTexts(section.blocks[0]).slice(0, 14)
      assert.deepEqual(payloadTexts(node.services.section.blocks()).slice(0, 14), reference)
      assert.deepEqual(payloadTexts([...firstRun, ...secondRun]).slice(0, 14), reference)
      for (const list of section.blocks) assert.deepEqual(payloadTexts(list).slice(0, 14), reference)
      // No peer sees a fork of the restarted peer.
      for (const other of section.nodes) {
        const name = section.genesis.members.find((m) => m.peerId.equals(node.peerId))!.publicId.name
        const peer = engineOf(other)
          .view()
          .peers.find((p) => p.id.name === name)
        assert.ok(peer !== undefined)
        assert.equal(peer.forked, false)
      }
      const ours = engineOf(node)
        .packedEvents()
        .filter((e) => e.creator.name === engineOf(node).ourId.name)
      assert.equal(ours.filter((e) => e.cause.kind === 'initial').length, 1)
    } finally {
      await restarted?.stop()
      await datastore.close().catch(() => {})
      await section.stop()
      await rm(dir, { recursive: true, force: true })
    }
  })
})
