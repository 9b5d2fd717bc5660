import '../src/polyfill.js'
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { ConnectionGater, Logger, PeerId } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import {
  type AnnounceMessage,
  type AnnouncePubSub,
  type DiscoveryComponents,
  SectionDiscovery,
} from '../src/discovery.js'
import {
  announceTopic,
  BANNED_GOSSIP_SCORE,
  combineGaters,
  createGenesis,
  createSectionNode,
  FOREVER,
  PeerBans,
  StreamGuard,
} from '../src/index.js'

const newPeer = async (): Promise<PeerId> => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
const silent = Object.assign(() => {}, {
  error: () => {},
  trace: () => {},
  enabled: false,
}) as unknown as Logger

describe('peer bans', () => {
  it('an agreed ban holds forever; a local one lifts at its expiry', async () => {
    let now = 1_000
    const bans = new PeerBans(() => now)
    const [agreed, local] = [await newPeer(), await newPeer()]
    bans.ban(agreed, FOREVER)
    bans.ban(local, 5_000)
    assert.equal(bans.isBanned(agreed), true)
    assert.equal(bans.isBanned(local.toString()), true)
    assert.deepEqual(bans.list().sort(), [agreed.toString(), local.toString()].sort())
    now = 4_999
    assert.equal(bans.isBanned(local), true)
    now = 5_000
    assert.equal(bans.isBanned(local), false, 'expired: lifted')
    assert.equal(bans.isBanned(agreed), true)
    assert.deepEqual(bans.list(), [agreed.toString()])
    // A ban already over is no ban; a shorter one does not shorten a longer one.
    bans.ban(local, 4_000)
    assert.equal(bans.isBanned(local), false)
    bans.ban(local, FOREVER)
    bans.ban(local, 6_000)
    now = 1e12
    assert.equal(bans.isBanned(local), true)
  })

  it('listeners hear each new or longer ban; gossipsub scores a banned peer below graylisting', async () => {
    const bans = new PeerBans(() => 0)
    const peer = await newPeer()
    const heard: [string, number][] = []
    const off = bans.onBan((p, until) => heard.push([p, until]))
    bans.ban(peer, 100)
    bans.ban(peer, 50)
    bans.ban(peer, FOREVER)
    off()
    bans.ban(await newPeer(), FOREVER)
    assert.deepEqual(heard, [
      [peer.toString(), 100],
      [peer.toString(), FOREVER],
    ])
    assert.equal(bans.gossipScore(peer.toString()), BANNED_GOSSIP_SCORE)
    assert.equal(bans.gossipScore((await newPeer()).toString()), 0)
  })

  it('the gater denies dials to a banned peer and its connections, combined with other gaters', async () => {
    const bans = new PeerBans()
    const [banned, other] = [await newPeer(), await newPeer()]
    bans.ban(banned)
    const asked: string[] = []
    const counting: ConnectionGater = {
      denyDialPeer: (peer) => {
        asked.push(peer.toString())
        return false
      },
      denyInboundConnection: () => true,
    }
    const gater = combineGaters(counting, bans.gater())
    const conn = {} as Parameters<NonNullable<ConnectionGater['denyInboundEncryptedConnection']>>[1]
    assert.equal(await gater.denyDialPeer?.(banned), true)
    assert.equal(await gater.denyDialPeer?.(other), false)
    assert.deepEqual(asked, [banned.toString(), other.toString()], 'the first gater sees every dial')
    assert.equal(await gater.denyInboundEncryptedConnection?.(banned, conn), true)
    assert.equal(await gater.denyOutboundEncryptedConnection?.(banned, conn), true)
    assert.equal(await gater.denyInboundUpgradedConnection?.(other, conn), false)
    assert.equal(await gater.denyInboundConnection?.(conn), true, "the other gater's own denial")
    assert.equal(gater.filterMultiaddrForPeer, undefined)
  })
})

describe('stream guard', () => {
  const source = (peer: PeerId, ip: string) => ({
    remotePeer: peer,
    remoteAddr: multiaddr(`/ip4/${ip}/tcp/4001`),
  })

  it('refuses banned peers, then holds each peer and each /24 to its rate, members to their own', async () => {
    let now = 0
    const bans = new PeerBans(() => now)
    const [banned, a, b, member] = await Promise.all([newPeer(), newPeer(), newPeer(), newPeer()])
    bans.ban(banned)
    const guard = new StreamGuard(
      'test',
      bans,
      {
        rates: {
          perPeer: { capacity: 2, refillPerSecond: 1 },
          perNetwork: { capacity: 3, refillPerSecond: 1 },
          maxKeys: 16,
        },
        logIntervalMs: 10_000,
        isMember: (peer) => peer === member.toString(),
        now: () => now,
      },
      silent,
    )
    assert.equal(guard.admit(source(banned, '192.0.2.1')), 'banned')
    assert.equal(guard.admit(source(a, '192.0.2.1')), 'allowed')
    assert.equal(guard.admit(source(a, '192.0.2.1')), 'allowed')
    assert.equal(guard.admit(source(a, '192.0.2.1')), 'peer')
    // Another identity from the same /24: one token of the network's three left.
    assert.equal(guard.admit(source(b, '192.0.2.77')), 'allowed')
    assert.equal(guard.admit(source(b, '192.0.2.77')), 'network')
    // Another network is not held by that one.
    assert.equal(guard.admit(source(b, '198.51.100.1')), 'allowed')
    // A member from the flooded network: its own bucket only.
    assert.equal(guard.admit(source(member, '192.0.2.9')), 'allowed')
    assert.equal(guard.admit(source(member, '192.0.2.9')), 'allowed')
    assert.equal(guard.admit(source(member, '192.0.2.9')), 'peer')
    assert.deepEqual(guard.shed, { banned: 1, peer: 2, network: 1 })
    now = 2_000
    assert.equal(guard.admit(source(a, '192.0.2.1')), 'allowed', 'refilled')
  })
})

