/**
 * `parsec-peer demo`: a real section of N `parsec-peer start` processes on 127.0.0.1 (libp2p over
 * TCP, LevelDB data directories), P random payloads voted through the control API, and a check
 * that every peer delivered the same blocks in the same order, with throughput and latency.
 */
import { randomBytes, randomInt } from 'node:crypto'
import type { ConsensusMode } from '@parsec-section/parsec-core'
import { API_LIMITS } from '../api-limits.js'
import { readApiTokenFile } from '../api-token.js'
import { choiceOption, intOption, parse } from '../args.js'
import type { BlockJson } from '../block-json.js'

const HELP = `usage: parsec-peer demo [--peers N] [--payloads P] [--mode single|supermajority] [--size BYTES]
<<<<<<< HEAD
                        [--batch N] [--in-flight K] [--stats] [--json] [--keep-dir] [--api-token FILE]
=======
                        [--batch N] [--in-flight K] [--stats] [--json] [--keep-dir] [--no-sync]
>>>>>>> storage-hardening

Starts a section of N peers ('parsec-peer start' child processes on 127.0.0.1, each with a data
directory and a control API) in a temporary directory, waits until they are all connected, votes P
distinct random payloads of --size bytes through the API (single mode: each at one random peer;
supermajority: each at every peer), fetches every peer's blocks until each holds all payloads, and
checks that all peers delivered exactly the same blocks in the same order.
Defaults: --peers 4 --payloads 200 --mode single --size 256. Live progress goes to stderr.
Prints: agreed or not, blocks, elapsed (first vote to last block at the last peer), payloads/s and
latency p50/p99 (a payload's latency: its block delivered at the last peer minus its first vote).
--json prints exactly {"peers","payloads","agreed","blocks","elapsedMs","payloadsPerSecond",
"latencyMs":{"p50","p99"}}. --keep-dir keeps the directory (keys, genesis, data directories).
--batch N payloads per POST (default 25); --in-flight K POSTs outstanding at once (default 1: each
batch waits for the previous one). --stats adds each peer's CPU time and signature verifications
<<<<<<< HEAD
(count, time) to the output ("stats" in --json), as used by 'parsec-peer bench-live'.
The peers' control APIs take a bearer token: a new random one in DIR/api-token, or the one in
--api-token FILE.
=======
(count, time) to the output ("stats" in --json), as used by 'parsec-peer bench-live'. --no-sync
starts the peers with 'start --no-sync' (writes not synced to disk: only to measure what syncing costs).
>>>>>>> storage-hardening
Exit status: 0 when every peer holds every payload and all agree, 1 otherwise, 2 on bad arguments.`

const DEFAULTS = { peers: 4, payloads: 200, size: 256 } as const
const MAX_BATCH = 25
const CONNECT_TIMEOUT_MS = 30_000
const POLL_WAIT_MS = 5000

/** What `--stats` reads from each peer's status. */
export interface PeerStats {
  readonly cpuMs: number
  readonly verifications: { readonly count: number; readonly totalMs: number }
}

export interface DemoSummary {
  peers: number
  payloads: number
  agreed: boolean
  blocks: number
  elapsedMs: number
  payloadsPerSecond: number
  latencyMs: { p50: number | null; p99: number | null }
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]
}

function sameBlock(a: BlockJson, b: BlockJson): boolean {
  return (
    a.position === b.position &&
    a.kind === b.kind &&
    a.payload === b.payload &&
    a.peer === b.peer &&
    a.offender === b.offender &&
    JSON.stringify(a.peers) === JSON.stringify(b.peers)
  )
}

/** Where the peers' block lists first differ (undefined: one is a prefix of the other). */
function firstDifference(lists: readonly BlockJson[][]): { peer: number; position: number } | undefined {
  const reference = lists[0]
  for (let peer = 1; peer < lists.length; peer++) {
    const list = lists[peer]
    const n = Math.min(list.length, reference.length)
    for (let i = 0; i < n; i++) if (!sameBlock(list[i], reference[i])) return { peer, position: i }
  }
  return undefined
}

