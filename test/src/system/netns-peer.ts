/**
 * A `parsec-peer start` process inside one host namespace of a NetnsLab, listening on the host's
 * TEST-NET address, with its control API on the namespace's loopback reached through an api-relay
 * (both children of the lab, so the lab stops them whatever happens).
 */
import type { ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { eventOf, PEER_BIN, type ReadyEvent } from 'parsec-peer/local-section'
import type { NetnsLab } from './netns.js'
import { SocketApiClient } from './socket-api-client.js'

const RELAY = fileURLToPath(new URL('./api-relay.js', import.meta.url))
const STDERR_LINES = 20

/** The libp2p port and the API port of every peer: each has a namespace (so ports) of its own. */
export const PEER_PORT = 4001
export const API_PORT = 8080

export interface NetnsPeerOptions {
  readonly keyFile: string
  /** A founder's genesis file; or `join`, for a peer that joins (`start --join`). */
  readonly genesisFile?: string
  readonly join?: { readonly sectionId: string; readonly bootstrap: readonly string[] }
  /** More arguments of `start` (e.g. membership flags). */
  readonly extraArgs?: readonly string[]
  readonly dataDir: string
  /** Where the API relay's socket goes. */
  readonly socketDir: string
  readonly readyTimeoutMs: number
}

export class NetnsPeer {
  private constructor(
    readonly index: number,
    readonly child: ChildProcess,
    readonly ready: ReadyEvent,
    readonly api: SocketApiClient,
    readonly stderr: readonly string[],
    readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>,
  ) {}

  static listenAddress(lab: NetnsLab, index: number): string {
    return `/ip4/${lab.hosts[index].address}/tcp/${PEER_PORT}`
  }

  /** Starts the peer of host `index` and its API relay; resolves once both are ready. */
  static async start(lab: NetnsLab, index: number, options: NetnsPeerOptions): Promise<NetnsPeer> {
    const apiAddress = `127.0.0.1:${API_PORT}`
    const child = lab.spawn(
      index,
      process.execPath,
      [
        PEER_BIN,
        'start',
        '--key',
        options.keyFile,
        ...(options.join === undefined
          ? ['--genesis', options.genesisFile ?? '']
          : ['--join', options.join.sectionId, ...options.join.bootstrap.flatMap((a) => ['--bootstrap', a])]),
        '--listen',
        NetnsPeer.listenAddress(lab, index),
        '--data-dir',
        options.dataDir,
        '--api',
        apiAddress,
        '--json',
        '--exit-with-stdin',
        ...(options.extraArgs ?? []),
      ],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    )
    const stderr: string[] = []
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    )
    child.stdin?.on('error', () => {})
    createInterface({ input: child.stderr! }).on('line', (line) => {
      stderr.push(line)
      if (stderr.length > STDERR_LINES) stderr.shift()
    })
    const ready = await firstLine(child, options.readyTimeoutMs, exited, (line) =>
      eventOf(line)?.event === 'ready' ? (eventOf(line) as unknown as ReadyEvent) : undefined,
    ).catch((error: Error) => {
      throw new Error(`peer ${index}: ${error.message}: ${stderr.join(' | ')}`)
    })

    const socketPath = join(options.socketDir, `api-${index}.sock`)
    const relay = lab.spawn(index, process.execPath, [RELAY, socketPath, String(API_PORT)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    })
    relay.stdin?.on('error', () => {})
    const relayExited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      relay.once('exit', (code, signal) => resolve({ code, signal })),
    )
    await firstLine(relay, options.readyTimeoutMs, relayExited, (line) =>
      line === 'ready' ? true : undefined,
    )
    return new NetnsPeer(index, child, ready, new SocketApiClient(socketPath, apiAddress), stderr, exited)
  }

  /** SIGTERM (a clean stop), SIGKILL after `killAfterMs`; resolves with how it exited. */
  async stop(killAfterMs = 5000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM')
    const timer = setTimeout(() => this.child.kill('SIGKILL'), killAfterMs)
    try {
      return await this.exited
    } finally {
      clearTimeout(timer)
    }
  }
}

/** The first stdout line `match` accepts; rejects if the child exits first or after `timeoutMs`. */
function firstLine<T>(
  child: ChildProcess,
  timeoutMs: number,
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>,
  match: (line: string) => T | undefined,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not ready within ${timeoutMs} ms`)), timeoutMs)
    // Keep reading stdout for the child's whole life, or its writes would block.
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let value: T | undefined
      try {
        value = match(line)
      } catch (error) {
        clearTimeout(timer)
        reject(error)
        return
      }
      if (value === undefined) return
      clearTimeout(timer)
      resolve(value)
    })
    exited.then(({ code, signal }) => {
      clearTimeout(timer)
      reject(new Error(`exited (${signal ?? `code ${code}`}) before it was ready`))
    })
  })
}
