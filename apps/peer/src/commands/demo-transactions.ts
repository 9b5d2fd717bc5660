/**
 * `parsec-peer demo --transactions T --tx-size B [--tx-rate R]`: a Single-mode section of N
 * `parsec-peer start` processes; T distinct random transactions of B bytes submitted at random
 * peers (`POST /transactions`), as fast as they are accepted or R per second; every peer's
 * delivered transactions read back and checked: all T at the first peer (`GET /transactions`), and
 * the same blocks of the same transactions in the same order at the others (`?summary=1`).
 * Throughput: T over first submit to last delivery at the last peer; latency: a transaction's
 * submit to its delivery at the last peer.
 */
import { randomBytes, randomInt } from 'node:crypto'
import type { ApiClient, LocalSection, WanOptions } from '../local-section.js'
import { type BlockDigest, digestsByBlock } from '../transactions-digest.js'
import { describeWan } from '../wan-flags.js'
import { percentile } from './demo.js'

export interface TransactionsDemoOptions {
  readonly peers: number
  readonly transactions: number
  readonly size: number
  /** Transactions per second; undefined: as fast as accepted. */
  readonly rate?: number
  readonly json: boolean
  readonly keepDir: boolean
  readonly apiTokenFile?: string
  readonly startArgs: readonly string[]
  readonly withStats: boolean
  /** With --wan-delay-ms: the section's links go through delaying proxies. */
  readonly wan?: WanOptions
}

export interface TransactionsDemoSummary {
  peers: number
  transactions: number
  txSize: number
  agreed: boolean
  /** The blocks that carried transactions (at the first peer). */
  batches: number
  elapsedMs: number
  transactionsPerSecond: number
  txLatencyMs: { p50: number | null; p99: number | null }
  /** With --wan-delay-ms: the links' delay and the proxies' seed. */
  wan?: { delayMs: number; jitterMs: number; seed: number }
}

const POLL_WAIT_MS = 2000
/** Transactions per POST group (spread over random peers), bounded in bytes too. */
const CHUNK_TXS = 1000
const CHUNK_BYTES = 1024 * 1024
/**
 * Transactions outstanding (submitted, their request not answered yet: not in a voted batch) at
 * most, per peer and in bytes: enough to fill a batch at every peer while the previous one is agreed.
 */
const OUTSTANDING_PER_PEER = 5000
const OUTSTANDING_BYTES = 32 * 1024 * 1024
/** Pacing tick with --tx-rate. */
const TICK_MS = 20

