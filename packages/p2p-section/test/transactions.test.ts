/**
 * Transactions: the batch codec (round trips, typed errors on every malformed input) and the
 * batcher (submission order, one batch open at a time, the size and time bounds).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Logger } from '@libp2p/interface'
import { opaque } from '@parsec-section/parsec-core'
import {
  BATCH_MAGIC,
  BatchDecodeError,
  decodeBatch,
  encodeBatch,
  isBatch,
  maxTransactionBytes,
  TxBatcher,
} from '../src/index.js'
import type { DeliveredBlock } from '../src/section/api.js'
import { Transactions } from '../src/section/transactions.js'
import { BATCH_HEADER_BYTES, framedLength } from '../src/transactions/batch-codec.js'
import { seeded } from './seeded.js'

const SEED = Number(process.env.TX_TEST_SEED ?? Date.now() % 2 ** 31)
const NONCE = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8)
const tx = (...bytes: number[]): Uint8Array => Uint8Array.from(bytes)

function codeOf(bytes: Uint8Array): string {
  try {
    decodeBatch(bytes)
    return 'ok'
  } catch (error) {
    assert.ok(error instanceof BatchDecodeError, `not a BatchDecodeError: ${String(error)}`)
    return error.code
  }
}

describe('transaction batch codec', () => {
  it('round-trips transactions of many sizes, in order', () => {
    const txs = [
      tx(1),
      new Uint8Array(127).fill(7),
      new Uint8Array(128).fill(8),
      new Uint8Array(20_000).fill(9),
    ]
    const bytes = encodeBatch(txs, NONCE)
    assert.ok(isBatch(bytes))
    assert.deepEqual([...bytes.subarray(0, 5)], [...BATCH_MAGIC, 1])
    const decoded = decodeBatch(bytes)
    assert.equal(decoded.version, 1)
    assert.deepEqual(decoded.nonce, NONCE)
    assert.deepEqual(decoded.txs, txs)
    assert.equal(bytes.length, 4 + 1 + 8 + 1 + txs.reduce((n, t) => n + framedLength(t), 0))
  })

  it('names what is wrong with malformed bytes', () => {
    const good = encodeBatch([tx(1, 2), tx(3)], NONCE)
    const cases: [Uint8Array, string][] = [
      [tx(1, 2, 3), 'NotABatch'],
      [new TextEncoder().encode('PTX hello'), 'NotABatch'],
      [BATCH_MAGIC, 'Truncated'],
      [Uint8Array.of(...BATCH_MAGIC, 2, ...NONCE, 1, 1, 1), 'UnknownVersion'],
      [Uint8Array.of(...BATCH_MAGIC, 1, 1, 2), 'Truncated'],
      [Uint8Array.of(...BATCH_MAGIC, 1, ...NONCE, 0), 'Empty'],
      [Uint8Array.of(...BATCH_MAGIC, 1, ...NONCE, 1, 0, 0), 'Empty'],
      [Uint8Array.of(...BATCH_MAGIC, 1, ...NONCE, 0x81, 0x00, 1, 1), 'BadVarint'],
      [Uint8Array.of(...BATCH_MAGIC, 1, ...NONCE, 0xff, 0xff, 0xff, 0xff, 1), 'BadVarint'],
      [Uint8Array.of(...BATCH_MAGIC, 1, ...NONCE, 1, 5, 1, 2), 'Truncated'],
      [Uint8Array.of(...BATCH_MAGIC, 1, ...NONCE, 100, 1, 1), 'Truncated'],
      [Uint8Array.of(...good, 0), 'TrailingBytes'],
      [good.subarray(0, good.length - 1), 'Truncated'],
    ]
    for (const [bytes, code] of cases) assert.equal(codeOf(bytes), code, Buffer.from(bytes).toString('hex'))
  })

  it('throws only BatchDecodeError on truncated and mutated batches', () => {
    const random = seeded(SEED)
    try {
      for (let round = 0; round < 300; round++) {
        const txs = Array.from({ length: 1 + Math.floor(random() * 5) }, () =>
          Uint8Array.from({ length: 1 + Math.floor(random() * 200) }, () => Math.floor(random() * 256)),
        )
        const good = encodeBatch(txs, NONCE)
        assert.equal(codeOf(good), 'ok')
        // Every strict prefix is refused.
        for (let cut = 0; cut < good.length; cut += 1 + Math.floor(random() * 8)) {
          assert.notEqual(codeOf(good.subarray(0, cut)), 'ok')
        }
        const mutated = Uint8Array.from(good)
        for (let k = 0; k < 3; k++)
          mutated[5 + Math.floor(random() * (good.length - 5))] = Math.floor(random() * 256)
        codeOf(mutated)
      }
    } catch (error) {
      console.error(`transaction codec seed ${SEED} (TX_TEST_SEED=${SEED} to repeat)`)
      throw error
    }
  })
})

/** A batcher with a manual clock: `advance` fires the timers that are due. */
function harness(options: { windowMs?: number; maxBatchBytes?: number; failVote?: boolean } = {}) {
  let now = 0
  const timers: { at: number; fn: () => void; live: boolean }[] = []
  const voted: Uint8Array[][] = []
  let open = false
  const batcher = new TxBatcher({
    windowMs: options.windowMs ?? 5,
    maxBatchBytes: options.maxBatchBytes ?? 1000,
    mayVote: () => !open,
    vote: async (payload) => {
      if (options.failVote) throw new Error('storage failed')
      voted.push(decodeBatch(payload).txs.map((t) => Uint8Array.from(t)))
      open = true
    },
    schedule: (fn, ms) => {
      const timer = { at: now + ms, fn, live: true }
      timers.push(timer)
      return () => {
        timer.live = false
      }
    },
  })
  const settle = () => new Promise((resolve) => setImmediate(resolve))
  return {
    batcher,
    voted,
    settle,
    async advance(ms: number) {
      now += ms
      for (const timer of timers.filter((t) => t.live && t.at <= now)) {
        timer.live = false
        timer.fn()
      }
      await settle()
    },
    /** Our open batch is delivered. */
    async deliver() {
      open = false
      batcher.kick()
      await settle()
    },
  }
}

