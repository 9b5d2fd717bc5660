/**
 * `parsec-peer bench-live` (`pnpm bench:live`): runs the demo section (Single mode, 256-byte
 * payloads, separate peer processes over libp2p TCP on 127.0.0.1) at several sizes, twice each:
 * paced (one batch of 25 in flight: latency) and saturated (a batch of 100 per peer in flight:
 * throughput). Reports payloads/s, latency p50/p99, the share of the peers' CPU time spent
 * verifying signatures, and the signature-verification bound: verifications needed per payload ×
 * measured cost of one verification, over the machine's cores, with the achieved fraction of it.
 * Then the join latency against the section's history (live-join.ts) and the agreed payloads/s
 * while members join and leave against a steady section (live-churn.ts).
 */
import { spawnSync } from 'node:child_process'
import { availableParallelism } from 'node:os'
import { Ed25519SecretId } from '@parsec-section/parsec-core'
import { blockRetentionOption, intOption, parse, UsageError } from '../args.js'
import type { ChurnRun } from '../live-churn.js'
import type { JoinLatencyRow } from '../live-join.js'
import { PEER_BIN } from '../local-section.js'
import { BENCH_CHURN_ARGS, BENCH_JOIN_ARGS } from '../quick-membership.js'
import { WAN_FLAGS, wanArgs, wanOptions } from '../wan-flags.js'
import type { DemoSummary, PeerStats } from './demo.js'

const HELP = `usage: parsec-peer bench-live [--parts LIST] [--peers LIST] [--payloads LIST] [--no-sync] [--no-metrics]
                              [--block-retention N|all] [--checkpoint-blocks K]
                              [--join-peers N] [--join-history LIST] [--join-runs R] [--join-timeout SECONDS]
                              [--churn-peers LIST] [--churn-seconds S] [--churn-warmup S]
                              [--churn-outstanding K] [--churn-runs R] [--json | --markdown]
                              [--wan-delay-ms D [--wan-jitter-ms J] [--wan-seed S]]

--parts selects what runs (default throughput,join,churn):
throughput  'parsec-peer demo' (single mode, 256-byte payloads) for each section size in --peers
            (default 4,7,16) with the matching number of payloads in --payloads (default
            3000,2000,600), once paced (batches of 25, one at a time) and once saturated (batches
            of 100, one per peer in flight): payloads/s, latency, the CPU share of signature
            verification and the verification bound. --no-sync runs the peers without syncing
            their writes to disk, to measure what syncing costs.
join        join latency against history: a section of --join-peers founders (default 4) is voted
            payloads as fast as it takes them (at most 1,000 not yet agreed) until peer 0's graph holds each size of
            --join-history (events, ascending; default 1000,10000,100000), then a new peer joins
            ('start --join', through peer 0) and is timed from its ready line to 'member'
            (candidate, history replayed, joining between); it leaves again before the next
            join. --join-runs R (default 1) joins per size; a join gets --join-timeout seconds
            (default 600).
churn       agreed payloads/s at peer 0 over --churn-seconds (default 60, after --churn-warmup,
            default 10) for each size of --churn-peers (default 4,7), steady and with members
            joining and leaving (a join, then the oldest other member leaves, and again), under
            the same closed-loop load: batches of 25 at random members, one POST at a time, at
            most --churn-outstanding (default 100) payloads voted and not yet at peer 0.
            --churn-runs R (default 1) alternates R steady and R churn runs.
The join and churn parts start their peers with ${BENCH_JOIN_ARGS.join(' ')}
(light proof of work, short probation and drain: what a join costs apart from the history), the
churn part also with --candidate-timeout-ms 10000 (a stalled join is retried within the window).
--no-metrics starts the peers of every part with 'start --no-metrics' (no GET /metrics), to measure
what collecting metrics costs; --block-retention N with 'start --block-retention N' (each keeps its
last N agreed blocks); --checkpoint-blocks K starts the join and churn parts' peers with
'start --checkpoint-blocks K' (epochs of K blocks, default 1,000: a joiner replays the current
epoch only; 0: no epochs).
--wan-delay-ms D [--wan-jitter-ms J] [--wan-seed S] runs the throughput part's sections WAN-like
(the demo's flags, passed on: each peer reached by the others through a local proxy adding D ± J ms
each way, e.g. --wan-delay-ms 50 --wan-jitter-ms 20); only with --parts throughput.`

const PARTS = ['throughput', 'join', 'churn'] as const
type Part = (typeof PARTS)[number]

interface Run {
  peers: number
  load: 'paced' | 'saturated'
  summary: DemoSummary
  stats: PeerStats[]
}

