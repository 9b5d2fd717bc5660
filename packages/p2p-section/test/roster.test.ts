import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Peer, PeerData, PeerId } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { Parsec } from '@parsec-section/parsec-core'
import { createGenesis, secretIdFromPrivateKey } from '../src/index.js'
import { Roster } from '../src/section/roster.js'

/** A section of three (the first with an address, the second with two, the third with none), seen by the first. */
async function section() {
  const keys = await Promise.all(Array.from({ length: 3 }, () => generateKeyPair('Ed25519')))
  const [a, b, c] = keys.map((key) => peerIdFromPrivateKey(key))
  const genesis = createGenesis([
    { peerId: a, addrs: [multiaddr('/ip4/127.0.0.1/tcp/4001')] },
    { peerId: b, addrs: [multiaddr('/ip4/127.0.0.1/tcp/4002'), multiaddr('/ip4/127.0.0.1/tcp/4003')] },
    { peerId: c },
  ])
  const engine = Parsec.restoring({
    us: secretIdFromPrivateKey(keys[0]),
    genesis: genesis.members.map((m) => m.publicId),
    relatedInfo: genesis.relatedInfo,
    consensusMode: genesis.mode,
  }).finish()
  const merged = new Map<string, string[]>()
  const peerStore = {
    async merge(id: PeerId, data: PeerData): Promise<Peer> {
      merged.set(
        id.toString(),
        (data.multiaddrs ?? []).map((addr) => addr.toString()),
      )
      return { id, addresses: [], protocols: [], metadata: new Map(), tags: new Map() }
    },
  }
  let started = false
  const roster = new Roster({ peerId: a, peerStore }, genesis.members, () => (started ? engine : undefined))
  return { a, b, c, genesis, roster, merged, start: () => (started = true) }
}

describe('roster', () => {
  it('knows the members by peer id and by engine name, and which are the others', async () => {
    const { a, b, c, genesis, roster } = await section()
    assert.deepEqual(
      roster.members().map((m) => m.peerId.toString()),
      genesis.members.map((m) => m.peerId.toString()),
    )
    for (const member of genesis.members) {
      assert.equal(roster.memberOf(member.peerId)?.publicId.name, member.publicId.name)
      assert.equal(roster.memberOf(member.peerId.toString())?.peerId.toString(), member.peerId.toString())
      assert.equal(roster.peerIdOf(member.publicId.name)?.toString(), member.peerId.toString())
      assert.equal(roster.resolve(member.publicId.name)?.name, member.publicId.name)
    }
    assert.deepEqual(
      roster
        .others()
        .map((m) => m.peerId.toString())
        .sort(),
      [b, c].map(String).sort(),
    )
    const stranger = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    assert.equal(roster.memberOf(stranger), undefined)
    assert.equal(roster.peerIdOf('00'.repeat(32)), undefined)
    assert.equal(roster.resolve('00'.repeat(32)), undefined)
    assert.ok(roster.memberOf(a) !== undefined)
  })

  it('voters and gossip partners come from the engine, matched to members (none before it runs)', async () => {
    const { a, b, c, roster, start } = await section()
    assert.deepEqual(roster.voters(), [])
    assert.deepEqual(roster.gossipPartners(), [])
    start()
    assert.equal(roster.voters().length, 3)
    const partners = roster.gossipPartners()
    assert.deepEqual(partners.map((p) => p.peerId.toString()).sort(), [b, c].map(String).sort())
    for (const partner of partners) {
      assert.equal(roster.peerIdOf(partner.id.name)?.toString(), partner.peerId.toString())
      assert.ok(roster.isGossipPartner(partner.id.name))
    }
    const ours = roster.memberOf(a)?.publicId.name ?? ''
    assert.equal(roster.isGossipPartner(ours), false)
  })

  it("gossip partners carry the machine's partner weight (1 unless it said)", async () => {
    const { b, c, roster, start } = await section()
    start()
    const weights = () =>
      Object.fromEntries(roster.gossipPartners().map((p) => [p.peerId.toString(), p.weight]))
    assert.deepEqual(weights(), { [b.toString()]: 1, [c.toString()]: 1 })
    roster.weigh(roster.memberOf(c)?.publicId.name ?? '', 0.25)
    assert.deepEqual(weights(), { [b.toString()]: 1, [c.toString()]: 0.25 })
  })

  it('start puts the other members known addresses in the peer store, not ours', async () => {
    const { b, roster, merged } = await section()
    await roster.start()
    assert.ok(roster.isStarted())
    assert.deepEqual([...merged.keys()], [b.toString()])
    assert.deepEqual(merged.get(b.toString()), ['/ip4/127.0.0.1/tcp/4002', '/ip4/127.0.0.1/tcp/4003'])
    roster.stop()
    assert.equal(roster.isStarted(), false)
  })
})
