/**
 * The snapshot hook over libp2p (docs/epochs.md §4), in one process on 127.0.0.1: a tiny
 * application (a count and a running hash of the opaque payloads it applied) at every member; a
 * joiner admitted after two checkpoints never sees the blocks before its epoch, so it installs the
 * state at the last checkpoint, agreed by f+1 members (one member lies about its digest and state:
 * outvoted), before its first block, and ends with the same state as every member.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import {
  createGenesis,
  createSectionNode,
  type DeliveredBlock,
  type SnapshotHook,
  type SnapshotInstalled,
} from '@parsec-section/p2p-section'
import { LevelDatastore } from 'datastore-level'
import { connectAll, QUICK_ADMISSION, type TestNode, waitFor } from '../network/support.js'

const SEED = Number(process.env.NETWORK_SEED ?? 1)
const EPOCH_BLOCKS = 12

/** Padding in every state: it is served in several chunks (1 MiB each). */
const PADDING = 2.5 * 1024 * 1024

const sha256 = (bytes: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(bytes).digest())

/** The application: how many opaque payloads it applied, and a hash chained over them. */
class CounterApp {
  count = 0
  hash: Uint8Array = new Uint8Array(32)
  /** The states at the last checkpoints, encoded (what `state` serves). */
  private readonly states = new Map<number, Uint8Array>()

  constructor(private readonly lie = false) {}

  /** The state after each block applied, by position (compared at one position: no race). */
  readonly history = new Map<number, string>()

  apply(block: DeliveredBlock): void {
    if (block.block.payload.kind === 'opaque') {
      this.count++
      this.hash = sha256(new Uint8Array([...this.hash, ...block.block.payload.payload]))
    }
    this.history.set(block.position, this.text)
  }

  encode(): Uint8Array {
    const bytes = new Uint8Array(8 + 32 + PADDING)
    new DataView(bytes.buffer).setBigUint64(0, BigInt(this.count))
    bytes.set(this.hash, 8)
    bytes.fill(this.count % 251, 40)
    return bytes
  }

  private keep(position: number, state: Uint8Array): void {
    this.states.set(position, state)
    for (const old of [...this.states.keys()].sort((a, b) => a - b).slice(0, -2)) this.states.delete(old)
  }

  readonly hook: SnapshotHook = {
    digest: (position) => {
      const state = this.lie ? new Uint8Array([1, 2, 3]) : this.encode()
      this.keep(position, state)
      return sha256(state)
    },
    state: (position) => this.states.get(position),
    digestOf: (state) => sha256(state),
    install: (position, state) => {
      this.count = Number(new DataView(state.buffer, state.byteOffset).getBigUint64(0))
      this.hash = state.slice(8, 40)
      this.keep(position, state)
    },
  }

  get text(): string {
    return `${this.count} ${Buffer.from(this.hash).toString('hex')}`
  }
}

