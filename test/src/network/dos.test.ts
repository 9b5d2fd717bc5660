/**
 * A non-member cannot keep members apart: while idle TCP connections from 127.0.0.2..9 flood every
 * member's port (about what filled libp2p's pending-connection slots for 100 s in a live test), a
 * member restarted from its data directory reconnects to the others and the section keeps agreeing.
 * The members listen on 127.0.0.1 at the addresses their genesis names, so each reserves room for
 * the others (see `createSectionNode`).
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { createGenesis, createSectionNode, type SectionGenesis } from '@parsec-section/p2p-section'
import { LevelDatastore } from 'datastore-level'
import { IdleFlood } from './idle-flood.js'
import { payloadTexts, type TestNode, waitFor } from './support.js'

const MEMBERS = 4
/** About the attack seen live: 12 new connections per port every 20 ms, from 127.0.0.2..9. */
const FLOOD = {
  host: '127.0.0.1',
  burst: 12,
  periodMs: 20,
  maxOpenPerPort: 48,
  maxDurationMs: 240_000,
}
/** Generous bounds: the flood keeps the CPU busy; the time it took is printed, not asserted. */
const RECONNECT_TIMEOUT_MS = 90_000
const AGREE_TIMEOUT_MS = 90_000

/** `count` loopback source addresses from 127.0.0.2 on (the members listen on 127.0.0.1). */
const sources = (count: number) => Array.from({ length: count }, (_, i) => `127.0.0.${i + 2}`)

/** A port free on 127.0.0.1 now (a member binds it next; its genesis names it). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject()))
    })
  })
}

async function startMember(
  genesis: SectionGenesis,
  key: PrivateKey,
  port: number,
  datastore?: LevelDatastore,
): Promise<TestNode> {
  return createSectionNode({
    genesis,
    privateKey: key,
    listen: [`/ip4/127.0.0.1/tcp/${port}`],
    discovery: false,
    ...(datastore === undefined ? {} : { datastore }),
  })
}

/**
 * Starts a section of 4 on 127.0.0.1 whose genesis names the members' addresses, floods every
 * member's port from `floodSources`, restarts a member (same key, same LevelDB data) during the
 * flood, and checks that it reconnects and that new votes become blocks at every member.
 */
async function restartUnderFlood(t: TestContext, floodSources: readonly string[]): Promise<void> {
  const ports: number[] = []
  for (let i = 0; i < MEMBERS; i++) ports.push(await freePort())
  const keys = await Promise.all(ports.map(() => generateKeyPair('Ed25519')))
  const genesis = createGenesis(
    keys.map((key, i) => ({
      peerId: peerIdFromPrivateKey(key),
      addrs: [multiaddr(`/ip4/127.0.0.1/tcp/${ports[i]}`)],
    })),
  )
  const dir = await mkdtemp(join(tmpdir(), 'parsec-dos-'))
  const restartedIndex = MEMBERS - 1
  let datastore = new LevelDatastore(join(dir, 'restarted'))
  await datastore.open()
  const nodes: TestNode[] = []
  const flood = new IdleFlood({ ...FLOOD, ports, sources: floodSources })
  try {
    for (let i = 0; i < MEMBERS; i++) {
      nodes.push(await startMember(genesis, keys[i], ports[i], i === restartedIndex ? datastore : undefined))
    }
    const blocks = () => nodes.map((node) => node.services.section.blocks())
    const agreedAtAll = (text: string) =>
      blocks().every((list) =>
        list.some(({ description }) => description.kind === 'opaque' && description.payload === text),
      )
    const vote = (node: TestNode, text: string) => node.services.section.vote(new TextEncoder().encode(text))

    await vote(nodes[0], 'before the flood')
    await waitFor(
      nodes,
      () => agreedAtAll('before the flood'),
      AGREE_TIMEOUT_MS,
      () => 'before the flood',
    )

    flood.start()
    // Every port has held its share of idle connections before the member goes down.
    await flood.untilConnected(10 * ports.length * FLOOD.burst, 60_000)
    await nodes[restartedIndex].stop()
    await datastore.close()
    datastore = new LevelDatastore(join(dir, 'restarted'))
    await datastore.open()
    const restartedAt = Date.now()
    const restarted = await startMember(genesis, keys[restartedIndex], ports[restartedIndex], datastore)
    nodes[restartedIndex] = restarted
    const others = nodes.filter((node) => node !== restarted).map((node) => node.peerId.toString())
    await waitFor(
      [restarted],
      () => others.every((id) => restarted.services.section.status().connected.includes(id)),
      RECONNECT_TIMEOUT_MS,
      () =>
        `restarted member connected to ${restarted.services.section.status().connected.length}/3 under ` +
        `the flood (${JSON.stringify(flood.stats)})`,
      'peer:connected',
    )
    const reconnectMs = Date.now() - restartedAt
    assert.ok(flood.running, 'reconnected while the flood runs')
    t.diagnostic(`reconnected to the 3 others ${reconnectMs} ms after restarting, under the flood`)

    const votedAt = Date.now()
    for (const [i, node] of nodes.entries()) await vote(node, `during the flood ${i}`)
    await waitFor(
      nodes,
      () => nodes.every((_, i) => agreedAtAll(`during the flood ${i}`)),
      AGREE_TIMEOUT_MS,
      () => `blocks per member ${blocks().map((list) => list.length)} (${JSON.stringify(flood.stats)})`,
    )
    t.diagnostic(`4 new votes became blocks at every member ${Date.now() - votedAt} ms after voting`)
    const stats = flood.stats
    t.diagnostic(`flood from ${floodSources.length} addresses: ${JSON.stringify(stats)}`)
    // The flood ran all along: connections made, and refused or timed out by the members.
    assert.ok(flood.running, 'agreed while the flood runs')
    assert.ok(stats.connected >= 10 * ports.length * FLOOD.burst)
    assert.ok(stats.closedByTarget > 0)
    const reference = payloadTexts(blocks()[0])
    for (const list of blocks()) {
      const texts = payloadTexts(list)
      assert.deepEqual(texts, reference.slice(0, texts.length), 'one order everywhere')
    }
  } finally {
    flood.stop()
    await Promise.all(nodes.map((node) => Promise.resolve(node.stop()).catch(() => {})))
    await Promise.resolve(datastore.close()).catch(() => {})
    await rm(dir, { recursive: true, force: true })
  }
}

describe('a flood of idle connections from non-members', () => {
  it('from 8 addresses: a member restarted during it reconnects and the section keeps agreeing', {
    timeout: 300_000,
  }, async (t) => {
    await restartUnderFlood(t, sources(8))
  })

  it('from 40 addresses (more than the handshake slots allow per source): the same', {
    timeout: 300_000,
  }, async (t) => {
    // 40 sources at 2 connections each fill every handshake slot: only the allow list of the
    // members' genesis addresses lets them in.
    await restartUnderFlood(t, sources(40))
  })
})
