/**
 * The membership demo from the command line: `parsec-peer demo --peers 1 --join 6 --leave 2
 * --kill 1` (a founder alone, 6 joiners of which 3 know only the section id and a DHT node, 2
 * leaves and a kill). Every change must be carried out and every live member must hold the same
 * blocks and members. About 2 minutes on 2 cores: a long test (`pnpm test:long`), not `pnpm test`.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { cli } from '../cli-support.js'

interface DemoSummary {
  agreed: boolean
  membersAgreed: boolean
  members: string[]
  changes: { kind: string; peer: string; outcome: string; reason?: string }[]
}

describe('parsec-peer demo --join', { timeout: 420_000 }, () => {
  it('--peers 1 --join 6 --leave 2 --kill 1: joins, a kill and leaves; the 5 left agree', async () => {
    const run = await cli(
      ['demo', '--peers', '1', '--join', '6', '--leave', '2', '--kill', '1', '--payloads', '100', '--json'],
      { timeoutMs: 400_000 },
    )
    assert.equal(run.status, 0, run.stderr)
    const summary = JSON.parse(run.stdout) as DemoSummary
    assert.equal(summary.agreed, true)
    assert.equal(summary.membersAgreed, true)
    const kinds = summary.changes.map((c) => c.kind)
    assert.deepEqual(kinds.filter((k) => k === 'join').length, 6, JSON.stringify(summary.changes))
    assert.deepEqual(kinds.filter((k) => k === 'leave').length, 2, JSON.stringify(summary.changes))
    assert.deepEqual(kinds.filter((k) => k === 'kill').length, 1, JSON.stringify(summary.changes))
    for (const change of summary.changes) assert.equal(change.outcome, 'done', JSON.stringify(change))
    assert.equal(summary.members.length, 4)
    const joiners = summary.changes.filter((c) => c.kind === 'join').map((c) => c.peer)
    const gone = new Set(summary.changes.filter((c) => c.kind !== 'join').map((c) => c.peer))
    // Kills and leaves hit the highest peer indices: the last three joiners; the first three stay.
    assert.deepEqual(new Set(joiners.slice(3)), gone)
    for (const joiner of joiners.slice(0, 3)) assert.ok(summary.members.includes(joiner))
  })
})
