/**
 * Members' announcements on the section's gossipsub topic (no network: a stand-in for gossipsub
 * that hands discovery's topic validator and message listener what a real one would): a member's
 * well-signed announcement is accepted and its addresses land in the peer store (and the member is
 * dialled); a non-member's, a bad signature, another publisher's or another section's are rejected;
 * a non-member whose chain is ahead of ours, or a former member, is ignored (neither forwarded nor
 * blamed).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { ComponentLogger, Logger, Peer, PeerData, PeerId, PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { encodeMessage, signAnnounce } from '@parsec-section/membership'
import { fromString as bytesFromString } from 'uint8arrays'
import { checkAnnouncement } from '../src/announcement.js'
import {
  type AnnounceMessage,
  type AnnouncePubSub,
  announceTopic,
  type DiscoveryComponents,
  SectionDiscovery,
} from '../src/discovery.js'
import { createGenesis, secretIdFromPrivateKey } from '../src/index.js'
import { Roster } from '../src/section/roster.js'

const quiet: Logger = Object.assign(() => {}, {
  enabled: false,
  error: () => {},
  trace: () => {},
  newScope: () => quiet,
})
const logger: ComponentLogger = { forComponent: () => quiet }

type Validator = (peer: PeerId, message: AnnounceMessage) => unknown

/** The part of gossipsub discovery uses, recording what discovery registers and publishes. */
function fakePubSub() {
  // biome-ignore lint/suspicious/noExplicitAny: one list for both event types, as an EventTarget keeps them.
  type Listener = (event: CustomEvent<any>) => void
  const listeners = new Map<string, Listener[]>()
  const published: { topic: string; data: Uint8Array }[] = []
  const pubsub = {
    subscribe: () => {},
    unsubscribe: () => {},
    publish: async (topic: string, data: Uint8Array) => {
      published.push({ topic, data })
    },
    topicValidators: new Map<string, Validator>(),
    addEventListener: (type: string, listener: Listener) => {
      listeners.set(type, [...(listeners.get(type) ?? []), listener])
    },
    removeEventListener: (type: string, listener: Listener) => {
      listeners.set(
        type,
        (listeners.get(type) ?? []).filter((l) => l !== listener),
      )
    },
  } as AnnouncePubSub
  const dispatch = (type: string, detail: unknown): void => {
    for (const listener of listeners.get(type) ?? []) listener(new CustomEvent(type, { detail }))
  }
  /** What gossipsub does with a received message: validate, and dispatch it only if accepted. */
  const deliver = (message: AnnounceMessage): unknown => {
    const validator = pubsub.topicValidators.get(message.topic)
    assert.ok(validator !== undefined, 'a validator for the topic')
    const verdict = validator(message.from as PeerId, message)
    if (verdict === 'accept') dispatch('message', message)
    return verdict
  }
  /** A peer subscribed to `topic`. */
  const subscribed = (peerId: PeerId, topic: string): void =>
    dispatch('subscription-change', { peerId, subscriptions: [{ topic, subscribe: true }] })
  return { pubsub, published, deliver, subscribed }
}

async function setUp() {
  const keys = await Promise.all(Array.from({ length: 3 }, () => generateKeyPair('Ed25519')))
  const [us, member, stranger] = keys.map((key) => peerIdFromPrivateKey(key))
  const genesis = createGenesis([{ peerId: us }, { peerId: member }])
  const merged = new Map<string, string[]>()
  const dialled: string[] = []
  const peerStore = {
    async merge(id: PeerId, data: PeerData): Promise<Peer> {
      merged.set(id.toString(), [
        ...(merged.get(id.toString()) ?? []),
        ...(data.multiaddrs ?? []).map(String),
      ])
      return { id, addresses: [], protocols: [], metadata: new Map(), tags: new Map() }
    },
    async get(): Promise<Peer> {
      throw new Error('not found')
    },
  }
  const components = {
    peerId: us,
    peerStore,
    logger,
    peerRouting: { findPeer: async () => Promise.reject(new Error('no DHT')) },
    contentRouting: {},
    connectionManager: {
      openConnection: async (peer: PeerId) => {
        dialled.push(peer.toString())
      },
    },
  } as unknown as DiscoveryComponents
  const roster = new Roster({ peerId: us, peerStore }, genesis.members, () => undefined)
  let chainSeq = 0
  const { pubsub, published, deliver, subscribed } = fakePubSub()
  const discovery = new SectionDiscovery(
    components,
    genesis.sectionId,
    {
      others: () => roster.others(),
      memberOf: (peer) => roster.memberOf(peer),
      wasMember: (peer) => roster.wasMember(peer),
      chainSeq: () => chainSeq,
    },
    () => pubsub,
    () => false,
    { lookupIntervalMs: 60_000, announceRepeatMinMs: 30 },
  )
  const topic = announceTopic(genesis.sectionId)
  const sectionId = bytesFromString(genesis.sectionId, 'base16')
  /** `key`'s signed announcement of `addrs` at chain `seq`, as gossipsub would deliver it from `from`. */
  const announcement = (key: PrivateKey, addrs: string[], seq = 0, from = peerIdFromPrivateKey(key)) => {
    const data = encodeMessage(
      signAnnounce(secretIdFromPrivateKey(key), { sectionId, addrs, seq, head: new Uint8Array(32) }),
    )
    return { type: 'signed' as const, topic, data, from }
  }
  return {
    keys,
    us,
    member,
    stranger,
    genesis,
    discovery,
    merged,
    dialled,
    published,
    deliver,
    subscribed,
    announcement,
    setChainSeq: (seq: number) => (chainSeq = seq),
  }
}

