/**
 * Peers join a section over libp2p TCP on 127.0.0.1 with no genesis file, only the section id and
 * a member's address: a founder alone (a genesis of one member) and joiners that ask it, are
 * admitted, replay the section as observers (paged catch-up), are voted in and take part. Every
 * peer then holds the same blocks from position 0 and the same members, and keeps agreeing.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import {
  createSectionNode,
  type DeliveredBlock,
  KEEP_ALIVE_TAG,
  type ParsecSectionInit,
  type SelfState,
} from '@parsec-section/p2p-section'
import { LevelDatastore } from 'datastore-level'
import {
  connectAll,
  payloadTexts,
  peerTagged,
  QUICK_ADMISSION,
  startSection,
  type TestNode,
  waitFor,
} from './support.js'

const encoder = new TextEncoder()

/** The simulation's shortened timers and limits (membership-options.ts), light proof of work. */
const MEMBERSHIP: ParsecSectionInit['membership'] = {
  ...QUICK_ADMISSION,
  unresponsiveDecisions: 30,
  unresponsiveMs: 60_000,
  joinGraceBlocks: 40,
  joinGraceMs: 60_000,
  lingerMs: 500,
  deferRetryAfterMs: 300,
  fullRetryAfterMs: 2_000,
}

interface Joiner {
  readonly node: TestNode
  readonly blocks: DeliveredBlock[]
  /** Our own state as it changed, seen at each catch-up page and at `self:joined`. */
  readonly selves: SelfState[]
}

/** Starts a peer that joins `sectionId` through `bootstrap` (no genesis). */
/** The first faults the joiners reported (shown when a test finds any). */
const faultsSeen: string[] = []

async function startJoiner(
  sectionId: string,
  bootstrap: TestNode | undefined,
  store: {
    privateKey?: PrivateKey
    datastore?: LevelDatastore
    pageBytes?: number
    membership?: ParsecSectionInit['membership']
    blockRetention?: number
  } = {},
): Promise<Joiner> {
  const node = await createSectionNode({
    ...(store.pageBytes === undefined ? {} : { pageBytes: store.pageBytes }),
    ...(store.blockRetention === undefined ? {} : { blockRetention: store.blockRetention }),
    join: { sectionId, bootstrap: bootstrap?.getMultiaddrs() ?? [] },
    privateKey: store.privateKey ?? (await generateKeyPair('Ed25519')),
    ...(store.datastore === undefined ? {} : { datastore: store.datastore }),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    discovery: false,
    membership: store.membership ?? MEMBERSHIP,
    start: false,
  })
  const blocks: DeliveredBlock[] = []
  const selves: SelfState[] = []
  const seen = (): void => {
    const self = node.services.section.self()
    if (selves.at(-1) !== self) selves.push(self)
  }
  node.services.section.addEventListener('block', (event) => blocks.push(event.detail))
  // Faults are counted in status(); the first ones are kept for the assertion's message.
  node.services.section.addEventListener('fault', ({ detail }) => {
    if (faultsSeen.length < 20)
      faultsSeen.push(
        `${detail.evidence} ${detail.code} by ${detail.offender.toString().slice(-6)}: ${detail.message}`,
      )
  })
  node.services.section.addEventListener('catchup:progress', seen)
  node.services.section.addEventListener('self:joined', seen)
  await node.start()
  return { node, blocks, selves }
}

/** Votes `text` at every node (a supermajority section) and waits until all delivered it. */
async function agreeOn(nodes: readonly TestNode[], text: string): Promise<void> {
  await Promise.all(nodes.map((node) => node.services.section.vote(encoder.encode(text))))
  const has = (node: TestNode) =>
    payloadTexts(node.services.section.blocks()).some((b) => b.includes(JSON.stringify(text).slice(1, -1)))
  await waitFor(
    nodes,
    () => nodes.every(has),
    60_000,
    () => `"${text}" not delivered everywhere: ${nodes.map((n) => n.services.section.blocks().length)}`,
  )
}

/** Every node is a member and lists the same `count` members. */
function membersAgree(nodes: readonly TestNode[], count: number): boolean {
  const first = nodes[0].services.section.members()
  return nodes.every((node) => {
    const members = node.services.section.members()
    return (
      node.services.section.self() === 'member' &&
      members.length === count &&
      members.every((m, i) => m === first[i])
    )
  })
}

