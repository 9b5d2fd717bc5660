/**
 * `parsec-peer bench-growth` (`pnpm bench:growth`): how a live section grows with its work. A local
 * section of `parsec-peer start` processes gets one random payload per POST at a steady rate for a
 * while, is left to agree on all of them, then stays idle. Reports the events created per agreed
 * payload, the events per second while idle, and each peer's memory at the end (RSS, heap, heap
 * bytes per event), with a series of samples of every peer's status along the way.
 */
import { randomBytes, randomInt } from 'node:crypto'
import { API_LIMITS } from '../api-limits.js'
import { intOption, parse } from '../args.js'
import type { LocalSection, StatusJson } from '../local-section.js'
import { percentile } from './demo.js'

const HELP = `usage: parsec-peer bench-growth [--peers N] [--rate R] [--duration SECONDS] [--idle SECONDS]
                                [--size BYTES] [--sample SECONDS] [--json]

Starts a section of N peers ('parsec-peer start' child processes on 127.0.0.1, run with node's
--expose-gc) and waits until they are connected. Then, for --duration seconds, votes one random
payload of --size bytes per POST /votes at a random peer, R per second (paced by a timer on a grid
of 1/R s; a slot missed by more than one interval is skipped, never made up). It then waits (at most
120 s) until every peer delivered every accepted payload, and stays idle for --idle seconds,
voting nothing. Every --sample seconds it reads each peer's GET /status (graph size, delivered
blocks, memory); progress lines go to stderr.
Defaults: --peers 4 --rate 5 --duration 1800 --idle 60 --size 256 --sample 30.
Reports: votes, agreed (every peer delivered every payload, the same blocks in the same order),
events per agreed payload (graph growth from the first vote until all payloads were agreed, at the
peer with the largest graph: every peer's graph holds every peer's events), latency p50/p99 (vote
to delivery at the voting peer, and at the last peer), events per second while idle, and per peer
at the end: RSS, heap used and heap bytes per event (heap used / graph size, without a forced
garbage collection), then the same after a full collection (GET /status?gc=1) with the heap growth
per added event since the first vote.
--json prints one object at the end, with the samples.
Exit status: 0 when every accepted vote was agreed by every peer and no vote failed, 1 otherwise,
2 on bad arguments.`

const DEFAULTS = { peers: 4, rate: 5, duration: 1800, idle: 60, size: 256, sample: 30 } as const
const CONNECT_TIMEOUT_MS = 30_000
/** How long all payloads may take to be agreed after the last vote. */
const DRAIN_TIMEOUT_MS = 120_000
/** Long-poll wait of the block collectors (also how long they take to notice the end). */
const POLL_WAIT_MS = 2000

/** `end`: the last reading, when the idle phase is over. */
type Phase = 'voting' | 'draining' | 'idle' | 'end'

export interface GrowthSample {
  /** Seconds since the first vote. */
  readonly t: number
  readonly phase: Phase
  /** Per peer; null where its status could not be read. */
  readonly graphSize: (number | null)[]
  readonly deliveredBlocks: (number | null)[]
  readonly rssBytes: (number | null)[]
  readonly heapUsedBytes: (number | null)[]
}

export interface PeerEnd {
  readonly graphSize: number
  readonly rssBytes: number
  readonly heapUsedBytes: number
  /** heapUsedBytes / graphSize, without a forced garbage collection. */
  readonly heapBytesPerEvent: number
  /** After a full garbage collection; null when the peer's node does not expose `gc`. */
  readonly afterGc: {
    readonly graphSize: number
    readonly heapUsedBytes: number
    readonly heapBytesPerEvent: number
    /** Heap growth (both ends after a collection) per event added since just before the first vote. */
    readonly heapBytesPerAddedEvent: number | null
  } | null
}

export interface GrowthReport {
  readonly peers: number
  readonly rate: number
  readonly durationS: number
  readonly idleS: number
  readonly sizeBytes: number
  /** Votes accepted (202), and POSTs that failed. */
  readonly votes: number
  readonly voteErrors: number
  readonly agreed: boolean
  /** Accepted payloads delivered by every peer. */
  readonly agreedPayloads: number
  /** From the last vote until the last payload was delivered at the last peer (null: not all were). */
  readonly drainMs: number | null
  readonly voting: {
    /** First vote until all payloads were agreed (or the drain timed out). */
    readonly seconds: number
    readonly events: number
    readonly eventsPerSecond: number
    readonly eventsPerPayload: number | null
  }
  readonly latencyMs: {
    readonly votingPeer: { readonly p50: number | null; readonly p99: number | null }
    readonly lastPeer: { readonly p50: number | null; readonly p99: number | null }
  }
  readonly idle: { readonly seconds: number; readonly events: number; readonly eventsPerSecond: number }
  /** Per peer; null for a peer that did not answer at the end (it exited: see stderr). */
  readonly end: (PeerEnd | null)[]
  readonly samples: GrowthSample[]
}