/** Settles the peer store write and the dial that follow an accepted announcement. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 20))

describe('announcements', () => {
  it("a member's is accepted: its addresses land in the peer store and it is dialled", async () => {
    const t = await setUp()
    t.discovery.start()
    try {
      const addrs = ['/ip4/198.51.100.7/tcp/4001', `/ip4/198.51.100.8/tcp/4002/p2p/${t.member}`]
      assert.equal(t.deliver(t.announcement(t.keys[1], addrs)), 'accept')
      await settle()
      assert.deepEqual(t.merged.get(t.member.toString()), [
        '/ip4/198.51.100.7/tcp/4001',
        '/ip4/198.51.100.8/tcp/4002',
      ])
      assert.deepEqual(t.dialled, [t.member.toString()])
    } finally {
      t.discovery.stop()
    }
  })

  it("a non-member's, a bad signature, another publisher's and another section's are rejected", async () => {
    const t = await setUp()
    t.discovery.start()
    try {
      const addrs = ['/ip4/198.51.100.9/tcp/4001']
      assert.equal(t.deliver(t.announcement(t.keys[2], addrs)), 'reject', 'a non-member')
      const forged = t.announcement(t.keys[1], addrs)
      const data = Uint8Array.from(forged.data)
      data[data.length - 1] ^= 1
      assert.equal(t.deliver({ ...forged, data }), 'reject', 'a bad signature')
      assert.equal(
        t.deliver(t.announcement(t.keys[1], addrs, 0, t.stranger)),
        'reject',
        "a member's relayed as another's",
      )
      assert.equal(t.deliver({ ...t.announcement(t.keys[1], addrs), type: 'unsigned' }), 'reject', 'unsigned')
      assert.equal(
        t.deliver({ ...t.announcement(t.keys[1], addrs), data: new Uint8Array([1, 2, 3]) }),
        'reject',
      )
      const other = createGenesis([{ peerId: t.member }])
      const elsewhere = encodeMessage(
        signAnnounce(secretIdFromPrivateKey(t.keys[1]), {
          sectionId: bytesFromString(other.sectionId, 'base16'),
          addrs,
          seq: 0,
          head: new Uint8Array(32),
        }),
      )
      assert.equal(
        t.deliver({ ...t.announcement(t.keys[1], addrs), data: elsewhere }),
        'reject',
        'another section',
      )
      await settle()
      assert.equal(t.merged.has(t.stranger.toString()), false)
      assert.deepEqual(t.merged.get(t.member.toString()) ?? [], [], 'nothing of a rejected one')
      assert.deepEqual(t.dialled, [])
    } finally {
      t.discovery.stop()
    }
  })

  it('a non-member whose chain is ahead of ours is ignored, not rejected (we may lag)', async () => {
    const t = await setUp()
    t.discovery.start()
    try {
      t.setChainSeq(3)
      assert.equal(t.deliver(t.announcement(t.keys[2], ['/ip4/198.51.100.9/tcp/1'], 3)), 'reject')
      assert.equal(t.deliver(t.announcement(t.keys[2], ['/ip4/198.51.100.9/tcp/1'], 4)), 'ignore')
      await settle()
      assert.equal(t.merged.has(t.stranger.toString()), false)
    } finally {
      t.discovery.stop()
    }
  })

  it('a former member is ignored', async () => {
    const t = await setUp()
    const message = t.announcement(t.keys[1], ['/ip4/198.51.100.7/tcp/1'])
    const context = {
      sectionId: bytesFromString(t.genesis.sectionId, 'base16'),
      isMember: () => false,
      wasMember: (peer: PeerId) => peer.equals(t.member),
      chainSeq: () => 5,
    }
    assert.equal(checkAnnouncement(message, context).verdict, 'ignore')
    assert.equal(checkAnnouncement(message, { ...context, wasMember: () => false }).verdict, 'reject')
  })

  it("publishes the machine's bytes as they are, on the section's topic", async () => {
    const t = await setUp()
    const bytes = t.announcement(t.keys[0], ['/ip4/198.51.100.1/tcp/1']).data
    await t.discovery.announce(bytes)
    assert.equal(t.published.length, 0, 'not before start')
    t.discovery.start()
    try {
      await t.discovery.announce(bytes)
      assert.deepEqual(t.published, [{ topic: announceTopic(t.genesis.sectionId), data: bytes }])
    } finally {
      t.discovery.stop()
    }
  })

  it('publishes the latest announcement again when a peer subscribes, at most every few seconds', async () => {
    const t = await setUp()
    const topic = announceTopic(t.genesis.sectionId)
    t.discovery.start()
    try {
      t.subscribed(t.member, topic)
      assert.equal(t.published.length, 0, 'nothing to repeat before the machine announced')
      const bytes = t.announcement(t.keys[0], ['/ip4/198.51.100.1/tcp/1']).data
      await t.discovery.announce(bytes)
      t.subscribed(t.member, topic)
      assert.equal(t.published.length, 1, 'not again right after publishing')
      t.subscribed(t.stranger, 'another topic')
      assert.equal(t.published.length, 1)
      await new Promise((resolve) => setTimeout(resolve, 40))
      t.subscribed(t.member, topic)
      assert.deepEqual(
        t.published.map((p) => p.data),
        [bytes, bytes],
        'again once the gap passed',
      )
    } finally {
      t.discovery.stop()
    }
  })
})