describe('the snapshot hook over libp2p', () => {
  it('a joiner admitted after two checkpoints installs the agreed state and ends with every member’s', {
    timeout: 240_000,
  }, async () => {
    const membership = { ...QUICK_ADMISSION, checkpointBlocks: EPOCH_BLOCKS }
    const keys = await Promise.all([1, 2, 3, 4].map(() => generateKeyPair('Ed25519')))
    const genesis = createGenesis(keys.map((key) => ({ peerId: peerIdFromPrivateKey(key) })))
    // Member 3 lies: its digests and states are not the application's.
    const apps = keys.map((_, i) => new CounterApp(i === 3))
    const nodes: TestNode[] = []
    const blocks: DeliveredBlock[][] = []
    let joiner: TestNode | undefined
    let stopVoting = false
    try {
      for (const [i, key] of keys.entries()) {
        const node = await createSectionNode({
          genesis,
          privateKey: key,
          listen: ['/ip4/127.0.0.1/tcp/0'],
          discovery: false,
          membership,
          epochDrainMs: 60_000,
          snapshot: apps[i].hook,
          start: false,
        })
        const delivered: DeliveredBlock[] = []
        node.services.section.addEventListener('block', ({ detail }) => {
          delivered.push(detail)
          apps[i].apply(detail)
        })
        nodes.push(node)
        blocks.push(delivered)
      }
      for (const node of nodes) await node.start()
      await connectAll(nodes)
      const checkpoints = (b: readonly DeliveredBlock[]) =>
        b.filter((x) => x.description.kind === 'checkpoint').length
      const voting = (async () => {
        for (let i = 0; !stopVoting && i < 2000; i++) {
          await nodes[i % 4].services.section.vote(new TextEncoder().encode(`snapshot ${SEED} ${i}`))
          if (i % 4 === 3) await new Promise((resolve) => setTimeout(resolve, 30))
        }
      })()
      await waitFor(
        nodes,
        () => blocks.every((b) => checkpoints(b) >= 2),
        90_000,
        () => `seed ${SEED}: checkpoints ${blocks.map(checkpoints)}`,
      )

      const joinerApp = new CounterApp()
      joiner = await createSectionNode({
        join: { sectionId: genesis.sectionId, bootstrap: nodes[0].getMultiaddrs() },
        privateKey: await generateKeyPair('Ed25519'),
        listen: ['/ip4/127.0.0.1/tcp/0'],
        discovery: false,
        membership,
        snapshot: joinerApp.hook,
        start: false,
      })
      const joined: DeliveredBlock[] = []
      const installed: SnapshotInstalled[] = []
      // The application state when the first block came: the installed one.
      let stateAtFirstBlock: string | undefined
      const service = joiner.services.section
      service.addEventListener('snapshot:installed', ({ detail }) => installed.push(detail))
      service.addEventListener('block', ({ detail }) => {
        stateAtFirstBlock ??= `${installed.length} ${joinerApp.text}`
        joined.push(detail)
        joinerApp.apply(detail)
      })
      await joiner.start()
      const node = joiner
      await waitFor(
        [...nodes, node],
        () => node.services.section.self() === 'member' && joined.length > 5,
        120_000,
        () =>
          `seed ${SEED}: joiner ${service.self()}, ${joined.length} blocks, snapshot ${JSON.stringify(service.status().snapshot)}`,
      )
      stopVoting = true
      await voting
      const first = joined[0].position
      assert.ok(first > 2 * EPOCH_BLOCKS, `seed ${SEED}: the joiner delivered from ${first}`)
      assert.equal(installed.length, 1, `seed ${SEED}: one snapshot installed`)
      assert.equal(installed[0].position, first - 1, 'the state at the checkpoint before its first block')
      assert.equal(blocks[0][first - 1].description.kind, 'checkpoint')
      assert.notEqual(installed[0].from.toString(), nodes[3].peerId.toString(), 'not from the liar')
      assert.equal(service.status().snapshot?.state, 'installed')
      // Installed before the first block: the state then was the members' at the checkpoint.
      const honest = new CounterApp()
      for (const block of blocks[0].slice(0, first)) honest.apply(block)
      assert.equal(stateAtFirstBlock, `1 ${honest.text}`, `seed ${SEED}: the state installed`)

      // Voting stopped: everyone ends on the same last block, with the same application state.
      await waitFor(
        [...nodes, node],
        () => blocks.every((b) => b.length === first + joined.length),
        30_000,
        () =>
          `seed ${SEED}: ${blocks.map((b) => b.length)} blocks at the members, ${first + joined.length} at the joiner`,
      )
      // Compared at the last position everyone delivered (blocks may still arrive: a checkpoint
      // after the last votes, and one flush delivers several blocks in a row).
      const last = Math.min(first + joined.length, ...blocks.map((b) => b.length)) - 1
      for (const [i, app] of apps.entries())
        assert.equal(
          joinerApp.history.get(last),
          app.history.get(last),
          `seed ${SEED}: the joiner's state is member ${i}'s at ${last} (installed at ${installed[0].position}, first block ${first}, ${joined.length} blocks; member ${i} delivered ${blocks[i].length}; snapshot ${JSON.stringify(service.status().snapshot)})`,
        )
      const payloads = blocks[0].slice(0, last + 1).filter((b) => b.description.kind === 'opaque').length
      assert.equal(
        joinerApp.history.get(last)?.split(' ')[0],
        `${payloads}`,
        `seed ${SEED}: every payload counted once`,
      )
    } finally {
      stopVoting = true
      await joiner?.stop()
      await Promise.all(nodes.map((n) => n.stop()))
    }
  })

  it('a member away while epochs pass rebases and installs the state at the checkpoint it starts from', {
    timeout: 240_000,
  }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'parsec-snapshot-'))
    // The default drain: a member slowed by a busy machine is served the epoch it lags in instead
    // of rebasing and fetching a state too (with this one away, two members fetching cannot find
    // f+1 digests). This one misses epochs nobody serves any more (only the last retired one is
    // served). Epochs long enough not to fall two behind; nobody votes it out.
    const membership = { checkpointBlocks: 30, unresponsiveMs: 600_000, unresponsiveDecisions: 1_000_000 }
    const keys = await Promise.all([1, 2, 3, 4].map(() => generateKeyPair('Ed25519')))
    const genesis = createGenesis(keys.map((key) => ({ peerId: peerIdFromPrivateKey(key) })))
    const apps = keys.map(() => new CounterApp())
    const nodes: TestNode[] = []
    const blocks: DeliveredBlock[][] = []
    let datastore = new LevelDatastore(join(dir, 'peer3'))
    await datastore.open()
    const make = async (i: number, app: CounterApp) => {
      const node = await createSectionNode({
        genesis,
        privateKey: keys[i],
        listen: ['/ip4/127.0.0.1/tcp/0'],
        discovery: false,
        membership,
        snapshot: app.hook,
        start: false,
        ...(i === 3 ? { datastore } : {}),
      })
      const delivered: DeliveredBlock[] = []
      node.services.section.addEventListener('block', ({ detail }) => {
        delivered.push(detail)
        app.apply(detail)
      })
      return { node, delivered }
    }
    let stopVoting = false
    const keepVoting = (voters: () => TestNode[], tag: string) =>
      (async () => {
        for (let i = 0; !stopVoting && i < 5000; i++) {
          const all = voters()
          await all[i % all.length].services.section.vote(new TextEncoder().encode(`${tag} ${SEED} ${i}`))
          if (i % 4 === 3) await new Promise((resolve) => setTimeout(resolve, 20))
        }
      })()
    let away: TestNode | undefined
    try {
      for (const i of [0, 1, 2, 3]) {
        const { node, delivered } = await make(i, apps[i])
        nodes.push(node)
        blocks.push(delivered)
      }
      for (const node of nodes) await node.start()
      await connectAll(nodes)
      const epoch = (n: TestNode) => n.services.section.status().epoch
      let voting = keepVoting(() => nodes, 'before')
      await waitFor(
        nodes,
        () => nodes.every((n) => epoch(n) >= 1),
        90_000,
        () => 'epoch 1',
      )
      stopVoting = true
      await voting
      const awayEpoch = epoch(nodes[3])
      await nodes[3].stop()
      await datastore.close()
      const others = nodes.slice(0, 3)

      stopVoting = false
      voting = keepVoting(() => others, 'away')
      await waitFor(
        others,
        () => others.every((n) => epoch(n) >= awayEpoch + 4),
        120_000,
        () => `seed ${SEED}: epochs ${others.map(epoch)}`,
      )
      stopVoting = true
      await voting

      // Back, as a new process: its application starts empty, its store holds an old epoch.
      datastore = new LevelDatastore(join(dir, 'peer3'))
      await datastore.open()
      const app = new CounterApp()
      const back = await make(3, app)
      away = back.node
      const installed: SnapshotInstalled[] = []
      // Its application's state once installed, and the blocks it was given before.
      let stateInstalled: string | undefined
      let blocksBefore = 0
      away.services.section.addEventListener('snapshot:installed', ({ detail }) => {
        installed.push(detail)
        stateInstalled = app.text
      })
      away.services.section.addEventListener('block', () => {
        if (installed.length === 0) blocksBefore++
      })
      await away.start()
      const all = [...others, away]
      await connectAll(all)
      const text = new TextEncoder().encode(`back ${SEED}`)
      await waitFor(
        all,
        () => epoch(away!) >= epoch(others[0]),
        120_000,
        () => `seed ${SEED}: back in ${epoch(away!)}`,
      )
      await away.services.section.vote(text)
      const has = (b: readonly DeliveredBlock[]) =>
        b.some((x) => x.description.kind === 'opaque' && x.description.payload === `back ${SEED}`)
      await waitFor(
        all,
        () => [...blocks.slice(0, 3), back.delivered].every(has),
        60_000,
        () => `seed ${SEED}: the vote after the return is not delivered everywhere`,
      )
      const first = back.delivered[0].position
      assert.equal(installed.length, 1, `seed ${SEED}: one snapshot installed`)
      assert.equal(installed[0].position, first - 1)
      // A member that delivered every block from genesis (one that lagged and rebased skipped some).
      const whole = blocks.slice(0, 3).find((b) => b.every((x, i) => x.position === i))
      assert.ok(whole !== undefined, `seed ${SEED}: a member delivered every block`)
      assert.equal(whole[first - 1].description.kind, 'checkpoint')
      const honest = new CounterApp()
      for (const block of whole.slice(0, first)) honest.apply(block)
      assert.equal(stateInstalled, honest.text, `seed ${SEED}: the state installed`)
      assert.equal(blocksBefore, 0, 'no block before the state')
      await waitFor(
        all,
        () => blocks.slice(0, 3).every((b) => b.length === first + back.delivered.length),
        30_000,
        () =>
          `seed ${SEED}: ${blocks.slice(0, 3).map((b) => b.length)} at the others, ${first + back.delivered.length} back`,
      )
      const last = Math.min(...[...blocks.slice(0, 3), back.delivered].map((b) => b.at(-1)?.position ?? 0))
      for (const [i, other] of apps.slice(0, 3).entries())
        assert.equal(
          app.history.get(last),
          other.history.get(last),
          `seed ${SEED}: its state is member ${i}'s`,
        )
    } finally {
      stopVoting = true
      await away?.stop()
      await Promise.all(nodes.map((n) => n.stop()))
      await datastore.close().catch(() => {})
      await rm(dir, { recursive: true, force: true })
    }
  })
})