interface Row {
  peers: number
  load: string
  payloads: number
  agreed: boolean
  payloadsPerSecond: number
  p50: number | null
  p99: number | null
  verificationsPerPayload: number
  verifyShareMeasured: number
  verifyShareEstimated: number
  boundPerSecond: number
  fractionOfBound: number
  /** CPU seconds the section spent per agreed payload, per peer (what one machine per peer pays). */
  cpuSecondsPerPayloadPerPeer: number
  /** Of the events gossip brought the peers, the share they held already. */
  duplicateShare: number
  /** The same, of the events in the requests the peers answered, and in the responses they took. */
  duplicateShareInRequests: number
  duplicateShareInResponses: number
}

/** Microseconds per Ed25519 verification of a 400-byte event, as the engine verifies (libsodium). */
export function measureVerifyMicros(iterations = 2000): number {
  const secret = Ed25519SecretId.generate()
  const data = new Uint8Array(400).fill(3)
  const signature = secret.sign(data)
  for (let i = 0; i < 200; i++) secret.publicId.verify(signature, data)
  const start = process.hrtime.bigint()
  for (let i = 0; i < iterations; i++) secret.publicId.verify(signature, data)
  return Number(process.hrtime.bigint() - start) / 1000 / iterations
}

function runDemo(
  peers: number,
  payloads: number,
  load: Run['load'],
  peerFlags: { sync: boolean; metrics: boolean; retention: readonly string[]; wan: readonly string[] },
): Run {
  const args = ['demo', '--peers', `${peers}`, '--payloads', `${payloads}`, '--json', '--stats']
  if (!peerFlags.sync) args.push('--no-sync')
  if (!peerFlags.metrics) args.push('--no-metrics')
  args.push(...peerFlags.retention, ...peerFlags.wan)
  if (load === 'saturated') args.push('--batch', '100', '--in-flight', `${peers}`)
  const out = spawnSync(process.execPath, [PEER_BIN, ...args], { encoding: 'utf8', maxBuffer: 1 << 24 })
  const line = out.stdout.trim().split('\n').pop() ?? ''
  let parsed: DemoSummary & { stats: PeerStats[] }
  try {
    parsed = JSON.parse(line)
  } catch {
    throw new Error(
      `demo --peers ${peers} failed (exit ${out.status}): ${out.stderr.trim().split('\n').pop()}`,
    )
  }
  const { stats, ...summary } = parsed
  return { peers, load, summary, stats }
}

function row(run: Run, verifyMicros: number, cores: number): Row {
  const verifications = run.stats.reduce((sum, s) => sum + s.verifications.count, 0)
  const verifyMs = run.stats.reduce((sum, s) => sum + s.verifications.totalMs, 0)
  const cpuMs = run.stats.reduce((sum, s) => sum + s.cpuMs, 0)
  const perPayload = verifications / run.summary.payloads
  const bound = (cores * 1e6) / (perPayload * verifyMicros)
  const total = { events: 0, duplicates: 0 }
  const requests = { events: 0, duplicates: 0 }
  for (const { gossipReceived: g } of run.stats) {
    total.events += g.events
    total.duplicates += g.duplicates
    requests.events += g.inRequests?.events ?? 0
    requests.duplicates += g.inRequests?.duplicates ?? 0
  }
  const share = (part: number, of: number): number => Math.round((1000 * part) / Math.max(1, of)) / 1000
  return {
    peers: run.peers,
    load: run.load,
    payloads: run.summary.payloads,
    agreed: run.summary.agreed,
    payloadsPerSecond: run.summary.payloadsPerSecond,
    p50: run.summary.latencyMs.p50,
    p99: run.summary.latencyMs.p99,
    verificationsPerPayload: Math.round(perPayload * 100) / 100,
    // Timed around each call: includes time the process waited for a core.
    verifyShareMeasured: Math.round((1000 * verifyMs) / cpuMs) / 10,
    // Count × uncontended cost: the CPU the verifications themselves need.
    verifyShareEstimated: Math.round((verifications * verifyMicros) / cpuMs) / 10,
    boundPerSecond: Math.round(bound),
    fractionOfBound: Math.round((1000 * run.summary.payloadsPerSecond) / bound) / 1000,
    cpuSecondsPerPayloadPerPeer:
      Math.round((1e6 * cpuMs) / 1000 / run.summary.payloads / Math.max(1, run.stats.length)) / 1e6,
    duplicateShare:
      Math.round(
        (1000 * run.stats.reduce((sum, s) => sum + s.gossipReceived.duplicates, 0)) /
          Math.max(
            1,
            run.stats.reduce((sum, s) => sum + s.gossipReceived.events, 0),
          ),
      ) / 1000,
    duplicateShareInRequests: share(requests.duplicates, requests.events),
    duplicateShareInResponses: share(total.duplicates - requests.duplicates, total.events - requests.events),
  }
}

