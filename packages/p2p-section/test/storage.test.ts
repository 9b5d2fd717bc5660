import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readdirSync, rmSync, statSync, unlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it, mock } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { MemoryDatastore } from 'datastore-core'
import { LevelDatastore } from 'datastore-level'
import { type Batch, Key, type Pair } from 'interface-datastore'
import { toString as bytesToText, fromString } from 'uint8arrays'
import { isSectionError } from '../src/errors.js'
import { openLevelDatastore } from '../src/level-datastore.js'
import { seal } from '../src/record.js'
import { retentionChunk, SectionStorage, STORAGE_FORMAT } from '../src/storage.js'

const SECTION = 'test-section'
const ROOT = `/parsec/${SECTION}`

/** Loads a store, collecting the events and blocks it hands over in batches. */
async function loadAll(
  storage: SectionStorage,
  owner: PeerId,
): Promise<{ events: Uint8Array[]; blocks: Uint8Array[] }> {
  const events: Uint8Array[] = []
  const eventCount = await storage.load(owner, (batch) => events.push(...batch))
  const { blocks } = await loadBlocksFrom(storage)
  assert.equal(eventCount, events.length)
  return { events, blocks }
}

/** The stored blocks (after `load`) and the position of the first. */
async function loadBlocksFrom(storage: SectionStorage): Promise<{ from: number; blocks: Uint8Array[] }> {
  const blocks: Uint8Array[] = []
  const end = await storage.loadBlocks((batch, first) => {
    assert.equal(first, storage.blocksFrom + blocks.length, 'blocks come in order')
    blocks.push(...batch)
  })
  assert.equal(end, storage.blocksFrom + blocks.length)
  return { from: storage.blocksFrom, blocks }
}

/** The indexes of the records of list `name` in the store, sorted. */
async function storedIndexes(datastore: MemoryDatastore | LevelDatastore, name: string): Promise<number[]> {
  const prefix = `${ROOT}/${name}/`
  const out: number[] = []
  for await (const key of datastore.queryKeys({ prefix }))
    out.push(Number(key.toString().slice(prefix.length)))
  return out.sort((a, b) => a - b)
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i)
}

/** A memory datastore whose batch commits fail once `commitsLeft` is spent (a full disk). */
class FailingDatastore extends MemoryDatastore {
  commitsLeft = Number.POSITIVE_INFINITY

  override batch(): Batch {
    const inner = super.batch()
    return {
      put: (key, value) => inner.put(key, value),
      delete: (key) => inner.delete(key),
      commit: async () => {
        if (this.commitsLeft <= 0)
          throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' })
        this.commitsLeft--
        await inner.commit()
      },
    }
  }
}

async function snapshot(datastore: MemoryDatastore | LevelDatastore): Promise<Map<string, string>> {
  const entries = new Map<string, string>()
  for await (const { key, value } of datastore.query({}))
    entries.set(key.toString(), bytesToText(value, 'base16'))
  return entries
}

/** Epoch `epoch` starts at block `start`; the one before the previous drops its events. */
async function switchEpoch(storage: SectionStorage, epoch: number, start: number): Promise<void> {
  await storage.saveEpoch({
    epoch,
    start,
    eventsBefore: 0,
    genesis: [new Uint8Array(32)],
    relatedInfo: bytes('checkpoint'),
    chain: bytes('chain'),
  })
  if (epoch > 1) await storage.dropEvents(epoch - 2)
}

function bytes(text: string): Uint8Array {
  return fromString(text)
}

function indexKey(list: string, index: number): Key {
  return new Key(`${ROOT}/${list}/${index.toString().padStart(12, '0')}`)
}

/** What the format-1 code wrote: the owner in plain text, raw events and blocks, no format record. */
async function writeFormat1(
  datastore: MemoryDatastore,
  owner: PeerId,
  events: Uint8Array[],
  blocks: Uint8Array[],
) {
  await datastore.put(new Key(`${ROOT}/owner`), bytes(owner.toString()))
  for (let i = 0; i < events.length; i++) await datastore.put(indexKey('events', i), events[i])
  for (let i = 0; i < blocks.length; i++) await datastore.put(indexKey('blocks', i), blocks[i])
}

