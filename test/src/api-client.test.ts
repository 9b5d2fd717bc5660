/**
 * The demo's client of a peer's control API (apps/peer/src/local-section.ts): a peer's HTTP
 * server may close a kept-alive connection just as the client sends the next request on it
 * (undici: "fetch failed", "other side closed"); a read is retried, never reported as a failure.
 */
import assert from 'node:assert/strict'
import { createServer, type Socket } from 'node:net'
import { describe, it } from 'node:test'
import { ApiClient } from 'parsec-peer/local-section'

/** An HTTP server on loopback that drops the first `drops` connections without answering. */
async function flakyServer(
  drops: number,
): Promise<{ address: string; requests: () => number; close: () => Promise<void> }> {
  let seen = 0
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.once('data', () => {
      seen++
      if (seen <= drops) {
        socket.destroy()
        return
      }
      const body = JSON.stringify({ blocks: [], next: 0, retainedFrom: 0 })
      socket.end(
        `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
      )
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return {
    address: `127.0.0.1:${port}`,
    requests: () => seen,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  }
}

describe('the control API client', () => {
  it('retries a read whose connection the peer closed without an answer', async () => {
    const server = await flakyServer(2)
    try {
      const answer = await new ApiClient(server.address).blocks({ from: 0 })
      assert.deepEqual(answer.blocks, [])
      assert.equal(server.requests(), 3)
    } finally {
      await server.close()
    }
  })

  it('gives up after a few attempts, and never retries a write', async () => {
    const server = await flakyServer(100)
    try {
      await assert.rejects(new ApiClient(server.address).blocks({ from: 0 }), /fetch failed/)
      const reads = server.requests()
      assert.ok(reads > 1 && reads <= 3, `${reads} attempts`)
      await assert.rejects(new ApiClient(server.address).vote([Uint8Array.of(1)]), /fetch failed/)
      assert.equal(server.requests(), reads + 1, 'a vote is sent once')
    } finally {
      await server.close()
    }
  })
})