function list(values: Record<string, unknown>, name: string, fallback: number[], max = 100_000): number[] {
  const raw = values[name]
  if (raw === undefined) return fallback
  const items = String(raw).split(',')
  return items.map((item) => intOption({ [name]: item }, name, 0, 1, max))
}

function parts(values: Record<string, unknown>): Set<Part> {
  const raw = values.parts
  if (raw === undefined) return new Set(PARTS)
  const items = String(raw).split(',')
  for (const item of items) {
    if (!PARTS.includes(item as Part)) {
      throw new UsageError(`--parts takes a list of ${PARTS.join(', ')}, not '${item}'`)
    }
  }
  return new Set(items as Part[])
}

function printJoinTable(rows: readonly JoinLatencyRow[]): void {
  console.log('')
  console.log(
    '| founders | history (events) | blocks | build s | joined | start ms | candidate ms | history replayed ms | joining ms | member ms | replayed events/s | events pulled (pages) | refused |',
  )
  console.log('|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|')
  for (const r of rows) {
    const joined = r.joined ? 'yes' : `NO (${r.reason})`
    console.log(
      `| ${r.peers} | ${r.events} | ${r.blocks} | ${(r.buildMs / 1000).toFixed(1)} | ${joined} | ${r.startMs} | ${r.candidateMs ?? '-'} | ${r.historyMs ?? '-'} | ${r.joiningMs ?? '-'} | ${r.memberMs ?? '-'} | ${r.historyEventsPerSecond ?? '-'} | ${r.caughtUpEvents ?? '-'} (${r.pages ?? '-'}) | ${r.rejections.length === 0 ? '-' : r.rejections.join(', ')} |`,
    )
  }
}

function printChurnTable(runs: readonly ChurnRun[]): void {
  console.log('')
  console.log(
    '| peers | membership | seconds | payloads agreed | payloads/s | p50 ms | p99 ms | joins | leaves | join s (median) | leave s (median) | members |',
  )
  console.log('|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|')
  const median = (values: readonly number[]): string => {
    if (values.length === 0) return '-'
    const sorted = [...values].sort((a, b) => a - b)
    return (sorted[Math.floor((sorted.length - 1) / 2)] / 1000).toFixed(1)
  }
  for (const r of runs) {
    const what = r.churn
      ? `joining and leaving${r.failure === undefined ? '' : ` (stopped: ${r.failure})`}`
      : 'steady'
    console.log(
      `| ${r.peers} | ${what} | ${r.seconds} | ${r.payloads} | ${r.payloadsPerSecond} | ${r.latencyMs.p50 ?? '-'} | ${r.latencyMs.p99 ?? '-'} | ${r.joins} | ${r.leaves} | ${median(r.joinMs)} | ${median(r.leaveMs)} | ${r.membersMin}-${r.membersMax} |`,
    )
  }
}

