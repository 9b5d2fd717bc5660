/**
 * A local section of `parsec-peer start` processes on 127.0.0.1, for the demo, tests and
 * benchmarks: identities, free ports and the genesis in a directory, one child process per peer
 * (each with its own data directory, so a peer can be killed and restarted where it left off), and
 * a client of the control API (by default the peers' APIs require a bearer token made for the
 * section, which the clients send).
 *
 * ```ts
 * const section = await LocalSection.create({ peers: 4 })
 * try {
 *   await section.startAll()
 *   await section.waitConnected(30_000)
 *   await section.api(0).vote([payload])
 *   await section.kill(2) // SIGKILL
 *   await section.start(2) // same data directory, same libp2p port
 *   const joiner = await section.addJoiner([section.peers[0].ready!.listen[0]])
 *   await section.start(joiner.index) // `start --join SECTION_ID --bootstrap ...`
 *   await section.waitMember(joiner.index, 60_000)
 * } finally {
 *   await section.close() // stops every child, removes the directory
 * }
 * ```
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { multiaddr } from '@multiformats/multiaddr'
import {
  createGenesis,
  genesisToFile,
  type MembershipStatus,
  type SectionStatus,
} from '@parsec-section/p2p-section'
import type { ConsensusMode } from '@parsec-section/parsec-core'
import { readApiTokenFile, writeNewApiTokenFile } from './api-token.js'
import type { BlockJson } from './block-json.js'
import { generateIdentity, writeKeyFile } from './identity-file.js'
import type { ProcessMemoryJson } from './process-memory.js'
import { randomSeed, WanProxy } from './wan-proxy.js'

/** The `parsec-peer` executable of this package. */
export const PEER_BIN = fileURLToPath(new URL('../../bin/parsec-peer.js', import.meta.url))

/** Ports free on `host` right now: all bound at once (so distinct), read, then released. */
export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const servers: Server[] = []
  try {
    const ports: number[] = []
    for (let i = 0; i < count; i++) {
      const server = createServer()
      servers.push(server)
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen({ host, port: 0, exclusive: true }, () => resolve())
      })
      const address = server.address()
      if (address === null || typeof address === 'string') throw new Error('no port bound')
      ports.push(address.port)
    }
    return ports
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))))
  }
}

// ------------------------------------------------------------------------------------ API client

/**
 * `GET /status`: the service's status and membership status, plus where this peer listens and
 * serves, and its memory.
 */
export interface StatusJson extends SectionStatus, MembershipStatus {
  readonly members: readonly string[]
  readonly listen: string[]
  readonly api: string
  readonly uptimeMs: number
  readonly memory: ProcessMemoryJson
}

export interface BlocksJson {
  readonly from: number
  readonly next: number
  /** The first block the peer keeps (`--block-retention`; 0: it keeps all). */
  readonly retainedFrom: number
  readonly blocks: BlockJson[]
}

/** One transaction of `GET /transactions`. */
export interface TransactionJson {
  readonly position: number
  readonly index: number
  /** The transaction as lowercase hex. */
  readonly tx: string
  /** The peer that submitted it. */
  readonly proposer: string | null
  /** Epoch ms when this process delivered its block; null for blocks restored at startup. */
  readonly deliveredAt: number | null
}

export interface TransactionsJson {
  readonly from: number
  readonly next: number
  readonly retainedFrom: number
  readonly transactions: TransactionJson[]
}

/** `GET /transactions?summary=1`: per block, its transactions' count and digest. */
export interface TransactionSummariesJson {
  readonly from: number
  readonly next: number
  readonly retainedFrom: number
  readonly blocks: {
    readonly position: number
    readonly transactions: number
    readonly sha256: string
    readonly deliveredAt: number | null
  }[]
}

/** `from`, `limit` and `wait` of `GET /blocks` and `GET /transactions`. */
export interface PageQuery {
  readonly from?: number
  readonly limit?: number
  readonly wait?: number
}