/** Every node delivered the same blocks from 0 up to the shortest sequence. */
function assertSameBlocks(nodes: readonly TestNode[]): void {
  const all = nodes.map((node) => payloadTexts(node.services.section.blocks()))
  const shortest = Math.min(...all.map((b) => b.length))
  for (const blocks of all) assert.deepEqual(blocks.slice(0, shortest), all[0].slice(0, shortest))
}

/**
 * Votes a payload at every running member every `everyMs` until stopped: decisions keep coming
 * while joiners wait, as in a section in use (a young member stops being young after
 * `probationBlocks` agreed blocks, and the next Add waits for that).
 */
function traffic(nodes: () => readonly TestNode[], everyMs: number): () => Promise<void> {
  let round = 0
  const votes: Promise<void>[] = []
  const timer = setInterval(() => {
    round++
    for (const node of nodes()) {
      const section = node.services.section
      if (section.self() !== 'member' || section.status().state !== 'running') continue
      votes.push(section.vote(encoder.encode(`traffic ${round}`)).catch(() => {}))
    }
  }, everyMs)
  return async () => {
    clearInterval(timer)
    await Promise.all(votes)
  }
}

/** Until every node is a member and all list the same `count` members. */
function allMembers(nodes: readonly TestNode[], count: number): Promise<void> {
  return waitFor(
    nodes,
    () => membersAgree(nodes, count),
    120_000,
    () =>
      `members: ${nodes.map((n) => `${n.services.section.self()} ${n.services.section.members().map((m) => m.slice(-4))}`)}`,
    ['member:joined', 'self:joined'],
  )
}

async function growAndAgree(joiners: number, concurrently: boolean): Promise<void> {
  const section = await startSection(1, { mode: 'supermajority', membership: MEMBERSHIP })
  const [founder] = section.nodes
  const joined: Joiner[] = []
  const all = () => [founder, ...joined.map((j) => j.node)]
  const stopTraffic = traffic(all, 300)
  try {
    await founder.services.section.ready()
    await agreeOn([founder], 'founded')
    if (concurrently) {
      joined.push(
        ...(await Promise.all(
          Array.from({ length: joiners }, () => startJoiner(section.genesis.sectionId, founder)),
        )),
      )
    } else {
      for (let i = 0; i < joiners; i++) {
        // Each through the founder's address: it is a member the whole time.
        const joiner = await startJoiner(section.genesis.sectionId, founder)
        joined.push(joiner)
        await allMembers(all(), i + 2)
      }
    }
    await allMembers(all(), joiners + 1)
    await stopTraffic()
    for (const joiner of joined) {
      await joiner.node.services.section.ready()
      // A candidate whose ticket went stale meanwhile (concurrent joins) asks again: the end is
      // always candidate → member.
      assert.deepEqual(joiner.selves.slice(-2), ['candidate', 'member'])
      // Its own block sequence from 0: the genesis block first.
      assert.equal(joiner.blocks[0]?.position, 0)
      assert.equal(joiner.blocks[0]?.block.payload.kind, 'genesis')
      assert.deepEqual(
        joiner.blocks.map((b) => b.position),
        joiner.blocks.map((_, i) => i),
      )
    }
    for (let round = 0; round < 3; round++) await agreeOn(all(), `after the joins ${round}`)
    assertSameBlocks(all())
    for (const node of all())
      assert.deepEqual(node.services.section.members(), founder.services.section.members())
    // Every member, the founder of a genesis of one included, keeps a connection to every other
    // (libp2p's keep-alive tag): none of these was in the genesis.
    await Promise.all(
      all().flatMap((node) =>
        all()
          .filter((other) => other !== node)
          .map((other) => peerTagged(node, other.peerId, KEEP_ALIVE_TAG, true, 10_000)),
      ),
    )
    // Honest joiners and members: nobody blamed anybody.
    assert.deepEqual(
      all().map((node) => node.services.section.status().faults),
      all().map(() => 0),
      faultsSeen.join('\n'),
    )
  } finally {
    await stopTraffic()
    await Promise.all(joined.map((j) => j.node.stop()))
    await section.stop()
  }
}