describe('bans in gossip', () => {
  it("the announcement validator rejects a banned member's messages", async () => {
    const [us, other] = await Promise.all([newPeer(), newPeer()])
    const genesis = createGenesis([{ peerId: us }, { peerId: other }])
    const bans = new PeerBans()
    const topicValidators = new Map<string, (peer: PeerId, message: AnnounceMessage) => unknown>()
    const pubsub = {
      topicValidators,
      subscribe: () => {},
      unsubscribe: () => {},
      publish: async () => {},
      addEventListener: () => {},
      removeEventListener: () => {},
    } satisfies AnnouncePubSub
    const components = {
      peerId: us,
      logger: { forComponent: () => silent },
    } as unknown as DiscoveryComponents
    const roster = {
      others: () => [],
      memberOf: (peer: PeerId) => (peer.equals(other) ? genesis.members[0] : undefined),
      wasMember: () => false,
      chainSeq: () => 1,
    }
    const discovery = new SectionDiscovery(
      components,
      genesis.sectionId,
      roster,
      () => pubsub,
      () => true,
      {
        lookupIntervalMs: 60_000,
        isBanned: (peer: PeerId) => bans.isBanned(peer),
      },
    )
    discovery.start()
    try {
      const topic = announceTopic(genesis.sectionId)
      const validate = topicValidators.get(topic)
      assert.ok(validate !== undefined)
      const from = (peer: PeerId): AnnounceMessage => ({
        type: 'signed',
        topic,
        data: new Uint8Array(0),
        from: peer,
      })
      // A member's message is judged on its contents (an empty one is malformed), a banned peer's not at all.
      assert.notEqual(validate(other, from(other)), 'accept')
      bans.ban(other)
      assert.equal(validate(other, from(other)), 'reject')
      assert.equal(validate(us, from(other)), 'reject', 'relayed by anyone')
    } finally {
      discovery.stop()
    }
  })
})

describe('stream guard logging', () => {
  it('logs a flood as one line per interval, with a count', async () => {
    let now = 0
    const lines: unknown[][] = []
    const log = Object.assign((...args: unknown[]) => lines.push(args), {
      error: () => {},
      trace: () => {},
      enabled: true,
    }) as unknown as Logger
    const guard = new StreamGuard(
      'test',
      new PeerBans(() => now),
      {
        rates: {
          perPeer: { capacity: 1, refillPerSecond: 0 },
          perNetwork: { capacity: 100, refillPerSecond: 0 },
          maxKeys: 4,
        },
        logIntervalMs: 10_000,
        isMember: () => false,
        now: () => now,
      },
      log,
    )
    const flooder = { remotePeer: await newPeer(), remoteAddr: multiaddr('/ip4/192.0.2.1/tcp/1') }
    for (let i = 0; i < 1_000; i++) {
      guard.admit(flooder)
      now += 5
    }
    assert.equal(guard.shed.peer, 999)
    // 5 s of flood: the first refusal logged at once, the rest wait for the interval.
    assert.equal(lines.length, 1)
    assert.equal(lines[0][2], 1)
    for (let i = 0; i < 2_000; i++) {
      guard.admit(flooder)
      now += 5
    }
    // 10 s after the first line, one more: the 2,000 refusals since (from 10 ms to 10,005 ms).
    assert.equal(lines.length, 2)
    assert.equal(lines[1][2], 2_000)
    assert.equal(guard.shed.peer, 2_999)
  })
})

describe('createSectionNode wires the bans', () => {
  it('into gossipsub scoring and the service', async () => {
    const key = await generateKeyPair('Ed25519')
    const bans = new PeerBans()
    const node = await createSectionNode({
      genesis: createGenesis([{ peerId: peerIdFromPrivateKey(key) }]),
      privateKey: key,
      listen: [],
      bans,
      start: false,
    })
    const banned = await newPeer()
    bans.ban(banned)
    const pubsub = node.services.pubsub as { opts: { scoreParams: { appSpecificScore(p: string): number } } }
    assert.equal(pubsub.opts.scoreParams.appSpecificScore(banned.toString()), BANNED_GOSSIP_SCORE)
    assert.deepEqual(node.services.section.status().banned, [banned.toString()])
  })
})