export const benchLiveCommand = {
  summary: 'benchmark live sections of peer processes (throughput, latency, verification bound)',
  async run(args: string[]): Promise<number> {
    const { values } = parse(args, {
      parts: { type: 'string' },
      peers: { type: 'string' },
      payloads: { type: 'string' },
      'join-peers': { type: 'string' },
      'join-history': { type: 'string' },
      'join-timeout': { type: 'string' },
      'join-runs': { type: 'string' },
      'churn-peers': { type: 'string' },
      'churn-seconds': { type: 'string' },
      'churn-warmup': { type: 'string' },
      'churn-outstanding': { type: 'string' },
      'churn-runs': { type: 'string' },
      json: { type: 'boolean' },
      markdown: { type: 'boolean' },
      'no-sync': { type: 'boolean' },
      'no-metrics': { type: 'boolean' },
      'block-retention': { type: 'string' },
      'checkpoint-blocks': { type: 'string' },
      ...WAN_FLAGS,
      help: { type: 'boolean', short: 'h' },
    })
    if (values.help) {
      console.log(HELP)
      return 0
    }
    const sizes = list(values, 'peers', [4, 7, 16])
    const counts = list(values, 'payloads', [3000, 2000, 600])
    if (counts.length !== sizes.length) throw new UsageError('--payloads needs one count per --peers entry')
    const selected = parts(values)
    const wan = wanOptions(values)
    if (wan !== undefined && (selected.has('join') || selected.has('churn'))) {
      throw new UsageError('--wan-delay-ms runs the throughput part only: add --parts throughput')
    }
    const joinPeers = intOption(values, 'join-peers', 4, 1, 32)
    const histories = list(values, 'join-history', [1000, 10_000, 100_000], 10_000_000)
    if (histories.some((h, i) => i > 0 && h <= histories[i - 1])) {
      throw new UsageError('--join-history must be ascending')
    }
    const joinRuns = intOption(values, 'join-runs', 1, 1, 100)
    const joinTimeoutMs = intOption(values, 'join-timeout', 600, 1, 86_400) * 1000
    const churnPeers = list(values, 'churn-peers', [4, 7], 32)
    const churnSeconds = intOption(values, 'churn-seconds', 60, 1, 86_400)
    const churnWarmup = intOption(values, 'churn-warmup', 10, 0, 86_400)
    const outstanding = intOption(values, 'churn-outstanding', 100, 1, 100_000)
    const churnRuns = intOption(values, 'churn-runs', 1, 1, 100)
    const info = (line: string): void => console.error(line)
    const cores = availableParallelism()
    const verifyMicros = measureVerifyMicros()
    console.error(`one Ed25519 verification: ${verifyMicros.toFixed(1)} µs (libsodium); ${cores} cores`)
    const blockRetention = blockRetentionOption(values)
    const peerFlags = {
      sync: values['no-sync'] !== true,
      metrics: values['no-metrics'] !== true,
      retention: typeof blockRetention === 'number' ? ['--block-retention', `${blockRetention}`] : [],
      wan: wanArgs(wan),
    }
    // Unset: the peers' default (epochs of 1,000 blocks).
    const epochArgs =
      values['checkpoint-blocks'] === undefined
        ? []
        : ['--checkpoint-blocks', `${intOption(values, 'checkpoint-blocks', 0, 0, 1_000_000_000)}`]
    const peerArgs = [...(peerFlags.metrics ? [] : ['--no-metrics']), ...peerFlags.retention, ...epochArgs]
    const rows: Row[] = []
    for (let i = 0; i < sizes.length && selected.has('throughput'); i++) {
      for (const load of ['paced', 'saturated'] as const) {
        console.error(`running ${sizes[i]} peers, ${counts[i]} payloads, ${load}…`)
        const run = runDemo(sizes[i], counts[i], load, peerFlags)
        const result = row(run, verifyMicros, cores)
        const links = run.summary.wan
        if (links !== undefined) {
          console.error(
            `  WAN-like links ${links.delayMs} ± ${links.jitterMs} ms each way, seed ${links.seed}`,
          )
        }
        console.error(
          `  ${result.payloadsPerSecond} payloads/s, p50 ${result.p50} ms, p99 ${result.p99} ms, agreed ${result.agreed}`,
        )
        rows.push(result)
      }
    }
    let joins: JoinLatencyRow[] = []
    if (selected.has('join')) {
      const { measureJoinLatency } = await import('../live-join.js')
      console.error(`join latency against history: ${histories.join(', ')} events, ${joinPeers} founders…`)
      joins = await measureJoinLatency({
        peers: joinPeers,
        histories,
        runs: joinRuns,
        payloadBytes: 256,
        startArgs: [...BENCH_JOIN_ARGS, ...peerArgs],
        joinTimeoutMs,
        info,
      })
    }
    const churn: ChurnRun[] = []
    if (selected.has('churn')) {
      const { measureChurn } = await import('../live-churn.js')
      for (const peers of churnPeers) {
        for (let run = 0; run < churnRuns; run++) {
          for (const withChurn of [false, true]) {
            console.error(
              `payloads/s at ${peers} peers, ${withChurn ? 'members joining and leaving' : 'steady'}…`,
            )
            churn.push(
              await measureChurn({
                peers,
                churn: withChurn,
                seconds: churnSeconds,
                warmupSeconds: churnWarmup,
                outstanding,
                batch: 25,
                payloadBytes: 256,
                startArgs: [...BENCH_CHURN_ARGS, ...peerArgs],
                info,
              }),
            )
          }
        }
      }
    }
    const ok =
      rows.every((r) => r.agreed) &&
      joins.every((j) => j.joined) &&
      churn.every((c) => c.failure === undefined && c.payloads > 0)
    if (values.json) {
      console.log(JSON.stringify({ verifyMicros, cores, rows, joins, churn }))
    } else {
      if (rows.length > 0) {
        console.log(
          '| peers | load | payloads | agreed | payloads/s | p50 ms | p99 ms | verifications/payload | verify share of CPU (timed / count × cost) | bound payloads/s | fraction of bound | CPU s per payload per peer | duplicates received |',
        )
        console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|')
        for (const r of rows) {
          console.log(
            `| ${r.peers} | ${r.load} | ${r.payloads} | ${r.agreed ? 'yes' : 'NO'} | ${r.payloadsPerSecond} | ${r.p50} | ${r.p99} | ${r.verificationsPerPayload} | ${r.verifyShareMeasured}% / ${r.verifyShareEstimated}% | ${r.boundPerSecond} | ${r.fractionOfBound} | ${r.cpuSecondsPerPayloadPerPeer} | ${(100 * r.duplicateShare).toFixed(1)}% |`,
          )
        }
      }
      if (joins.length > 0) printJoinTable(joins)
      if (churn.length > 0) printChurnTable(churn)
    }
    return ok ? 0 : 1
  },
}
