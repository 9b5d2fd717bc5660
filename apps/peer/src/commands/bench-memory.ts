/**
 * `parsec-peer bench-memory`: heap bytes per retained event of a peer, live and after a restart.
 *
 * N in-process engines run what a live section runs (Ed25519 identities, Single mode, malice
 * detection on, the concrete coin), exchange gossip through the section's wire codec (so every
 * peer holds its own decoded copy of each event, and the codec's per-event caches fill as in a
 * live peer), persist their new events' bytes as the section's flush does, keep their delivered
 * blocks, and vote random 256-byte payloads at a
 * fixed rate (one per `--events-per-vote` events of the graph). At each checkpoint, after full
 * garbage collections, the heap (`heapUsed` + `arrayBuffers`) above the baseline taken before
 * the engines existed is divided by the events of all graphs: the bytes one peer retains per
 * event (a first small section, built and dropped before, keeps compiled code out of the
 * figure). The first peer is then restored from its stored event bytes as
 * `ParsecSectionService.start` does, and the restored engine is measured the same way (the heap
 * it adds), together with the peak heap of the restore.
 */

import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { decodeSync, encodeSync } from '@parsec-section/p2p-section'
import {
  type Block,
  decodePackedEvent,
  Ed25519SecretId,
  ed25519Scheme,
  emptyStep,
  encodePackedEvent,
  opaque,
  type PackedEvent,
  Parsec,
  type PublicId,
  type Step,
} from '@parsec-section/parsec-core'
import { intOption, parse, UsageError } from '../args.js'

const HELP = `usage: parsec-peer bench-memory [--peers LIST] [--events LIST] [--events-per-vote N]
                                [--payload-bytes N] [--seed N] [--json | --markdown]

Builds the gossip graph of an in-process section (Ed25519, Single mode, detection on, gossip
through the section's wire codec) and prints the heap bytes per retained event of one peer at
each checkpoint of --events (default 20000,100000), live and after a restore from its stored
events. --peers (default 4) is a comma-separated list of section sizes; --events-per-vote
(default 10) sets how often a random peer votes a --payload-bytes (default 256) payload.
Run with node's --expose-gc for the most exact figures (it is enabled at run time otherwise).`

export interface MemoryRow {
  peers: number
  events: number
  eventsPerVote: number
  blocks: number
  /** Heap per event of a live peer: the heap of all peers above the baseline / all their events. */
  liveBytesPerEvent: number
  /** Heap per event of the first peer restored from its stored events. */
  restoredBytesPerEvent: number
  /** Heap above the baseline at the restore's highest sample, per restored event. */
  restorePeakBytesPerEvent: number
  elapsedMs: number
}

type Gc = () => void

function collector(): Gc {
  const exposed = (globalThis as { gc?: Gc }).gc
  if (exposed !== undefined) return exposed
  setFlagsFromString('--expose-gc')
  return runInNewContext('gc') as Gc
}

/** Heap in use after full collections: V8's heap plus the ArrayBuffers' backing stores. */
async function settledHeap(gc: Gc): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc()
    // Let weak references and finalizers run between collections.
    await new Promise((resolve) => setImmediate(resolve))
  }
  const usage = process.memoryUsage()
  return usage.heapUsed + usage.arrayBuffers
}

/** A small deterministic generator (xorshift32) for the schedule and the payloads. */
class Xorshift {
  private state: number

  constructor(seed: number) {
    this.state = (seed ^ 0x9e3779b9) >>> 0 || 1
  }

  next(): number {
    let x = this.state
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    this.state = x >>> 0
    return this.state
  }

  below(n: number): number {
    return this.next() % n
  }

  bytes(length: number): Uint8Array {
    const out = new Uint8Array(length)
    for (let i = 0; i < length; i++) out[i] = this.next() & 0xff
    return out
  }
}

/** One peer as the section service holds it: the engine, how much of it is persisted, its blocks. */
interface BenchPeer {
  readonly secret: Ed25519SecretId
  readonly engine: Parsec
  persisted: number
  /** Decided and delivered blocks, as the section keeps them. */
  readonly blocks: { position: number; block: Block }[]
}

function deliver(peer: BenchPeer): void {
  for (let block = peer.engine.poll(); block !== undefined; block = peer.engine.poll()) {
    peer.blocks.push({ position: peer.blocks.length, block })
  }
}

const MAX_MESSAGE_BYTES = 64 * 1024 * 1024
const WARM_UP_EVENTS = 3000
/** Stored events read per batch at a restart (the section's storage reads 1024). */
const RESTORE_BATCH = 1024
const MAX_EVENTS = 1_000_000

