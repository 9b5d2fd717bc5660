/**
 * libp2p's ping on section nodes, over TCP on 127.0.0.1. Two pingers share it: libp2p's connection
 * monitor (which aborts the connection when a ping fails) and kad-dht (before adding a contact,
 * and when a bucket is full). With the ping service's default of one outbound ping stream per
 * connection, a second ping at the same moment failed with TooManyOutboundProtocolStreamsError
 * ("/ipfs/ping/1.0.0 - 2/1"), and members lost their connections at start and during restarts.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { PeerId } from '@libp2p/interface'
import { startSection, type TestNode } from './support.js'

/** What the test uses of `@libp2p/ping`'s service. */
interface PingService {
  ping(peer: PeerId): Promise<number>
}

function pingOf(node: TestNode): PingService {
  const ping = node.services.ping as Partial<PingService> | undefined
  assert.equal(typeof ping?.ping, 'function', 'a section node has the ping service')
  return ping as PingService
}

describe('ping between section nodes', () => {
  it('8 pings at once over one connection all succeed and the connection stays up', async () => {
    const section = await startSection(2)
    try {
      const [a, b] = section.nodes
      const closed: string[] = []
      for (const node of section.nodes) {
        node.addEventListener('connection:close', (event) => closed.push(event.detail.remotePeer.toString()))
      }
      const connection = await a.dial(b.peerId)
      // As many as the connection monitor and kad-dht can have under way at once (see node.ts),
      // from both ends.
      const results = await Promise.allSettled([
        ...Array.from({ length: 8 }, () => pingOf(a).ping(b.peerId)),
        ...Array.from({ length: 8 }, () => pingOf(b).ping(a.peerId)),
      ])
      const failures = results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []))
      assert.deepEqual(failures, [])
      assert.equal(connection.status, 'open')
      assert.deepEqual(closed, [])
    } finally {
      await section.stop()
    }
  })
})
