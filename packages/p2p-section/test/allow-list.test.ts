/**
 * libp2p's allow list follows the agreed members' hosts (a real libp2p 3 connection manager, not
 * started, asked as for an inbound connection before its handshake): a host added after genesis
 * skips the handshake-slot cap, a removed founder's host no longer does. This pins the libp2p
 * fields limits/allow-list.ts replaces: if an upgrade renames them, this fails.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { MultiaddrConnection } from '@libp2p/interface'
import type { ConnectionManager } from '@libp2p/interface-internal'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { PendingInboundPerSource } from '../src/inbound-limits.js'
import { followAllowList } from '../src/limits/allow-list.js'

function from(host: string): MultiaddrConnection {
  return { remoteAddr: multiaddr(`/ip4/${host}/tcp/4001`) } as unknown as MultiaddrConnection
}

describe("libp2p's allow list", () => {
  it('follows the agreed members: one added later skips the handshake slots, a removed founder no more', async () => {
    let manager: ConnectionManager | undefined
    const node = await createLibp2p({
      start: false,
      // One handshake slot, and the genesis founder's host on the static list.
      connectionManager: { allow: ['/ip4/10.0.0.1'], maxIncomingPendingConnections: 1 },
      services: {
        probe: (components: { connectionManager: ConnectionManager }) => {
          manager = components.connectionManager
          return {}
        },
      },
    })
    try {
      assert.ok(manager !== undefined)
      const cm = manager
      const gater = new PendingInboundPerSource([{ family: 'ip4', address: '10.0.0.1' }], 2)
      assert.equal(
        followAllowList(cm, (host) => gater.isAllowed(host)),
        true,
      )
      // A stranger takes the only slot (libp2p counts it until `afterUpgradeInbound`): another
      // stranger is refused, the founder gets in (its connection handed on at once here).
      const admitted = (host: string): boolean => {
        const accepted = cm.acceptIncomingConnection(from(host))
        if (accepted && host !== '192.0.2.7') cm.afterUpgradeInbound()
        return accepted
      }
      assert.equal(admitted('192.0.2.7'), true)
      assert.equal(admitted('192.0.2.8'), false)
      assert.equal(admitted('10.0.0.1'), true)
      assert.equal(admitted('10.0.0.2'), false)
      // A member joins from 10.0.0.2; the founder leaves.
      gater.allow([{ family: 'ip4', address: '10.0.0.2' }])
      assert.equal(admitted('10.0.0.2'), true)
      assert.equal(admitted('10.0.0.1'), false)
      assert.equal(admitted('192.0.2.8'), false)
      cm.afterUpgradeInbound()
    } finally {
      await node.stop()
    }
  })

  it('says so when the connection manager has no allow list (libp2p changed)', () => {
    assert.equal(
      followAllowList({}, () => true),
      false,
    )
    assert.equal(
      followAllowList({ allow: [] }, () => true),
      false,
    )
    assert.equal(
      followAllowList(undefined, () => true),
      false,
    )
  })
})