/** The section's flush of a step: its events persisted (their bytes cached by the codec), its blocks kept. */
function flush<M>(peer: BenchPeer, step: Step<M>): M | undefined {
  const fresh = step.events
  // The section persists `packedEventBytes(event)`, which caches the bytes: encodeSync does too.
  // The bytes go to the datastore (on disk): the restore reads them back from the engine.
  if (fresh.length > 0) encodeSync('request', fresh, MAX_MESSAGE_BYTES)
  peer.persisted += fresh.length
  for (const { block } of step.blocks) peer.blocks.push({ position: peer.blocks.length, block })
  deliver(peer)
  if (step.error !== undefined) throw step.error
  return step.message
}

/** Through the section's wire codec: the receiver decodes its own copy of every event. */
function wire(events: readonly PackedEvent[], kind: 'request' | 'response'): PackedEvent[] {
  const bytes = encodeSync(kind, events, MAX_MESSAGE_BYTES)
  if (bytes === undefined) throw new Error(`a ${kind} of ${events.length} events is over a page`)
  return decodeSync(bytes, MAX_EVENTS, (name) => ed25519Ids.get(name)).packedEvents
}

/** The members' ids by name, for the codec's frontier entries (the bench sends none). */
const ed25519Ids = new Map<string, PublicId>()

function exchange(a: BenchPeer, b: BenchPeer): void {
  const request = flush(a, a.engine.createGossip(b.secret.publicId))!
  const response = flush(
    b,
    b.engine.handleRequest(a.secret.publicId, { packedEvents: wire(request.packedEvents, 'request') }),
  )!
  flush(
    a,
    a.engine.handleResponse(b.secret.publicId, { packedEvents: wire(response.packedEvents, 'response') }),
  )
}

interface RunOptions {
  peers: number
  checkpoints: readonly number[]
  eventsPerVote: number
  payloadBytes: number
  seed: number
  /** Called with each row as soon as it is measured. */
  report(row: MemoryRow): void
}

/** Builds one section's graph up to each checkpoint in turn and measures it there. */
async function run(options: RunOptions, gc: Gc): Promise<void> {
  const rng = new Xorshift(options.seed)
  const secrets = Array.from({ length: options.peers }, () => new Ed25519SecretId(rng.bytes(32)))
  const genesis = secrets.map((s) => s.publicId)
  const baseline = await settledHeap(gc)
  const peers: BenchPeer[] = secrets.map((secret) => ({
    secret,
    engine: Parsec.fromGenesis({ us: secret, genesis, consensusMode: 'single' }),
    persisted: 0,
    blocks: [],
  }))
  // fromGenesis made our first events outside any step: persisted as the section persists begin()'s.
  for (const peer of peers) flush(peer, { ...emptyStep(), events: peer.engine.packedEvents(0) })
  const started = performance.now()
  let nextVote = options.eventsPerVote
  for (const checkpoint of options.checkpoints) {
    const first = peers[0]
    while (first.engine.graphSize < checkpoint) {
      const a = rng.below(peers.length)
      const b = (a + 1 + rng.below(peers.length - 1)) % peers.length
      exchange(peers[a], peers[b])
      while (first.engine.graphSize >= nextVote) {
        const voter = peers[rng.below(peers.length)]
        flush(voter, voter.engine.voteFor(opaque(rng.bytes(options.payloadBytes))))
        nextVote += options.eventsPerVote
      }
    }
    const elapsedMs = performance.now() - started
    const live = await settledHeap(gc)
    const totalEvents = peers.reduce((sum, peer) => sum + peer.engine.graphSize, 0)
    const liveBytesPerEvent = (live - baseline) / totalEvents
    const restored = await measureRestore(first, secrets[0], genesis, gc)
    options.report({
      peers: options.peers,
      events: first.engine.graphSize,
      eventsPerVote: options.eventsPerVote,
      blocks: first.blocks.length,
      liveBytesPerEvent,
      restoredBytesPerEvent: restored.bytesPerEvent,
      restorePeakBytesPerEvent: restored.peakBytesPerEvent,
      elapsedMs,
    })
  }
}

/**
 * Restores a peer from its stored bytes as the section's start does (the stored events read back,
 * `Parsec.restore` decoding each as it takes it, then the blocks polled) and measures the heap the
 * restored peer adds.
 */
async function measureRestore(
  live: BenchPeer,
  secret: Ed25519SecretId,
  genesis: readonly Ed25519SecretId['publicId'][],
  gc: Gc,
): Promise<{ bytesPerEvent: number; peakBytesPerEvent: number }> {
  const before = await settledHeap(gc)
  const probe = { peak: 0, before }
  const restored = restore(live, secret, genesis, probe)
  if (restored.engine.graphSize !== live.engine.graphSize || restored.blocks.length !== live.blocks.length) {
    throw new Error(
      `the restored peer differs: ${restored.engine.graphSize} events, ${restored.blocks.length} blocks`,
    )
  }
  const after = await settledHeap(gc)
  const events = restored.engine.graphSize
  return { bytesPerEvent: (after - before) / events, peakBytesPerEvent: probe.peak / events }
}

