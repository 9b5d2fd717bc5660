/**
 * The section's TCP transport (src/tcp-transport.ts): a connection outlives the signal it was
 * dialled with. With `@libp2p/tcp`'s own transport, a dial's timeout that fires after the
 * handshake but before libp2p's dial queue has finished with the dial (its peer-store write, slow
 * on a busy machine: held here until the caller's signal has fired) destroys the new connection;
 * 32 peers starting at once on two cores lost most of their connections so.
 */
import '../src/polyfill.js'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, type Socket } from 'node:net'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Connection, PeerStore } from '@libp2p/interface'
import { noise } from '@libp2p/noise'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { ping } from '@libp2p/ping'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { sectionTcp } from '../src/tcp-transport.js'

/** libp2p's peer-store key for a successful dial (dial-queue.ts), written once the handshake is done. */
const LAST_DIAL_SUCCESS_KEY = 'last-dial-success'

function createNode(onPeerStore?: (store: PeerStore) => void) {
  return createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [sectionTcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      ping: ping(),
      probe: (components: { peerStore: PeerStore }) => {
        onPeerStore?.(components.peerStore)
        return {}
      },
    },
  })
}

describe('the section TCP transport', () => {
  it("keeps a connection whose dial's signal fires after the handshake", async () => {
    let store: PeerStore | undefined
    const dialer = await createNode((s) => {
      store = s
    })
    const listener = await createNode()
    try {
      assert.ok(store !== undefined)
      // The dial queue records the success in the peer store before it lets go of the dial's
      // signal: hold that write until the caller's signal has fired.
      const merge = store.merge.bind(store)
      let handshakeDone!: () => void
      const handshake = new Promise<void>((resolve) => {
        handshakeDone = resolve
      })
      let releaseWrite!: () => void
      const write = new Promise<void>((resolve) => {
        releaseWrite = resolve
      })
      store.merge = async (peer, data, options) => {
        if (data.metadata !== undefined && LAST_DIAL_SUCCESS_KEY in data.metadata) {
          handshakeDone()
          await write
        }
        return merge(peer, data, options)
      }
      let opened: Connection | undefined
      dialer.addEventListener('connection:open', (event) => {
        opened = event.detail
      })

      const caller = new AbortController()
      const dial = dialer.dial(listener.getMultiaddrs()[0], { signal: caller.signal })
      await handshake
      // The caller's timeout fires while the dial queue is still busy with the dial.
      caller.abort(new Error('the caller gave up'))
      releaseWrite()
      await dial.catch(() => undefined)

      assert.ok(opened !== undefined, 'the handshake made a connection')
      const conn = opened
      assert.equal(conn.status, 'open', `the connection is ${conn.status}`)
      // A stream over it works (before the fix the socket was already destroyed: the ping failed
      // with a close event).
      const rtt = await dialer.services.ping
        .ping(listener.peerId, { signal: AbortSignal.timeout(10_000) })
        .catch(() => assert.fail(`no ping over the new connection (it is ${conn.status})`))
      assert.ok(rtt >= 0)
      assert.deepEqual(
        dialer.getConnections(listener.peerId).map((c) => c.id),
        [conn.id],
        'the ping went over that same connection',
      )
    } finally {
      await Promise.all([dialer.stop(), listener.stop()])
    }
  })

  it("still aborts a dial in progress when the caller's signal fires", async () => {
    // A listener that accepts TCP connections and never answers the handshake.
    const sockets = new Set<Socket>()
    const silent = createServer((socket) => sockets.add(socket))
    silent.listen(0, '127.0.0.1')
    await once(silent, 'listening')
    const address = silent.address()
    assert.ok(address !== null && typeof address === 'object')
    const dialer = await createNode()
    try {
      const stranger = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
      const caller = new AbortController()
      silent.once('connection', () => caller.abort(new Error('the caller gave up')))
      const began = Date.now()
      await assert.rejects(
        dialer.dial(multiaddr(`/ip4/127.0.0.1/tcp/${address.port}/p2p/${stranger}`), {
          signal: caller.signal,
        }),
      )
      // Well before libp2p's own dial timeouts (6 s per address, 10 s per dial).
      assert.ok(Date.now() - began < 5_000, `the dial took ${Date.now() - began} ms to fail`)
      assert.equal(dialer.getConnections().length, 0)
    } finally {
      await dialer.stop()
      for (const socket of sockets) socket.destroy()
      silent.close()
    }
  })
})
