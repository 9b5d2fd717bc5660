/**
 * The delaying TCP proxy of WAN-like local sections (apps/peer/src/wan-proxy.ts), on 127.0.0.1:
 * bytes intact and in order both ways under jitter, each direction delayed, half-close passed on,
 * backpressure, close. Outcomes only: no timing upper bounds, no sleeps.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import { after, before, describe, it } from 'node:test'
import { seededRandom, WanProxy } from 'parsec-peer/wan-proxy'

/** A target that hands each accepted socket to the test. */
async function target(): Promise<{ server: Server; port: number; next: () => Promise<Socket> }> {
  const waiting: ((socket: Socket) => void)[] = []
  const accepted: Socket[] = []
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    const resolve = waiting.shift()
    if (resolve === undefined) accepted.push(socket)
    else resolve(socket)
  })
  server.listen({ host: '127.0.0.1', port: 0 })
  await once(server, 'listening')
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  const next = (): Promise<Socket> => {
    const socket = accepted.shift()
    return socket !== undefined ? Promise.resolve(socket) : new Promise((resolve) => waiting.push(resolve))
  }
  return { server, port: address.port, next }
}

/** Everything `socket` reads until its end. */
function readAll(socket: Socket): Promise<Buffer> {
  const chunks: Buffer[] = []
  socket.on('data', (chunk: Buffer) => chunks.push(chunk))
  return new Promise((resolve, reject) => {
    socket.once('end', () => resolve(Buffer.concat(chunks)))
    socket.once('error', reject)
  })
}

/** The next chunk `socket` reads, and when (performance.now()). */
function nextChunk(socket: Socket): Promise<{ chunk: Buffer; at: number }> {
  return new Promise((resolve) =>
    socket.once('data', (chunk: Buffer) => resolve({ chunk, at: performance.now() })),
  )
}

/** Writes `text` on `from` and resolves with the ms until `to` reads it (checked intact). */
async function sendTimed(from: Socket, to: Socket, text: string): Promise<number> {
  const arrival = nextChunk(to)
  const sent = performance.now()
  from.write(text)
  const { chunk, at } = await arrival
  assert.equal(chunk.toString(), text)
  return at - sent
}

/** `count` chunks of `size` bytes, each marked with its index and the direction. */
function pattern(count: number, size: number, salt: number): Buffer[] {
  return Array.from({ length: count }, (_, i) => {
    const chunk = Buffer.alloc(size, (i * 7 + salt) & 0xff)
    chunk.writeUInt32BE(i, 0)
    return chunk
  })
}

/** Writes the chunks one per event-loop turn (so they leave as separate chunks), then ends. */
async function writeChunks(socket: Socket, chunks: readonly Buffer[]): Promise<void> {
  for (const chunk of chunks) {
    if (!socket.write(chunk)) await once(socket, 'drain')
    else await new Promise((resolve) => setImmediate(resolve))
  }
  socket.end()
}

/** Resolves when `socket` closes (whatever error came before). */
function closeOf(socket: Socket): Promise<void> {
  socket.on('error', () => {})
  return new Promise((resolve) => socket.once('close', () => resolve()))
}

function connectTo(port: number): Promise<Socket> {
  const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true })
  return once(socket, 'connect').then(() => socket)
}

const SEED = Number(process.env.WAN_SEED ?? 0x5eed)

/**
 * Run in a child process (its symptom is a process that never exits): a link whose client
 * half-closes, and the proxy closed in the same turn, right after it passed the FIN on (end() on
 * its upstream socket, whose shutdown is then pending in libuv). Resetting that socket fails in
 * node (EINVAL), which then never closes its handle: the process spins at exit. The child reports
 * on stdout that its proxy and target closed, then must exit by itself.
 */
const CLOSE_AFTER_FIN_CHILD = `
import { createServer, connect } from 'node:net'
import { once } from 'node:events'
const { WanProxy } = await import(process.env.WAN_PROXY_URL)
const target = createServer((socket) => socket.on('error', () => {}))
target.listen({ host: '127.0.0.1', port: 0 })
await once(target, 'listening')
const proxy = await WanProxy.start({ targetPort: target.address().port, delayMs: 0 })
const accepted = once(target, 'connection')
// After the proxy's own connection handler: its 'end' listener runs first (and ends upstream).
let closing
const closed = new Promise((resolve) => {
  closing = resolve
})
proxy.server.on('connection', (socket) => {
  socket.once('end', () => process.nextTick(() => closing(proxy.close())))
})
const client = connect({ host: '127.0.0.1', port: proxy.port, allowHalfOpen: true })
client.on('error', () => {})
await once(client, 'connect')
const [server] = await accepted
// A byte through: the proxy's upstream socket is connected.
client.write('x')
await once(server, 'data')
// (not events.once: it rejects on the 'error' a reset brings)
const closeOf = (socket) => new Promise((resolve) => socket.once('close', resolve))
const serverClosed = closeOf(server)
const clientClosed = closeOf(client)
client.end()
await closed
await Promise.all([serverClosed, clientClosed])
target.close()
console.log('closed')
`