/** Every peer's delivered blocks, followed by long-polls: order keys and payload delivery times. */
class BlockCollector {
  /** Per peer, per position: the payload's index for our payloads, else a description. */
  readonly keys: (number | string)[][]
  /** Per peer, per payload index: when the peer delivered it (epoch ms). */
  readonly deliveredAt: (number | undefined)[][]
  readonly held: number[]
  readonly errors: string[] = []
  private stopped = false
  private readonly running: Promise<void>[]

  constructor(
    private readonly section: LocalSection,
    private readonly payloadIndex: ReadonlyMap<string, number>,
  ) {
    const n = section.peers.length
    this.keys = Array.from({ length: n }, () => [])
    this.deliveredAt = Array.from({ length: n }, () => [])
    this.held = new Array(n).fill(0)
    this.running = section.peers.map((peer) => this.follow(peer.index))
  }

  /** Payloads delivered by every peer. */
  agreedCount(): number {
    return Math.min(...this.held)
  }

  private async follow(peer: number): Promise<void> {
    let next = 0
    while (!this.stopped) {
      try {
        const answer = await this.section.api(peer).blocks({ from: next, limit: 1000, wait: POLL_WAIT_MS })
        for (const block of answer.blocks) {
          const at = block.kind === 'opaque' ? this.payloadIndex.get(block.payload ?? '') : undefined
          this.keys[peer].push(at ?? `${block.kind}:${block.payload ?? block.offender ?? block.peer ?? ''}`)
          if (at !== undefined && this.deliveredAt[peer][at] === undefined) {
            this.deliveredAt[peer][at] = block.deliveredAt ?? Date.now()
            this.held[peer]++
          }
        }
        next = answer.next
      } catch (error) {
        if (this.stopped) return
        this.errors.push(`peer ${peer}: ${(error as Error).message}`)
        await sleep(1000)
      }
    }
  }

  /** Whether every peer holds the same blocks in the same order. */
  sameOrder(): boolean {
    const [first, ...rest] = this.keys
    return rest.every((list) => list.length === first.length && list.every((key, i) => key === first[i]))
  }