/** The query string (with its `?`, or empty) of a page request. */
function pageQuery(options: PageQuery): string {
  const query = new URLSearchParams()
  for (const name of ['from', 'limit', 'wait'] as const) {
    const value = options[name]
    if (value !== undefined) query.set(name, String(value))
  }
  const q = query.toString()
  return q === '' ? '' : `?${q}`
}

/** An error answer of the control API. */
export class ApiRequestError extends Error {
  override readonly name = 'ApiRequestError'
  constructor(
    readonly status: number,
    readonly code: string,
    /** The answer's own message. */
    readonly detail: string,
    /** A refusal's typed reason (e.g. `POST /leave`'s `LastMember`). */
    readonly reason?: string,
  ) {
    super(`${status} ${code}${reason === undefined ? '' : ` (${reason})`}: ${detail}`)
  }
}

export interface RawResponse {
  readonly status: number
  readonly headers: Headers
  readonly text: string
  /** The body parsed as JSON (undefined when it is not JSON). */
  readonly json: unknown
}

/** How many times a read is sent when the peer drops its connection without an answer. */
const READ_ATTEMPTS = 3

/**
 * A request that failed on its connection before any answer: the peer's HTTP server closed a
 * kept-alive connection just as it was reused (undici: "other side closed"), or reset it.
 */
function droppedConnection(error: unknown): boolean {
  if (!(error instanceof TypeError)) return false
  const code = (error.cause as { code?: unknown } | undefined)?.code
  return code === 'UND_ERR_SOCKET' || code === 'UND_ERR_CLOSED' || code === 'ECONNRESET'
}

/** A client of one peer's control API (`host:port`), with the API's bearer token if it has one. */
export class ApiClient {
  readonly base: string

  constructor(
    readonly address: string,
    private readonly token?: string,
  ) {
    this.base = `http://${address}`
  }

  /** Any request (with the token, unless `headers` sets `authorization`); never throws for an HTTP error status. */
  async request(
    method: string,
    path: string,
    body?: string | Uint8Array,
    headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' },
    timeoutMs = 30_000,
  ): Promise<RawResponse> {
    const response = await fetch(`${this.base}${path}`, {
      method,
      headers: this.token === undefined ? headers : { authorization: `Bearer ${this.token}`, ...headers },
      ...(body === undefined ? {} : { body }),
      signal: AbortSignal.timeout(timeoutMs),
    })
    const text = await response.text()
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      json = undefined
    }
    return { status: response.status, headers: response.headers, text, json }
  }

  private async call<T>(method: string, path: string, body?: unknown, timeoutMs?: number): Promise<T> {
    const send = () =>
      this.request(method, path, body === undefined ? undefined : JSON.stringify(body), undefined, timeoutMs)
    let response: RawResponse | undefined
    // A read goes again when its connection dropped; a write never (it may have been taken).
    for (let attempt = 1; response === undefined; attempt++) {
      try {
        response = await send()
      } catch (error) {
        if (method !== 'GET' || attempt >= READ_ATTEMPTS || !droppedConnection(error)) throw error
      }
    }
    if (response.status >= 400) {
      const error = (
        response.json as { error?: { code?: string; message?: string; reason?: string } } | undefined
      )?.error
      throw new ApiRequestError(
        response.status,
        error?.code ?? 'Unknown',
        error?.message ?? response.text,
        typeof error?.reason === 'string' ? error.reason : undefined,
      )
    }
    return response.json as T
  }

  /** With `gc`, the peer runs a full garbage collection before reading its memory (if node exposes `gc`). */
  status(options: { gc?: boolean } = {}): Promise<StatusJson> {
    return this.call('GET', options.gc === true ? '/status?gc=1' : '/status')
  }

  /** Votes for the payloads in order; resolves with the number accepted. */
  async vote(payloads: readonly Uint8Array[]): Promise<number> {
    const body = { payloads: payloads.map((p) => Buffer.from(p).toString('hex')) }
    return (await this.call<{ accepted: number }>('POST', '/votes', body)).accepted
  }

  /** `POST /transactions`: submits them in order; resolves once all are in voted batches. */
  async submit(txs: readonly Uint8Array[]): Promise<number> {
    const body = { txs: txs.map((tx) => Buffer.from(tx).toString('hex')) }
    return (await this.call<{ accepted: number }>('POST', '/transactions', body, 120_000)).accepted
  }

  /** Delivered transactions from block `from` on; with `wait`, long-polls for a block at or after it. */
  transactions(options: PageQuery = {}): Promise<TransactionsJson> {
    return this.call('GET', `/transactions${pageQuery(options)}`, undefined, (options.wait ?? 0) + 30_000)
  }

  /** `GET /transactions?summary=1`: per block from `from` on, its transactions' count and digest. */
  transactionSummaries(options: PageQuery = {}): Promise<TransactionSummariesJson> {
    const query = pageQuery(options)
    const path = `/transactions${query}${query === '' ? '?' : '&'}summary=1`
    return this.call('GET', path, undefined, (options.wait ?? 0) + 30_000)
  }

  /** `POST /leave`: the peer starts leaving (an `ApiRequestError` 409 `LeaveRefused` if refused). */
  leave(): Promise<{ leaving: true }> {
    return this.call('POST', '/leave', {})
  }

  /** Blocks from `from` on; with `wait`, long-polls up to that many ms for the first one. */
  blocks(options: PageQuery = {}): Promise<BlocksJson> {
    return this.call('GET', `/blocks${pageQuery(options)}`, undefined, (options.wait ?? 0) + 30_000)
  }
}

