import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { ConnectionGater, Logger, PeerId } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { BANNED_GOSSIP_SCORE, combineGaters, FOREVER, PeerBans, StreamGuard } from '../src/index.js'

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
