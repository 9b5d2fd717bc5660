/**
 * Epochs over libp2p (docs/epochs.md), in one process on 127.0.0.1: every `checkpointBlocks`
 * blocks the members agree a checkpoint and switch engines, re-casting what the old one had not
 * delivered. Every payload is delivered once, in the same order everywhere, across the switches;
 * a member stopped mid-run restarts from its store into its epoch and catches up through the
 * others' retired engines.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createSectionNode, type DeliveredBlock } from '@parsec-section/p2p-section'
import { LevelDatastore } from 'datastore-level'
import { connectAll, QUICK_ADMISSION, startSection, type TestNode, waitFor } from '../network/support.js'

const SEED = Number(process.env.NETWORK_SEED ?? 1)
const EPOCH_BLOCKS = 15
const epochOptions = { membership: { checkpointBlocks: EPOCH_BLOCKS }, epochDrainMs: 60_000 }

/** The delivered blocks without their voters (what must be equal everywhere), by position. */
function agreed(blocks: readonly DeliveredBlock[]): string[] {
  return blocks.map(
    ({ position, description: { voters: _voters, ...what } }) => `${position} ${JSON.stringify(what)}`,
  )
}

/** The texts of the opaque payloads delivered, in order. */
function payloadTexts(blocks: readonly DeliveredBlock[]): string[] {
  return blocks.flatMap(({ description }) => (description.kind === 'opaque' ? [description.payload] : []))
}

/**
 * What the peers delivered, by position (a peer that lagged by whole epochs skips positions: its
 * list has gaps); peers that delivered the same position must agree on it.
 */
function byPosition(lists: readonly (readonly DeliveredBlock[])[]): Map<number, DeliveredBlock> {
  const out = new Map<number, DeliveredBlock>()
  for (const list of lists)
    for (const block of list) {
      const seen = out.get(block.position)
      if (seen === undefined) out.set(block.position, block)
      else assert.deepEqual(agreed([block]), agreed([seen]), `the block at ${block.position}`)
    }
  return out
}

/** The last position `blocks` holds (-1 when empty). */
const lastPosition = (blocks: readonly DeliveredBlock[]): number => blocks.at(-1)?.position ?? -1

function checkpoints(blocks: readonly DeliveredBlock[]): number {
  return blocks.filter((b) => b.description.kind === 'checkpoint').length
}