describe('transaction batcher', () => {
  it('waits its window from idle, then votes one batch with every transaction in order', async () => {
    const h = harness({ windowMs: 5 })
    const done = [h.batcher.submit(tx(1)), h.batcher.submit(tx(2)), h.batcher.submit(tx(3))]
    await h.advance(4)
    assert.equal(h.voted.length, 0, 'not before the window ends')
    await h.advance(1)
    assert.deepEqual(h.voted, [[tx(1), tx(2), tx(3)]])
    await Promise.all(done)
  })

  it('votes the next batch only once the open one is delivered, keeping submission order', async () => {
    const h = harness({ windowMs: 5 })
    const first = h.batcher.submit(tx(1))
    await h.advance(5)
    await first
    const later = [tx(2), tx(3), tx(4)].map((t) => h.batcher.submit(t))
    await h.advance(50)
    assert.equal(h.voted.length, 1, 'one batch open at a time')
    assert.equal(h.batcher.queued, 3)
    await h.deliver()
    assert.deepEqual(h.voted, [[tx(1)], [tx(2), tx(3), tx(4)]])
    await Promise.all(later)
  })

  it('bounds a batch by bytes: a full batch goes at once, the rest follows in order', async () => {
    const maxBatchBytes = BATCH_HEADER_BYTES + 3 * framedLength(100)
    const h = harness({ windowMs: 1000, maxBatchBytes })
    const txs = Array.from({ length: 7 }, (_, i) => new Uint8Array(100).fill(i))
    const done = txs.map((t) => h.batcher.submit(t))
    await h.settle()
    // Full before the window: voted without waiting.
    assert.deepEqual(h.voted, [txs.slice(0, 3)])
    await h.deliver()
    assert.deepEqual(h.voted[1], txs.slice(3, 6))
    await h.deliver()
    assert.deepEqual(h.voted[2], txs.slice(6))
    await Promise.all(done)
    for (const batch of h.voted) {
      assert.ok(encodeBatch(batch, NONCE).length <= maxBatchBytes)
    }
    assert.equal(maxTransactionBytes(maxBatchBytes) + BATCH_HEADER_BYTES + 2 <= maxBatchBytes, true)
  })

  it('rejects the submissions of a batch whose vote fails, and every one after stop', async () => {
    const h = harness({ failVote: true, windowMs: 0 })
    const failed = assert.rejects(h.batcher.submit(tx(1)), /storage failed/)
    await h.advance(0)
    await failed
    const ok = harness({ windowMs: 5 })
    const queued = assert.rejects(ok.batcher.submit(tx(9)), /stopped/)
    ok.batcher.stop(new Error('stopped'))
    await queued
    await assert.rejects(ok.batcher.submit(tx(10)), /stopped/)
  })
})

describe('delivered batches', () => {
  const log = Object.assign(() => {}, {
    error: () => {},
    trace: () => {},
    newScope: () => log,
    enabled: false,
  })
  const delivered = (payload: Uint8Array, position = 7): DeliveredBlock => ({
    position,
    block: { payload: opaque(payload), proofs: [] },
    description: { kind: 'opaque', payload: '', voters: [] },
  })
  const part = (mode: 'single' | 'supermajority') =>
    new Transactions(
      {
        mode: () => mode,
        ready: async () => {},
        started: () => true,
        vote: async () => {},
        openBatches: () => 0,
        batchAside: () => false,
        proposerOf: () => undefined,
        blocks: () => [],
      },
      { windowMs: 5, batchBytes: 1024, maxQueuedBytes: 4096, openBatches: 4 },
      log as unknown as Logger,
    )

  it('reads a batch into its transactions, with position and index', () => {
    const txs = part('single').of(delivered(encodeBatch([tx(1), tx(2, 3)], NONCE)))
    assert.deepEqual(
      txs.map((t) => [t.position, t.index, [...t.tx]]),
      [
        [7, 0, [1]],
        [7, 1, [2, 3]],
      ],
    )
  })

  it('skips a malformed batch (counted), plain payloads, and batches of a Supermajority section', () => {
    const single = part('single')
    const whole = encodeBatch([tx(1), tx(2)], NONCE)
    const broken = whole.subarray(0, whole.length - 1)
    assert.deepEqual(single.of(delivered(broken)), [])
    assert.equal(single.malformed, 1)
    assert.deepEqual(single.of(delivered(tx(1, 2, 3))), [])
    assert.deepEqual(part('supermajority').of(delivered(encodeBatch([tx(1)], NONCE))), [])
  })

  it('refuses a transaction that no batch can hold, or that the queue cannot take', async () => {
    const single = part('single')
    await assert.rejects(single.submit(new Uint8Array(0)), /at least 1 byte/)
    await assert.rejects(single.submit(new Uint8Array(single.maxTxBytes + 1)), /at most/)
    await assert.rejects(part('supermajority').submit(tx(1)), { code: 'TransactionsNeedSingleMode' })
  })
})
