/** `parsec-peer soak-live`: a small soak of 3 peer processes, its one JSON line and its samples. */
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { assertUsage, cli } from './cli-support.js'

const EVENTS = 2000
const PEERS = 3

describe('parsec-peer soak-live', { concurrency: 4 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'soak-live-test-'))
  after(() => rmSync(dir, { recursive: true, force: true }))

  for (const [args, pattern] of [
    [['--peers', '3'], /--events is required/],
    [['--events', '2000'], /--peers is required/],
    [['--peers', '0', '--events', '2000'], /--peers must be between 1 and 32/],
    [['--peers', '3', '--events', '50'], /--events must be between 100 and/],
    [['--peers', '3', '--events', '2000', '--payload-size', '0'], /--payload-size must be between 1 and/],
    [['--peers', '3', '--events', '2000', '--outstanding', '-1'], /--outstanding takes an unsigned integer/],
    [['--peers', '3', '--events', '2000', '--block-retention', '0'], /--block-retention must be at least 1/],
    [['--peers', '3', '--events', '2000', '--block-retention', 'x'], /--block-retention takes a positive/],
    [
      ['--peers', '3', '--events', '2000', '--no-epochs', '--checkpoint-blocks', '5'],
      /--no-epochs runs without/,
    ],
    [
      ['--peers', '3', '--events', '2000', '--checkpoint-blocks', '0'],
      /--checkpoint-blocks must be between 1/,
    ],
    [['--peers', '3', '--events', '2000', '--dir', '.'], /--dir "\.": give a new or empty directory/],
  ] as const) {
    it(`rejects ${args.join(' ')} with exit 2`, async () => {
      assertUsage(await cli(['soak-live', ...args]), pattern)
    })
  }

  it(`--peers ${PEERS} --events ${EVENTS} --dir DIR --json: agreed, one line, samples from 1% of E to E; DIR kept`, async () => {
    const kept = join(dir, 'section')
    const run = await cli(
      ['soak-live', '--peers', `${PEERS}`, '--events', `${EVENTS}`, '--dir', kept, '--json'],
      { timeoutMs: 60_000 },
    )
    assert.equal(run.status, 0, run.stderr)
    const lines = run.stdout.trim().split('\n')
    assert.equal(lines.length, 1, run.stdout)
    const report = JSON.parse(lines[0])
    assert.deepEqual(Object.keys(report), ['peers', 'agreed', 'events', 'blocks', 'samples'])
    assert.equal(report.peers, PEERS)
    assert.equal(report.agreed, true, run.stderr)
    assert.ok(report.events >= EVENTS, `events ${report.events}`)
    assert.ok(report.blocks > 0, `blocks ${report.blocks}`)
    // 21 marks (1%, then every 5%); marks passed during one reading share a sample.
    const samples: { events: number; rssBytes: number[]; heapUsedBytes: number[]; diskBytes: number[] }[] =
      report.samples
    assert.ok(samples.length >= 3 && samples.length <= 21, `samples ${samples.length}`)
    assert.ok(samples[0].events < EVENTS, `first sample at ${samples[0].events}`)
    assert.ok(samples[samples.length - 1].events >= EVENTS)
    samples.forEach((sample, i) => {
      assert.deepEqual(Object.keys(sample), ['events', 'rssBytes', 'heapUsedBytes', 'diskBytes'])
      if (i > 0) assert.ok(sample.events > samples[i - 1].events, `sample ${i} events not increasing`)
      assert.equal(sample.rssBytes.length, PEERS)
      assert.equal(sample.diskBytes.length, PEERS)
      assert.ok(sample.rssBytes.every((b) => Number.isInteger(b) && b > 0))
      assert.ok(sample.heapUsedBytes.every((b, k) => Number.isInteger(b) && b > 0 && b < sample.rssBytes[k]))
      assert.ok(sample.diskBytes.every((b) => Number.isInteger(b) && b > 0))
    })
    for (let i = 0; i < PEERS; i++) assert.ok(existsSync(join(kept, `peer-${i}`, 'datastore', 'CURRENT')))
  })
})