describe('peers join a section through a member address', { timeout: 300_000 }, () => {
  it('a founder alone and 3 peers joining one after another: same blocks and members, then agreeing', async () => {
    await growAndAgree(3, false)
  })

  it('a founder alone and 3 peers joining concurrently: same blocks and members, then agreeing', async () => {
    await growAndAgree(3, true)
  })

  it('a founder alone and 6 peers joining concurrently: all 7 agree on blocks and members', async () => {
    await growAndAgree(6, true)
  })
})

describe('a joiner that knows one founder of four', { timeout: 120_000 }, () => {
  it("reaches the others through the founders' addresses its JoinInfo carries: a member well before the candidate timeout", async () => {
    // Founders' agreed records carry no address and there is no DHT here: before, the JoinRequests
    // to the founders other than the bootstrap could not be sent, and the candidate waited for its
    // candidateTimeoutMs (60 s) before asking again (bench-live's join part: 10 of 12 joins).
    const membership = { ...MEMBERSHIP, candidateTimeoutMs: 60_000 }
    const section = await startSection(4, { mode: 'supermajority', membership })
    let joiner: Joiner | undefined
    try {
      await Promise.all(section.nodes.map((node) => node.services.section.ready()))
      await agreeOn(section.nodes, 'founded')
      const began = Date.now()
      joiner = await startJoiner(section.genesis.sectionId, section.nodes[0], { membership })
      const all = [...section.nodes, joiner.node]
      await waitFor(
        all,
        () => joiner?.node.services.section.self() === 'member',
        30_000,
        () => `joiner ${joiner?.node.services.section.self()} after ${Date.now() - began} ms`,
        ['self:joined', 'member:joined'],
      )
      await allMembers(all, 5)
    } finally {
      await joiner?.node.stop()
      await section.stop()
    }
  })
})

describe('a peer that joined restarts', { timeout: 300_000 }, () => {
  it('from its datastore alone (no genesis, no bootstrap): it resumes as a member', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'parsec-join-'))
    const section = await startSection(1, { mode: 'supermajority', membership: MEMBERSHIP })
    const [founder] = section.nodes
    const sectionId = section.genesis.sectionId
    const privateKey = await generateKeyPair('Ed25519')
    let datastore = new LevelDatastore(join(dir, 'joiner'))
    await datastore.open()
    let restarting = await startJoiner(sectionId, founder, { privateKey, datastore })
    let other: Joiner | undefined
    try {
      await founder.services.section.ready()
      await restarting.node.services.section.ready()
      other = await startJoiner(sectionId, founder)
      await other.node.services.section.ready()
      const all = () => [founder, restarting.node, other!.node]
      await allMembers(all(), 3)
      await agreeOn(all(), 'before the restart')
      const members = restarting.node.services.section.members()
      const blocks = payloadTexts(restarting.node.services.section.blocks())
      await restarting.node.stop()
      await datastore.close()

      datastore = new LevelDatastore(join(dir, 'joiner'))
      await datastore.open()
      restarting = await startJoiner(sectionId, undefined, { privateKey, datastore })
      const section2 = restarting.node.services.section
      assert.equal(section2.self(), 'member')
      assert.deepEqual(section2.members(), members, 'the agreed members survive a restart')
      assert.deepEqual(payloadTexts(section2.blocks()), blocks, 'its blocks survive a restart')
      await connectAll(all())
      await section2.ready()
      await agreeOn(all(), 'after the restart')
      assertSameBlocks(all())
      for (const node of all()) assert.deepEqual(node.services.section.members(), members)

      // Restarted without its data directory (joining again with the same key): refused before it
      // makes an event or asks to join; nobody accuses it and nobody sees a fork.
      await restarting.node.stop()
      const bare = await startJoiner(sectionId, founder, { privateKey })
      try {
        await assert.rejects(bare.node.services.section.ready(), (error: Error & { code?: string }) => {
          assert.equal(error.code, 'SelfCheckFailed')
          assert.match(error.message, /has no store of it.*--data-dir/)
          return true
        })
        assert.equal(bare.node.services.section.status().state, 'failed')
        assert.equal(bare.node.services.section.status().graphSize, 0, 'no engine, no event')
        assert.notEqual(bare.node.services.section.self(), 'member')
      } finally {
        await bare.node.stop()
      }
      // Its honest run, from its data directory, resumes (2 of 3 members cannot agree without it).
      restarting = await startJoiner(sectionId, undefined, { privateKey, datastore })
      await connectAll(all())
      await restarting.node.services.section.ready()
      await agreeOn(all(), 'after the refused start')
      for (const node of all()) {
        assert.equal(node.services.section.status().faults, 0, 'nobody accused it')
        assert.deepEqual(node.services.section.status().forkedMembers, [])
        assert.deepEqual(node.services.section.members(), members)
      }
    } finally {
      await restarting.node.stop()
      await other?.node.stop()
      await datastore.close().catch(() => {})
      await section.stop()
      await rm(dir, { recursive: true, force: true })
    }
  })

  for (const blockRetention of [undefined, 5]) {
    const kept = blockRetention === undefined ? '' : ` (keeping its last ${blockRetention} blocks)`
    it(`stopped as a candidate, from its datastore: it joins again, its engine replaying on${kept}`, async () => {
      await candidateRestart(blockRetention)
    })
  }
})