export const demoCommand = {
  summary: 'run a local section of peer processes and check agreement',
  async run(args: string[]): Promise<number> {
    const { values } = parse(args, {
      peers: { type: 'string' },
      payloads: { type: 'string' },
      mode: { type: 'string' },
      size: { type: 'string' },
      json: { type: 'boolean' },
      batch: { type: 'string' },
      'in-flight': { type: 'string' },
      stats: { type: 'boolean' },
      'keep-dir': { type: 'boolean' },
      'api-token': { type: 'string' },
      'no-sync': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    })
    if (values.help) {
      console.log(HELP)
      return 0
    }
    const peers = intOption(values, 'peers', DEFAULTS.peers, 1, 32)
    const count = intOption(values, 'payloads', DEFAULTS.payloads, 1, 100_000)
    const size = intOption(values, 'size', DEFAULTS.size, 1, API_LIMITS.maxPayloadBytes)
    const mode: ConsensusMode = choiceOption(values, 'mode', ['single', 'supermajority'] as const, 'single')
    const json = values.json === true
    const batchOption = intOption(values, 'batch', MAX_BATCH, 1, 10_000)
    const inFlight = intOption(values, 'in-flight', 1, 1, 64)
    const withStats = values.stats === true
    const keepDir = values['keep-dir'] === true
    const apiTokenFile = values['api-token'] as string | undefined
    if (apiTokenFile !== undefined) readApiTokenFile(apiTokenFile)
    const info = (line: string): void => {
      if (!json) console.error(line)
    }

    const began = Date.now()
    // Loaded after the arguments are checked: it pulls in libp2p.
    const { LocalSection } = await import('../local-section.js')
    const startArgs = values['no-sync'] === true ? ['--no-sync'] : []
    const section = await LocalSection.create({ peers, mode, keepDir, apiTokenFile, startArgs })
    let interrupted = false
    const onSignal = (): void => {
      if (interrupted) return
      interrupted = true
      console.error('parsec-peer demo: interrupted; stopping the peers')
      section.close().finally(() => process.exit(1))
    }
    const onExit = (): void => section.killAllNow()
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
    process.on('exit', onExit)
    let progress: NodeJS.Timeout | undefined
    try {
      info(`section ${section.sectionId.slice(0, 16)}… (${mode}) of ${peers} peers in ${section.dir}`)
      await section.startAll()
      await section.waitConnected(CONNECT_TIMEOUT_MS)
      info(`all ${peers} peers running and connected after ${((Date.now() - began) / 1000).toFixed(1)} s`)

      // Distinct random payloads.
      const payloads: Buffer[] = []
      const index = new Map<string, number>()
      while (payloads.length < count) {
        const bytes = randomBytes(size)
        const hex = bytes.toString('hex')
        if (index.has(hex)) continue
        index.set(hex, payloads.length)
        payloads.push(bytes)
      }
      const firstVote: number[] = new Array(count).fill(0)
      const deadline = Date.now() + 60_000 + 50 * count

      // Collect every peer's blocks with long-polls while the votes go in.
      const collected: BlockJson[][] = section.peers.map(() => [])
      const held: number[] = section.peers.map(() => 0)
      const collect = async (peer: number): Promise<void> => {
        const api = section.api(peer)
        const seen = new Set<number>()
        let next = 0
        while (seen.size < count && !interrupted) {
          const left = deadline - Date.now()
          if (left <= 0) return
          const answer = await api.blocks({ from: next, limit: 1000, wait: Math.min(POLL_WAIT_MS, left) })
          for (const block of answer.blocks) {
            collected[peer].push(block)
            const at = block.kind === 'opaque' ? index.get(block.payload ?? '') : undefined
            if (at !== undefined) seen.add(at)
          }
          held[peer] = seen.size
          next = answer.next
        }
      }

      let lastMin = 0
      let lastTick = Date.now()
      progress = setInterval(() => {
        const now = Date.now()
        const min = Math.min(...held)
        const rate = ((min - lastMin) * 1000) / Math.max(1, now - lastTick)
        lastMin = min
        lastTick = now
        info(
          `  ${((now - began) / 1000).toFixed(1).padStart(5)} s  payloads delivered per peer: ${held.join(' ')}  (${rate.toFixed(0)} blocks/s at all peers)`,
        )
      }, 1000)
      const collecting = Promise.all(section.peers.map((peer) => collect(peer.index)))

      const batch = Math.max(
        1,
        Math.min(batchOption, Math.floor(API_LIMITS.maxBodyBytes / 2 / (2 * size + 4))),
      )
      const pending = new Set<Promise<unknown>>()
      info(`voting ${count} payloads of ${size} bytes in batches of ${batch}`)
      for (let from = 0; from < count && !interrupted; from += batch) {
        const slice = Array.from({ length: Math.min(batch, count - from) }, (_, i) => from + i)
        const posts: Promise<number>[] = []
        if (mode === 'single') {
          const byPeer = new Map<number, number[]>()
          for (const i of slice) {
            const peer = randomInt(peers)
            byPeer.set(peer, [...(byPeer.get(peer) ?? []), i])
          }
          for (const [peer, list] of byPeer) {
            const now = Date.now()
            for (const i of list) firstVote[i] = now
            posts.push(section.api(peer).vote(list.map((i) => payloads[i])))
          }
        } else {
          const now = Date.now()
          for (const i of slice) firstVote[i] = now
          const list = slice.map((i) => payloads[i])
          for (const peer of section.peers) posts.push(section.api(peer.index).vote(list))
        }
        const all = Promise.all(posts)
        pending.add(all)
        void all.finally(() => pending.delete(all)).catch(() => {})
        if (pending.size >= inFlight) await Promise.race(pending)
      }
      await Promise.all(pending)
      const votedMs = Date.now() - Math.min(...firstVote)
      info(`all ${count} payloads voted in ${(votedMs / 1000).toFixed(2)} s`)
      await collecting
      const stats = withStats
        ? await Promise.all(
            section.peers.map(async (peer) => {
              const status: PeerStats = await section.api(peer.index).status()
              return { cpuMs: status.cpuMs, verifications: status.verifications }
            }),
          )
        : undefined
      clearInterval(progress)
      progress = undefined
      if (interrupted) return 1

      // Agreement: the same blocks in the same order everywhere, all payloads everywhere.
      const complete = held.every((n) => n === count)
      const lengths = collected.map((list) => list.length)
      const difference = firstDifference(collected)
      const agreed = complete && difference === undefined && lengths.every((n) => n === lengths[0])

      // Latency and elapsed time from the peers' delivery times.
      const lastDelivery: number[] = new Array(count).fill(Number.NaN)
      const deliveredEverywhere: number[] = new Array(count).fill(0)
      for (const list of collected) {
        for (const block of list) {
          const at = block.kind === 'opaque' ? index.get(block.payload ?? '') : undefined
          if (at === undefined || block.deliveredAt === null) continue
          deliveredEverywhere[at]++
          lastDelivery[at] = Number.isNaN(lastDelivery[at])
            ? block.deliveredAt
            : Math.max(lastDelivery[at], block.deliveredAt)
        }
      }
      const latencies: number[] = []
      let lastBlock = 0
      for (let i = 0; i < count; i++) {
        if (Number.isNaN(lastDelivery[i])) continue
        lastBlock = Math.max(lastBlock, lastDelivery[i])
        if (deliveredEverywhere[i] >= peers) latencies.push(lastDelivery[i] - firstVote[i])
      }
      latencies.sort((a, b) => a - b)
      const t0 = Math.min(...firstVote)
      const elapsedMs = Math.max(0, lastBlock - t0)
      const summary: DemoSummary = {
        peers,
        payloads: count,
        agreed,
        blocks: lengths[0],
        elapsedMs,
        payloadsPerSecond: elapsedMs > 0 ? Math.round((latencies.length * 10_000) / elapsedMs) / 10 : 0,
        latencyMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99) },
      }
      if (json) {
        console.log(JSON.stringify(stats === undefined ? summary : { ...summary, stats }))
      } else {
        console.log(
          `peers ${peers} (${mode}), payloads ${count} of ${size} bytes: ${agreed ? 'AGREED' : 'NOT AGREED'}`,
        )
        if (agreed) {
          console.log(`  all ${peers} peers delivered the same ${lengths[0]} blocks in the same order`)
        } else {
          console.log(
            `  payloads held per peer: ${held.join(' ')} of ${count}; blocks per peer: ${lengths.join(' ')}`,
          )
          if (difference !== undefined) {
            console.log(`  peer ${difference.peer} differs from peer 0 at position ${difference.position}`)
          }
        }
        console.log(
          `  elapsed ${(elapsedMs / 1000).toFixed(2)} s (first vote to last block at the last peer), ${summary.payloadsPerSecond} payloads/s`,
        )
        console.log(
          `  latency p50 ${summary.latencyMs.p50 ?? '-'} ms, p99 ${summary.latencyMs.p99 ?? '-'} ms`,
        )
        if (keepDir) console.log(`  kept ${section.dir}`)
        stats?.forEach((peer, i) => {
          const { count: n, totalMs } = peer.verifications
          console.log(
            `  peer ${i}: CPU ${peer.cpuMs.toFixed(0)} ms, ${n} signature verifications in ${totalMs.toFixed(0)} ms`,
          )
        })
      }
      return agreed ? 0 : 1
    } catch (error) {
      if (interrupted) return 1
      console.error(`parsec-peer demo: ${(error as Error).message}`)
      return 1
    } finally {
      if (progress !== undefined) clearInterval(progress)
      if (!interrupted) await section.close()
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
      process.off('exit', onExit)
    }
  },
}
