/**
 * Transactions over libp2p on 127.0.0.1 (README: "Transactions"): a Single-mode section of 4 peers
 * delivers every submitted transaction once, in the same order everywhere, each peer's in the
 * order it submitted them, across a restart of one peer whose submissions had resolved just
 * before it stopped, across epoch switches. A Supermajority section refuses `submit`; `vote` refuses batch-like payloads.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { createSectionNode, type DeliveredTransaction, isSectionError } from '@parsec-section/p2p-section'
import { LevelDatastore } from 'datastore-level'
import { connectAll, startSection, type TestNode, waitFor } from './support.js'

const text = (tx: Uint8Array): string => new TextDecoder().decode(tx)
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s)

/** Each transaction as "submitter/text" (proposer checked against the submitter's prefix). */
function describeAll(list: readonly DeliveredTransaction[]): string[] {
  return list.map((t) => text(t.tx))
}

describe('transactions', () => {
  it('are delivered once, in one order, each peer’s in submission order, across a restart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'parsec-tx-'))
    // Epochs of a few blocks: batches are re-cast across the switches too.
    const epochs = { membership: { checkpointBlocks: 6 }, epochDrainMs: 60_000 }
    const section = await startSection(4, { transactionWindowMs: 2, ...epochs }, 1)
    let datastore = new LevelDatastore(join(dir, 'peer3'))
    await datastore.open()
    const options = {
      genesis: section.genesis,
      privateKey: section.keys[3],
      listen: ['/ip4/127.0.0.1/tcp/0'],
      discovery: false,
      transactionWindowMs: 2,
      ...epochs,
    }
    const delivered: DeliveredTransaction[][] = section.nodes.map(() => [])
    section.nodes.forEach((node, i) => {
      node.services.section.addEventListener('transaction', (e) => delivered[i].push(e.detail))
    })
    // At peer 0: each transaction comes right after its block's `block` event.
    let lastBlock = -1
    const outOfPlace: string[] = []
    section.nodes[0].services.section.addEventListener('block', (e) => {
      lastBlock = e.detail.position
    })
    section.nodes[0].services.section.addEventListener('transaction', (e) => {
      if (e.detail.position !== lastBlock) outOfPlace.push(`${e.detail.position} after block ${lastBlock}`)
    })
    const peer3Runs: DeliveredTransaction[][] = []
    const listen = (node: TestNode) => {
      const run: DeliveredTransaction[] = []
      peer3Runs.push(run)
      node.services.section.addEventListener('transaction', (e) => run.push(e.detail))
    }
    let node = await createSectionNode({ ...options, datastore })
    listen(node)
    const all = () => [...section.nodes, node]
    const submitted: string[][] = [[], [], [], []]
    const submit = (at: number, label: string) => {
      submitted[at].push(`p${at}/${label}`)
      return all()[at].services.section.submit(bytes(`p${at}/${label}`))
    }
    const count = () => submitted.reduce((n, list) => n + list.length, 0)
    const peer3All = () => peer3Runs.flat()
    let restarted = false
    try {
      await connectAll(all())
      // Waves at every peer (each waits for the previous one's batches to be voted only): several
      // batches each, several open at once, and enough blocks for a few epochs.
      for (let wave = 0; wave < 6; wave++) {
        const sent: Promise<void>[] = []
        for (let i = 0; i < 4; i++) for (let at = 0; at < 4; at++) sent.push(submit(at, `a${wave}.${i}`))
        await Promise.all(sent)
      }
      await waitFor(
        all(),
        () => [...delivered, peer3All()].every((list) => list.length >= count()),
        30_000,
        () => `before the restart: ${[...delivered, peer3All()].map((l) => l.length)} of ${count()}`,
        'transaction',
      )
      // Peer 3's submissions resolve (their batch voted and stored), then it stops at once: before
      // they are agreed (in every run on 2 cores, all five were delivered by its second run only).
      const last = [0, 1, 2, 3, 4].map((i) => submit(3, `b${i}`))
      await Promise.all(last)
      await node.stop()
      await datastore.close()
      restarted = true
      // The others go on without it (3 of 4).
      await Promise.all([0, 1, 2].map((at) => submit(at, 'during')))

      datastore = new LevelDatastore(join(dir, 'peer3'))
      await datastore.open()
      node = await createSectionNode({ ...options, datastore })
      listen(node)
      await connectAll(all())
      await Promise.all([0, 1, 2, 3].flatMap((at) => [submit(at, 'c0'), submit(at, 'c1')]))
      await waitFor(
        all(),
        () => [...delivered, peer3All()].every((list) => list.length >= count()),
        30_000,
        () => `after the restart: ${[...delivered, peer3All()].map((l) => l.length)} of ${count()}`,
        'transaction',
      )
      const reference = describeAll(delivered[0])
      // Exactly once: every submitted transaction, no other, none twice.
      assert.equal(reference.length, count())
      assert.deepEqual([...reference].sort(), submitted.flat().sort())
      // One order everywhere (peer 3: its two runs together, and its query).
      for (const list of delivered) assert.deepEqual(describeAll(list), reference)
      assert.deepEqual(describeAll(peer3All()), reference)
      assert.deepEqual(describeAll(node.services.section.transactions()), reference)
      // Each peer's in the order it submitted them, proposed by it.
      for (let at = 0; at < 4; at++) {
        const prefix = `p${at}/`
        assert.deepEqual(
          reference.filter((t) => t.startsWith(prefix)),
          submitted[at],
        )
        const peerId = all()[at].peerId
        for (const t of delivered[0].filter((d) => text(d.tx).startsWith(prefix))) {
          assert.ok(t.proposer?.equals(peerId), `${text(t.tx)} proposed by ${t.proposer}`)
        }
      }
      assert.deepEqual(outOfPlace, [])
      // Several epochs passed: two checkpoints agreed everywhere (the last may still be under way
      // when the transactions are in: batches open at its due point are agreed before it).
      const checkpoints = () =>
        all().map(
          (n) => n.services.section.blocks(0).filter((b) => b.description.kind === 'checkpoint').length,
        )
      await waitFor(
        all(),
        () => checkpoints().every((count) => count >= 2),
        30_000,
        () =>
          `checkpoints agreed ${checkpoints()} after ${section.nodes[0].services.section.status().deliveredBlocks} blocks`,
        'block',
      )
      // Positions and indices: agreed order, indices counting within each block.
      for (let i = 1; i < delivered[0].length; i++) {
        const [a, b] = [delivered[0][i - 1], delivered[0][i]]
        assert.ok(
          b.position > a.position || (b.position === a.position && b.index === a.index + 1),
          `${a.position}/${a.index} then ${b.position}/${b.index}`,
        )
      }
      // The query pages whole blocks from a position on.
      const from = delivered[0][Math.floor(delivered[0].length / 2)].position
      const page = section.nodes[1].services.section.transactions(from, 1)
      assert.ok(page.length >= 1 && page.every((t) => t.position === from))
    } finally {
      await node.stop()
      if (restarted) await datastore.close().catch(() => {})
      await section.stop()
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('are refused in a Supermajority section; vote refuses batch-like payloads', async () => {
    const section = await startSection(1, { mode: 'supermajority' })
    try {
      const service = section.nodes[0].services.section
      await service.ready()
      await assert.rejects(service.submit(bytes('x')), (error) => {
        assert.ok(isSectionError(error))
        assert.equal(error.code, 'TransactionsNeedSingleMode')
        return true
      })
      await assert.rejects(service.vote(Uint8Array.of(0xf5, 0x50, 0x54, 0x58, 1)), (error) => {
        assert.ok(isSectionError(error))
        assert.equal(error.code, 'ReservedPayload')
        return true
      })
    } finally {
      await section.stop()
    }
  })
})
