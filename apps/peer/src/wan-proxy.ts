/**
 * A delaying TCP proxy: a WAN-like link between local peers in user space (the kernel here has no
 * netem). It listens on 127.0.0.1 in front of one target port and holds every chunk, in each
 * direction, for `delayMs` ± `jitterMs` (uniform, from a seeded PRNG: a run is reproducible from
 * its seed) before passing it on. Bytes keep their order per direction: a chunk is released at
 * max(release of the previous chunk of that direction, arrival + its delay).
 *
 * ```ts
 * const proxy = await WanProxy.start({ targetPort: 4001, delayMs: 50, jitterMs: 20, seed: 7 })
 * // connect to 127.0.0.1:proxy.port instead of 127.0.0.1:4001
 * await proxy.close()
 * ```
 */
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net'
import { performance } from 'node:perf_hooks'
import { Rng } from '@parsec-section/parsec-core'

export interface WanProxyOptions {
  /** The port (on `targetHost`, default 127.0.0.1) the proxy forwards to. */
  readonly targetPort: number
  readonly targetHost?: string
  /** Where the proxy listens (default 127.0.0.1, port 0: any free port). */
  readonly host?: string
  readonly port?: number
  /** The mean delay per chunk, each way (ms). */
  readonly delayMs: number
  /** Each chunk's delay is uniform in [delayMs - jitterMs, delayMs + jitterMs] (clamped at 0). */
  readonly jitterMs?: number
  /** The PRNG seed (a 32-bit integer); default a random one (see `seed`). */
  readonly seed?: number
  /** Bytes held in one direction before its source is paused (default 4 MiB). */
  readonly maxQueuedBytes?: number
}

/** The proxy's delays' PRNG: the project's seeded `Rng` (xoshiro128**), as floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  const rng = new Rng(seed >>> 0)
  return () => rng.float()
}

/** A new random 32-bit seed. */
export function randomSeed(): number {
  return Math.floor(Math.random() * 0x1_0000_0000) >>> 0
}

const DEFAULT_MAX_QUEUED = 4 << 20

/**
 * A FIFO with O(1) push and shift (`Array.prototype.shift` copies the whole array once it is
 * large): a head index into an array, compacted when the consumed part is at least half of it.
 */
class Fifo<T> {
  private items: T[] = []
  private head = 0

  get length(): number {
    return this.items.length - this.head
  }

  push(item: T): void {
    this.items.push(item)
  }

  /** The first item (the FIFO must not be empty). */
  peek(): T {
    return this.items[this.head]
  }

  /** Removes and returns the first item (the FIFO must not be empty). */
  shift(): T {
    const item = this.items[this.head]
    this.items[this.head] = undefined as T // (no reference kept to a released chunk)
    this.head++
    if (this.head === this.items.length) {
      this.items = []
      this.head = 0
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    return item
  }

  clear(): void {
    this.items = []
    this.head = 0
  }
}

/**
 * Cuts the link on `socket`: a reset (RST), as a half-open peer must see, except once `end()` was
 * called on it. Then its shutdown may still be pending in libuv, and node cannot reset it:
 * `uv_tcp_close_reset` fails with EINVAL, yet node marks the handle closing and never closes it
 * (Node 20: the fd stays open, and at exit the process spins at 100% CPU in its handle cleanup,
 * waiting for that close). Such a socket is destroyed instead (its FIN was sent or is pending; the
 * kernel still resets on unread input). A socket still connecting is cut once connected.
 */
function cutSocket(socket: Socket): void {
  if (socket.destroyed) return
  if (socket.connecting) {
    socket.once('connect', () => cutSocket(socket))
    return
  }
  if (socket.writableEnded) socket.destroy()
  else socket.resetAndDestroy()
}

/**
 * One direction of one connection: chunks read from `src` are queued with their release times and
 * written to `dst` in order by a single timer (so a later chunk never overtakes an earlier one).
 */
class DelayedDirection {
  private readonly queue = new Fifo<{ chunk: Buffer; at: number }>()
  private queuedBytes = 0
  private lastRelease = 0
  private timer: NodeJS.Timeout | undefined
  private ended = false
  private dstFull = false
  private queueFull = false

  constructor(
    private readonly src: Socket,
    private readonly dst: Socket,
    private readonly delay: () => number,
    private readonly maxQueuedBytes: number,
  ) {
    src.on('data', (chunk: Buffer) => this.onData(chunk))
    src.on('end', () => {
      this.ended = true
      this.flush()
    })
    dst.on('drain', () => {
      this.dstFull = false
      this.resumeIfClear()
    })
  }

