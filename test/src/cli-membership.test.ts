/**
 * Membership from the command line, over `parsec-peer start` processes on 127.0.0.1: the
 * membership flags of `start` (nonsense values exit 2), `GET /status`'s membership fields,
 * `POST /leave` and `parsec-peer leave` (a refusal has a typed reason; a leaver's process exits 0
 * and the others agree on the members left and keep agreeing), `--leave-on-exit`, and a peer
 * stopped by SIGTERM without it resuming as a member.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { type ApiClient, type BlocksJson, LocalSection } from 'parsec-peer/local-section'
import { agreeOn, assertUsage, cli, until } from './cli-support.js'

/** Polls GET /blocks (long-polling) until `count` blocks are held; returns them all. */
async function blocksUntil(api: ApiClient, count: number, timeoutMs = 60_000): Promise<BlocksJson['blocks']> {
  const deadline = Date.now() + timeoutMs
  const blocks: BlocksJson['blocks'] = []
  while (blocks.length < count) {
    const left = deadline - Date.now()
    if (left <= 0) throw new Error(`only ${blocks.length} of ${count} blocks after ${timeoutMs} ms`)
    blocks.push(...(await api.blocks({ from: blocks.length, wait: Math.min(left, 5000) })).blocks)
  }
  return blocks
}

describe('parsec-peer start: membership flags', { concurrency: 4 }, () => {
  let section: LocalSection
  before(async () => {
    section = await LocalSection.create({ peers: 1 })
  })
  after(async () => {
    await section?.close()
  })
  const base = () => [
    'start',
    '--key',
    section.peers[0].keyFile,
    '--genesis',
    section.genesisFile,
    '--listen',
    '/ip4/127.0.0.1/tcp/0',
  ]
  const cases: [string[], RegExp][] = [
    [
      ['--unresponsive-ms', 'soon'],
      /--unresponsive-ms takes an unsigned integer \(milliseconds\), not 'soon'/,
    ],
    [['--unresponsive-ms=-5'], /--unresponsive-ms takes an unsigned integer/],
    [['--join-grace-ms', '1.5'], /--join-grace-ms takes an unsigned integer/],
    [['--rejoin-cooldown-ms', '99999999999'], /--rejoin-cooldown-ms must be between 0 and 2147483647/],
    [['--min-size', '0'], /--min-size must be between 1 and/],
    [['--max-size', '2'], /--max-size 2 is below --min-size 4/],
    [['--pow-bits', '65'], /--pow-bits must be between 0 and 64/],
    [['--suspicion-window', '0'], /--suspicion-window must be between 1/],
    [['--leave-timeout', '1000'], /--leave-timeout needs --leave-on-exit/],
    [['--leave-on-exit', '--leave-timeout', '0'], /--leave-timeout must be between 1/],
  ]
  for (const [args, pattern] of cases) {
    it(`rejects ${args.join(' ')} with exit 2`, async () => {
      assertUsage(await cli([...base(), ...args]), pattern)
    })
  }

  it('parsec-peer leave: an API nobody serves is exit 1 (Unreachable)', async () => {
    const run = await cli(['leave', '--api', '127.0.0.1:1'])
    assert.equal(run.status, 1, run.stderr)
    assert.match(run.stderr, /^parsec-peer leave: Unreachable: no answer from the API at 127\.0\.0\.1:1/)
  })

  it('lists every membership flag with its default in --help', async () => {
    const run = await cli(['start', '--help'])
    assert.equal(run.status, 0)
    for (const flag of [
      '--unresponsive-ms N',
      '--join-grace-ms N',
      '--rejoin-cooldown-ms N',
      '--linger-ms N',
    ]) {
      assert.ok(run.stdout.includes(flag), flag)
    }
    assert.match(run.stdout, /--unresponsive-ms N +.*\(60000\)/)
    assert.match(run.stdout, /--leave-on-exit/)
  })
})

