/**
 * A non-member's connection flood for tests: idle TCP connections (no byte ever sent) from
 * several loopback source addresses to a set of ports, a burst per port every period, replacing
 * those the target closes. Bounded in count (at most `maxOpenPerPort` open per port) and in time
 * (it stops itself after `maxDurationMs`).
 */
import { connect, type Socket } from 'node:net'

export interface IdleFloodOptions {
  readonly host: string
  readonly ports: readonly number[]
  /** Source addresses, used in turn (e.g. 127.0.0.2..127.0.0.9; not the members' own). */
  readonly sources: readonly string[]
  /** New connections per port and period... */
  readonly burst: number
  readonly periodMs: number
  /** ...while fewer than this many are open to the port. */
  readonly maxOpenPerPort: number
  readonly maxDurationMs: number
}

export interface IdleFloodStats {
  /** Connection attempts made. */
  readonly attempts: number
  /** Attempts that the target accepted at the TCP level. */
  readonly connected: number
  /** Connections the target closed or reset (it refused or timed out the handshake). */
  readonly closedByTarget: number
}

export class IdleFlood {
  private readonly open = new Map<number, Set<Socket>>()
  private timer: NodeJS.Timeout | undefined
  private stopTimer: NodeJS.Timeout | undefined
  private nextSource = 0
  private attempts = 0
  private connected = 0
  private closedByTarget = 0
  private stopped = false
  private readonly waiters: { readonly count: number; readonly resolve: () => void }[] = []

  constructor(private readonly options: IdleFloodOptions) {
    for (const port of options.ports) this.open.set(port, new Set())
  }

  start(): void {
    this.timer = setInterval(() => this.topUp(), this.options.periodMs)
    this.stopTimer = setTimeout(() => this.stop(), this.options.maxDurationMs)
    this.stopTimer.unref()
    this.topUp()
  }

  stop(): void {
    this.stopped = true
    clearInterval(this.timer)
    clearTimeout(this.stopTimer)
    for (const sockets of this.open.values()) {
      for (const socket of sockets) socket.destroy()
      sockets.clear()
    }
  }

  /** Started and not stopped yet (by `stop()` or its time bound). */
  get running(): boolean {
    return this.timer !== undefined && !this.stopped
  }

  /** Resolves once the target has accepted `count` connections at the TCP level in all. */
  untilConnected(count: number, timeoutMs: number): Promise<void> {
    if (this.connected >= count) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`the flood made ${this.connected}/${count} connections in ${timeoutMs} ms`)),
        timeoutMs,
      )
      this.waiters.push({
        count,
        resolve: () => {
          clearTimeout(timer)
          resolve()
        },
      })
    })
  }

  get stats(): IdleFloodStats {
    return { attempts: this.attempts, connected: this.connected, closedByTarget: this.closedByTarget }
  }

  private onConnect(): void {
    this.connected++
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      if (this.connected < this.waiters[i].count) continue
      this.waiters[i].resolve()
      this.waiters.splice(i, 1)
    }
  }

  private topUp(): void {
    if (this.stopped) return
    const { host, sources, burst, maxOpenPerPort } = this.options
    for (const [port, sockets] of this.open) {
      for (let i = 0; i < burst && sockets.size < maxOpenPerPort; i++) {
        const localAddress = sources[this.nextSource++ % sources.length]
        const socket = connect({ host, port, localAddress })
        this.attempts++
        sockets.add(socket)
        socket.on('connect', () => this.onConnect())
        // Whatever the target sends (a noise handshake never comes from its side first) is ignored.
        socket.on('data', () => {})
        socket.on('error', () => {})
        socket.on('close', () => {
          if (sockets.delete(socket) && !this.stopped) this.closedByTarget++
        })
      }
    }
  }
}