// ------------------------------------------------------------------------------------ the section

export interface ReadyEvent {
  readonly event: 'ready'
  readonly peerId: string
  readonly sectionId: string
  readonly listen: string[]
  readonly api: string
  /** Our state in the section at start, and the agreed voters (as in `GET /status`). */
  readonly self: MembershipStatus['self']
  readonly members: readonly string[]
}

export interface LocalPeer {
  readonly index: number
  readonly peerId: string
  readonly keyFile: string
  readonly dataDir: string
  /** The libp2p TCP port (kept across restarts) and the listen multiaddr. */
  readonly port: number
  readonly listen: string
  /**
   * The multiaddr the other peers reach this one at (in the genesis, and announced): `listen`, or
   * with `wan` its delaying proxy's address.
   */
  readonly address: string
  /** With `wan`: the delaying proxy in front of `port`. */
  readonly proxy?: WanProxy
  /** The running child, its ready line and API client; undefined while stopped. */
  child?: ChildProcess
  ready?: ReadyEvent
  api?: ApiClient
  /** Resolves when the running child exits. */
  exited?: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** The last lines the child wrote on stderr (for error messages). */
  readonly stderr: string[]
  /**
   * A peer added by `addJoiner`: it joins through these addresses (`start --join`) on its first
   * start, and resumes from its data directory alone (`--data-dir`, no key, no section) after.
   */
  readonly joinBootstrap?: readonly string[]
}

export interface LocalSectionOptions {
  readonly peers: number
  readonly mode?: ConsensusMode
  /** Where to put keys, genesis and data directories; default a new temp directory. */
  readonly dir?: string
  /** Leave the directory in place on close (default: remove it). */
  readonly keepDir?: boolean
  /** The executable (default this package's bin), run with `process.execPath`. */
  readonly bin?: string
  readonly readyTimeoutMs?: number
  /** Extra arguments for every `start`. */
  readonly startArgs?: readonly string[]
  /** Options for node itself, before the executable (e.g. `--expose-gc`). */
  readonly nodeArgs?: readonly string[]
  /**
   * The control API's bearer token file, given to every peer (`--api-token`) and used by the API
   * clients. Default: a new random token in `DIR/api-token`; null: the peers' APIs take no token.
   */
  readonly apiTokenFile?: string | null
  /**
   * A WAN-like section: every peer listens on its own port, but the others reach it only through
   * a proxy (wan-proxy.ts) that delays each chunk by `delayMs` ± `jitterMs` each way; the proxy's
   * address is the one in the genesis and the one the peer announces (`--announce`). Each peer's
   * proxy is seeded from `seed` (default random; `LocalSection.wanSeed` says which).
   */
  readonly wan?: WanOptions
  /** Every line a child prints (stdout lines are JSON events). */
  readonly onLine?: (peer: number, stream: 'stdout' | 'stderr', line: string) => void
}