async function candidateRestart(blockRetention: number | undefined): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'parsec-join-'))
  const section = await startSection(1, { mode: 'supermajority', membership: MEMBERSHIP })
  const [founder] = section.nodes
  const sectionId = section.genesis.sectionId
  const privateKey = await generateKeyPair('Ed25519')
  let datastore = new LevelDatastore(join(dir, 'joiner'))
  await datastore.open()
  let joiner: Joiner | undefined
  try {
    await founder.services.section.ready()
    // A history of many small pages, so the candidate is stopped in the middle of its replay.
    for (let i = 0; i < 40; i++) await founder.services.section.vote(encoder.encode(`history ${i}`))
    await agreeOn([founder], 'history')
    const pageBytes = 2_048
    const first = await startJoiner(sectionId, founder, { privateKey, datastore, pageBytes, blockRetention })
    joiner = first
    await waitFor(
      [first.node],
      () => first.blocks.length > 0 && first.node.services.section.self() === 'candidate',
      60_000,
      () => `the joiner is ${first.node.services.section.self()} with ${first.blocks.length} blocks`,
      'catchup:progress',
    )
    await first.node.stop()
    await datastore.close()
    assert.ok(first.blocks.length < founder.services.section.blocks().length, 'stopped mid-replay')

    datastore = new LevelDatastore(join(dir, 'joiner'))
    await datastore.open()
    const again = await startJoiner(sectionId, founder, { privateKey, datastore, pageBytes, blockRetention })
    joiner = again
    // Its stored blocks are not delivered again: the rest follows them.
    await again.node.services.section.ready()
    assert.equal(again.node.services.section.self(), 'member')
    await allMembers([founder, again.node], 2)
    await agreeOn([founder, again.node], 'after the restart')
    const kept = again.node.services.section
    if (blockRetention === undefined) {
      assertSameBlocks([founder, again.node])
      assert.deepEqual(
        kept.blocks().map((b) => b.position),
        founder.services.section
          .blocks()
          .map((b) => b.position)
          .slice(0, kept.blocks().length),
      )
    } else {
      // Its last blocks only, the founder's at the same positions; every one delivered once.
      const delivered = kept.status().deliveredBlocks
      assert.equal(kept.retainedFrom, delivered - blockRetention)
      assert.equal(kept.blocks().length, blockRetention)
      const at = (blocks: readonly DeliveredBlock[]) =>
        blocks.map((b) => `${b.position} ${payloadTexts([b])[0]}`)
      assert.deepEqual(
        at(kept.blocks()),
        at(founder.services.section.blocks(kept.retainedFrom, blockRetention)),
      )
      const positions = [...first.blocks, ...again.blocks].map((b) => b.position)
      assert.deepEqual(
        positions,
        Array.from({ length: delivered }, (_, i) => i),
      )
    }
  } finally {
    await joiner?.node.stop()
    await datastore.close().catch(() => {})
    await section.stop()
    await rm(dir, { recursive: true, force: true })
  }
}
