/**
 * `announce` addresses, on 127.0.0.1: a member listening on 0.0.0.0 with `announce` set advertises
 * exactly those addresses in its signed announcements on the section's gossipsub topic (the same
 * addresses its membership machine puts in tickets and JoinRequests), not the interface addresses
 * its listener expands to; the other member's topic validator accepts them (a member's, well
 * signed) and they land in its peer store.
 */
import '@parsec-section/p2p-section/polyfill'
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import {
  announceTopic,
  checkAnnouncement,
  createGenesis,
  createSectionNode,
  publicIdFromPeerId,
} from '@parsec-section/p2p-section'
import { freePorts } from 'parsec-peer/local-section'
import type { TestNode } from './support.js'

interface TopicMessage {
  readonly type: 'signed' | 'unsigned'
  readonly topic: string
  readonly data: Uint8Array
  readonly from?: PeerId
}

interface MessageSource {
  addEventListener(type: 'message', listener: (event: CustomEvent<TopicMessage>) => void): void
  removeEventListener(type: 'message', listener: (event: CustomEvent<TopicMessage>) => void): void
}

/** Resolves with the addresses in the first announcement of `from` that `node` accepted. */
function nextAnnouncement(node: TestNode, topic: string, sectionId: string, from: PeerId, timeoutMs: number) {
  const pubsub = node.services.pubsub as MessageSource
  return new Promise<readonly string[]>((resolve, reject) => {
    const timer = setTimeout(() => {
      pubsub.removeEventListener('message', listener)
      reject(new Error(`no announcement from ${from} in ${timeoutMs} ms`))
    }, timeoutMs)
    const listener = (event: CustomEvent<TopicMessage>): void => {
      const message = event.detail
      if (message.topic !== topic || message.from === undefined || !message.from.equals(from)) return
      const checked = checkAnnouncement(message, {
        sectionId: Uint8Array.from(Buffer.from(sectionId, 'hex')),
        isMember: () => true,
        wasMember: () => false,
        chainSeq: () => undefined,
      })
      assert.equal(checked.verdict, 'accept', checked.reason)
      assert.equal(checked.announce?.peer.name, publicIdFromPeerId(from).name)
      clearTimeout(timer)
      pubsub.removeEventListener('message', listener)
      resolve(checked.announce?.addrs ?? [])
    }
    pubsub.addEventListener('message', listener)
  })
}

describe('announce addresses', () => {
  it('a member on 0.0.0.0 advertises its `announce` addresses, which land in the peer store of the others', {
    timeout: 60_000,
  }, async () => {
    const keys = await Promise.all([generateKeyPair('Ed25519'), generateKeyPair('Ed25519')])
    const [a, b] = keys.map((key) => peerIdFromPrivateKey(key))
    const genesis = createGenesis([{ peerId: a }, { peerId: b }])
    const [port] = await freePorts(1)
    const announced = `/ip4/127.0.0.1/tcp/${port}`
    const common = { genesis, announceIntervalMs: 300, lookupIntervalMs: 500, start: false }
    const nodeA = await createSectionNode({
      ...common,
      privateKey: keys[0],
      listen: [`/ip4/0.0.0.0/tcp/${port}`],
      announce: [multiaddr(announced)],
    })
    const nodeB = await createSectionNode({
      ...common,
      privateKey: keys[1],
      listen: ['/ip4/127.0.0.1/tcp/0'],
    })
    try {
      const topic = announceTopic(genesis.sectionId)
      const heard = nextAnnouncement(nodeB, topic, genesis.sectionId, a, 30_000)
      await nodeB.peerStore.merge(a, { multiaddrs: [multiaddr(announced)] })
      await nodeA.start()
      await nodeB.start()
      const addrs = await heard
      assert.deepEqual(addrs, [`${announced}/p2p/${a}`], 'exactly the announce addresses')
      const stored = (await nodeB.peerStore.get(a)).addresses.map((x) => x.multiaddr.toString())
      assert.ok(stored.includes(announced), `${announced} in B's peer store: ${stored}`)
    } finally {
      await Promise.all([nodeA.stop(), nodeB.stop()])
    }
  })
})
