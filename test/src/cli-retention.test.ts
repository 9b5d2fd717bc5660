/**
 * Block retention with `parsec-peer start --block-retention N` processes on 127.0.0.1: a peer that
 * keeps its last 5 blocks answers `GET /blocks?from=0` with those 5 and `retainedFrom` (where they
 * start), says so in `GET /status`, holds only those in its data directory, and restarted it goes
 * on at the next position (a smaller retention at the restart drops the rest).
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { LevelDatastore } from 'datastore-level'
import { type BlocksJson, LocalSection } from 'parsec-peer/local-section'
import { until } from './cli-support.js'

const RETENTION = 5
const encoder = new TextEncoder()

/** The positions of the blocks stored in a stopped peer's data directory. */
async function storedBlocks(dataDir: string, sectionId: string): Promise<number[]> {
  const store = new LevelDatastore(join(dataDir, 'datastore'), { createIfMissing: false })
  await store.open()
  try {
    const prefix = `/parsec/${sectionId}/blocks/`
    const out: number[] = []
    for await (const key of store.queryKeys({ prefix })) out.push(Number(key.toString().slice(prefix.length)))
    return out.sort((a, b) => a - b)
  } finally {
    await store.close()
  }
}

const texts = (answer: BlocksJson): string[] =>
  answer.blocks.map((b) => (b.kind === 'opaque' ? (b.text ?? '') : b.kind))

describe('parsec-peer start --block-retention', () => {
  let section: LocalSection
  before(async () => {
    section = await LocalSection.create({ peers: 2, startArgs: ['--block-retention', `${RETENTION}`] })
    await section.startAll()
    await section.waitConnected(30_000)
  })
  after(async () => {
    await section?.close()
  })

  /**
   * Votes `count` payloads `PREFIX i` at peer 0, one POST each; resolves once both peers delivered
   * them (and as many blocks), with the next position to deliver.
   */
  async function voteAndWait(prefix: string, count: number): Promise<number> {
    const start = (await section.api(0).status()).deliveredBlocks
    for (let i = 0; i < count; i++) await section.api(0).vote([encoder.encode(`${prefix} ${i}`)])
    let delivered = 0
    await until(
      async () => {
        const statuses = await Promise.all([0, 1].map((i) => section.api(i).status()))
        delivered = statuses[0].deliveredBlocks
        return statuses.every(
          (s) =>
            s.deliveredBlocks >= start + count &&
            s.deliveredBlocks === delivered &&
            s.pendingObservations === 0,
        )
      },
      60_000,
      () => `${count} blocks of ${prefix} not delivered`,
    )
    return delivered
  }

  /** Both peers' kept blocks from 0: the same positions and content. */
  async function bothKept(): Promise<BlocksJson> {
    const [mine, theirs] = await Promise.all([0, 1].map((i) => section.api(i).blocks({ from: 0 })))
    const shape = (answer: BlocksJson) => answer.blocks.map((b) => [b.position, b.kind, b.payload ?? null])
    assert.deepEqual(shape(mine), shape(theirs))
    assert.equal(mine.retainedFrom, theirs.retainedFrom)
    return mine
  }

  it('answers the last 5 blocks from position 0 and says where they start, in /blocks and /status', async () => {
    const delivered = await voteAndWait('first', 8)
    for (const peer of [0, 1]) {
      const status = await section.api(peer).status()
      assert.equal(status.blockRetention, RETENTION)
      assert.equal(status.deliveredBlocks, delivered)
      assert.equal(status.retainedFrom, delivered - RETENTION)
      const answer = await section.api(peer).blocks({ from: 0 })
      assert.ok(answer.retainedFrom > 0)
      assert.equal(answer.retainedFrom, delivered - RETENTION)
      assert.equal(answer.from, 0, 'from echoes the query')
      assert.equal(answer.next, delivered)
      assert.deepEqual(
        answer.blocks.map((b) => b.position),
        Array.from({ length: RETENTION }, (_, i) => delivered - RETENTION + i),
      )
      // The genesis block (position 0) is gone: 8 payloads came after it.
      assert.ok(
        texts(answer).every((text) => text.startsWith('first ')),
        `${texts(answer)}`,
      )
      // A `from` inside the retained blocks answers from there, as before.
      const later = await section.api(peer).blocks({ from: delivered - 2 })
      assert.deepEqual(texts(later), texts(answer).slice(-2))
      assert.equal(later.next, delivered)
    }
    await bothKept()
  })

  it('keeps only those blocks on disk, and restarted goes on at the next position', async () => {
    const before = await section.api(0).status()
    assert.equal((await section.stop(0)).code, 0)
    const dataDir = section.peers[0].dataDir
    assert.deepEqual(
      await storedBlocks(dataDir, section.sectionId),
      Array.from({ length: RETENTION }, (_, i) => before.deliveredBlocks - RETENTION + i),
    )
    await section.start(0)
    const resumed = await section.api(0).status()
    assert.equal(resumed.retainedFrom, before.retainedFrom)
    assert.ok(resumed.deliveredBlocks >= before.deliveredBlocks)
    const delivered = await voteAndWait('second', 3)
    const mine = await bothKept()
    assert.equal(mine.retainedFrom, delivered - RETENTION)
    assert.equal(mine.next, delivered)
    assert.deepEqual(texts(mine).slice(-3).sort(), ['second 0', 'second 1', 'second 2'])

    // Restarted with a smaller retention: the rest is dropped at once.
    assert.equal((await section.stop(0)).code, 0)
    await section.start(0, ['--block-retention', '2'])
    const smaller = await section.api(0).blocks({ from: 0 })
    assert.equal(smaller.retainedFrom, delivered - 2)
    assert.deepEqual(texts(smaller), texts(mine).slice(-2))
    assert.equal((await section.stop(0)).code, 0)
    assert.deepEqual(await storedBlocks(dataDir, section.sectionId), [delivered - 2, delivered - 1])
  })
})