describe('epochs over libp2p', () => {
  it('every payload once across the switches; a member restarted mid-run comes back into its epoch', {
    timeout: 240_000,
  }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'parsec-epochs-'))
    const section = await startSection(4, epochOptions, 1)
    let datastore = new LevelDatastore(join(dir, 'peer3'))
    await datastore.open()
    const options = {
      ...epochOptions,
      genesis: section.genesis,
      privateKey: section.keys[3],
      listen: ['/ip4/127.0.0.1/tcp/0'],
      discovery: false,
    }
    let node: TestNode | undefined
    try {
      node = await createSectionNode({ ...options, datastore })
      const firstRun: DeliveredBlock[] = []
      node.services.section.addEventListener('block', (e) => firstRun.push(e.detail))
      const all = () => [...section.nodes, node!]
      await connectAll(all())
      const vote = (target: TestNode, text: string) =>
        target.services.section.vote(new TextEncoder().encode(text))
      const voted: string[] = []
      // Votes keep coming (a checkpoint needs blocks after it to be followed by another).
      let stopVoting = false
      const voting = (async () => {
        for (let i = 0; !stopVoting && i < 400; i++) {
          const text = `before ${SEED} ${i}`
          voted.push(text)
          await vote(all()[i % 4], text)
          if (i % 4 === 3) await new Promise((resolve) => setTimeout(resolve, 20))
        }
      })()
      await waitFor(
        all(),
        () => [...section.blocks, firstRun].every((b) => checkpoints(b) >= 2),
        90_000,
        () =>
          `seed ${SEED}: checkpoints ${[...section.blocks, firstRun].map(checkpoints)}, ${all()
            .map((n) => {
              const s = n.services.section.status()
              return `epoch ${s.epoch} graph ${s.graphSize} delivered ${s.deliveredBlocks} pending ${s.pendingObservations}`
            })
            .join('; ')}`,
      )
      stopVoting = true
      await voting
      await node.stop()
      await datastore.close()

      // The others go on (3 of 4 is a supermajority) into the next epoch.
      for (let i = 0; i < 12; i++) {
        const text = `during ${SEED} ${i}`
        voted.push(text)
        await vote(section.nodes[i % 3], text)
      }
      const epochAtStop = firstRun.length
      datastore = new LevelDatastore(join(dir, 'peer3'))
      await datastore.open()
      node = await createSectionNode({ ...options, datastore })
      const secondRun: DeliveredBlock[] = []
      node.services.section.addEventListener('block', (e) => secondRun.push(e.detail))
      // The earlier epochs' blocks come back from the store with their voters (storage format 6):
      // a restarted member still says whose payloads they carried (a rebased member asks it).
      const restored = node.services.section.blocks()
      const lastCheckpoint = [...restored].reverse().find((b) => b.description.kind === 'checkpoint')
      assert.ok(lastCheckpoint !== undefined, `seed ${SEED}: the restart holds a checkpoint block`)
      for (const block of restored.filter((b) => b.position <= lastCheckpoint.position))
        assert.ok(
          block.description.voters.length >= 1,
          `seed ${SEED}: restored block ${block.position} has voters ${block.description.voters}`,
        )
      await connectAll(all())
      for (let i = 0; i < 12; i++) {
        const text = `after ${SEED} ${i}`
        voted.push(text)
        await vote(all()[i % 4], text)
      }
      const delivered = () => [...section.blocks, [...firstRun, ...secondRun]]
      await waitFor(
        all(),
        () => delivered().every((b) => voted.every((t) => payloadTexts(b).includes(t))),
        120_000,
        () =>
          `seed ${SEED}: payloads ${delivered().map((b) => payloadTexts(b).length)} of ${voted.length}, epochs ${all().map((n) => n.services.section.status().epoch)}`,
      )
      for (const [i, blocks] of delivered().entries()) {
        const texts = payloadTexts(blocks)
        for (const text of voted) {
          assert.equal(
            texts.filter((t) => t === text).length,
            1,
            `seed ${SEED}: peer ${i} holds "${text}" once`,
          )
        }
        assert.deepEqual(
          blocks.map((b) => b.position),
          blocks.map((_, k) => k),
          `seed ${SEED}: peer ${i} delivered every position once, in order`,
        )
        assert.ok(
          checkpoints(blocks) >= 2,
          `seed ${SEED}: peer ${i} went through ${checkpoints(blocks)} checkpoints`,
        )
      }
      const length = Math.min(...delivered().map((b) => b.length))
      const reference = agreed(section.blocks[0]).slice(0, length)
      for (const blocks of delivered())
        assert.deepEqual(agreed(blocks).slice(0, length), reference, `seed ${SEED}`)
      assert.ok(epochAtStop > 0)
      const epochs = all().map((n) => n.services.section.status().epoch)
      assert.ok(
        epochs.every((e) => e >= 2),
        `seed ${SEED}: epochs ${epochs}`,
      )
    } finally {
      await node?.stop()
      await section.stop()
      await datastore.close().catch(() => {})
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('a peer joins after two checkpoints: it replays only the current epoch and delivers from its start', {
    timeout: 180_000,
  }, async () => {
    const membership = { ...QUICK_ADMISSION, checkpointBlocks: EPOCH_BLOCKS }
    const section = await startSection(4, { membership, epochDrainMs: 60_000 })
    let joiner: TestNode | undefined
    let stopVoting = false
    try {
      const vote = (target: TestNode, text: string) =>
        target.services.section.vote(new TextEncoder().encode(text))
      const voting = (async () => {
        for (let i = 0; !stopVoting && i < 2000; i++) {
          await vote(section.nodes[i % 4], `join ${SEED} ${i}`)
          if (i % 4 === 3) await new Promise((resolve) => setTimeout(resolve, 30))
        }
      })()
      await waitFor(
        section.nodes,
        () => section.blocks.every((b) => checkpoints(b) >= 2),
        90_000,
        () => `seed ${SEED}: checkpoints ${section.blocks.map(checkpoints)}`,
      )
      joiner = await createSectionNode({
        join: { sectionId: section.genesis.sectionId, bootstrap: section.nodes[0].getMultiaddrs() },
        privateKey: await generateKeyPair('Ed25519'),
        listen: ['/ip4/127.0.0.1/tcp/0'],
        discovery: false,
        membership,
        start: false,
      })
      const joined: DeliveredBlock[] = []
      joiner.services.section.addEventListener('block', (e) => joined.push(e.detail))
      await joiner.start()
      const node = joiner
      await waitFor(
        [...section.nodes, node],
        () => node.services.section.self() === 'member' && joined.length > 5,
        120_000,
        () =>
          `seed ${SEED}: joiner ${node.services.section.self()}, ${joined.length} blocks, epoch ${node.services.section.status().epoch}`,
      )
      stopVoting = true
      await voting
      const first = joined[0].position
      assert.ok(first > 2 * EPOCH_BLOCKS, `seed ${SEED}: the joiner delivered from ${first}`)
      // Voting stopped: the joiner ends on the members' last block.
      await waitFor(
        [...section.nodes, node],
        () => lastPosition(section.blocks[0]) === lastPosition(joined),
        30_000,
        () =>
          `seed ${SEED}: to ${lastPosition(section.blocks[0])} at a member, to ${lastPosition(joined)} at the joiner`,
      )
      const known = byPosition([...section.blocks, joined])
      assert.equal(known.get(first - 1)?.description.kind, 'checkpoint', 'it started after a checkpoint')
      assert.deepEqual(
        joined.map((b) => b.position),
        joined.map((_, k) => first + k),
      )
      assert.ok(node.services.section.status().epoch >= 2)
    } finally {
      stopVoting = true
      await joiner?.stop()
      await section.stop()
    }
  })

  it('a member away while 20 epochs pass catches up from the last checkpoint; its payloads left undelivered become blocks exactly once', {
    timeout: 300_000,
  }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'parsec-away-'))
    // Short epochs, and an unresponsive window long enough that nobody votes its removal meanwhile.
    const membership = {
      checkpointBlocks: 10,
      unresponsiveMs: 600_000,
      unresponsiveDecisions: 1_000_000,
    }
    // The others serve the previous epoch until their next switch (a drain of 10 s, longer than an
    // epoch): they drop the epochs it misses, and seldom fall behind themselves by more than a
    // checkpoint block (one that does starts again at the checkpoint without its blocks before it,
    // so it cannot say which of its payloads they hold; one a block late keeps them).
    const options = { membership, epochDrainMs: 10_000 }
    const section = await startSection(4, options, 1)
    let datastore = new LevelDatastore(join(dir, 'peer3'))
    await datastore.open()
    const peerOptions = {
      ...options,
      genesis: section.genesis,
      privateKey: section.keys[3],
      listen: ['/ip4/127.0.0.1/tcp/0'],
      discovery: false,
    }
    let node: TestNode | undefined
    let stopVoting = false
    const vote = (target: TestNode, text: string) =>
      target.services.section.vote(new TextEncoder().encode(text))
    const keepVoting = (voters: () => TestNode[], tag: string) =>
      (async () => {
        for (let i = 0; !stopVoting && i < 5000; i++) {
          const all = voters()
          await vote(all[i % all.length], `${tag} ${SEED} ${i}`)
          if (i % 4 === 3) await new Promise((resolve) => setTimeout(resolve, 20))
        }
      })()
    try {
      node = await createSectionNode({ ...peerOptions, datastore })
      const all = () => [...section.nodes, node!]
      await connectAll(all())
      let voting = keepVoting(all, 'before')
      await waitFor(
        all(),
        () => all().every((n) => n.services.section.status().epoch >= 1),
        90_000,
        () => 'epoch 1',
      )
      stopVoting = true
      await voting
      const awayEpoch = node.services.section.status().epoch
      const awayAt = node.services.section.status().deliveredBlocks
      // The others vote on; two bursts of votes at it, and it stops right after the second: its
      // payloads are delivered to it before it leaves, decided while it is away (blocks it never
      // sees), decided after the checkpoint (dropped with the epoch) or never sent (most of the
      // second burst). The timing only picks which path each takes: every one must become a block
      // exactly once.
      stopVoting = false
      voting = keepVoting(() => section.nodes, 'away')
      const left = Array.from({ length: 30 }, (_, i) => `left ${SEED} ${i}`)
      await Promise.all(left.slice(0, 15).map((text) => vote(node!, text)))
      await new Promise((resolve) => setTimeout(resolve, 400))
      await Promise.all(left.slice(15).map((text) => vote(node!, text)))
      const deliveredBeforeLeaving = payloadTexts(node.services.section.blocks()).filter((t) =>
        left.includes(t),
      )
      await node.stop()
      await datastore.close()

      await waitFor(
        section.nodes,
        () => section.nodes.every((n) => n.services.section.status().epoch >= awayEpoch + 20),
        180_000,
        () => `seed ${SEED}: epochs ${section.nodes.map((n) => n.services.section.status().epoch)}`,
      )
      stopVoting = true
      await voting
      const sectionEpoch = section.nodes[0].services.section.status().epoch

      datastore = new LevelDatastore(join(dir, 'peer3'))
      await datastore.open()
      const started = Date.now()
      node = await createSectionNode({ ...peerOptions, datastore })
      const back: DeliveredBlock[] = []
      node.services.section.addEventListener('block', (e) => back.push(e.detail))
      await connectAll(all())
      const text = `back ${SEED}`
      await waitFor(
        all(),
        () => node!.services.section.status().epoch >= sectionEpoch,
        120_000,
        () =>
          `seed ${SEED}: back in epoch ${node!.services.section.status().epoch}, the section in ${sectionEpoch}`,
      )
      const caughtUpMs = Date.now() - started
      await vote(node, text)
      await waitFor(
        all(),
        () => [...section.blocks, back].every((b) => payloadTexts(b).includes(text)),
        60_000,
        () => `seed ${SEED}: "${text}" not delivered everywhere`,
      )
      const first = back[0].position
      assert.ok(first > awayAt + 150, `seed ${SEED}: it delivered from ${first} (away at ${awayAt})`)
      // The same blocks as the others (checked by position), from a checkpoint on.
      const known = byPosition([...section.blocks, back])
      assert.equal(known.get(first - 1)?.description.kind, 'checkpoint', 'from a checkpoint on')
      assert.deepEqual(
        back.map((b) => b.position),
        back.map((_, k) => first + k),
        `seed ${SEED}: every block from there`,
      )
      // Every payload voted at it before it left: a block exactly once, at the same position
      // everywhere (the members' lists hold every position; its own from its return on).
      await waitFor(
        all(),
        () => section.blocks.every((blocks) => left.every((text) => payloadTexts(blocks).includes(text))),
        60_000,
        () =>
          `seed ${SEED}: ${left.filter((t) => !payloadTexts(section.blocks[0]).includes(t)).length} of its payloads not delivered`,
      )
      const votedAgain = left.filter((t) => payloadTexts(back).includes(t)).length
      for (const blocks of section.blocks) {
        const texts = payloadTexts(blocks)
        for (const text of left) {
          assert.equal(texts.filter((t) => t === text).length, 1, `seed ${SEED}: "${text}" delivered once`)
        }
      }
      console.log(
        `away for ${sectionEpoch - awayEpoch} epochs (${first - awayAt} blocks): back in epoch ${sectionEpoch} after ${caughtUpMs} ms; of the ${left.length} payloads voted at it before it left, ${deliveredBeforeLeaving.length} delivered to it then, ${left.length - deliveredBeforeLeaving.length - votedAgain} decided while it was away, ${votedAgain} voted again on its return`,
      )
    } finally {
      stopVoting = true
      await node?.stop()
      await section.stop()
      await datastore.close().catch(() => {})
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('a joiner whose replay stalls while its Add is agreed and two epochs pass rebuilds as a voter', {
    timeout: 180_000,
  }, async () => {
    // Short epochs, a short drain: the joiner's epoch is gone everywhere by the time it pulls again.
    const membership = {
      checkpointBlocks: 10,
      powBits: 4,
      probationBlocks: 4,
      minBlocksBetweenAdds: 1,
      readyLag: 2,
      joinRate: { burst: 8, perSecond: 4 },
      joinInfoRate: { burst: 8, perSecond: 4 },
    }
    const section = await startSection(4, { membership, epochDrainMs: 1_000 })
    let joiner: TestNode | undefined
    let stopVoting = false
    try {
      const voting = (async () => {
        for (let i = 0; !stopVoting && i < 5000; i++) {
          await section.nodes[i % 4].services.section.vote(new TextEncoder().encode(`stall ${SEED} ${i}`))
          if (i % 4 === 3) await new Promise((resolve) => setTimeout(resolve, 30))
        }
      })()
      await waitFor(
        section.nodes,
        () => section.blocks.every((b) => checkpoints(b) >= 1),
        90_000,
        () => `seed ${SEED}: checkpoints ${section.blocks.map(checkpoints)}`,
      )
      const key = await generateKeyPair('Ed25519')
      joiner = await createSectionNode({
        join: { sectionId: section.genesis.sectionId, bootstrap: section.nodes[0].getMultiaddrs() },
        privateKey: key,
        listen: ['/ip4/127.0.0.1/tcp/0'],
        discovery: false,
        membership,
        // One pull, then a long wait: meanwhile its Add is agreed and the section moves on.
        joinPullIntervalMs: 20_000,
        start: false,
      })
      const joined: DeliveredBlock[] = []
      joiner.services.section.addEventListener('block', (e) => joined.push(e.detail))
      await joiner.start()
      const node = joiner
      const us = node.peerId.toString()
      await waitFor(
        [...section.nodes, node],
        () => node.services.section.self() === 'member' && joined.length > 5,
        150_000,
        () =>
          `seed ${SEED}: joiner ${node.services.section.self()}, ${joined.length} blocks, epoch ${node.services.section.status().epoch}, members in ${section.nodes.map((n) => n.services.section.status().epoch)}`,
      )
      stopVoting = true
      await voting
      // Voting stopped: the joiner ends on the members' last block.
      await waitFor(
        [...section.nodes, node],
        () => lastPosition(section.blocks[0]) === lastPosition(joined),
        30_000,
        () =>
          `seed ${SEED}: to ${lastPosition(section.blocks[0])} at a member, to ${lastPosition(joined)} at the joiner`,
      )
      // What it delivered (the same blocks as the members, by position): its replay up to where it
      // stalled (before its Add), then, from the start of an epoch after its Add, every block: it
      // did not replay the epochs in between.
      const known = byPosition([...section.blocks, joined])
      const addAt = [...known.values()].find(
        (b) => b.description.kind === 'add' && b.description.peer === us,
      )?.position
      assert.ok(addAt !== undefined, `seed ${SEED}: its Add is agreed`)
      // Where it started again: after the gap (or at its first block if its replay delivered none).
      const gap = joined.findIndex((b, k) => k > 0 && b.position !== joined[k - 1].position + 1)
      const jump = Math.max(gap, 0)
      const restart = joined[jump].position
      if (jump > 0)
        assert.ok(joined[jump - 1].position < addAt, `seed ${SEED}: it stalled before its Add (at ${addAt})`)
      assert.ok(restart > addAt, `seed ${SEED}: it started again at ${restart}, after its Add at ${addAt}`)
      assert.equal(
        known.get(restart - 1)?.description.kind,
        'checkpoint',
        `seed ${SEED}: at an epoch's start`,
      )
      assert.deepEqual(
        joined.slice(jump).map((b) => b.position),
        joined.slice(jump).map((_, k) => restart + k),
        `seed ${SEED}: every block from there`,
      )
    } finally {
      stopVoting = true
      await joiner?.stop()
      await section.stop()
    }
  })
})
