import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { MultiaddrConnection } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { memberHosts, PendingInboundPerSource } from '../src/inbound-limits.js'
import { createGenesis } from '../src/index.js'

/** What the gater reads of a connection in its handshake: its remote address and its `close` event. */
function connectionFrom(addr: string): MultiaddrConnection & { closeNow(): void } {
  const target = new EventTarget()
  return Object.assign(target, {
    remoteAddr: multiaddr(addr),
    closeNow: () => target.dispatchEvent(new Event('close')),
  }) as unknown as MultiaddrConnection & { closeNow(): void }
}

describe('inbound limits', () => {
  it("the members' genesis IP addresses, without names, wildcards or repeats", async () => {
    const [a, b, c] = await Promise.all([1, 2, 3].map(() => generateKeyPair('Ed25519')))
    const genesis = createGenesis([
      { peerId: peerIdFromPrivateKey(a), addrs: [multiaddr('/ip4/10.0.0.1/tcp/4001')] },
      {
        peerId: peerIdFromPrivateKey(b),
        addrs: [multiaddr('/ip4/10.0.0.1/tcp/4002'), multiaddr('/ip6/2001:db8::7/tcp/4001')],
      },
      {
        peerId: peerIdFromPrivateKey(c),
        addrs: [multiaddr('/dns4/peer.example/tcp/4001'), multiaddr('/ip4/0.0.0.0/tcp/4001')],
      },
    ])
    assert.deepEqual(
      memberHosts(genesis).map((host) => `/${host.family}/${host.address}`),
      ['/ip4/10.0.0.1', '/ip6/2001:db8::7'],
    )
  })

  it('a source holds at most its share of handshakes; a finished or closed one frees its place', () => {
    const gater = new PendingInboundPerSource([{ family: 'ip4', address: '10.0.0.1' }], 2)
    const first = connectionFrom('/ip4/192.0.2.9/tcp/50001')
    const second = connectionFrom('/ip4/192.0.2.9/tcp/50002')
    assert.equal(gater.denyInboundConnection(first), false)
    assert.equal(gater.denyInboundConnection(second), false)
    assert.equal(gater.denyInboundConnection(connectionFrom('/ip4/192.0.2.9/tcp/50003')), true)
    // Other sources are not affected; a member's address is never refused.
    assert.equal(gater.denyInboundConnection(connectionFrom('/ip4/192.0.2.10/tcp/50001')), false)
    for (let port = 1; port <= 5; port++) {
      assert.equal(gater.denyInboundConnection(connectionFrom(`/ip4/10.0.0.1/tcp/${port}`)), false)
    }
    first.closeNow()
    assert.equal(gater.denyInboundConnection(connectionFrom('/ip4/192.0.2.9/tcp/50004')), false)
    assert.equal(gater.denyInboundConnection(connectionFrom('/ip4/192.0.2.9/tcp/50005')), true)
    // A completed handshake no longer counts (and its later close does not count twice).
    assert.equal(gater.denyInboundUpgradedConnection(undefined, second), false)
    second.closeNow()
    assert.equal(gater.denyInboundConnection(connectionFrom('/ip4/192.0.2.9/tcp/50006')), false)
    assert.equal(gater.denyInboundConnection(connectionFrom('/ip4/192.0.2.9/tcp/50007')), true)
  })

  it('the members allowed follow the agreed members (allow replaces them)', () => {
    const gater = new PendingInboundPerSource([{ family: 'ip4', address: '10.0.0.1' }], 1)
    const joined = { addrs: [multiaddr('/ip4/10.0.0.2/tcp/4001')] }
    gater.allow(memberHosts({ members: [joined] }))
    for (let port = 1; port <= 3; port++) {
      assert.equal(
        gater.denyInboundConnection(connectionFrom(`/ip4/10.0.0.2/tcp/${port}`)),
        false,
        'a member added',
      )
    }
    assert.equal(gater.denyInboundConnection(connectionFrom('/ip4/10.0.0.1/tcp/1')), false)
    assert.equal(gater.denyInboundConnection(connectionFrom('/ip4/10.0.0.1/tcp/2')), true, 'a member removed')
  })

  it('an IPv6 source is its /64', () => {
    const gater = new PendingInboundPerSource([], 1)
    assert.equal(gater.denyInboundConnection(connectionFrom('/ip6/2001:db8:1:2::1/tcp/1')), false)
    assert.equal(gater.denyInboundConnection(connectionFrom('/ip6/2001:db8:1:2:ffff::9/tcp/1')), true)
    assert.equal(gater.denyInboundConnection(connectionFrom('/ip6/2001:db8:1:3::1/tcp/1')), false)
  })

  it('an IPv4-mapped IPv6 source is its IPv4 address', () => {
    const gater = new PendingInboundPerSource([], 1)
    assert.equal(gater.denyInboundConnection(connectionFrom('/ip6/::ffff:192.0.2.1/tcp/1')), false)
    assert.equal(gater.denyInboundConnection(connectionFrom('/ip4/192.0.2.1/tcp/2')), true, 'the same host')
    assert.equal(
      gater.denyInboundConnection(connectionFrom('/ip6/::ffff:192.0.2.2/tcp/1')),
      false,
      'another host',
    )
  })
})
