/**
 * An agreed ban over libp2p TCP on 127.0.0.1: a member's key in an attacker's hands forks (two
 * engines of that key gossip different events to two members); the honest three find the fork,
 * accuse it and agree on the accusation. Every honest member then bans the forker: its connection
 * closes, its new connections are refused and dials to it denied; and a member restarted from its
 * datastore (its agreed blocks) still bans it.
 */
import '../src/polyfill.js'
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { noise } from '@libp2p/noise'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { tcp } from '@libp2p/tcp'
import { lpStream } from '@libp2p/utils'
import { yamux } from '@libp2p/yamux'
import { Parsec } from '@parsec-section/parsec-core'
import { MemoryDatastore } from 'datastore-core'
import { createLibp2p, type Libp2p } from 'libp2p'
import {
  createGenesis,
  createSectionNode,
  decodeSync,
  encodeSync,
  publicIdFromPeerId,
  type SectionGenesis,
  secretIdFromPrivateKey,
} from '../src/index.js'

type Node = Awaited<ReturnType<typeof createSectionNode>>

async function until(
  holds: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await holds())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

async function member(genesis: SectionGenesis, key: PrivateKey, datastore: MemoryDatastore): Promise<Node> {
  return createSectionNode({
    genesis,
    privateKey: key,
    listen: ['/ip4/127.0.0.1/tcp/0'],
    discovery: false,
    datastore,
    // The members' gossip keeps going while the accusation is pending.
    progressWindowMs: 60_000,
  })
}

async function introduce(nodes: readonly Node[]): Promise<void> {
  for (const node of nodes)
    for (const other of nodes)
      if (other !== node) await node.peerStore.merge(other.peerId, { multiaddrs: other.getMultiaddrs() })
}

/** One sync exchange of `engine` (the forker's key) with `target`. */
async function exchange(attacker: Libp2p, engine: Parsec, target: Node): Promise<void> {
  const partner = publicIdFromPeerId(target.peerId)
  const protocol = (target.services.section as unknown as { protocol: string }).protocol
  const stream = await attacker.dialProtocol(target.getMultiaddrs()[0], protocol)
  const lp = lpStream(stream, { maxDataLength: 1 << 24 })
  const request = engine.createGossip(partner).message
  assert.ok(request !== undefined)
  await lp.write(encodeSync('request', request.packedEvents, 1 << 20) as Uint8Array)
  const reply = decodeSync(await lp.read({ signal: AbortSignal.timeout(10_000) }), 100_000, () => undefined)
  if (reply.kind === 'response') engine.handleResponse(partner, { packedEvents: reply.packedEvents })
  stream.abort(new Error('done'))
}

/** Whether `attacker` is kept out of `node`: a new connection is refused, a dial to it denied. */
async function keptOut(node: Node, attacker: Libp2p, attackerId: PeerId): Promise<void> {
  await attacker.dial(node.getMultiaddrs()[0]).then(
    (connection) => until(() => connection.status !== 'open', 5_000, 'the refused connection stays open'),
    () => {},
  )
  assert.equal(node.getConnections(attackerId).length, 0, 'no connection of the banned peer')
  await node.peerStore.merge(attackerId, { multiaddrs: attacker.getMultiaddrs() })
  await assert.rejects(node.dial(attackerId), /denied/i, 'a dial to it is denied')
}

describe('an agreed ban', { timeout: 180_000 }, () => {
  it('a forking member is banned by all: connections closed and refused, dials denied, after a restart too', async () => {
    const keys = await Promise.all(Array.from({ length: 4 }, () => generateKeyPair('Ed25519')))
    const genesis = createGenesis(keys.map((key) => ({ peerId: peerIdFromPrivateKey(key) })))
    const stores = keys.map(() => new MemoryDatastore())
    const nodes = await Promise.all(keys.slice(0, 3).map((key, i) => member(genesis, key, stores[i])))
    const forkerId = peerIdFromPrivateKey(keys[3])
    const attacker = await createLibp2p({
      privateKey: keys[3],
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
    })
    try {
      await introduce(nodes)
      const banned = nodes.map(() => false)
      nodes.forEach((node, i) => {
        node.services.section.addEventListener('member:banned', (e) => {
          if (e.detail.peer.equals(forkerId)) banned[i] = true
        })
      })
      await Promise.all(nodes.map((node) => node.services.section.ready()))
      // Two engines of the forker's key: each makes its own next event on the same self-parent.
      const fork = () =>
        Parsec.fromGenesis({
          us: secretIdFromPrivateKey(keys[3]),
          genesis: genesis.members.map((m) => m.publicId),
          consensusMode: 'single',
        })
      await exchange(attacker, fork(), nodes[0])
      await exchange(attacker, fork(), nodes[1])
      // Gossip spreads both sides of the fork; a vote keeps it going until the accusation is agreed.
      await nodes[2].services.section.vote(new TextEncoder().encode('after the fork'))
      await until(() => banned.every(Boolean), 90_000, `member:banned per member: ${banned}`)
      for (const node of nodes) {
        assert.ok(node.services.section.status().banned.includes(forkerId.toString()))
        await until(() => node.getConnections(forkerId).length === 0, 5_000, 'the forker is still connected')
        await keptOut(node, attacker, forkerId)
      }

      // A restart from the datastore: the agreed bans come back from the agreed blocks.
      await nodes[2].stop()
      nodes[2] = await member(genesis, keys[2], stores[2])
      await introduce(nodes)
      assert.ok(
        nodes[2].services.section.status().banned.includes(forkerId.toString()),
        'banned again at start, from the blocks folded on resume',
      )
      await keptOut(nodes[2], attacker, forkerId)
    } finally {
      await attacker.stop()
      await Promise.all(nodes.map((node) => node.stop()))
    }
  })
})