/** The delay of a WAN-like local section's links (`LocalSectionOptions.wan`). */
export interface WanOptions {
  readonly delayMs: number
  readonly jitterMs?: number
  readonly seed?: number
}

/** The seed of peer `index`'s proxy, from the section's seed. */
function proxySeed(seed: number, index: number): number {
  return (seed + Math.imul(index, 0x9e3779b9)) >>> 0
}

/** Starts the delaying proxy in front of `port` when `wan` is set. */
async function startProxy(
  wan: WanOptions | undefined,
  seed: number,
  index: number,
  port: number,
): Promise<WanProxy | undefined> {
  if (wan === undefined) return undefined
  return WanProxy.start({
    targetPort: port,
    delayMs: wan.delayMs,
    jitterMs: wan.jitterMs ?? 0,
    seed: proxySeed(seed, index),
  })
}

/** A peer's `--json` output line as its event (`{"event", ...}`, pino's `time`, `level`, `msg` too), or undefined. */
export function eventOf(line: string): ({ readonly event: string } & Record<string, unknown>) | undefined {
  if (!line.startsWith('{')) return undefined
  try {
    const parsed = JSON.parse(line) as { event?: unknown }
    return typeof parsed.event === 'string'
      ? (parsed as { event: string } & Record<string, unknown>)
      : undefined
  } catch {
    return undefined
  }
}

const STDERR_LINES = 20
const KILL_AFTER_MS = 3000

/**
 * How long a local section's peers may take to start (each) and to connect (all): 30 s, and 8 s
 * per peer beyond 3. Every peer process shares the machine's cores, and a section of N peers makes
 * N(N-1)/2 connections at once, each with its handshake, identify, gossipsub and DHT exchanges: 32
 * peers on two cores busy with other work took 190 s to get all 496 connected (a ceiling: on an
 * idle machine it takes far less).
 */
export function startUpTimeoutMs(peers: number): number {
  return Math.max(30_000, peers * 8_000)
}

export class LocalSection {
  readonly dir: string
  readonly genesisFile: string
  readonly sectionId: string
  /** The founders (the genesis group), then the joiners in the order they were added. */
  readonly peers: LocalPeer[]
  /** The peers' API token file and token (undefined: no token). */
  readonly apiToken: { readonly file: string; readonly token: string } | undefined
  /** With `wan`: the seed the proxies' delays derive from (print it to reproduce a run). */
  readonly wanSeed: number | undefined
  private closed = false
  /** The `parsec-peer dht` node of `startDht`, if any. */
  private dht: ChildProcess | undefined

  private constructor(
    private readonly options: LocalSectionOptions,
    dir: string,
    genesisFile: string,
    sectionId: string,
    peers: LocalPeer[],
    apiToken: { readonly file: string; readonly token: string } | undefined,
  ) {
    this.dir = dir
    this.genesisFile = genesisFile
    this.sectionId = sectionId
    this.peers = peers
    this.apiToken = apiToken
    this.wanSeed = options.wan === undefined ? undefined : (options.wan.seed ?? 0) >>> 0
  }

