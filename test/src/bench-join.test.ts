/** `parsec-peer bench-join`: a tiny history, one JSON object, and the outsider joins. */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

const BIN = join(dirname(fileURLToPath(import.meta.url)), '../../../apps/peer/bin/parsec-peer.js')

describe('parsec-peer bench-join', () => {
  it('--history 20 --seeds 2 --json: one object, every run joined after replaying the history', () => {
    const out = spawnSync(
      process.execPath,
      [BIN, 'bench-join', '--history', '20', '--seeds', '2', '--seed', '4', '--json'],
      { encoding: 'utf8' },
    )
    assert.equal(out.status, 0, out.stderr)
    const lines = out.stdout.trim().split('\n')
    assert.equal(lines.length, 1)
    const report = JSON.parse(lines[0])
    assert.deepEqual(Object.keys(report), ['peers', 'stepMs', 'paced', 'live', 'seeds', 'ok', 'rows'])
    assert.equal(report.peers, 4)
    assert.deepEqual(report.seeds, [4, 5])
    assert.equal(report.ok, true)
    assert.equal(report.rows.length, 1)
    const row = report.rows[0]
    assert.equal(row.history, 20)
    for (const key of ['joinSteps', 'joinMs', 'ingestedEvents', 'pages', 'wallMs']) {
      assert.ok(row[key].median <= row[key].max, key)
    }
    assert.equal(row.runs.length, 2)
    for (const run of row.runs) {
      assert.equal(run.joined, true, `seed ${run.seed}`)
      assert.equal(run.agreed, true, `seed ${run.seed}: ${run.violations.join('; ')}`)
      // It asked once the 20 blocks and genesis were agreed, and replayed at least their votes.
      assert.ok(run.historyBlocks >= 21, `seed ${run.seed}: history ${run.historyBlocks}`)
      assert.ok(run.joinSteps > 0 && run.joinMs === run.joinSteps * report.stepMs, `seed ${run.seed}`)
      assert.ok(run.ingestedEvents >= 20 * 4, `seed ${run.seed}: ingested ${run.ingestedEvents}`)
      const { admission, catchUp, toJoined } = run.phases
      assert.equal(admission + catchUp + toJoined, run.joinSteps, `seed ${run.seed}: phases`)
    }
    assert.match(out.stderr, /H 20 seed 4: self:joined/)
  })

  it('refuses a malformed --history with exit 2', () => {
    const out = spawnSync(process.execPath, [BIN, 'bench-join', '--history', '10,x'], { encoding: 'utf8' })
    assert.equal(out.status, 2)
    assert.match(out.stderr, /--history/)
  })
})