describe('parsec-peer: the last member', () => {
  let section: LocalSection
  const lines: string[] = []
  before(async () => {
    section = await LocalSection.create({
      peers: 1,
      startArgs: ['--leave-on-exit', '--linger-ms', '500'],
      onLine: (_peer, stream, line) => {
        if (stream === 'stdout') lines.push(line)
      },
    })
    await section.start(0)
    await blocksUntil(section.api(0), 1)
  })
  after(async () => {
    await section?.close()
  })

  it('reports its membership in GET /status', async () => {
    const status = await section.api(0).status()
    assert.equal(status.self, 'member')
    assert.deepEqual(status.members, [section.peers[0].peerId])
    assert.equal(status.seq, 1, 'the genesis block is the chain')
    assert.match(status.head ?? '', /^[0-9a-f]{64}$/)
    assert.deepEqual(status.candidates, [])
    assert.deepEqual(status.suspected, [])
    const ready = section.peers[0].ready
    assert.equal(ready?.self, 'member')
    assert.deepEqual(ready?.members, [section.peers[0].peerId])
  })

  it('refuses POST /leave with 409 LeaveRefused (LastMember), and bad bodies with 400/415', async () => {
    const api = section.api(0)
    const answer = await api.request('POST', '/leave')
    assert.equal(answer.status, 409, answer.text)
    const { error } = answer.json as { error: { code: string; reason: string; message: string } }
    assert.equal(error.code, 'LeaveRefused')
    assert.equal(error.reason, 'LastMember')
    assert.equal((await api.request('POST', '/leave', '{"now":true}')).status, 400)
    assert.equal((await api.request('POST', '/leave', '[]')).status, 400)
    assert.equal((await api.request('POST', '/leave', 'x', { 'content-type': 'text/plain' })).status, 415)
    assert.equal((await api.request('GET', '/leave')).status, 405)
    assert.equal((await api.status()).self, 'member')
  })

  it('parsec-peer leave reports the refusal and exits 1', async () => {
    const args = ['leave', '--api', section.api(0).address, '--api-token', section.apiToken!.file]
    const human = await cli(args)
    assert.equal(human.status, 1, human.stderr)
    assert.match(human.stderr, /^parsec-peer leave: LeaveRefused \(LastMember\): cannot leave/)
    const json = await cli([...args, '--json'])
    assert.equal(json.status, 1)
    assert.deepEqual(JSON.parse(json.stdout).error.reason, 'LastMember')
    assertUsage(await cli(['leave']), /--api HOST:PORT is required/)
    assertUsage(
      await cli(['leave', '--api', section.api(0).address, '--timeout', '5']),
      /--timeout needs --wait/,
    )
  })

  it('with --leave-on-exit, SIGTERM stops the last member without leaving (exit 0)', async () => {
    const exit = await section.stop(0, 30_000)
    assert.equal(exit.code, 0, section.peers[0].stderr.join('\n'))
    const refused = lines.map((l) => JSON.parse(l)).find((e) => e.event === 'leave:refused')
    assert.equal(refused?.reason, 'LastMember')
  })
})