  async stop(): Promise<void> {
    this.stopped = true
    await Promise.all(this.running)
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

function megabytes(bytes: number | null): string {
  return bytes === null ? '-' : (bytes / 1e6).toFixed(1)
}

function maxOf(values: readonly (number | null | undefined)[]): number {
  return Math.max(...values.map((v) => v ?? 0))
}

/** Every peer's status; undefined for a peer that is not running or did not answer. */
function statusesOf(section: LocalSection, gc = false): Promise<(StatusJson | undefined)[]> {
  return Promise.all(
    section.peers.map(async (peer) => {
      try {
        return await section.api(peer.index).status({ gc })
      } catch {
        return undefined
      }
    }),
  )
}

function requireAll(statuses: (StatusJson | undefined)[], what: string): StatusJson[] {
  const missing = statuses.indexOf(undefined)
  if (missing >= 0) throw new Error(`peer ${missing} did not answer GET /status (${what})`)
  return statuses as StatusJson[]
}

export const benchGrowthCommand = {
  summary: 'measure a live section’s growth per agreed payload, idle event rate and memory',
  async run(args: string[]): Promise<number> {
    const { values } = parse(args, {
      peers: { type: 'string' },
      rate: { type: 'string' },
      duration: { type: 'string' },
      idle: { type: 'string' },
      size: { type: 'string' },
      sample: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    })
    if (values.help) {
      console.log(HELP)
      return 0
    }
    const peers = intOption(values, 'peers', DEFAULTS.peers, 1, 32)
    const rate = intOption(values, 'rate', DEFAULTS.rate, 1, 1000)
    const durationS = intOption(values, 'duration', DEFAULTS.duration, 1, 86_400)
    const idleS = intOption(values, 'idle', DEFAULTS.idle, 0, 86_400)
    const size = intOption(values, 'size', DEFAULTS.size, 1, API_LIMITS.maxPayloadBytes)
    const sampleS = intOption(values, 'sample', DEFAULTS.sample, 1, 86_400)
    const json = values.json === true
    const progress = (line: string): void => console.error(line)

    // Loaded after the arguments are checked: it pulls in libp2p.
    const { LocalSection } = await import('../local-section.js')
    // --expose-gc lets GET /status?gc=1 measure the retained heap; nothing else changes.
    const section = await LocalSection.create({ peers, nodeArgs: ['--expose-gc'] })
    let interrupted = false
    const onSignal = (): void => {
      if (interrupted) return
      interrupted = true
      console.error('parsec-peer bench-growth: interrupted; stopping the peers')
      section.close().finally(() => process.exit(1))
    }
    const onExit = (): void => section.killAllNow()
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
    process.on('exit', onExit)

    let collector: BlockCollector | undefined
    let sampler: NodeJS.Timeout | undefined
    try {
      progress(
        `bench-growth: ${peers} peers, ${rate} votes/s for ${durationS} s, ${size}-byte payloads, then ${idleS} s idle; a sample every ${sampleS} s`,
      )
      await section.startAll()
      await section.waitConnected(CONNECT_TIMEOUT_MS)
      progress(`all ${peers} peers running and connected`)

      const payloadIndex = new Map<string, number>()
      const votedAt: number[] = []
      const votingPeer: number[] = []
      const accepted: boolean[] = []
      let voteErrors = 0
      let firstVoteError: string | undefined
      collector = new BlockCollector(section, payloadIndex)
      const blocks = collector

      // Before the first vote: the baseline graph and, after a collection, the retained heap.
      const before = requireAll(await statusesOf(section, true), 'before the first vote')
      const graphBefore = maxOf(before.map((s) => s.graphSize))
      const t0 = Date.now()
      let phase: Phase = 'voting'

      const samples: GrowthSample[] = []
      let lastGraph = graphBefore
      let lastSampleAt = t0
      const record = (statuses: (StatusJson | undefined)[], at: number): void => {
        const pick = (f: (s: StatusJson) => number) => statuses.map((s) => (s === undefined ? null : f(s)))
        const sample: GrowthSample = {
          t: Math.round((at - t0) / 100) / 10,
          phase,
          graphSize: pick((s) => s.graphSize),
          deliveredBlocks: pick((s) => s.deliveredBlocks),
          rssBytes: pick((s) => s.memory.rssBytes),
          heapUsedBytes: pick((s) => s.memory.heapUsedBytes),
        }
        samples.push(sample)
        const graph = maxOf(sample.graphSize)
        const perSecond = at > lastSampleAt ? ((graph - lastGraph) * 1000) / (at - lastSampleAt) : 0
        lastGraph = graph
        lastSampleAt = at
        progress(
          `  ${sample.t.toFixed(0).padStart(5)} s ${phase.padEnd(8)} votes ${accepted.filter(Boolean).length}, payloads per peer ${blocks.held.join(' ')}, graph ${graph} (${perSecond.toFixed(0)}/s), RSS MB ${sample.rssBytes.map(megabytes).join(' ')}, heap MB ${sample.heapUsedBytes.map(megabytes).join(' ')}`,
        )
      }
      const takeSample = async (): Promise<void> => {
        const at = Date.now()
        record(await statusesOf(section), at)
      }
      // Samples on a grid from the first vote; grid points a slow read overran are skipped.
      let nextSample = 0
      const scheduleSample = (): void => {
        do {
          nextSample += sampleS * 1000
        } while (t0 + nextSample <= Date.now())
        sampler = setTimeout(
          () => {
            void takeSample().finally(() => {
              if (sampler !== undefined) scheduleSample()
            })
          },
          Math.max(0, t0 + nextSample - Date.now()),
        )
      }
      await takeSample()
      scheduleSample()

      // Voting: one payload per POST at a random peer, on a grid of 1/rate s, no catching up.
      const intervalMs = 1000 / rate
      const votingEnds = t0 + durationS * 1000
      const posts = new Set<Promise<void>>()
      let slot = t0
      while (slot < votingEnds && !interrupted) {
        const wait = slot - Date.now()
        if (wait > 0) await sleep(wait)
        const i = votedAt.length
        const payload = randomBytes(size)
        const hex = payload.toString('hex')
        if (payloadIndex.has(hex)) continue
        payloadIndex.set(hex, i)
        const peer = randomInt(peers)
        votingPeer.push(peer)
        accepted.push(false)
        votedAt.push(Date.now())
        const post = section
          .api(peer)
          .vote([payload])
          .then(
            () => {
              accepted[i] = true
            },
            (error: Error) => {
              voteErrors++
              firstVoteError ??= `payload ${i} at peer ${peer}: ${error.message}`
            },
          )
        posts.add(post)
        void post.finally(() => posts.delete(post))
        slot += intervalMs
        if (Date.now() - slot > intervalMs) slot = Date.now()
      }
      await Promise.all(posts)
      const lastVote = votedAt.length > 0 ? votedAt[votedAt.length - 1] : t0
      const votes = accepted.filter(Boolean).length
      progress(`voted ${votes} payloads (${voteErrors} failed) in ${((lastVote - t0) / 1000).toFixed(1)} s`)
      if (firstVoteError !== undefined) progress(`  first failed vote: ${firstVoteError}`)

      // Draining: until every accepted payload is delivered at every peer, bounded.
      phase = 'draining'
      const acceptedIndexes = accepted.flatMap((ok, i) => (ok ? [i] : []))
      const deliveredEverywhere = (i: number): boolean =>
        blocks.deliveredAt.every((times) => times[i] !== undefined)
      const drainDeadline = Date.now() + DRAIN_TIMEOUT_MS
      let allAgreed = false
      while (!interrupted) {
        allAgreed = acceptedIndexes.every(deliveredEverywhere)
        if (allAgreed || Date.now() >= drainDeadline) break
        await sleep(100)
      }
      const agreedAt = Date.now()
      // From here on a peer that stopped answering (e.g. out of memory) leaves gaps, not no report.
      const afterVoting = await statusesOf(section)
      const graphAfterVoting = maxOf(afterVoting.map((s) => s?.graphSize))
      if (!allAgreed) {
        progress(
          `not every payload was agreed within ${DRAIN_TIMEOUT_MS / 1000} s after the last vote: payloads per peer ${blocks.held.join(' ')} of ${votes}`,
        )
      }

      // Idle: nothing voted.
      phase = 'idle'
      const idleStart = Date.now()
      if (idleS > 0) progress(`idle for ${idleS} s`)
      await sleep(idleS * 1000)
      clearTimeout(sampler)
      sampler = undefined
      phase = 'end'
      const idleEnd = Date.now()
      const atEnd = await statusesOf(section)
      record(atEnd, idleEnd)
      await blocks.stop()
      const afterGc = await statusesOf(section, true)
      if (interrupted) return 1

      // Latency of the agreed payloads, at the peer that took the vote and at the last peer.
      const atVotingPeer: number[] = []
      const atLastPeer: number[] = []
      let lastDelivery = 0
      for (const i of acceptedIndexes) {
        if (!deliveredEverywhere(i)) continue
        const times = blocks.deliveredAt.map((list) => list[i] as number)
        const last = Math.max(...times)
        lastDelivery = Math.max(lastDelivery, last)
        atVotingPeer.push(times[votingPeer[i]] - votedAt[i])
        atLastPeer.push(last - votedAt[i])
      }
      atVotingPeer.sort((a, b) => a - b)
      atLastPeer.sort((a, b) => a - b)
      const agreedPayloads = atLastPeer.length
      const agreed = allAgreed && blocks.sameOrder()

      const votingSeconds = (agreedAt - t0) / 1000
      const votingEvents = graphAfterVoting - graphBefore
      const idleSeconds = (idleEnd - idleStart) / 1000
      const idleEvents = maxOf(atEnd.map((s) => s?.graphSize)) - graphAfterVoting
      const silent = atEnd.flatMap((s, peer) => (s === undefined ? [peer] : []))
      if (silent.length > 0) {
        progress(
          `peers ${silent.join(', ')} did not answer at the end: ${silent.map((p) => section.peers[p].stderr.at(-1) ?? '').join(' | ')}`,
        )
      }
      const round = (value: number, digits = 1): number => Math.round(value * 10 ** digits) / 10 ** digits
      const end = atEnd.map((status, peer): PeerEnd | null => {
        if (status === undefined) return null
        const collected = afterGc[peer]
        const gcStart = before[peer]
        return {
          graphSize: status.graphSize,
          rssBytes: status.memory.rssBytes,
          heapUsedBytes: status.memory.heapUsedBytes,
          heapBytesPerEvent: Math.round(status.memory.heapUsedBytes / status.graphSize),
          afterGc:
            collected?.memory.afterGc === true
              ? {
                  graphSize: collected.graphSize,
                  heapUsedBytes: collected.memory.heapUsedBytes,
                  heapBytesPerEvent: Math.round(collected.memory.heapUsedBytes / collected.graphSize),
                  heapBytesPerAddedEvent:
                    gcStart.memory.afterGc && collected.graphSize > gcStart.graphSize
                      ? Math.round(
                          (collected.memory.heapUsedBytes - gcStart.memory.heapUsedBytes) /
                            (collected.graphSize - gcStart.graphSize),
                        )
                      : null,
                }
              : null,
        }
      })
      const report: GrowthReport = {
        peers,
        rate,
        durationS,
        idleS,
        sizeBytes: size,
        votes,
        voteErrors,
        agreed,
        agreedPayloads,
        drainMs: allAgreed ? Math.max(0, lastDelivery - lastVote) : null,
        voting: {
          seconds: round(votingSeconds),
          events: votingEvents,
          eventsPerSecond: round(votingEvents / votingSeconds),
          eventsPerPayload: agreedPayloads > 0 ? round(votingEvents / agreedPayloads) : null,
        },
        latencyMs: {
          votingPeer: { p50: percentile(atVotingPeer, 50), p99: percentile(atVotingPeer, 99) },
          lastPeer: { p50: percentile(atLastPeer, 50), p99: percentile(atLastPeer, 99) },
        },
        idle: {
          seconds: round(idleSeconds),
          events: idleEvents,
          eventsPerSecond: idleSeconds > 0 ? round(idleEvents / idleSeconds) : 0,
        },
        end,
        samples,
      }
      if (blocks.errors.length > 0)
        progress(`block reads failed ${blocks.errors.length} times: ${blocks.errors[0]}`)
      if (json) console.log(JSON.stringify(report))
      else printReport(report)
      return agreed && voteErrors === 0 ? 0 : 1
    } catch (error) {
      if (interrupted) return 1
      console.error(`parsec-peer bench-growth: ${(error as Error).message}`)
      return 1
    } finally {
      if (sampler !== undefined) clearTimeout(sampler)
      sampler = undefined
      await collector?.stop()
      if (!interrupted) await section.close()
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
      process.off('exit', onExit)
    }
  },
}

function printReport(r: GrowthReport): void {
  const ms = (value: number | null): string => (value === null ? '-' : `${value} ms`)
  console.log(
    `${r.peers} peers, ${r.rate} votes/s for ${r.durationS} s, ${r.sizeBytes}-byte payloads, then ${r.idleS} s idle`,
  )
  console.log(
    `  votes ${r.votes} accepted (${r.voteErrors} failed): ${r.agreed ? 'AGREED' : 'NOT AGREED'}, ${r.agreedPayloads} delivered by every peer${r.agreed ? ', the same blocks in the same order' : ''}${r.drainMs === null ? '' : `; the last ${ms(r.drainMs)} after the last vote`}`,
  )
  console.log(
    `  voting: ${r.voting.events} events in ${r.voting.seconds} s (${r.voting.eventsPerSecond}/s, section-wide), ${r.voting.eventsPerPayload ?? '-'} events per agreed payload`,
  )
  console.log(
    `  latency, vote to delivery: at the voting peer p50 ${ms(r.latencyMs.votingPeer.p50)}, p99 ${ms(r.latencyMs.votingPeer.p99)}; at the last peer p50 ${ms(r.latencyMs.lastPeer.p50)}, p99 ${ms(r.latencyMs.lastPeer.p99)}`,
  )
  console.log(`  idle: ${r.idle.events} events in ${r.idle.seconds} s, ${r.idle.eventsPerSecond} events/s`)
  console.log('  at the end (heap without a forced collection; then after a full one):')
  r.end.forEach((peer, i) => {
    if (peer === null) {
      console.log(`    peer ${i}: did not answer`)
      return
    }
    const gc = peer.afterGc
    console.log(
      `    peer ${i}: ${peer.graphSize} events, RSS ${megabytes(peer.rssBytes)} MB, heap ${megabytes(peer.heapUsedBytes)} MB = ${peer.heapBytesPerEvent} B/event` +
        (gc === null
          ? '; gc not exposed'
          : `; after GC ${megabytes(gc.heapUsedBytes)} MB = ${gc.heapBytesPerEvent} B/event, ${gc.heapBytesPerAddedEvent ?? '-'} B per event added since the first vote`),
    )
  })
}