  /** Writes N key files, picks N free ports and writes the genesis with those addresses. */
  static async create(options: LocalSectionOptions): Promise<LocalSection> {
    if (!Number.isInteger(options.peers) || options.peers < 1)
      throw new RangeError('peers must be at least 1')
    // Read before anything is created: a bad file is a UsageError (exit 2 in the CLI).
    const givenToken =
      typeof options.apiTokenFile === 'string'
        ? { file: options.apiTokenFile, token: readApiTokenFile(options.apiTokenFile) }
        : undefined
    const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'parsec-section-'))
    const wan =
      options.wan === undefined ? undefined : { ...options.wan, seed: options.wan.seed ?? randomSeed() }
    const proxies: (WanProxy | undefined)[] = []
    try {
      mkdirSync(dir, { recursive: true })
      const ports = await freePorts(options.peers)
      for (let i = 0; i < options.peers; i++) proxies.push(await startProxy(wan, wan?.seed ?? 0, i, ports[i]))
      const identities = await Promise.all(Array.from({ length: options.peers }, () => generateIdentity()))
      const peers: LocalPeer[] = identities.map((identity, index) => {
        const keyFile = join(dir, `peer-${index}.key.json`)
        writeKeyFile(keyFile, identity)
        return {
          index,
          peerId: identity.peerId.toString(),
          keyFile,
          dataDir: join(dir, `peer-${index}`),
          port: ports[index],
          listen: `/ip4/127.0.0.1/tcp/${ports[index]}`,
          address: proxies[index]?.multiaddr ?? `/ip4/127.0.0.1/tcp/${ports[index]}`,
          ...(proxies[index] === undefined ? {} : { proxy: proxies[index] }),
          stderr: [],
        }
      })
      const genesis = createGenesis(
        identities.map((identity, i) => ({ peerId: identity.peerId, addrs: [multiaddr(peers[i].address)] })),
        options.mode ?? 'single',
      )
      const genesisFile = join(dir, 'genesis.json')
      writeFileSync(genesisFile, `${JSON.stringify(genesisToFile(genesis), null, 2)}\n`)
      let apiToken = givenToken
      if (options.apiTokenFile === undefined) {
        const file = join(dir, 'api-token')
        apiToken = { file, token: writeNewApiTokenFile(file) }
      }
      const sectionOptions = wan === undefined ? options : { ...options, wan }
      return new LocalSection(sectionOptions, dir, genesisFile, genesis.sectionId, peers, apiToken)
    } catch (error) {
      await Promise.all(proxies.map((proxy) => proxy?.close()))
      if (options.dir === undefined) rmSync(dir, { recursive: true, force: true })
      throw error
    }
  }

  /** Adds a peer of no genesis (a new key, port and data directory) that joins through `bootstrap`. */
  async addJoiner(bootstrap: readonly string[]): Promise<LocalPeer> {
    const index = this.peers.length
    const [port] = await freePorts(1)
    const proxy = await startProxy(this.options.wan, this.wanSeed ?? 0, index, port)
    const identity = await generateIdentity()
    const keyFile = join(this.dir, `peer-${index}.key.json`)
    writeKeyFile(keyFile, identity)
    const peer: LocalPeer = {
      index,
      peerId: identity.peerId.toString(),
      keyFile,
      dataDir: join(this.dir, `peer-${index}`),
      port,
      listen: `/ip4/127.0.0.1/tcp/${port}`,
      address: proxy?.multiaddr ?? `/ip4/127.0.0.1/tcp/${port}`,
      ...(proxy === undefined ? {} : { proxy }),
      stderr: [],
      joinBootstrap: [...bootstrap],
    }
    this.peers.push(peer)
    return peer
  }

  /**
   * Starts a `parsec-peer dht` node on 127.0.0.1 (a bootstrap node of the shared DHT, stopped with
   * the section) and resolves with its addresses (each ending in /p2p/PEERID).
   */
  async startDht(timeoutMs = 30_000): Promise<{ readonly peerId: string; readonly addrs: string[] }> {
    if (this.dht !== undefined) throw new Error('the DHT node is already running')
    const child = spawn(
      process.execPath,
      [this.options.bin ?? PEER_BIN, 'dht', '--listen', '/ip4/127.0.0.1/tcp/0', '--json'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    this.dht = child
    const stderr: string[] = []
    createInterface({ input: child.stderr! }).on('line', (line) => {
      stderr.push(line)
      if (stderr.length > STDERR_LINES) stderr.shift()
    })
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL')
        reject(new Error(`parsec-peer dht printed nothing in ${timeoutMs} ms: ${stderr.join(' | ')}`))
      }, timeoutMs)
      let first = true
      createInterface({ input: child.stdout! }).on('line', (line) => {
        if (!first) return
        first = false
        clearTimeout(timer)
        try {
          resolve(JSON.parse(line) as { peerId: string; addrs: string[] })
        } catch (error) {
          reject(error)
        }
      })
      child.once('exit', (code) => {
        clearTimeout(timer)
        reject(new Error(`parsec-peer dht exited (${code}) before printing: ${stderr.join(' | ')}`))
      })
    })
  }

  /** Resolves once peer `index` reports itself a member in `GET /status` (a joiner: voted in). */
  async waitMember(index: number, timeoutMs: number, pollMs = 200): Promise<void> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const self = (await this.peers[index].api?.status().catch(() => undefined))?.self
      if (self === 'member') return
      if (Date.now() >= deadline)
        throw new Error(`peer ${index} is ${self ?? 'not running'} after ${timeoutMs} ms`)
      await new Promise((resolve) => setTimeout(resolve, pollMs))
    }
  }

  /** How peer `index` names its section: a founder its genesis, a joiner its section id once. */
  private sectionArgs(peer: LocalPeer): string[] {
    if (peer.joinBootstrap === undefined) return ['--key', peer.keyFile, '--genesis', this.genesisFile]
    if (existsSync(join(peer.dataDir, 'section.json'))) return []
    return [
      '--key',
      peer.keyFile,
      '--join',
      this.sectionId,
      ...peer.joinBootstrap.flatMap((addr) => ['--bootstrap', addr]),
    ]
  }

  api(index: number): ApiClient {
    const api = this.peers[index].api
    if (api === undefined) throw new Error(`peer ${index} is not running`)
    return api
  }

  /**
   * Spawns peer `index` (with its data directory and port) and resolves on its ready line;
   * `extraArgs` are added to this start's arguments (after `startArgs`).
   */
  async start(index: number, extraArgs: readonly string[] = []): Promise<LocalPeer> {
    if (this.closed) throw new Error('the local section is closed')
    const peer = this.peers[index]
    if (peer.child !== undefined) throw new Error(`peer ${index} is already running`)
    const args = [
      ...(this.options.nodeArgs ?? []),
      this.options.bin ?? PEER_BIN,
      'start',
      ...this.sectionArgs(peer),
      '--listen',
      peer.listen,
      // Behind a proxy: the others reach this peer only through it.
      ...(peer.address === peer.listen ? [] : ['--announce', peer.address]),
      '--data-dir',
      peer.dataDir,
      '--api',
      '127.0.0.1:0',
      ...(this.apiToken === undefined ? [] : ['--api-token', this.apiToken.file]),
      '--json',
      '--exit-with-stdin',
      ...(this.options.startArgs ?? []),
      ...extraArgs,
    ]
    const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] })
    peer.child = child
    peer.stderr.length = 0
    peer.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }))
    })
    peer.exited.then(() => {
      if (peer.child === child) {
        peer.child = undefined
        peer.ready = undefined
        peer.api = undefined
      }
    })
    child.stdin?.on('error', () => {})
    createInterface({ input: child.stderr! }).on('line', (line) => {
      peer.stderr.push(line)
      if (peer.stderr.length > STDERR_LINES) peer.stderr.shift()
      this.options.onLine?.(index, 'stderr', line)
    })
    const ready = await new Promise<ReadyEvent>((resolve, reject) => {
      const timeoutMs = this.options.readyTimeoutMs ?? startUpTimeoutMs(this.options.peers)
      const timer = setTimeout(() => {
        reject(new Error(`peer ${index} was not ready within ${timeoutMs} ms: ${peer.stderr.join(' | ')}`))
      }, timeoutMs)
      // Keep reading stdout for the child's whole life, or its writes would block.
      createInterface({ input: child.stdout! }).on('line', (line) => {
        this.options.onLine?.(index, 'stdout', line)
        const event = eventOf(line)
        if (event?.event !== 'ready') return
        clearTimeout(timer)
        resolve(event as unknown as ReadyEvent)
      })
      peer.exited?.then(({ code, signal }) => {
        clearTimeout(timer)
        reject(
          new Error(
            `peer ${index} exited (${signal ?? `code ${code}`}) before it was ready: ${peer.stderr.join(' | ')}`,
          ),
        )
      })
    }).catch(async (error) => {
      await this.kill(index)
      throw error
    })
    peer.ready = ready
    peer.api = new ApiClient(ready.api, this.apiToken?.token)
    return peer
  }

  async startAll(): Promise<void> {
    const results = await Promise.allSettled(this.peers.map((peer) => this.start(peer.index)))
    const failed = results.find((r) => r.status === 'rejected')
    if (failed !== undefined) throw (failed as PromiseRejectedResult).reason
  }

  /** Resolves once every running peer reports all other members connected. */
  async waitConnected(timeoutMs: number, pollMs = 100): Promise<void> {
    const deadline = Date.now() + timeoutMs
    const others = this.peers.length - 1
    for (;;) {
      const running = this.peers.filter((p) => p.api !== undefined)
      const statuses = await Promise.all(running.map((p) => p.api!.status().catch(() => undefined)))
      const counts = statuses.map((s) => s?.connected.length ?? -1)
      if (counts.every((c) => c >= others)) return
      if (Date.now() >= deadline) {
        throw new Error(`peers not all connected after ${timeoutMs} ms: connected members per peer ${counts}`)
      }
      await new Promise((resolve) => setTimeout(resolve, pollMs))
    }
  }

  /** Sends `signal` to peer `index` and waits for it to exit (SIGKILL: no cleanup at all). */
  async kill(index: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const peer = this.peers[index]
    const child = peer.child
    if (child === undefined || peer.exited === undefined) return
    const exited = peer.exited
    if (child.exitCode === null && child.signalCode === null) child.kill(signal)
    await exited
  }

  /** Stops peer `index` cleanly: SIGTERM, then SIGKILL if it has not exited after 3 s. */
  async stop(
    index: number,
    killAfterMs = KILL_AFTER_MS,
  ): Promise<{ code: number | null; signal: string | null }> {
    const peer = this.peers[index]
    const child = peer.child
    if (child === undefined || peer.exited === undefined) return { code: null, signal: null }
    const exited = peer.exited
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs)
    try {
      return await exited
    } finally {
      clearTimeout(timer)
    }
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.peers.map((peer) => this.stop(peer.index)))
    const dht = this.dht
    this.dht = undefined
    if (dht !== undefined && dht.exitCode === null && dht.signalCode === null) {
      const exited = new Promise((resolve) => dht.once('exit', resolve))
      dht.kill('SIGTERM')
      const timer = setTimeout(() => dht.kill('SIGKILL'), KILL_AFTER_MS)
      await exited
      clearTimeout(timer)
    }
  }

  /** Stops every peer and removes the directory (unless `keepDir`). Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.stopAll()
    await Promise.all(this.peers.map((peer) => peer.proxy?.close()))
    if (this.options.keepDir !== true) rmSync(this.dir, { recursive: true, force: true })
  }

  /**
   * For a command running this section: on SIGINT or SIGTERM the peers are stopped and the process
   * exits 1; at exit any child left is SIGKILLed. `interrupted` says whether a signal came;
   * `dispose` removes the handlers.
   */
  guardSignals(command: string): { readonly interrupted: boolean; dispose(): void } {
    let interrupted = false
    const onSignal = (): void => {
      if (interrupted) return
      interrupted = true
      console.error(`parsec-peer ${command}: interrupted; stopping the peers`)
      this.close().finally(() => process.exit(1))
    }
    const onExit = (): void => this.killAllNow()
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
    process.on('exit', onExit)
    return {
      get interrupted() {
        return interrupted
      },
      dispose() {
        process.off('SIGINT', onSignal)
        process.off('SIGTERM', onSignal)
        process.off('exit', onExit)
      },
    }
  }

  /** Synchronous last resort (process exit handlers): SIGKILL every child. */
  killAllNow(): void {
    for (const peer of this.peers) peer.child?.kill('SIGKILL')
    this.dht?.kill('SIGKILL')
  }
}
