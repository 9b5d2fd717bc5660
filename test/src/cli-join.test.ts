/**
 * Joining from the command line, over `parsec-peer start` processes on 127.0.0.1: `start --join`'s
 * usage errors (exit 2, one line), a founder of a genesis of one and 3 `start --join` peers (one
 * knowing only the section id and a `parsec-peer dht` node) agreeing on blocks and members, a
 * joined peer restarted with `--data-dir` alone resuming as a member, and `demo --join`'s usage
 * (the run itself: test/src/long/demo-join.long.ts).
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { LocalSection } from 'parsec-peer/local-section'
import { QUICK_JOIN_ARGS } from 'parsec-peer/quick-membership'
import { agreeOn, assertUsage, cli, keepVoting, peerEvents } from './cli-support.js'

describe('parsec-peer start --join: usage', { concurrency: 4 }, () => {
  let dir: string
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'parsec-join-usage-'))
    writeFileSync(join(dir, 'section.json'), `${JSON.stringify({ sectionId: 'ab'.repeat(32) })}\n`)
  })
  after(() => rmSync(dir, { recursive: true, force: true }))
  const listen = ['--listen', '/ip4/127.0.0.1/tcp/0']
  const boot = [
    '--bootstrap',
    '/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWGRUVh7mGKS2Kxr4QPYBjEF1ZCtKbfGwVp6pXkSyT5Bgn',
  ]
  const cases: [string, () => string[], RegExp][] = [
    [
      'a section id of 63 hex characters',
      () => ['--join', 'a'.repeat(63), ...listen],
      /--join takes a section id \(64 hex characters\)/,
    ],
    ['a section id that is no hex', () => ['--join', 'z'.repeat(64), ...listen], /--join takes a section id/],
    [
      '--genesis and --join together',
      () => ['--genesis', join(dir, 'g.json'), '--join', 'a'.repeat(64), ...listen],
      /--genesis and --join exclude each other/,
    ],
    ['neither --genesis nor --join', () => [...listen], /--genesis FILE or --join SECTION_ID is required/],
    [
      'a data directory that records no section',
      () => ['--data-dir', join(dir, 'empty'), ...listen],
      /records no section joined/,
    ],
    ['--join without --bootstrap', () => ['--join', 'a'.repeat(64), ...listen], /--join needs --bootstrap/],
    [
      '--join of another section than the data directory',
      () => ['--join', 'cd'.repeat(32), '--data-dir', dir, ...boot, ...listen],
      /belongs to section abab/,
    ],
  ]
  for (const [name, args, pattern] of cases) {
    it(`rejects ${name} with exit 2`, async () => {
      assertUsage(await cli(['start', ...args()]), pattern, 'start')
    })
  }
})

describe('parsec-peer start --join: a founder of one and 3 joiners', { timeout: 300_000 }, () => {
  let section: LocalSection
  const { events, onLine } = peerEvents()
  before(async () => {
    section = await LocalSection.create({
      peers: 1,
      startArgs: QUICK_JOIN_ARGS,
      onLine,
    })
    const dht = await section.startDht()
    // The founder joins the shared DHT through the DHT node and provides the section there.
    await section.start(0, ['--bootstrap', dht.addrs[0]])
    const founder = section.peers[0].ready!.listen.find((a) => a.includes('/p2p/'))!
    await section.addJoiner([founder])
    await section.addJoiner([founder])
    // Only the section id and the DHT node: it finds the founder by the section's provider record.
    await section.addJoiner([dht.addrs[0]])
  })
  after(async () => {
    await section?.close()
  })

  it('all 4 agree on blocks and members; the joiners print candidate, then member', async () => {
    const stop = keepVoting(section)
    try {
      for (const i of [1, 2, 3]) {
        await section.start(i)
        assert.equal(section.peers[i].ready?.self, 'outsider')
        await section.waitMember(i, 120_000)
      }
    } finally {
      await stop()
    }
    const all = [0, 1, 2, 3]
    const lists = await agreeOn(section, all, 'all four')
    for (const list of lists) assert.deepEqual(list, lists[0])
    const adds = lists[0].filter((b) => b.startsWith('add:'))
    assert.deepEqual(adds.sort(), [1, 2, 3].map((i) => `add:${section.peers[i].peerId}`).sort())
    const statuses = await Promise.all(all.map((i) => section.api(i).status()))
    const expected = section.peers.map((p) => p.peerId).sort()
    for (const status of statuses) {
      assert.equal(status.self, 'member')
      assert.deepEqual(status.members, expected)
    }
    for (const i of [1, 2, 3]) {
      const selves = events[i].filter((e) => e.event === 'self').map((e) => e.self)
      assert.ok(selves.includes('candidate'), `peer ${i}: ${selves.join()}`)
      assert.equal(selves.at(-1), 'member')
      assert.equal(events[i].filter((e) => e.event === 'self:joined').length, 1)
    }
  })

  it('a joined peer restarted with --data-dir alone resumes as a member', async () => {
    const exit = await section.stop(2, 30_000)
    assert.equal(exit.code, 0)
    events[2] = []
    await section.start(2)
    assert.equal(section.peers[2].ready?.self, 'member')
    assert.equal(section.peers[2].ready?.sectionId, section.sectionId)
    assert.equal(events[2].filter((e) => e.event === 'self:joined').length, 0)
    const lists = await agreeOn(section, [2, 0, 1, 3], 'after the restart')
    for (const list of lists) assert.deepEqual(list, lists[0])
  })
})

describe('parsec-peer demo --join: usage', () => {
  it('refuses a kill the joined section could not carry out (exit 2)', async () => {
    const run = await cli(['demo', '--peers', '1', '--join', '2', '--kill', '1'])
    assert.equal(run.status, 2, run.stderr)
    assert.match(run.stderr, /--kill 1 with --peers 1 and --join 2: .* at most --kill 0 here/)
  })
  // The full run, `--peers 1 --join 6 --leave 2 --kill 1`, is a long test (test/src/long/demo-join.long.ts).
})
