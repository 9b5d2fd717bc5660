/**
 * System test: SIGKILLed members of a 7-peer section of `parsec-peer start` processes on 127.0.0.1
 * (no network namespaces: it is here because it takes 1.5 to 3 minutes on 2 cores, too long for
 * `pnpm test`). With the unresponsive window shortened to 2 s and 5 decisions:
 * - SIGKILL 1 of 7: the other 6 remove it after the window and agree on the blocks and 6 members;
 * - the killed peer restarted from its data directory learns at its start-up self-check that it was
 *   voted out (the members answer it `notMember`; its machine confirms it from their chain) and
 *   exits 1; it joins again under a new key and data directory (the engine never re-admits a
 *   removed key), and all 7 agree;
 * - SIGKILL 2 of 7 in quick succession: both removed in turn, the other 5 agree.
 * A killed peer restarted within the window resumes as a member: test/src/network/kill-restart.
 * Run by `node scripts/test-system.mjs kill`.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { LocalSection } from 'parsec-peer/local-section'
import { membershipArgs, QUICK_JOINS, QUICK_REMOVALS } from 'parsec-peer/quick-membership'
import { agreeOn, keepVoting, peerEvents, until } from '../cli-support.js'

/**
 * Short membership timers (and cheap joins for the rejoin): removals and joins take seconds; a
 * drain of 2 s (the demo's is 5 s).
 */
const UNRESPONSIVE_MS = QUICK_REMOVALS.unresponsiveMs
const KILL_FLAGS = membershipArgs({ ...QUICK_REMOVALS, lingerMs: 2000, ...QUICK_JOINS })

describe('parsec-peer: 7 founders, SIGKILLed members are removed', { timeout: 300_000 }, () => {
  let section: LocalSection
  const { events, onLine } = peerEvents()
  before(async () => {
    section = await LocalSection.create({
      peers: 7,
      startArgs: KILL_FLAGS,
      onLine,
    })
    await section.startAll()
    await section.waitConnected(30_000)
    await agreeOn(section, [0, 1, 2, 3, 4, 5, 6], 'before')
  })
  after(async () => {
    await section?.close()
  })

  /**
   * Keeps voting at `live[0]` until every peer of `live` reports exactly `live` as the members
   * (`gone` removed), then checks that each reported each removal once, as a removal for silence,
   * and that they agree on the blocks (each Remove among them) and go on agreeing.
   */
  async function removed(live: readonly number[], gone: readonly number[], text: string): Promise<void> {
    const expected = live.map((i) => section.peers[i].peerId).sort()
    let last: unknown[] = []
    const stop = keepVoting(section, live[0])
    try {
      await until(
        async () => {
          const statuses = await Promise.all(live.map((i) => section.api(i).status()))
          last = statuses.map((s) => ({
            members: s.members.length,
            suspected: s.suspected.length,
            blocks: s.deliveredBlocks,
          }))
          return statuses.every((s) => s.members.join() === expected.join())
        },
        90_000,
        () => `the live peers do not all report ${live.length} members: ${JSON.stringify(last)}`,
      )
    } finally {
      await stop()
    }
    const statuses = await Promise.all(live.map((i) => section.api(i).status()))
    for (const status of statuses) {
      assert.equal(status.self, 'member')
      assert.equal(status.head, statuses[0].head)
    }
    const goneIds = gone.map((i) => section.peers[i].peerId)
    for (const i of live) {
      const left = events[i].filter((e) => e.event === 'member:left' && goneIds.includes(e.peer as string))
      assert.deepEqual(
        left.map((e) => [e.peer, e.reason]).sort(),
        goneIds.map((peer) => [peer, 'removed']).sort(),
        `peer ${i}: each removal reported once`,
      )
    }
    const lists = await agreeOn(section, live, text)
    for (const list of lists) assert.deepEqual(list, lists[0])
    // Removes are voted by round: a second Remove of a removed peer (an earlier round decided late) is a
    // no-op of the chain, so the check is that each was removed (reported once, above), not a count.
    for (const peer of goneIds)
      assert.ok(lists[0].includes(`remove:${peer}`), `a Remove of ${peer} is agreed`)
  }

  it('SIGKILL 1 of 7: removed after the unresponsive window; the other 6 agree on blocks and 6 members', async () => {
    const killedAt = Date.now()
    await section.kill(6)
    await removed([0, 1, 2, 3, 4, 5], [6], 'after one kill')
    assert.ok(Date.now() - killedAt >= UNRESPONSIVE_MS, 'not removed before the unresponsive window')
  })

  it('restarted from its data directory, the removed peer is told it was voted out (exit 1); it joins again under a new key', async () => {
    const old = section.peers[6]
    events[6] = []
    await section.start(6)
    // Its store does not hold its removal: it resumes, and learns it from the members.
    assert.equal(old.ready?.self, 'member')
    const exit = await Promise.race([
      old.exited,
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 60_000).unref()),
    ])
    assert.equal(exit?.code, 1, `the removed peer still runs: ${old.stderr.join(' | ')}`)
    assert.deepEqual(
      events[6].filter((e) => e.event === 'self:removed').map((e) => [e.event, e.reason]),
      [['self:removed', 'removed']],
    )
    assert.match(old.stderr.join('\n'), /voted out of section .*joining again takes a new key/)

    const founder = section.peers[0].ready!.listen.find((a) => a.includes('/p2p/'))!
    const joiner = await section.addJoiner([founder])
    const stop = keepVoting(section, 0)
    try {
      await section.start(joiner.index)
      await section.waitMember(joiner.index, 120_000)
    } finally {
      await stop()
    }
    const live = [0, 1, 2, 3, 4, 5, joiner.index]
    const expected = live.map((i) => section.peers[i].peerId).sort()
    await until(
      async () => {
        const statuses = await Promise.all(live.map((i) => section.api(i).status()))
        return statuses.every((s) => s.members.join() === expected.join())
      },
      60_000,
      () => 'the live peers do not all report the joiner among 7 members',
    )
    const lists = await agreeOn(section, live, 'after the rejoin')
    for (const list of lists) assert.deepEqual(list, lists[0])
  })

  it('SIGKILL 2 of 7 in quick succession: both removed in turn, the other 5 agree', async () => {
    await section.kill(5)
    await section.kill(4)
    await removed([0, 1, 2, 3, 7], [4, 5], 'after two kills')
  })
})
