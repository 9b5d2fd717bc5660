/** Sections of real libp2p nodes over TCP on 127.0.0.1, in one process. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Rng } from '@parsec-section/simulation'
import { payloadTexts, startSection, waitFor } from './support.js'

const SEED = Number(process.env.NETWORK_SEED ?? 1)

async function agreeOnRandomVotes(size: number, payloads: number): Promise<void> {
  const rng = new Rng(SEED + size)
  const section = await startSection(size)
  try {
    const expected = payloads + 1 // the genesis block first
    for (let i = 0; i < payloads; i++) {
      const node = section.nodes[rng.below(size)]
      await node.services.section.vote(new TextEncoder().encode(`payload ${i}`))
    }
    await waitFor(
      section.nodes,
      () => section.blocks.every((list) => list.length >= expected),
      60_000,
      () => `seed ${SEED}: blocks per peer ${section.blocks.map((b) => b.length)}`,
    )
    const first = payloadTexts(section.blocks[0])
    for (const list of section.blocks) assert.deepEqual(payloadTexts(list), first, `seed ${SEED}`)
    assert.equal(first.length, expected)
    assert.equal(new Set(first).size, expected, 'no payload delivered twice')
    section.blocks[0].forEach((block, i) => {
      assert.equal(block.position, i)
    })
    for (const node of section.nodes) {
      const status = node.services.section.status()
      assert.equal(status.deliveredBlocks, expected)
      assert.equal(status.faults, 0)
    }
  } finally {
    await section.stop()
  }
}

describe('section over libp2p TCP', () => {
  it('4 peers agree on payloads voted at random peers', async () => {
    await agreeOnRandomVotes(4, 40)
  })

  it('7 peers agree on payloads voted at random peers', async () => {
    await agreeOnRandomVotes(7, 40)
  })
})
