/**
 * `parsec-peer bench-live` (`pnpm bench:live`): runs the demo section (Single mode, 256-byte
 * payloads, separate peer processes over libp2p TCP on 127.0.0.1) at several sizes, twice each:
 * paced (one batch of 25 in flight: latency) and saturated (a batch of 100 per peer in flight:
 * throughput). Reports payloads/s, latency p50/p99, the share of the peers' CPU time spent
 * verifying signatures, and the signature-verification bound: verifications needed per payload ×
 * measured cost of one verification, over the machine's cores, with the achieved fraction of it.
 */
import { spawnSync } from 'node:child_process'
import { generateKeyPairSync, sign, verify } from 'node:crypto'
import { availableParallelism } from 'node:os'
import { intOption, parse, UsageError } from '../args.js'
import { PEER_BIN } from '../local-section.js'
import type { DemoSummary, PeerStats } from './demo.js'

const HELP = `usage: parsec-peer bench-live [--peers LIST] [--payloads LIST] [--no-sync] [--json | --markdown]

Runs 'parsec-peer demo' (single mode, 256-byte payloads) for each section size in --peers
(default 4,7,16) with the matching number of payloads in --payloads (default 3000,2000,600), once
paced (batches of 25, one at a time) and once saturated (batches of 100, one per peer in flight),
and prints payloads/s, latency, the CPU share of signature verification and the verification bound.
--no-sync runs the peers without syncing their writes to disk, to measure what syncing costs.`

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
}

/** Microseconds per Ed25519 verification of a 400-byte event on node's crypto, key cached. */
export function measureVerifyMicros(iterations = 2000): number {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  const data = new Uint8Array(400).fill(3)
  const signature = sign(null, data, privateKey)
  for (let i = 0; i < 200; i++) verify(null, data, publicKey, signature)
  const start = process.hrtime.bigint()
  for (let i = 0; i < iterations; i++) verify(null, data, publicKey, signature)
  return Number(process.hrtime.bigint() - start) / 1000 / iterations
}

function runDemo(peers: number, payloads: number, load: Run['load'], sync: boolean): Run {
  const args = ['demo', '--peers', `${peers}`, '--payloads', `${payloads}`, '--json', '--stats']
  if (!sync) args.push('--no-sync')
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
  }
}

function list(values: Record<string, unknown>, name: string, fallback: number[]): number[] {
  const raw = values[name]
  if (raw === undefined) return fallback
  const items = String(raw).split(',')
  return items.map((item) => intOption({ [name]: item }, name, 0, 1, 100_000))
}

export const benchLiveCommand = {
  summary: 'benchmark live sections of peer processes (throughput, latency, verification bound)',
  async run(args: string[]): Promise<number> {
    const { values } = parse(args, {
      peers: { type: 'string' },
      payloads: { type: 'string' },
      json: { type: 'boolean' },
      markdown: { type: 'boolean' },
      'no-sync': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    })
    if (values.help) {
      console.log(HELP)
      return 0
    }
    const sizes = list(values, 'peers', [4, 7, 16])
    const counts = list(values, 'payloads', [3000, 2000, 600])
    if (counts.length !== sizes.length) throw new UsageError('--payloads needs one count per --peers entry')
    const cores = availableParallelism()
    const verifyMicros = measureVerifyMicros()
    console.error(
      `one Ed25519 verification: ${verifyMicros.toFixed(1)} µs (node:crypto, cached key); ${cores} cores`,
    )
    const rows: Row[] = []
    for (let i = 0; i < sizes.length; i++) {
      for (const load of ['paced', 'saturated'] as const) {
        console.error(`running ${sizes[i]} peers, ${counts[i]} payloads, ${load}…`)
        const result = row(
          runDemo(sizes[i], counts[i], load, values['no-sync'] !== true),
          verifyMicros,
          cores,
        )
        console.error(
          `  ${result.payloadsPerSecond} payloads/s, p50 ${result.p50} ms, p99 ${result.p99} ms, agreed ${result.agreed}`,
        )
        rows.push(result)
      }
    }
    if (values.json) {
      console.log(JSON.stringify({ verifyMicros, cores, rows }))
    } else {
      console.log(
        '| peers | load | payloads | agreed | payloads/s | p50 ms | p99 ms | verifications/payload | verify share of CPU (timed / count × cost) | bound payloads/s | fraction of bound |',
      )
      console.log('|---|---|---|---|---|---|---|---|---|---|---|')
      for (const r of rows) {
        console.log(
          `| ${r.peers} | ${r.load} | ${r.payloads} | ${r.agreed ? 'yes' : 'NO'} | ${r.payloadsPerSecond} | ${r.p50} | ${r.p99} | ${r.verificationsPerPayload} | ${r.verifyShareMeasured}% / ${r.verifyShareEstimated}% | ${r.boundPerSecond} | ${r.fractionOfBound} |`,
        )
      }
    }
    return rows.every((r) => r.agreed) ? 0 : 1
  },
}