function restore(
  live: BenchPeer,
  secret: Ed25519SecretId,
  genesis: readonly Ed25519SecretId['publicId'][],
  probe: { peak: number; readonly before: number },
): BenchPeer {
  const sample = () => {
    const usage = process.memoryUsage()
    probe.peak = Math.max(probe.peak, usage.heapUsed + usage.arrayBuffers - probe.before)
  }
  // As the section's start does: the store read a batch at a time, each event's bytes in a buffer
  // of its own, each batch decoded as the engine takes it.
  const restoring = Parsec.restoring({ us: secret, genesis, consensusMode: 'single' })
  const stored = live.engine.graphSize
  for (let from = 0; from < stored; from += RESTORE_BATCH) {
    const batch = live.engine
      .packedEvents(from, from + RESTORE_BATCH)
      .map((event) => Uint8Array.from(encodePackedEvent(event)))
    restoring.add(batch.map((bytes) => decodePackedEvent(bytes, ed25519Scheme)))
    sample()
  }
  const engine = restoring.finish()
  const peer: BenchPeer = { secret, engine, persisted: engine.graphSize, blocks: [] }
  deliver(peer)
  sample()
  return peer
}

function listOption(values: Record<string, unknown>, name: string, fallback: number[]): number[] {
  const raw = values[name]
  if (raw === undefined) return fallback
  if (typeof raw !== 'string' || !/^\d+(,\d+)*$/.test(raw))
    throw new UsageError(`--${name} takes a comma-separated list of unsigned integers, not '${String(raw)}'`)
  return raw.split(',').map(Number)
}

function formatRow(row: MemoryRow): string {
  return [
    String(row.peers).padStart(5),
    row.events.toLocaleString('en-US').padStart(9),
    String(row.blocks).padStart(7),
    row.liveBytesPerEvent.toFixed(0).padStart(12),
    row.restoredBytesPerEvent.toFixed(0).padStart(15),
    row.restorePeakBytesPerEvent.toFixed(0).padStart(18),
    (row.elapsedMs / 1000).toFixed(1).padStart(9),
  ].join(' ')
}

function markdownRow(row: MemoryRow): string {
  return `| ${row.peers} | ${row.events.toLocaleString('en-US')} | ${row.eventsPerVote} | ${row.blocks} | ${row.liveBytesPerEvent.toFixed(0)} | ${row.restoredBytesPerEvent.toFixed(0)} | ${row.restorePeakBytesPerEvent.toFixed(0)} |`
}

export const benchMemoryCommand = {
  summary: 'measure the heap bytes per retained event of a peer, live and restored',
  async run(args: string[]): Promise<number> {
    const { values } = parse(args, {
      peers: { type: 'string' },
      events: { type: 'string' },
      'events-per-vote': { type: 'string' },
      'payload-bytes': { type: 'string' },
      seed: { type: 'string' },
      json: { type: 'boolean' },
      markdown: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    })
    if (values.help) {
      console.log(HELP)
      return 0
    }
    const sizes = listOption(values, 'peers', [4])
    if (sizes.some((n) => n < 2 || n > 64))
      throw new UsageError('--peers: each size must be between 2 and 64')
    const checkpoints = listOption(values, 'events', [20_000, 100_000]).sort((a, b) => a - b)
    if (checkpoints[0] < 100) throw new UsageError('--events: each checkpoint must be at least 100')
    const eventsPerVote = intOption(values, 'events-per-vote', 10, 1, 1_000_000)
    const payloadBytes = intOption(values, 'payload-bytes', 256, 1, 1 << 20)
    const seed = intOption(values, 'seed', 1, 0, 0xffff_ffff)
    const gc = collector()
    const rows: MemoryRow[] = []
    const human = !values.json && !values.markdown
    if (human) {
      console.log(
        `heap bytes per retained event (heapUsed + arrayBuffers), one vote of ${payloadBytes} bytes per ${eventsPerVote} events, seed ${seed}\n`,
      )
      console.log('peers    events  blocks  live B/evt  restored B/evt  restore peak B/evt  build s')
    } else if (values.markdown) {
      console.log(
        '| peers | events | events per vote | blocks | live B/event | restored B/event | restore peak B/event |',
      )
      console.log('|---:|---:|---:|---:|---:|---:|---:|')
    }
    // A first small section, dropped unmeasured: the code it compiles is then part of the baseline.
    await run(
      { peers: sizes[0], checkpoints: [WARM_UP_EVENTS], eventsPerVote, payloadBytes, seed, report() {} },
      gc,
    )
    for (const peers of sizes) {
      await run(
        {
          peers,
          checkpoints,
          eventsPerVote,
          payloadBytes,
          seed,
          report: (row) => {
            rows.push(row)
            if (human) console.log(formatRow(row))
            else if (values.markdown) console.log(markdownRow(row))
          },
        },
        gc,
      )
    }
    if (values.json) console.log(JSON.stringify({ node: process.version, seed, payloadBytes, rows }))
    return 0
  },
}
