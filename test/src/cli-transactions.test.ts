/**
 * Transactions through the CLI: the control API's `POST /transactions` (validated completely
 * before anything is submitted) and `GET /transactions`, and `parsec-peer demo --transactions`.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { type ApiClient, LocalSection } from 'parsec-peer/local-section'
import { assertUsage, cli } from './cli-support.js'

describe('parsec-peer start: transactions in the control API', () => {
  let section: LocalSection
  let api: ApiClient
  before(async () => {
    section = await LocalSection.create({ peers: 1 })
    // The transaction flags are taken (batches of at most 32 bytes: 15 of transactions).
    await section.start(0, ['--tx-window-ms', '1', '--tx-batch-bytes', '32'])
    api = section.api(0)
  })
  after(async () => {
    await section?.close()
  })

  it('rejects malformed bodies with a JSON error, submitting none of them', async () => {
    const bodies: [string, number, string][] = [
      ['{"txs": ["00"', 400, 'InvalidJson'],
      ['[]', 400, 'InvalidBody'],
      ['{}', 400, 'InvalidBody'],
      ['{"txs": []}', 400, 'InvalidBody'],
      ['{"txs": "00"}', 400, 'InvalidBody'],
      ['{"txs": ["00"], "more": 1}', 400, 'InvalidBody'],
      ['{"txs": ["01", "0g"]}', 400, 'InvalidHex'],
      ['{"txs": ["01", 7]}', 400, 'InvalidHex'],
      ['{"txs": ["01", ""]}', 400, 'EmptyTransaction'],
      [JSON.stringify({ txs: ['01', '00'.repeat(64 * 1024 + 1)] }), 413, 'TransactionTooLarge'],
    ]
    for (const [body, status, code] of bodies) {
      const response = await api.request('POST', '/transactions', body)
      assert.equal(response.status, status, body.slice(0, 60))
      assert.equal((response.json as { error: { code: string } }).error.code, code, body.slice(0, 60))
    }
    const plain = await api.request('POST', '/transactions', '{"txs": ["00"]}', {
      'content-type': 'text/plain',
    })
    assert.equal(plain.status, 415)
    const wrong = await api.request('DELETE', '/transactions')
    assert.equal(wrong.status, 405)
    assert.equal(wrong.headers.get('allow'), 'POST, GET')
    // None of the refused bodies submitted anything (their first item was valid).
    const none = await api.transactions()
    assert.deepEqual(none.transactions, [])
  })

  it('accepts many per request and serves them in order, long-polling for new ones', async () => {
    const peerId = section.peers[0].peerId
    const polling = api.transactions({ from: 1, wait: 20_000 })
    const txs = ['aa', 'bbbb', 'aa', '68656c6c6f']
    const post = await api.request('POST', '/transactions', JSON.stringify({ txs }))
    assert.equal(post.status, 202)
    assert.deepEqual(post.json, { accepted: 4 })
    const polled = await polling
    // A second request: its batch may be open at once with the first one's (in order).
    const second = await api.request('POST', '/transactions', JSON.stringify({ txs: ['cc', 'dd'] }))
    assert.equal(second.status, 202)
    txs.push('cc', 'dd')
    let all = polled.transactions
    let next = polled.next
    while (all.length < 6) {
      const more = await api.transactions({ from: next, wait: 5_000 })
      all = [...all, ...more.transactions]
      next = more.next
    }
    assert.deepEqual(
      all.map((t) => t.tx),
      txs,
    )
    const [first] = all
    assert.equal(first.index, 0)
    assert.equal(first.proposer, peerId)
    assert.equal(typeof first.deliveredAt, 'number')
    for (let i = 1; i < all.length; i++) {
      assert.ok(all[i].position > all[i - 1].position || all[i].index === all[i - 1].index + 1)
    }
    // `summary=1`: per block, its count and the digest of its transactions in order.
    const summary = await api.transactionSummaries({ from: 1 })
    assert.equal(summary.next, next)
    const positions = [...new Set(all.map((t) => t.position))]
    assert.deepEqual(
      summary.blocks.map((b) => [b.position, b.transactions, b.sha256]),
      positions.map((position) => {
        const inBlock = all.filter((t) => t.position === position).map((t) => Buffer.from(t.tx, 'hex'))
        return [position, inBlock.length, digestOf(inBlock)]
      }),
    )
    assert.ok(summary.blocks.every((b) => typeof b.deliveredAt === 'number'))
    const badSummary = await api.request('GET', '/transactions?summary=yes')
    assert.equal(badSummary.status, 400)
    // Nothing new: the long-poll ends after its wait with none, `next` past the last block.
    const empty = await api.transactions({ from: next, wait: 300 })
    assert.deepEqual(empty.transactions, [])
    assert.equal(empty.next, next)
    // The batch is a block like any other; a plain vote cannot look like one.
    const reserved = await api.request('POST', '/votes', JSON.stringify({ payload: 'f5505458010203' }))
    assert.equal(reserved.status, 409)
    assert.equal((reserved.json as { error: { code: string } }).error.code, 'ReservedPayload')
  })
})

describe('parsec-peer start: transaction flags', () => {
  it('rejects a bad --tx-window-ms, --tx-batch-bytes or --tx-open-batches with exit 2', async () => {
    // Keys and a genesis, no peer started.
    const section = await LocalSection.create({ peers: 1 })
    try {
      const { keyFile, listen } = section.peers[0]
      const base = ['start', '--key', keyFile, '--genesis', section.genesisFile, '--listen', listen]
      assertUsage(await cli([...base, '--tx-window-ms', 'soon']), /--tx-window-ms takes an unsigned integer/)
      assertUsage(await cli([...base, '--tx-batch-bytes', '10']), /--tx-batch-bytes must be between 32 and/)
      assertUsage(
        await cli([...base, '--tx-open-batches', '0']),
        /--tx-open-batches must be between 1 and 64/,
      )
    } finally {
      await section.close()
    }
  })
})

describe('parsec-peer start: transactions in a Supermajority section', () => {
  it('refuses them with 409 TransactionsNeedSingleMode', async () => {
    const section = await LocalSection.create({ peers: 1, mode: 'supermajority' })
    try {
      await section.start(0)
      const response = await section.api(0).request('POST', '/transactions', '{"txs": ["00", "01"]}')
      assert.equal(response.status, 409)
      assert.deepEqual(
        { ...(response.json as { error: object }).error, message: undefined },
        { code: 'TransactionsNeedSingleMode', message: undefined, accepted: 0, refused: [0, 1] },
      )
    } finally {
      await section.close()
    }
  })
})

describe('parsec-peer demo --transactions', { concurrency: 4 }, () => {
  for (const [args, pattern] of [
    [['--transactions', '10', '--mode', 'supermajority'], /--transactions needs a Single-mode section/],
    [['--transactions', '10', '--payloads', '5'], /--transactions does not combine with --payloads/],
    [['--transactions', '10', '--tx-size', '2'], /--tx-size must be between 4 and/],
    [['--tx-size', '10'], /--tx-size needs --transactions/],
  ] as const) {
    it(`rejects ${args.join(' ')} with exit 2`, async () => {
      assertUsage(await cli(['demo', ...args]), pattern)
    })
  }

  it('runs 3 peers and 300 transactions to agreement (--json)', async () => {
    const run = await cli(['demo', '--peers', '3', '--transactions', '300', '--tx-size', '16', '--json'], {
      timeoutMs: 120_000,
    })
    assert.equal(run.status, 0, run.stderr)
    const summary = JSON.parse(run.stdout)
    assert.deepEqual(Object.keys(summary), [
      'peers',
      'transactions',
      'txSize',
      'agreed',
      'batches',
      'elapsedMs',
      'transactionsPerSecond',
      'txLatencyMs',
    ])
    assert.equal(summary.agreed, true)
    assert.equal(summary.transactions, 300)
    assert.ok(summary.batches >= 1 && summary.batches < 300, `${summary.batches} batches`)
    assert.ok(summary.transactionsPerSecond > 0)
    assert.ok(summary.txLatencyMs.p50 <= summary.txLatencyMs.p99)
  })
})

/** The documented digest: SHA-256 over each transaction's 4-byte big-endian length, then its bytes. */
function digestOf(txs: readonly Buffer[]): string {
  const hash = createHash('sha256')
  for (const tx of txs) {
    const length = Buffer.alloc(4)
    length.writeUInt32BE(tx.length)
    hash.update(length).update(tx)
  }
  return hash.digest('hex')
}