describe('parsec-peer: 4 founders, one leaves', { timeout: 300_000 }, () => {
  let section: LocalSection
  const events: Record<string, unknown>[][] = [[], [], [], []]
  before(async () => {
    section = await LocalSection.create({
      peers: 4,
      // The drain must let the others pull a leaver's last events: at 3 members they cannot
      // decide without them. With a 1 s drain, peers 0 and 1 once did not reach 2 members within
      // 60 s (1 run of 7; not reproduced, a too short drain is the likely cause).
      startArgs: ['--linger-ms', '3000'],
      onLine: (peer, stream, line) => {
        // The event and its fields (pino's time, level and human line aside).
        if (stream === 'stdout') {
          const { time: _t, level: _l, msg: _m, ...event } = JSON.parse(line) as Record<string, unknown>
          events[peer].push(event)
        }
      },
    })
    // Peer 2 leaves when it is stopped.
    await Promise.all([0, 1, 2, 3].map((i) => section.start(i, i === 2 ? ['--leave-on-exit'] : [])))
    await section.waitConnected(30_000)
    await agreeOn(section, [0, 1, 2, 3], 'before')
  })
  after(async () => {
    await section?.close()
  })

  it('parsec-peer leave: the leaver exits 0, the other 3 agree on 3 members and keep agreeing', async () => {
    const leaver = section.peers[3]
    const before = await section.api(0).status()
    assert.deepEqual(before.members, section.peers.map((p) => p.peerId).sort())
    const run = await cli(
      [
        'leave',
        '--api',
        section.api(3).address,
        '--api-token',
        section.apiToken!.file,
        '--json',
        '--wait',
        '--timeout',
        '60000',
      ],
      { timeoutMs: 90_000 },
    )
    assert.equal(run.status, 0, run.stderr)
    assert.deepEqual(JSON.parse(run.stdout), {
      leaving: true,
      peerId: leaver.peerId,
      sectionId: section.sectionId,
      left: true,
    })
    const exit = await leaver.exited
    assert.equal(exit?.code, 0, leaver.stderr.join('\n'))
    const names = events[3].map((e) => e.event)
    assert.ok(names.includes('leaving'), names.join())
    assert.deepEqual(
      events[3].filter((e) => e.event === 'self:removed'),
      [{ event: 'self:removed', reason: 'left' }],
    )

    const stay = [0, 1, 2]
    const expected = stay.map((i) => section.peers[i].peerId).sort()
    await until(
      async () => {
        const statuses = await Promise.all(stay.map((i) => section.api(i).status()))
        return statuses.every((s) => s.members.length === 3)
      },
      60_000,
      () => 'the others do not all report 3 members',
    )
    const statuses = await Promise.all(stay.map((i) => section.api(i).status()))
    for (const status of statuses) {
      assert.equal(status.self, 'member')
      assert.deepEqual(status.members, expected)
      assert.equal(status.seq, before.seq + 1)
      assert.equal(status.head, statuses[0].head)
      assert.notEqual(status.head, before.head)
    }
    for (const i of stay) {
      const left = events[i].filter((e) => e.event === 'member:left')
      assert.deepEqual(
        left.map((e) => [e.peer, e.reason]),
        [[leaver.peerId, 'left']],
      )
    }
    // The Remove block names the leaver by its peer id.
    const blocks = await blocksUntil(section.api(0), before.deliveredBlocks + 1)
    assert.ok(blocks.some((b) => b.kind === 'remove' && b.peer === leaver.peerId))

    const lists = await agreeOn(section, stay, 'after the leave')
    for (const list of lists) assert.deepEqual(list, lists[0])
  })

  it('the peer that left, restarted from its data directory, is told so and exits 3', async () => {
    const leaver = section.peers[3]
    const args = [
      'start',
      '--key',
      leaver.keyFile,
      '--genesis',
      section.genesisFile,
      '--listen',
      '/ip4/127.0.0.1/tcp/0',
      '--data-dir',
      leaver.dataDir,
    ]
    const human = await cli(args)
    assert.equal(human.status, 3, human.stderr)
    const lines = human.stderr.trim().split('\n')
    assert.equal(lines.length, 1, human.stderr)
    assert.match(
      lines[0],
      /^parsec-peer start: Removed: this key left section [0-9a-f]{64} \(membership chain seq \d+\)/,
    )
    assert.match(lines[0], /join the section again with a new key \(--join SECTION_ID/)
    assert.match(human.stdout, /^\S+ ERROR +failed Removed \(removed\): /m)
    assert.doesNotMatch(human.stdout, /INFO +ready:/)
    const json = await cli([...args, '--json'])
    assert.equal(json.status, 3, json.stderr)
    const events = json.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>)
    assert.deepEqual(
      events.map((e) => [e.event, e.code, e.self]),
      [['failed', 'Removed', 'removed']],
    )
  })

  it('a member stopped by SIGTERM (no --leave-on-exit) restarts as a member', async () => {
    const exit = await section.stop(1, 30_000)
    assert.equal(exit.code, 0)
    assert.ok(!events[1].some((e) => e.event === 'leaving'))
    await section.start(1)
    const ready = section.peers[1].ready
    assert.equal(ready?.self, 'member')
    assert.equal(ready?.members.length, 3)
    const status = await section.api(1).status()
    assert.equal(status.self, 'member')
    assert.deepEqual(status.members, (await section.api(0).status()).members)
    await agreeOn(section, [1, 0, 2], 'after the restart')
  })

  it('with --leave-on-exit, SIGTERM makes a member of 3 leave first, then exit 0', async () => {
    const leaver = section.peers[2]
    const exit = await section.stop(2, 90_000)
    assert.equal(exit.code, 0, leaver.stderr.join('\n'))
    const names = events[2].map((e) => e.event)
    // The signal made it leave: leaving, removed, then the stop the signal asked for.
    const at = (name: string) => names.indexOf(name)
    assert.ok(at('leaving') >= 0 && at('leaving') < at('self:removed'), names.join())
    assert.ok(at('self:removed') < at('stopping'), names.join())
    assert.equal(events[2][at('stopping')].reason, 'SIGTERM')
    assert.deepEqual(
      events[2].filter((e) => e.event === 'self:removed'),
      [{ event: 'self:removed', reason: 'left' }],
    )
    const stay = [0, 1]
    let last: unknown[] = []
    await until(
      async () => {
        const statuses = await Promise.all(stay.map((i) => section.api(i).status()))
        last = statuses.map((s) => ({
          members: s.members.length,
          self: s.self,
          seq: s.seq,
          blocks: s.deliveredBlocks,
          graph: s.graphSize,
          pending: s.pendingObservations,
          connected: s.connected.length,
        }))
        return statuses.every((s) => s.members.length === 2)
      },
      60_000,
      () => `the others do not both report 2 members: ${JSON.stringify(last)}`,
    )
    for (const i of stay) {
      const status = await section.api(i).status()
      assert.equal(status.self, 'member')
      assert.deepEqual(status.members, stay.map((j) => section.peers[j].peerId).sort())
    }
    await agreeOn(section, stay, 'after the second leave')
  })
})

