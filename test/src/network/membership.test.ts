/**
 * A founded section whose members change, over libp2p TCP on 127.0.0.1: a graceful leave
 * (`leave()`: Remove voted, drain, `self:removed`) and a crashed member removed for silence after
 * the (shortened) unresponsive window; the others keep agreeing afterwards.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { createSectionNode, type LeaveRefusedError, type MemberLeft } from '@parsec-section/p2p-section'
import { LevelDatastore } from 'datastore-level'
import { connectAll, payloadTexts, startSection, type TestNode, waitFor } from './support.js'

const encoder = new TextEncoder()

/** Every `member:left` each node reports, in order. */
function recordLeaves(nodes: readonly TestNode[]): MemberLeft[][] {
  return nodes.map((node) => {
    const seen: MemberLeft[] = []
    node.services.section.addEventListener('member:left', (event) => seen.push(event.detail))
    return seen
  })
}

/** Votes `text` at every node (a supermajority section) and waits until all delivered it. */
async function agreeOn(nodes: readonly TestNode[], text: string, blocks: () => string[][]): Promise<void> {
  for (const node of nodes) await node.services.section.vote(encoder.encode(text))
  await waitFor(
    nodes,
    () => blocks().every((list) => list.some((b) => b.includes(JSON.stringify(text).slice(1, -1)))),
    60_000,
    () => `"${text}" not delivered everywhere: ${blocks().map((b) => b.length)}`,
  )
}

