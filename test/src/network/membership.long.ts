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
import {
  createSectionNode,
  KEEP_ALIVE_TAG,
  type LeaveRefusedError,
  type MemberLeft,
} from '@parsec-section/p2p-section'
import { MemoryDatastore } from 'datastore-core'
import { LevelDatastore } from 'datastore-level'
import { Key } from 'interface-datastore'
import { connectAll, payloadTexts, peerTagged, startSection, type TestNode, waitFor } from './support.js'

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

/** A peer restarted after its removal: `self()` says so and the service failed, from the start. */
function assertRemovedAtStart(node: TestNode, self: string, message: RegExp): void {
  const section = node.services.section
  assert.equal(section.self(), self)
  const status = section.status()
  assert.equal(status.state, 'failed')
  assert.equal(status.failure?.code, 'Removed')
  assert.match(status.failure?.message ?? '', message)
  assert.match(status.failure?.message ?? '', /join the section again with a new key/)
}

/** It made no event and takes no vote. */
async function assertRefused(node: TestNode): Promise<void> {
  const section = node.services.section
  const graphSize = section.status().graphSize
  await assert.rejects(section.ready(), { code: 'Removed' })
  await assert.rejects(section.vote(encoder.encode('never')), { code: 'Removed' })
  assert.equal(section.status().graphSize, graphSize, 'no event made')
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
      // Every member keeps a connection to the others (libp2p's keep-alive tag).
      await Promise.all(
        section.nodes.flatMap((node) =>
          section.nodes
            .filter((other) => other !== node)
            .map((other) => peerTagged(node, other.peerId, KEEP_ALIVE_TAG, true, 10_000)),
        ),
      )
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
      // The founder that left is kept alive no more (its connections prunable like anyone's).
      await Promise.all(stay.map((node) => peerTagged(node, leaver.peerId, KEEP_ALIVE_TAG, false, 10_000)))
      await waitFor(
        [leaver],
        () => removed !== undefined,
        60_000,
        () => `the leaver is ${leaver.services.section.self()}`,
        'self:removed',
      )
      assert.equal(removed, 'left')
      assert.equal(leaver.services.section.self(), 'removed')
      // Nor does the one removed keep its former peers.
      await Promise.all(stay.map((node) => peerTagged(leaver, node.peerId, KEEP_ALIVE_TAG, false, 10_000)))
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
    const membership = { unresponsiveMs, unresponsiveDecisions: 3, lingerMs: 500 }
    const section = await startSection(5, { mode: 'supermajority', membership }, 1)
    const stay = section.nodes
    // The crashed founder keeps its store (in memory) across its restarts.
    const crashedOptions = {
      genesis: section.genesis,
      privateKey: section.keys[4],
      listen: ['/ip4/127.0.0.1/tcp/0'],
      discovery: false,
      membership,
      datastore: new MemoryDatastore(),
      // The members do not answer a removed peer's self-check: no need to wait 30 s for them.
      selfCheckTimeoutMs: 2_000,
    }
    let crashed = await createSectionNode(crashedOptions)
    try {
      await connectAll([...stay, crashed])
      await Promise.all([...stay, crashed].map((node) => node.services.section.ready()))
      await agreeOn([...stay, crashed], 'before', () =>
        [...stay, crashed].map((n) => payloadTexts(n.services.section.blocks())),
      )
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
      const stayBlocks = () => section.blocks.map((b) => payloadTexts(b))
      await agreeOn(stay, 'after the removal', stayBlocks)
      const shortest = Math.min(...stayBlocks().map((b) => b.length))
      for (const list of stayBlocks())
        assert.deepEqual(list.slice(0, shortest), stayBlocks()[0].slice(0, shortest))

      // Restarted from its store, which does not hold its removal: the members do not answer its
      // self-check and refuse its sync; their chain confirms the removal, which its store keeps.
      crashed = await createSectionNode(crashedOptions)
      let removed: string | undefined
      crashed.services.section.addEventListener('self:removed', (e) => {
        removed = e.detail.reason
      })
      await connectAll([...stay, crashed])
      await waitFor(
        [crashed],
        () => removed !== undefined,
        30_000,
        () => `the restarted crashed peer is ${crashed.services.section.self()}`,
        'self:removed',
      )
      assert.equal(removed, 'removed')
      assert.equal(crashed.services.section.self(), 'removed')
      await crashed.stop()
      // Restarted again: told at once, from its store.
      crashed = await createSectionNode(crashedOptions)
      assertRemovedAtStart(crashed, 'removed', /this key was voted out of section/)
      await assertRefused(crashed)
      await agreeOn(stay, 'after its restarts', stayBlocks)
      for (const node of stay) {
        assert.equal(node.services.section.status().faults, 0, 'nobody accused it')
        assert.deepEqual(node.services.section.members(), members[0])
      }
    } finally {
      await crashed.stop()
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
      // Restarted after its removal, the members do not answer its self-check: no 30 s wait.
      selfCheckTimeoutMs: 2_000,
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

      // Now it leaves too; restarted from its data directory, it is told at once that this key
      // is no member any more, and runs as none.
      let removed: string | undefined
      node.services.section.addEventListener('self:removed', (e) => {
        removed = e.detail.reason
      })
      await node.services.section.leave()
      await waitFor(
        [node],
        () => removed !== undefined,
        60_000,
        () => `the leaver is ${node.services.section.self()}`,
        'self:removed',
      )
      assert.equal(removed, 'left')
      await node.stop()
      // As if it had crashed before its removal was kept: when its own blocks hold the removal it
      // says `removed` at once, drains again (the others may need its last events), then fails
      // with `Removed`; when it learnt it from the members' chain (their refusals came before its
      // engine decided it), it learns it again right after its start-up. Either way it keeps it.
      const kept = new Key(`/parsec/${section.genesis.sectionId}/removed`)
      assert.ok(await datastore.has(kept), 'its removal was kept')
      await datastore.delete(kept)
      await datastore.close()
      datastore = new LevelDatastore(join(dir, 'peer4'))
      await datastore.open()
      node = await createSectionNode({ ...options, datastore })
      const restarted = node
      const inBlocks = restarted.services.section.self() === 'removed'
      let told = false
      restarted.services.section.addEventListener('self:removed', () => {
        told = true
      })
      await waitFor(
        [restarted],
        () => told,
        30_000,
        () => `restarted without its kept removal, it is ${restarted.services.section.self()}`,
        'self:removed',
      )
      assert.equal(restarted.services.section.self(), 'removed')
      if (inBlocks) await assert.rejects(restarted.services.section.ready(), { code: 'Removed' })
      assert.ok(await datastore.has(kept), 'its removal is kept again')
      await node.stop()
      await datastore.close()
      datastore = new LevelDatastore(join(dir, 'peer4'))
      await datastore.open()
      node = await createSectionNode({ ...options, datastore })
      // Case two forgot that it left (its machine confirmed a removal it had not decided itself).
      assertRemovedAtStart(node, 'removed', /this key (left|was voted out of) section/)
      await assertRefused(node)
    } finally {
      await node.stop()
      await datastore.close().catch(() => {})
      await section.stop()
      await rm(dir, { recursive: true, force: true })
    }
  })
})