describe('parsec-peer demo with membership changes', { timeout: 300_000 }, () => {
  it('--help names the short membership timers the peers get', async () => {
    const run = await cli(['demo', '--help'])
    assert.equal(run.status, 0)
    assert.match(run.stdout, /--leave L/)
    assert.match(run.stdout, /--kill K/)
    assert.match(run.stdout, /--unresponsive-ms 2000 --unresponsive-decisions 5 --linger-ms 5000/)
  })

  it('refuses a kill the others could not carry out (exit 2)', async () => {
    assertUsage(
      await cli(['demo', '--peers', '4', '--kill', '2']),
      /--kill 2 with --peers 4: .*each kill needs at least 4 members when it happens/,
    )
  })

  it('--peers 5 --leave 1 --kill 1: 3 live members agree on the blocks and on the members', async () => {
    const run = await cli(
      ['demo', '--peers', '5', '--payloads', '50', '--leave', '1', '--kill', '1', '--json'],
      { timeoutMs: 240_000 },
    )
    assert.equal(run.status, 0, run.stderr)
    const summary = JSON.parse(run.stdout)
    assert.equal(summary.peers, 5)
    assert.equal(summary.agreed, true)
    assert.equal(summary.membersAgreed, true)
    assert.equal(summary.members.length, 3)
    assert.deepEqual(
      summary.changes.map((c: { kind: string; outcome: string }) => [c.kind, c.outcome]),
      [
        ['kill', 'done'],
        ['leave', 'done'],
      ],
    )
    // The two that went are not in the final member list.
    for (const change of summary.changes) assert.ok(!summary.members.includes(change.peer))
    // Votes went on while the membership changed: more than the 50 asked for.
    assert.ok(summary.payloads >= 50)
    assert.ok(summary.blocks > summary.payloads, 'the genesis and the Remove blocks as well')
  })
})