  private onData(chunk: Buffer): void {
    const now = performance.now()
    const at = Math.max(this.lastRelease, now + this.delay())
    this.lastRelease = at
    this.queue.push({ chunk, at })
    this.queuedBytes += chunk.length
    if (this.queuedBytes > this.maxQueuedBytes) {
      this.queueFull = true
      this.src.pause()
    }
    this.schedule()
  }

  private schedule(): void {
    if (this.timer !== undefined || this.queue.length === 0) return
    const wait = Math.max(0, Math.ceil(this.queue.peek().at - performance.now()))
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.flush()
    }, wait)
  }

  private flush(): void {
    if (this.timer !== undefined) return // the timer flushes when the head is due
    const now = performance.now()
    while (this.queue.length > 0 && this.queue.peek().at <= now) {
      const { chunk } = this.queue.shift()
      this.queuedBytes -= chunk.length
      if (this.dst.destroyed) continue
      if (!this.dst.write(chunk)) {
        this.dstFull = true
        this.src.pause()
      }
    }
    if (this.queueFull && this.queuedBytes <= this.maxQueuedBytes / 2) {
      this.queueFull = false
      this.resumeIfClear()
    }
    if (this.queue.length === 0) {
      if (this.ended && !this.dst.destroyed) this.dst.end()
      return
    }
    this.schedule()
  }

  private resumeIfClear(): void {
    if (!this.dstFull && !this.queueFull && !this.src.destroyed) this.src.resume()
  }

  /** Drops what is queued (the connection is being torn down). */
  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.queue.clear()
    this.queuedBytes = 0
  }
}

export class WanProxy {
  /** The seed of this proxy's delays (print it to reproduce a run). */
  readonly seed: number
  private readonly connections = new Set<() => void>()
  private closing: Promise<void> | undefined

  private constructor(
    private readonly server: Server,
    readonly host: string,
    /** The port the proxy listens on. */
    readonly port: number,
    seed: number,
  ) {
    this.seed = seed
  }

  /** Starts listening; resolves once the port is bound. */
  static async start(options: WanProxyOptions): Promise<WanProxy> {
    const delayMs = options.delayMs
    const jitterMs = options.jitterMs ?? 0
    if (!(Number.isFinite(delayMs) && delayMs >= 0)) throw new RangeError('delayMs must be >= 0')
    if (!(Number.isFinite(jitterMs) && jitterMs >= 0)) throw new RangeError('jitterMs must be >= 0')
    const seed = (options.seed ?? randomSeed()) >>> 0
    const random = seededRandom(seed)
    const delay = (): number => Math.max(0, delayMs + (random() * 2 - 1) * jitterMs)
    const targetHost = options.targetHost ?? '127.0.0.1'
    const maxQueued = options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED
    const host = options.host ?? '127.0.0.1'
    let proxy: WanProxy | undefined
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => {
      if (proxy === undefined || proxy.closing !== undefined) {
        client.destroy()
        return
      }
      const upstream = tcpConnect({ host: targetHost, port: options.targetPort, allowHalfOpen: true })
      client.setNoDelay(true)
      upstream.setNoDelay(true)
      const up = new DelayedDirection(client, upstream, delay, maxQueued)
      const down = new DelayedDirection(upstream, client, delay, maxQueued)
      const teardown = (): void => {
        up.stop()
        down.stop()
        // A reset, not a FIN: the link is cut, as a half-open peer must see.
        cutSocket(client)
        cutSocket(upstream)
        proxy?.connections.delete(teardown)
      }
      proxy.connections.add(teardown)
      // An error on either side ends the link both ways; a clean close waits for the other side.
      client.on('error', teardown)
      upstream.on('error', teardown)
      let closed = 0
      const onClose = (hadError: boolean): void => {
        if (hadError || ++closed === 2) teardown()
      }
      client.on('close', onClose)
      upstream.on('close', onClose)
      client.resume()
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen({ host, port: options.port ?? 0 }, () => {
        server.off('error', reject)
        resolve()
      })
    })
    const address = server.address()
    if (address === null || typeof address === 'string') throw new Error('the proxy bound no port')
    proxy = new WanProxy(server, host, address.port, seed)
    return proxy
  }

  /** The multiaddr of the proxy's listening address. */
  get multiaddr(): string {
    return `/ip4/${this.host}/tcp/${this.port}`
  }

  /** Stops listening and destroys every proxied connection (both sides). Safe to call twice. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.server.close(() => resolve())
      for (const teardown of [...this.connections]) teardown()
    })
    return this.closing
  }
}