export async function runTransactionsDemo(options: TransactionsDemoOptions): Promise<number> {
  const { peers, transactions: count, size, rate, json } = options
  const info = (line: string): void => {
    if (!json) console.error(line)
  }
  const began = Date.now()
  const { LocalSection, startUpTimeoutMs } = await import('../local-section.js')
  const section: LocalSection = await LocalSection.create({
    peers,
    mode: 'single',
    keepDir: options.keepDir,
    apiTokenFile: options.apiTokenFile,
    startArgs: options.startArgs,
    ...(options.wan === undefined ? {} : { wan: options.wan }),
  })
  const signals = section.guardSignals('demo')
  const exits = new Map<number, string>()
  let progress: NodeJS.Timeout | undefined
  try {
    info(`section ${section.sectionId.slice(0, 16)}… (single) of ${peers} peers in ${section.dir}`)
    if (options.wan !== undefined) console.error(describeWan(options.wan, section.wanSeed))
    await Promise.all(section.peers.map((peer) => section.start(peer.index)))
    // A peer that exits before the end is named in the error, with its last words.
    for (const peer of section.peers) {
      peer.exited?.then(({ code, signal }) => exits.set(peer.index, signal ?? `code ${code}`))
    }
    await section.waitConnected(startUpTimeoutMs(peers))
    info(`all ${peers} peers running and connected after ${((Date.now() - began) / 1000).toFixed(1)} s`)
    const apis: ApiClient[] = section.peers.map((peer) => section.api(peer.index))

    // Distinct random transactions.
    const txs: Buffer[] = []
    const index = new Map<string, number>()
    while (txs.length < count) {
      const bytes = randomBytes(size)
      const hex = bytes.toString('hex')
      if (index.has(hex)) continue
      index.set(hex, txs.length)
      txs.push(bytes)
    }
    const submittedAt: number[] = new Array(count).fill(Number.NaN)

    // Every peer's delivered transactions, read with long-polls while they are submitted: the first
    // peer's in full (their order and blocks), the others' as a count and digest per block (one
    // driver reading every transaction of 16 peers starved itself of CPU).
    const order: number[] = []
    const positionOf: number[] = new Array(count).fill(-1)
    const summaries: BlockDigest[][] = apis.map(() => [])
    const blockDeliveredAt: Map<number, number>[] = apis.map(() => new Map())
    const delivered: number[] = apis.map(() => 0)
    let unknown = 0
    const deadlineFor = () => Date.now() + 60_000 + 5 * count
    let deadline = deadlineFor()
    const collect = async (peer: number): Promise<void> => {
      let from = 0
      while (!signals.interrupted && delivered[peer] < count && Date.now() < deadline) {
        const query = {
          from,
          limit: 20_000,
          wait: Math.min(POLL_WAIT_MS, Math.max(1, deadline - Date.now())),
        }
        if (peer === 0) {
          const answer = await apis[peer].transactions(query)
          for (const t of answer.transactions) {
            delivered[peer]++
            if (t.deliveredAt !== null) blockDeliveredAt[peer].set(t.position, t.deliveredAt)
            const at = index.get(t.tx)
            if (at === undefined) {
              unknown++
              continue
            }
            order.push(at)
            positionOf[at] = t.position
          }
          from = answer.next
        } else {
          const answer = await apis[peer].transactionSummaries(query)
          for (const block of answer.blocks) {
            delivered[peer] += block.transactions
            summaries[peer].push(block)
            if (block.deliveredAt !== null) blockDeliveredAt[peer].set(block.position, block.deliveredAt)
          }
          from = answer.next
        }
      }
    }
    /** The first failed POST or read: it fails the demo. */
    let failure: unknown
    const collectors = apis.map((_, peer) =>
      collect(peer).catch((error: unknown) => {
        failure ??= error
      }),
    )
    progress = setInterval(() => {
      info(
        `  ${((Date.now() - began) / 1000).toFixed(1).padStart(5)} s  transactions read back per peer: ${delivered.join(' ')}`,
      )
    }, 1000)

    // Submit: chunks spread over random peers, as fast as accepted (at most `maxOutstanding` not
    // answered) or paced.
    const chunk = Math.max(1, Math.min(CHUNK_TXS, Math.floor(CHUNK_BYTES / size)))
    const maxOutstanding = Math.max(
      chunk,
      Math.min(OUTSTANDING_PER_PEER * peers, Math.floor(OUTSTANDING_BYTES / size)),
    )
    let outstanding = 0
    info(
      `submitting ${count} transactions of ${size} bytes at random peers${rate === undefined ? '' : `, ${rate} per second`}`,
    )
    const pending = new Set<Promise<unknown>>()
    let next = 0
    const t0 = Date.now()
    while (!signals.interrupted && next < count) {
      let n = chunk
      if (rate !== undefined) {
        const due = Math.min(count, Math.floor(((Date.now() - t0) * rate) / 1000) + 1)
        n = Math.min(chunk, due - next)
        if (n <= 0) {
          await new Promise((resolve) => setTimeout(resolve, TICK_MS))
          continue
        }
      }
      const slice = Array.from({ length: Math.min(n, count - next) }, () => next++)
      const byPeer = new Map<number, number[]>()
      for (const i of slice) {
        const peer = randomInt(peers)
        const list = byPeer.get(peer)
        if (list === undefined) byPeer.set(peer, [i])
        else list.push(i)
      }
      const now = Date.now()
      for (const [peer, list] of byPeer) {
        for (const i of list) submittedAt[i] = now
        const post: Promise<void> = apis[peer]
          .submit(list.map((i) => txs[i]))
          .then((accepted) => {
            if (accepted !== list.length)
              throw new Error(`peer ${peer} accepted ${accepted} of ${list.length}`)
          })
          .catch((error: unknown) => {
            failure ??= error
          })
          .finally(() => {
            pending.delete(post)
            outstanding -= list.length
          })
        pending.add(post)
        outstanding += list.length
      }
      deadline = deadlineFor()
      while (outstanding >= maxOutstanding && failure === undefined) await Promise.race(pending)
      if (failure !== undefined) throw failure
    }
    await Promise.all(pending)
    if (failure !== undefined) throw failure
    info(`all ${count} transactions submitted in ${((Date.now() - t0) / 1000).toFixed(2)} s`)
    deadline = deadlineFor()
    await Promise.all(collectors)
    if (failure !== undefined) throw failure
    clearInterval(progress)
    progress = undefined
    const stats = options.withStats
      ? (await Promise.all(apis.map((api) => api.status()))).map((s) => ({
          cpuMs: s.cpuMs,
          verifications: s.verifications,
        }))
      : undefined
    if (signals.interrupted) return 1

    // Agreement: all T at the first peer, once each; the same blocks of the same transactions, in
    // one order, at every other peer.
    const reference = digestsByBlock(order.map((at) => ({ position: positionOf[at], tx: txs[at] })))
    const batches = reference.length
    const same = (list: readonly BlockDigest[]) =>
      list.length === reference.length &&
      list.every(
        (b, i) =>
          b.position === reference[i].position &&
          b.transactions === reference[i].transactions &&
          b.sha256 === reference[i].sha256,
      )
    const agreed =
      unknown === 0 &&
      new Set(order).size === count &&
      order.length === count &&
      summaries.every((list, peer) => peer === 0 || same(list))
    const latencies: number[] = []
    let last = 0
    for (let i = 0; i < count; i++) {
      let at = 0
      for (const times of blockDeliveredAt)
        at = Math.max(at, times.get(positionOf[i]) ?? Number.POSITIVE_INFINITY)
      if (!Number.isFinite(at)) continue
      last = Math.max(last, at)
      latencies.push(at - submittedAt[i])
    }
    latencies.sort((a, b) => a - b)
    const elapsedMs = Math.max(0, last - t0)
    const summary: TransactionsDemoSummary = {
      peers,
      transactions: count,
      txSize: size,
      agreed,
      batches,
      elapsedMs,
      transactionsPerSecond: elapsedMs > 0 ? Math.round((latencies.length * 10_000) / elapsedMs) / 10 : 0,
      txLatencyMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99) },
      ...(options.wan === undefined
        ? {}
        : {
            wan: {
              delayMs: options.wan.delayMs,
              jitterMs: options.wan.jitterMs ?? 0,
              seed: section.wanSeed ?? 0,
            },
          }),
    }
    if (json) {
      console.log(JSON.stringify(stats === undefined ? summary : { ...summary, stats }))
    } else {
      console.log(
        `peers ${peers} (single), transactions ${count} of ${size} bytes: ${agreed ? 'AGREED' : 'NOT AGREED'}`,
      )
      if (agreed) {
        console.log(
          `  all ${peers} peers delivered the same ${count} transactions in the same order (${batches} batches)`,
        )
      } else {
        console.log(
          `  transactions per peer: ${delivered.join(' ')} of ${count}; unknown at the first peer: ${unknown}`,
        )
      }
      console.log(
        `  elapsed ${(elapsedMs / 1000).toFixed(2)} s (first submit to last delivery at the last peer), ${summary.transactionsPerSecond} transactions/s`,
      )
      console.log(
        `  latency p50 ${summary.txLatencyMs.p50 ?? '-'} ms, p99 ${summary.txLatencyMs.p99 ?? '-'} ms`,
      )
      if (options.keepDir) console.log(`  kept ${section.dir}`)
      stats?.forEach((peer, i) => {
        const { count: n, totalMs } = peer.verifications
        console.log(
          `  peer ${i}: CPU ${peer.cpuMs.toFixed(0)} ms, ${n} signature verifications in ${totalMs.toFixed(0)} ms`,
        )
      })
    }
    return agreed ? 0 : 1
  } catch (error) {
    if (signals.interrupted) return 1
    const cause = (error as { cause?: unknown }).cause
    console.error(
      `parsec-peer demo: ${(error as Error).message}${cause instanceof Error ? ` (${cause.message})` : ''}`,
    )
    for (const [index, how] of exits) {
      console.error(`  peer ${index} exited (${how}): ${section.peers[index].stderr.slice(-8).join(' | ')}`)
    }
    return 1
  } finally {
    if (progress !== undefined) clearInterval(progress)
    if (!signals.interrupted) await section.close()
    signals.dispose()
  }
}