function assertStorageError(code: string, pattern: RegExp) {
  return (error: unknown) => {
    assert.ok(isSectionError(error), `a SectionError, not ${String(error)}`)
    assert.equal(error.code, code, error.message)
    assert.match(error.message, pattern)
    return true
  }
}

let owner: PeerId
let other: PeerId
let dir: string
before(async () => {
  owner = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
  other = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
  dir = mkdtempSync(join(tmpdir(), 'parsec-storage-test-'))
})
after(() => rmSync(dir, { recursive: true, force: true }))

describe('section storage', () => {
  it('reads back what it appended, in order', async () => {
    const datastore = new MemoryDatastore()
    assert.deepEqual(await loadAll(new SectionStorage(datastore, SECTION), owner), { events: [], blocks: [] })
    const storage = new SectionStorage(datastore, SECTION)
    await storage.append([bytes('e0'), bytes('e1')], 0, [bytes('b0')], 0)
    await storage.append([bytes('e2')], 2, [], 1)
    const loaded = await loadAll(new SectionStorage(datastore, SECTION), owner)
    assert.deepEqual(
      loaded.events.map((e) => bytesToText(e)),
      ['e0', 'e1', 'e2'],
    )
    assert.deepEqual(
      loaded.blocks.map((b) => bytesToText(b)),
      ['b0'],
    )
    assert.equal(bytesToText(await datastore.get(new Key(`${ROOT}/format`))), `${STORAGE_FORMAT}`)
    await assert.rejects(
      loadAll(new SectionStorage(datastore, SECTION), other),
      assertStorageError('StorageMismatch', /belongs to peer/),
    )
  })

  it('syncs every batch to disk on a LevelDB datastore', async () => {
    for (const sync of [true, false]) {
      const datastore = new LevelDatastore(join(dir, `sync-${sync}`))
      await datastore.open()
      try {
        const batch = mock.method(datastore.db, 'batch')
        const storage = new SectionStorage(datastore, SECTION, sync ? {} : { sync: false })
        await loadAll(storage, owner)
        await storage.append([bytes('e0')], 0, [bytes('b0')], 0)
        await storage.append([bytes('e1')], 1, [], 1)
        assert.equal(batch.mock.callCount(), 3, 'the new store, then one batch per append')
        for (const call of batch.mock.calls) assert.deepEqual((call.arguments as unknown[])[1], { sync })
      } finally {
        await datastore.close()
      }
    }
  })

  it('refuses a record whose bytes changed, naming it, and changes nothing', async () => {
    const datastore = new MemoryDatastore()
    const storage = new SectionStorage(datastore, SECTION)
    await loadAll(storage, owner)
    await storage.append(
      [bytes('event zero'), bytes('event one'), bytes('event two')],
      0,
      [bytes('block')],
      0,
    )
    const key = indexKey('events', 1)
    const stored = await datastore.get(key)
    const flipped = Uint8Array.from(stored)
    flipped[flipped.length - 1] ^= 0x01
    await datastore.put(key, flipped)
    const before = await snapshot(datastore)
    await assert.rejects(
      loadAll(new SectionStorage(datastore, SECTION), owner),
      assertStorageError('StorageCorrupt', new RegExp(`${key.toString()} is damaged`)),
    )
    assert.deepEqual(await snapshot(datastore), before)

    // A record stored under another key is caught too (the checksum covers the key).
    await datastore.put(key, await datastore.get(indexKey('events', 2)))
    await assert.rejects(
      loadAll(new SectionStorage(datastore, SECTION), owner),
      assertStorageError('StorageCorrupt', /events\/000000000001/),
    )
    // And a missing one.
    await datastore.delete(key)
    await assert.rejects(
      loadAll(new SectionStorage(datastore, SECTION), owner),
      assertStorageError('StorageCorrupt', /events\/000000000001 is missing/),
    )
  })

  it('migrates a format-1 store in place', async () => {
    const datastore = new MemoryDatastore()
    const events = [bytes('e0'), bytes('e1'), bytes('e2')]
    await writeFormat1(datastore, owner, events, [bytes('b0')])
    const loaded = await loadAll(new SectionStorage(datastore, SECTION), owner)
    assert.deepEqual(loaded.events, events)
    assert.deepEqual(loaded.blocks, [bytes('b0')])
    assert.equal(bytesToText(await datastore.get(new Key(`${ROOT}/format`))), `${STORAGE_FORMAT}`)
    assert.equal(await datastore.has(new Key(`${ROOT}/migrating`)), false)
    // Every record now carries its checksum: a flipped byte is caught.
    const stored = await datastore.get(indexKey('events', 0))
    assert.equal(stored.length, 8 + 2)
    const again = await loadAll(new SectionStorage(datastore, SECTION), owner)
    assert.deepEqual(again, loaded)
  })

  it('refuses to migrate another identity’s format-1 store, changing nothing', async () => {
    const datastore = new MemoryDatastore()
    await writeFormat1(datastore, other, [bytes('e0')], [])
    const before = await snapshot(datastore)
    await assert.rejects(
      loadAll(new SectionStorage(datastore, SECTION), owner),
      assertStorageError('StorageMismatch', /belongs to peer/),
    )
    assert.deepEqual(await snapshot(datastore), before)
  })

  it('resumes a migration cut short by a crash', async () => {
    const datastore = new FailingDatastore()
    const events = Array.from({ length: 2500 }, (_, i) => bytes(`event ${i}`))
    const blocks = Array.from({ length: 30 }, (_, i) => bytes(`block ${i}`))
    await writeFormat1(datastore, owner, events, blocks)
    // The first batch of 1000 records is written, the second fails.
    datastore.commitsLeft = 1
    await assert.rejects(loadAll(new SectionStorage(datastore, SECTION), owner), /no space left/)
    assert.equal(await datastore.has(new Key(`${ROOT}/format`)), false, 'the format is set last')
    assert.equal(bytesToText(await datastore.get(new Key(`${ROOT}/migrating`))), '1000')
    datastore.commitsLeft = Number.POSITIVE_INFINITY
    const loaded = await loadAll(new SectionStorage(datastore, SECTION), owner)
    assert.deepEqual(loaded.events, events)
    assert.deepEqual(loaded.blocks, blocks)
    assert.equal(bytesToText(await datastore.get(new Key(`${ROOT}/format`))), `${STORAGE_FORMAT}`)
  })

  it('refuses a newer format, changing nothing', async () => {
    const datastore = new MemoryDatastore()
    const storage = new SectionStorage(datastore, SECTION)
    await loadAll(storage, owner)
    await storage.append([bytes('e0')], 0, [], 0)
    await datastore.put(new Key(`${ROOT}/format`), bytes(`${STORAGE_FORMAT + 1}`))
    const before = await snapshot(datastore)
    await assert.rejects(
      loadAll(new SectionStorage(datastore, SECTION), owner),
      assertStorageError(
        'StorageVersion',
        new RegExp(`storage format ${STORAGE_FORMAT + 1} by a newer version.*formats 1 to ${STORAGE_FORMAT}`),
      ),
    )
    assert.deepEqual(await snapshot(datastore), before)
  })

  it('migrates a format-2 store in place: the same records, no removal, no blocks dropped', async () => {
    const datastore = new MemoryDatastore()
    const events = [bytes('e0'), bytes('e1')]
    // What the format-2 code wrote: sealed records, the format record "2".
    const put = (key: Key, value: Uint8Array) => datastore.put(key, seal(key.toString(), value))
    await put(new Key(`${ROOT}/owner`), bytes(owner.toString()))
    await datastore.put(new Key(`${ROOT}/format`), bytes('2'))
    for (let i = 0; i < events.length; i++) await put(indexKey('events', i), events[i])
    await put(indexKey('blocks', 0), bytes('b0'))
    const before = await snapshot(datastore)
    const storage = new SectionStorage(datastore, SECTION)
    const loaded = await loadAll(storage, owner)
    assert.deepEqual(loaded, { events, blocks: [bytes('b0')] })
    assert.equal(STORAGE_FORMAT, 6)
    assert.equal(bytesToText(await datastore.get(new Key(`${ROOT}/format`))), '6')
    const after = await snapshot(datastore)
    after.delete(`${ROOT}/format`)
    before.delete(`${ROOT}/format`)
    assert.deepEqual(after, before, 'only the format record changed')
    assert.equal(await storage.loadRemoved(), undefined)
    assert.deepEqual(await loadAll(new SectionStorage(datastore, SECTION), owner), loaded)
  })

  it('epochs: the switch record, each epoch its own events, the previous epoch dropped', async () => {
    const datastore = new MemoryDatastore()
    const storage = new SectionStorage(datastore, SECTION)
    await loadAll(storage, owner)
    assert.equal(storage.epoch, undefined, 'epoch 0')
    await storage.append([bytes('e0'), bytes('e1')], 0, [bytes('b0'), bytes('cp')], 0)
    const epoch = {
      epoch: 1,
      start: 2,
      eventsBefore: 2,
      genesis: [new Uint8Array(32).fill(1), new Uint8Array(32).fill(2)],
      relatedInfo: bytes('checkpoint'),
      chain: bytes('chain'),
    }
    await storage.saveEpoch(epoch)
    await storage.append([bytes('f0')], 0, [bytes('b2')], 2)
    assert.deepEqual(await storedIndexes(datastore, 'events'), [0, 1], "epoch 0's events stay until dropped")
    assert.deepEqual(await storedIndexes(datastore, 'epochs/1/events'), [0])
    // A restart: the epoch's record and only its events.
    const again = new SectionStorage(datastore, SECTION)
    assert.deepEqual(await loadAll(again, owner), {
      events: [bytes('f0')],
      blocks: [bytes('b0'), bytes('cp'), bytes('b2')],
    })
    assert.deepEqual(again.epoch, epoch)
    await again.dropEvents(0)
    assert.deepEqual(await storedIndexes(datastore, 'events'), [])
    await assert.rejects(again.dropEvents(1), { code: 'InvalidArgument' })
    // A damaged epoch record is refused.
    await datastore.put(new Key(`${ROOT}/epoch`), seal(`${ROOT}/epoch`, bytes('{"epoch":1}')))
    await assert.rejects(loadAll(new SectionStorage(datastore, SECTION), owner), { code: 'StorageCorrupt' })
  })

  it('migrates a format-3 store by its format record alone', async () => {
    const datastore = new MemoryDatastore()
    const storage = new SectionStorage(datastore, SECTION)
    await loadAll(storage, owner)
    await storage.append([bytes('e0')], 0, [bytes('b0'), bytes('b1')], 0)
    await datastore.put(new Key(`${ROOT}/format`), bytes('3'))
    const before = await snapshot(datastore)
    const again = new SectionStorage(datastore, SECTION)
    assert.deepEqual(await loadAll(again, owner), {
      events: [bytes('e0')],
      blocks: [bytes('b0'), bytes('b1')],
    })
    assert.equal(again.blocksFrom, 0)
    const after = await snapshot(datastore)
    assert.equal(after.get(`${ROOT}/format`), bytesToText(bytes(`${STORAGE_FORMAT}`), 'base16'))
    after.delete(`${ROOT}/format`)
    before.delete(`${ROOT}/format`)
    assert.deepEqual(after, before, 'only the format record changed')
  })

  it('keeps only the retained blocks: older ones deleted in the batch that writes new ones', async () => {
    const datastore = new MemoryDatastore()
    const storage = new SectionStorage(datastore, SECTION)
    await loadAll(storage, owner)
    const block = (i: number) => bytes(`b${i}`)
    // Retention 3: blocks 0..3 written, then 4..5, then 6..11 at once (more than kept: 6..8 unwritten).
    await storage.append([bytes('e0')], 0, range(0, 4).map(block), 0, 4 - 3)
    assert.deepEqual(await storedIndexes(datastore, 'blocks'), [1, 2, 3])
    assert.equal(storage.blocksFrom, 1)
    await storage.append([bytes('e1')], 1, range(4, 6).map(block), 4, 6 - 3)
    assert.deepEqual(await storedIndexes(datastore, 'blocks'), [3, 4, 5])
    const commit = mock.method(datastore, 'batch')
    await storage.append([], 2, range(6, 12).map(block), 6, 12 - 3)
    assert.equal(commit.mock.callCount(), 1, 'one batch writes and deletes')
    commit.mock.restore()
    assert.deepEqual(await storedIndexes(datastore, 'blocks'), [9, 10, 11])
    assert.deepEqual(await storedIndexes(datastore, 'events'), [0, 1], 'events are untouched')
    // An append with nothing new but a retention moving on still deletes.
    await storage.append([], 2, [], 12, 12 - 2)
    assert.deepEqual(await storedIndexes(datastore, 'blocks'), [10, 11])

    // A restart reads the retained blocks at their positions; the events are all there.
    const again = new SectionStorage(datastore, SECTION)
    const events: Uint8Array[] = []
    assert.equal(await again.load(owner, (batch) => events.push(...batch)), 2)
    assert.deepEqual(await loadBlocksFrom(again), { from: 10, blocks: [block(10), block(11)] })
    // Appends go on at the global positions; a restart with a smaller retention drops the rest.
    await again.append([], 2, [block(12)], 12, 13 - 3)
    assert.deepEqual(await storedIndexes(datastore, 'blocks'), [10, 11, 12])
    const third = new SectionStorage(datastore, SECTION)
    await third.load(owner, () => {})
    await loadBlocksFrom(third)
    await third.dropBlocksBelow(12)
    assert.deepEqual(await storedIndexes(datastore, 'blocks'), [12])
    await third.dropBlocksBelow(5)
    assert.equal(third.blocksFrom, 12, 'retention never moves back')
    const fourth = new SectionStorage(datastore, SECTION)
    await fourth.load(owner, () => {})
    assert.deepEqual(await loadBlocksFrom(fourth), { from: 12, blocks: [block(12)] })

    // Without retention nothing is dropped any more (what was dropped stays dropped).
    await fourth.append([], 2, [block(13), block(14)], 13)
    const fifth = new SectionStorage(datastore, SECTION)
    await fifth.load(owner, () => {})
    assert.deepEqual(await loadBlocksFrom(fifth), { from: 12, blocks: [block(12), block(13), block(14)] })
  })

  it('refuses a block record left before the first retained one, or a damaged blocks-from', async () => {
    const datastore = new MemoryDatastore()
    const storage = new SectionStorage(datastore, SECTION)
    await loadAll(storage, owner)
    await storage.append([], 0, [bytes('b0'), bytes('b1'), bytes('b2')], 0, 2)
    const stray = indexKey('blocks', 0)
    await datastore.put(stray, seal(stray.toString(), bytes('b0')))
    await assert.rejects(
      loadAll(new SectionStorage(datastore, SECTION), owner),
      assertStorageError('StorageCorrupt', /blocks\/000000000000 comes before the first one kept \(2\)/),
    )
    await datastore.delete(stray)
    const key = new Key(`${ROOT}/blocks-from`)
    await datastore.put(key, seal(key.toString(), bytes('two')))
    await assert.rejects(
      loadAll(new SectionStorage(datastore, SECTION), owner),
      assertStorageError('StorageCorrupt', /blocks-from is damaged/),
    )
  })

  it('drops many blocks at a restart in batches, each consistent on a LevelDB datastore', async () => {
    const path = join(dir, 'retention')
    let datastore = new LevelDatastore(path)
    await datastore.open()
    const count = 25_000
    try {
      const storage = new SectionStorage(datastore, SECTION)
      await loadAll(storage, owner)
      await storage.append(
        [bytes('e0')],
        0,
        range(0, count).map((i) => bytes(`b${i}`)),
        0,
      )
      const batch = mock.method(datastore.db, 'batch')
      await storage.dropBlocksBelow(count - 5)
      assert.equal(batch.mock.callCount(), 3, 'at most 10,000 deletes a batch')
    } finally {
      await datastore.close()
    }
    datastore = new LevelDatastore(path)
    await datastore.open()
    try {
      const again = new SectionStorage(datastore, SECTION)
      await again.load(owner, () => {})
      const { from, blocks } = await loadBlocksFrom(again)
      assert.equal(from, count - 5)
      assert.deepEqual(
        blocks.map((b) => bytesToText(b)),
        range(count - 5, count).map((i) => `b${i}`),
      )
      assert.deepEqual(await storedIndexes(datastore, 'blocks'), range(count - 5, count))
    } finally {
      await datastore.close()
    }
  })

  it('frees what epochs and block retention delete: the store stays near its live size', async () => {
    const path = join(dir, 'compaction')
    const datastore = new LevelDatastore(path)
    await datastore.open()
    const record = 500
    const retained = 3_000
    const directoryBytes = () =>
      readdirSync(path).reduce((sum, file) => sum + statSync(join(path, file)).size, 0)
    try {
      const storage = new SectionStorage(datastore, SECTION, { sync: false })
      await loadAll(storage, owner)
      let position = 0
      const sizes: number[] = []
      for (let epoch = 0; epoch < 16; epoch++) {
        // An epoch: 2,000 events and 1,000 blocks, keeping the last 3,000 blocks.
        for (let batch = 0; batch < 20; batch++) {
          const events = range(0, 100).map(() => new Uint8Array(randomBytes(record)))
          const blocks = range(0, 50).map(() => new Uint8Array(randomBytes(record)))
          await storage.append(events, batch * 100, blocks, position, position + 50 - retained)
          position += 50
        }
        await switchEpoch(storage, epoch + 1, position)
        await storage.settled()
        sizes.push(directoryBytes())
      }
      // Live: 3,000 blocks and one epoch's 2,000 events (the one just ended).
      const live = (retained + 2_000) * record
      const worst = Math.max(...sizes.slice(4))
      assert.ok(
        worst < 1.2 * live,
        `at most 1.2 times the live bytes: ${sizes.map((b) => (b / 1e6).toFixed(1))} MB`,
      )
    } finally {
      await datastore.close()
    }
  })

  it('compacts what it deletes a run at a time, never the whole store: retained blocks a chunk at a time, an epoch’s events at once', async () => {
    // Compacting the whole store doubled it while it ran (BENCHMARKS.md, "The store's creep and swing").
    const path = join(dir, 'runs')
    const datastore = await openLevelDatastore(path)
    const db = datastore.db as unknown as { compactRange: (start: string, end: string) => Promise<void> }
    const compactions = mock.method(db, 'compactRange')
    const retention = 300
    const chunk = retentionChunk(retention)
    try {
      const storage = new SectionStorage(datastore, SECTION)
      await loadAll(storage, owner)
      let position = 0
      const starts: number[] = []
      for (let epoch = 0; epoch < 6; epoch++) {
        for (let batch = 0; batch < 20; batch++) {
          await storage.append(
            [bytes(`e${epoch}-${batch}`)],
            batch,
            range(0, 5).map((i) => bytes(`b${position + i}`)),
            position,
            position + 5 - retention,
          )
          position += 5
          const stored = position - storage.blocksFrom
          assert.ok(
            stored >= Math.min(position, retention) && stored < retention + chunk,
            `${stored} blocks stored`,
          )
          if (starts.at(-1) !== storage.blocksFrom) starts.push(storage.blocksFrom)
        }
        await switchEpoch(storage, epoch + 1, position)
      }
      await storage.settled()
      // Retention moved on a chunk at a time.
      for (let i = 2; i < starts.length; i++) assert.equal(starts[i] - starts[i - 1], chunk, `${starts}`)
      const ranges = compactions.mock.calls.map((call) => call.arguments as [string, string])
      const flushes = ranges.filter(([from]) => !from.startsWith('/'))
      const runs = ranges.filter(([from]) => from.startsWith('/'))
      assert.ok(flushes.length > 0, 'the write buffer flushed around each run of deletes')
      assert.ok(
        runs.some(([from]) => from.includes('/blocks/')) && runs.some(([from]) => from.includes('/events/')),
      )
      for (const [from, to] of runs) {
        if (from.includes('/blocks/')) {
          const [first, last] = [from, to].map((key) => Number(key.slice(key.lastIndexOf('/') + 1)))
          assert.ok(last - first < chunk, `blocks ${first} to ${last}: one chunk`)
          assert.ok(last < storage.blocksFrom, 'only deleted blocks')
        } else {
          assert.match(from, new RegExp(`^${ROOT}/(epochs/[0-9]+/)?events/$`), 'one epoch’s events')
          assert.equal(to, `${from.slice(0, -1)}0`)
        }
      }
    } finally {
      compactions.mock.restore()
      await datastore.close()
    }
  })

  it("reopens a peer's store at a dropped epoch once LevelDB's LOG and MANIFEST grew: they shrink, nothing is lost or reordered", async () => {
    const path = join(dir, 'roll-logs')
    const seed = randomBytes(4).readUInt32LE()
    let state = seed
    // Deterministic per seed: which appends race the reopen.
    const next = () => {
      state = (Math.imul(state ^ (state >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0
      return state
    }
    const note = `seed ${seed}`
    let datastore = await openLevelDatastore(path, { writeBufferSize: 64 * 1024 })
    const eventsOf = new Map<number, string[]>()
    const blocks: string[] = []
    let epoch = 0
    try {
      const storage = new SectionStorage(datastore, SECTION, { sync: false, logRollBytes: 4096 })
      await loadAll(storage, owner)
      for (; epoch < 12; epoch++) {
        const events: string[] = []
        eventsOf.set(epoch, events)
        // Appends in flight while the previous epoch is dropped (and the store reopened).
        const appends: Promise<void>[] = []
        const drop = epoch > 0 ? storage.dropEvents(epoch - 1) : Promise.resolve()
        for (let batch = 0; batch < 30; batch++) {
          const text = range(0, 20).map((i) => `e${epoch}-${batch}-${i}-${'x'.repeat(next() % 300)}`)
          const block = `b${blocks.length}-${'y'.repeat(next() % 300)}`
          const first = events.length
          const position = blocks.length
          events.push(...text)
          blocks.push(block)
          // Each append waits for the one before (as the journal does); some start during the drop.
          const previous = appends.at(-1) ?? Promise.resolve()
          appends.push(previous.then(() => storage.append(text.map(bytes), first, [bytes(block)], position)))
          if (next() % 4 === 0) await Promise.resolve()
        }
        await Promise.all([drop, ...appends])
        await storage.saveEpoch({
          epoch: epoch + 1,
          start: blocks.length,
          eventsBefore: 0,
          genesis: [new Uint8Array(32)],
          relatedInfo: bytes('checkpoint'),
          chain: bytes('chain'),
        })
      }
      await storage.settled()
      assert.ok(datastore.reopens >= 2, `reopened at least twice (${datastore.reopens}), ${note}`)
      assert.ok(
        datastore.logBytes() < 4096 + 16 * 1024,
        `LOG and MANIFEST rolled: ${datastore.logBytes()} bytes, ${note}`,
      )
    } finally {
      await datastore.close()
    }
    // Everything written is there, in order, after a restart.
    datastore = await openLevelDatastore(path)
    try {
      const again = new SectionStorage(datastore, SECTION)
      const events: Uint8Array[] = []
      await again.load(owner, (batch) => events.push(...batch))
      assert.equal(again.epoch?.epoch, epoch, note)
      const { from, blocks: stored } = await loadBlocksFrom(again)
      assert.equal(from, 0, note)
      assert.deepEqual(
        stored.map((b) => bytesToText(b)),
        blocks,
        note,
      )
      // The current epoch's events (none yet) and the one before it (its drop was not started).
      assert.deepEqual(
        events.map((e) => bytesToText(e)),
        [],
        note,
      )
      assert.deepEqual(
        (await storedIndexes(datastore, `epochs/${epoch - 1}/events`)).length,
        eventsOf.get(epoch - 1)?.length,
        note,
      )
    } finally {
      await datastore.close()
    }
  })

  it('a peer store reopened while in use: operations during the reopen wait for it, in order; a reopen waits for a reader, or gives up', async () => {
    const path = join(dir, 'reopen-gate')
    const datastore = await openLevelDatastore(path)
    try {
      for (let i = 0; i < 50; i++)
        await datastore.put(new Key(`/r/${String(i).padStart(3, '0')}`), bytes(`${i}`))
      // Puts started during the reopen all land, and a later put of a key wins over an earlier one.
      const reopen = datastore.reopen()
      const puts = range(0, 100).map((i) => datastore.put(new Key(`/w/${i % 10}`), bytes(`${i}`)))
      assert.equal(await reopen, true)
      await Promise.all(puts)
      for (let k = 0; k < 10; k++)
        assert.equal(bytesToText(await datastore.get(new Key(`/w/${k}`))), `${90 + k}`)
      assert.equal(datastore.reopens, 1)
      // A reader in the middle of a query: the reopen waits until it is done.
      const seen: string[] = []
      const reader = (async () => {
        for await (const { key } of datastore.query({ prefix: '/r/' })) {
          seen.push(key.toString())
          if (seen.length === 10) await new Promise((resolve) => setTimeout(resolve, 50))
        }
      })()
      await new Promise((resolve) => setTimeout(resolve, 10))
      assert.equal(await datastore.reopen(), true)
      await reader
      assert.equal(seen.length, 50, 'the query was not cut by the reopen')
      // A reader that holds its query open past the limit: the reopen gives up, nothing changes.
      const iterator = (datastore.query({ prefix: '/r/' }) as AsyncGenerator<Pair>)[Symbol.asyncIterator]()
      await iterator.next()
      assert.equal(await datastore.reopen(20), false)
      await datastore.put(new Key('/after'), bytes('ok'))
      let rest = 1
      while (!(await iterator.next()).done) rest++
      assert.equal(rest, 50)
      assert.equal(bytesToText(await datastore.get(new Key('/after'))), 'ok')
      assert.equal(datastore.reopens, 2)
    } finally {
      await datastore.close()
    }
  })

  it("keeps a rebase's payloads set aside, in the epoch record's batch, until settled; checked", async () => {
    const datastore = new MemoryDatastore()
    const storage = new SectionStorage(datastore, SECTION)
    await loadAll(storage, owner)
    assert.deepEqual(await storage.loadMissed(), [])
    const missed = [{ from: 5, to: 40, payloads: [bytes('p1'), new Uint8Array([0, 255])] }]
    await storage.saveEpoch(
      {
        epoch: 3,
        start: 40,
        eventsBefore: 0,
        genesis: [new Uint8Array(32)],
        relatedInfo: bytes('c'),
        chain: bytes('x'),
      },
      missed,
    )
    const again = new SectionStorage(datastore, SECTION)
    await loadAll(again, owner)
    assert.equal(again.epoch?.epoch, 3)
    assert.deepEqual(await again.loadMissed(), missed)
    // A later switch without any leaves them; settling them all removes the record.
    await switchEpoch(again, 4, 50)
    assert.deepEqual(await again.loadMissed(), missed)
    await again.saveMissed([])
    assert.deepEqual(await again.loadMissed(), [])
    assert.equal(await datastore.has(new Key(`${ROOT}/missed`)), false)
    const key = new Key(`${ROOT}/missed`)
    await datastore.put(key, seal(key.toString(), bytes('[{"from":9,"to":3,"payloads":[]}]')))
    await assert.rejects(again.loadMissed(), assertStorageError('StorageCorrupt', /missed is damaged/))
  })

  it('keeps our removal (reason and seq) across a restart, checked', async () => {
    const datastore = new MemoryDatastore()
    const storage = new SectionStorage(datastore, SECTION)
    await loadAll(storage, owner)
    assert.equal(await storage.loadRemoved(), undefined)
    await storage.saveRemoved({ reason: 'banned', seq: 7 })
    const again = new SectionStorage(datastore, SECTION)
    await loadAll(again, owner)
    assert.deepEqual(await again.loadRemoved(), { reason: 'banned', seq: 7 })
    const key = new Key(`${ROOT}/removed`)
    const flipped = Uint8Array.from(await datastore.get(key))
    flipped[flipped.length - 2] ^= 0x01
    await datastore.put(key, flipped)
    await assert.rejects(again.loadRemoved(), assertStorageError('StorageCorrupt', /removed is damaged/))
    await datastore.put(key, seal(key.toString(), bytes('{"reason":"gone","seq":-1}')))
    await assert.rejects(again.loadRemoved(), assertStorageError('StorageCorrupt', /removed is damaged/))
  })
})

describe('opening a LevelDB data directory', () => {
  function listing(path: string): string[] {
    return readdirSync(path)
      .sort()
      .map((name) => `${name} ${statSync(join(path, name)).size}`)
  }

  it('creates a store where there is none and reopens it', async () => {
    const path = join(dir, 'fresh')
    let datastore = await openLevelDatastore(path)
    await datastore.put(new Key('/a'), bytes('one'))
    await datastore.close()
    datastore = await openLevelDatastore(path)
    assert.equal(bytesToText(await datastore.get(new Key('/a'))), 'one')
    await datastore.close()
  })

  it('refuses a store without its CURRENT file and touches no file', async () => {
    const path = join(dir, 'no-current')
    const datastore = await openLevelDatastore(path)
    for (let i = 0; i < 100; i++) await datastore.put(new Key(`/k/${i}`), new Uint8Array(1000).fill(i))
    await datastore.close()
    unlinkSync(join(path, 'CURRENT'))
    const before = listing(path)
    await assert.rejects(
      openLevelDatastore(path),
      assertStorageError(
        'StorageCorrupt',
        new RegExp(`${path} holds files but no CURRENT file.*nothing was changed`),
      ),
    )
    assert.deepEqual(listing(path), before)
  })
})