describe('WanProxy', () => {
  let t: Awaited<ReturnType<typeof target>>
  before(async () => {
    t = await target()
  })
  after(() => {
    t.server.close()
  })

  it('is reproducible from its seed', async () => {
    const a = seededRandom(SEED)
    const b = seededRandom(SEED)
    const xs = Array.from({ length: 100 }, () => a())
    assert.deepEqual(
      xs,
      Array.from({ length: 100 }, () => b()),
    )
    assert.ok(xs.every((x) => x >= 0 && x < 1))
    const proxy = await WanProxy.start({ targetPort: t.port, delayMs: 1, seed: SEED })
    assert.equal(proxy.seed, SEED)
    assert.equal(proxy.multiaddr, `/ip4/127.0.0.1/tcp/${proxy.port}`)
    await proxy.close()
  })

  it('delays each direction by at least D - J ms', async () => {
    const delayMs = 40
    const jitterMs = 15
    const proxy = await WanProxy.start({ targetPort: t.port, delayMs, jitterMs, seed: SEED })
    const client = await connectTo(proxy.port)
    const server = await t.next()
    try {
      // The event loop's clock has ms resolution: a timer may fire up to 1 ms before its time.
      const least = delayMs - jitterMs - 1
      for (let round = 0; round < 3; round++) {
        const up = await sendTimed(client, server, 'ping')
        assert.ok(up >= least, `up ${up} ms (seed ${SEED})`)
        const down = await sendTimed(server, client, 'pong')
        assert.ok(down >= least, `down ${down} ms (seed ${SEED})`)
      }
    } finally {
      client.destroy()
      server.destroy()
      await proxy.close()
    }
  })

  it('passes bytes intact and in order both ways under jitter, then the half-closes', async () => {
    // Jitter larger than the spacing of the chunks: without ordering they would overtake.
    const proxy = await WanProxy.start({ targetPort: t.port, delayMs: 20, jitterMs: 20, seed: SEED })
    const client = await connectTo(proxy.port)
    const server = await t.next()
    const upChunks = pattern(300, 997, 1)
    const downChunks = pattern(300, 1013, 2)
    const atServer = readAll(server)
    const atClient = readAll(client)
    const closed = Promise.all([closeOf(client), closeOf(server)])
    await Promise.all([writeChunks(client, upChunks), writeChunks(server, downChunks)])
    assert.ok((await atServer).equals(Buffer.concat(upChunks)), `upstream bytes differ (seed ${SEED})`)
    assert.ok((await atClient).equals(Buffer.concat(downChunks)), `downstream bytes differ (seed ${SEED})`)
    await closed
    await proxy.close()
  })

  it('holds the source back when its queue is full (backpressure) and still delivers everything', async () => {
    const proxy = await WanProxy.start({
      targetPort: t.port,
      delayMs: 2,
      jitterMs: 1,
      seed: SEED,
      maxQueuedBytes: 64 * 1024,
    })
    const client = await connectTo(proxy.port)
    const server = await t.next()
    const big = Buffer.alloc(8 << 20)
    for (let i = 0; i < big.length; i += 4) big.writeUInt32BE(i, i)
    const atServer = readAll(server)
    const clientClosed = closeOf(client)
    client.resume()
    client.end(big)
    assert.ok((await atServer).equals(big), `8 MiB differ (seed ${SEED})`)
    server.end()
    await clientClosed
    await proxy.close()
  })

  it('close() destroys the connections both ways and stops listening', async () => {
    const proxy = await WanProxy.start({ targetPort: t.port, delayMs: 10, seed: SEED })
    const client = await connectTo(proxy.port)
    const server = await t.next()
    client.on('error', () => {})
    server.on('error', () => {})
    const closed = Promise.all([closeOf(client), closeOf(server)])
    await proxy.close()
    await closed
    await proxy.close() // twice is fine
    const refused = connect({ host: '127.0.0.1', port: proxy.port })
    const [error] = (await once(refused, 'error')) as [NodeJS.ErrnoException]
    assert.equal(error.code, 'ECONNREFUSED')
  })

  it('close() right after passing a FIN on leaves nothing open: the process exits', async () => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', CLOSE_AFTER_FIN_CHILD], {
      env: { ...process.env, WAN_PROXY_URL: import.meta.resolve('parsec-peer/wan-proxy') },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString()
    })
    child.stderr.on('data', (chunk: Buffer) => {
      out += chunk.toString()
    })
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), 20_000)
    })
    const outcome = await Promise.race([exited, timedOut])
    clearTimeout(timer)
    if (outcome === 'timeout') {
      child.kill('SIGKILL')
      await exited
      assert.fail(`the process did not exit within 20 s after the proxy closed; its output: ${out}`)
    }
    assert.deepEqual(outcome, [0, null], out)
    assert.equal(out.trim(), 'closed')
  })

  it('a reset on one side tears the link down on the other', async () => {
    const proxy = await WanProxy.start({ targetPort: t.port, delayMs: 5, seed: SEED })
    const client = await connectTo(proxy.port)
    const server = await t.next()
    const closed = closeOf(server)
    client.resetAndDestroy()
    await closed
    await proxy.close()
  })
})