describe('a founded section whose members change', { timeout: 300_000 }, () => {
  it('4 founders, one leaves: the other 3 report it, agree on 3 members and keep agreeing', async () => {
    // What the services tell `onMembers` (createSectionNode's gater follows it), all nodes together.
    const told: string[][] = []
    const section = await startSection(4, {
      mode: 'supermajority',
      membership: { lingerMs: 1_000 },
      onMembers: (members) => told.push(members.map((m) => m.peerId.toString())),
    })
    try {
      const [leaver, ...stay] = section.nodes
      assert.ok(
        told.length >= 4 && told.every((list) => list.length === 4),
        'each node at start: the founders',
      )
      const stayBlocks = () => section.blocks.slice(1).map((b) => payloadTexts(b))
      await Promise.all(section.nodes.map((node) => node.services.section.ready()))
      await agreeOn(section.nodes, 'before', () => section.blocks.map((b) => payloadTexts(b)))
      const leaves = recordLeaves(stay)
      let removed: string | undefined
      leaver.services.section.addEventListener('self:removed', (e) => {
        removed = e.detail.reason
      })
      const before = stay[0].services.section.membershipStatus()
      assert.equal(before.self, 'member')
      assert.deepEqual(before.members, section.nodes.map((n) => n.peerId.toString()).sort())
      assert.deepEqual([before.candidates, before.suspected], [[], []])
      await leaver.services.section.leave()
      assert.equal(leaver.services.section.self(), 'leaving')
      await assert.rejects(leaver.services.section.leave(), (error: LeaveRefusedError) => {
        assert.equal(error.code, 'LeaveRefused')
        assert.equal(error.reason, 'AlreadyLeaving')
        return true
      })
      await waitFor(
        stay,
        () => leaves.every((list) => list.length > 0),
        60_000,
        () => `member:left per peer ${leaves.map((l) => l.length)}`,
        'member:left',
      )
      for (const list of leaves) {
        assert.equal(list.length, 1)
        assert.ok(list[0].peer.equals(leaver.peerId))
        assert.equal(list[0].reason, 'left')
      }
      const members = stay.map((node) => node.services.section.members())
      for (const list of members) assert.deepEqual(list, members[0])
      assert.equal(members[0].length, 3)
      assert.ok(!members[0].includes(leaver.peerId.toString()))
      const toldAfter = told.filter((list) => list.length === 3)
      assert.ok(
        toldAfter.length >= stay.length,
        `each staying node told of the change: ${told.map((l) => l.length)}`,
      )
      for (const list of toldAfter) assert.ok(!list.includes(leaver.peerId.toString()))
      await waitFor(
        [leaver],
        () => removed !== undefined,
        60_000,
        () => `the leaver is ${leaver.services.section.self()}`,
        'self:removed',
      )
      assert.equal(removed, 'left')
      assert.equal(leaver.services.section.self(), 'removed')
      await agreeOn(stay, 'after the leave', stayBlocks)
      const first = stayBlocks()[0]
      for (const list of stayBlocks()) assert.deepEqual(list, first)
      for (const node of stay) assert.equal(node.services.section.self(), 'member')
      const after = stay.map((node) => node.services.section.membershipStatus())
      for (const status of after) {
        assert.deepEqual(status.members, [...members[0]].sort())
        assert.equal(status.seq, before.seq + 1, 'one Remove more in the chain')
        assert.notEqual(status.head, before.head)
        assert.equal(status.head, after[0].head)
      }
    } finally {
      await section.stop()
    }
  })

  it('3 founders, one leaves that the others cannot sync with: its final syncs let them decide', async () => {
    // Once the section runs, the leaver takes no inbound sync stream any more and the other two
    // cannot reach each other: everything goes through the leaver's own exchanges, so when it
    // decides its removal at least one of them lacks what decided it, and at 3 members they cannot
    // decide without it. Only its drain's final syncs bring it (MEMBERSHIP.md §4, "Graceful").
    const section = await startSection(3, { mode: 'supermajority', membership: { lingerMs: 5_000 } })
    const [leaver, ...stay] = section.nodes
    try {
      await Promise.all(section.nodes.map((node) => node.services.section.ready()))
      await agreeOn(section.nodes, 'before', () =>
        section.nodes.map((n) => payloadTexts(n.services.section.blocks())),
      )
      // Its sync protocol withdrawn; every connection (with the sync streams open on it) closed,
      // and the two that stay forget each other's address.
      await leaver.unhandle(leaver.services.section.protocol)
      for (const node of stay) await leaver.hangUp(node.peerId)
      await stay[0].hangUp(stay[1].peerId)
      await stay[0].peerStore.delete(stay[1].peerId)
      await stay[1].peerStore.delete(stay[0].peerId)
      const leaves = recordLeaves(stay)
      let removed: string | undefined
      leaver.services.section.addEventListener('self:removed', (e) => {
        removed = e.detail.reason
      })
      await leaver.services.section.leave()
      await waitFor(
        stay,
        () => leaves.every((list) => list.length > 0),
        30_000,
        () =>
          `member:left per peer ${leaves.map((l) => l.length)}, the leaver ${leaver.services.section.self()}`,
        'member:left',
      )
      for (const list of leaves) {
        assert.deepEqual(
          list.map((left) => [left.peer.toString(), left.reason]),
          [[leaver.peerId.toString(), 'left']],
        )
      }
      for (const node of stay) assert.equal(node.services.section.members().length, 2)
      await connectAll(stay)
      await waitFor(
        [leaver],
        () => removed !== undefined,
        30_000,
        () => `the leaver is ${leaver.services.section.self()}`,
        'self:removed',
      )
      assert.equal(removed, 'left')
      const stayBlocks = () => stay.map((n) => payloadTexts(n.services.section.blocks()))
      await agreeOn(stay, 'after the leave', stayBlocks)
      assert.deepEqual(stayBlocks()[1], stayBlocks()[0])
    } finally {
      await section.stop()
    }
  })

  it('5 founders, one crashes: the others remove it for silence and keep agreeing', async () => {
    const unresponsiveMs = 3_000
    const section = await startSection(5, {
      mode: 'supermajority',
      membership: { unresponsiveMs, unresponsiveDecisions: 3 },
    })
    const [crashed, ...stay] = section.nodes
    try {
      await Promise.all(section.nodes.map((node) => node.services.section.ready()))
      await agreeOn(section.nodes, 'before', () => section.blocks.map((b) => payloadTexts(b)))
      const leaves = recordLeaves(stay)
      const crashedAt = Date.now()
      await crashed.stop()
      // Votes keep decisions coming (suspicion needs decisions without progress and the clock).
      let round = 0
      let voting = true
      const keepVoting = (async () => {
        while (voting && round < 200) {
          const text = `while silent ${round++}`
          await Promise.all(stay.map((node) => node.services.section.vote(encoder.encode(text))))
          // Delivered everywhere (a Remove voted by some may stay pending meanwhile: not waited on).
          await waitFor(
            stay,
            () =>
              !voting ||
              stay.every((n) => payloadTexts(n.services.section.blocks()).some((b) => b.includes(text))),
            60_000,
            () => `"${text}" not delivered everywhere`,
          )
        }
      })()
      try {
        await waitFor(
          stay,
          () => leaves.every((list) => list.length > 0),
          120_000,
          () => `member:left per peer ${leaves.map((l) => l.length)} after ${round} rounds`,
          'member:left',
        )
      } finally {
        voting = false
        await keepVoting
      }
      assert.ok(Date.now() - crashedAt >= unresponsiveMs, 'not removed before the unresponsive window')
      for (const list of leaves) {
        assert.equal(list.length, 1)
        assert.ok(list[0].peer.equals(crashed.peerId))
        assert.equal(list[0].reason, 'removed')
      }
      const members = stay.map((node) => node.services.section.members())
      for (const list of members) assert.deepEqual(list, members[0])
      assert.equal(members[0].length, 4)
      const stayBlocks = () => section.blocks.slice(1).map((b) => payloadTexts(b))
      await agreeOn(stay, 'after the removal', stayBlocks)
      const shortest = Math.min(...stayBlocks().map((b) => b.length))
      for (const list of stayBlocks())
        assert.deepEqual(list.slice(0, shortest), stayBlocks()[0].slice(0, shortest))
    } finally {
      await section.stop()
    }
  })

  it('a founder restarted after a leave resumes with the agreed members, not the genesis', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'parsec-membership-'))
    const membership = { lingerMs: 1_000 }
    const section = await startSection(5, { mode: 'supermajority', membership }, 1)
    let datastore = new LevelDatastore(join(dir, 'peer4'))
    await datastore.open()
    const options = {
      genesis: section.genesis,
      privateKey: section.keys[4],
      listen: ['/ip4/127.0.0.1/tcp/0'],
      discovery: false,
      membership,
    }
    let node = await createSectionNode({ ...options, datastore })
    try {
      const all = () => [...section.nodes, node]
      await connectAll(all())
      await Promise.all(all().map((n) => n.services.section.ready()))
      const [leaver, ...others] = section.nodes
      const stay = () => [...others, node]
      const leaves = recordLeaves(stay())
      await assert.rejects(leaver.services.section.leave(), (error: LeaveRefusedError) => {
        assert.equal(error.reason, 'GenesisNotAgreed')
        assert.match(error.message, /genesis block is not agreed/)
        return true
      })
      await agreeOn(all(), 'before', () => all().map((n) => payloadTexts(n.services.section.blocks())))
      await leaver.services.section.leave()
      await waitFor(
        stay(),
        () => leaves.every((list) => list.length > 0),
        60_000,
        () => `member:left per peer ${leaves.map((l) => l.length)}`,
        'member:left',
      )
      const agreed = node.services.section.members()
      assert.equal(agreed.length, 4)
      await node.stop()
      await datastore.close()

      datastore = new LevelDatastore(join(dir, 'peer4'))
      await datastore.open()
      node = await createSectionNode({ ...options, datastore })
      assert.deepEqual(node.services.section.members(), agreed, 'the agreed members survive a restart')
      assert.equal(node.services.section.self(), 'member')
      await connectAll(all())
      await node.services.section.ready()
      const blocks = () => stay().map((n) => payloadTexts(n.services.section.blocks()))
      await agreeOn(stay(), 'after the restart', blocks)
      for (const n of stay()) assert.deepEqual(n.services.section.members(), agreed)
    } finally {
      await node.stop()
      await datastore.close().catch(() => {})
      await section.stop()
      await rm(dir, { recursive: true, force: true })
    }
  })
})
