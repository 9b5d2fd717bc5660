// What one GET /metrics costs the peer that answers it: a local section of `parsec-peer start`
// processes (LocalSection, metrics on) is voted --payloads random 256-byte payloads (so the
// histograms and counters hold something), then peer 0 is scraped --scrapes times, one request
// after the other. Prints the body's size, the response time (median, p99) and peer 0's CPU time
// per scrape (`GET /status` cpuMs before and after, less a run of as many `GET /status` alone).
//   node scripts/bench-metrics-scrape.mjs [--peers N] [--payloads P] [--scrapes S]   (after `pnpm build`)
import { randomBytes } from 'node:crypto'
import { parseArgs } from 'node:util'
import { LocalSection } from '../apps/peer/dist/src/local-section.js'

const { values } = parseArgs({
  options: {
    peers: { type: 'string', default: '4' },
    payloads: { type: 'string', default: '1000' },
    scrapes: { type: 'string', default: '200' },
  },
})
const peers = Number(values.peers)
const payloads = Number(values.payloads)
const scrapes = Number(values.scrapes)

/** Milliseconds of each of `count` sequential requests of `path` at `api`, and peer CPU ms spent. */
async function timed(api, path, count) {
  const before = (await api.status()).cpuMs
  const times = []
  let bytes = 0
  for (let i = 0; i < count; i++) {
    const start = performance.now()
    const response = await api.request('GET', path)
    times.push(performance.now() - start)
    if (response.status !== 200) throw new Error(`GET ${path}: ${response.status}`)
    bytes = response.text.length
  }
  const cpuMs = (await api.status()).cpuMs - before
  times.sort((a, b) => a - b)
  return { times, bytes, cpuMs }
}

const section = await LocalSection.create({ peers })
try {
  await section.startAll()
  await section.waitConnected(60_000)
  for (let sent = 0; sent < payloads; sent += 25) {
    const batch = Array.from({ length: Math.min(25, payloads - sent) }, () => randomBytes(256))
    await section.api(sent % peers).vote(batch)
  }
  const api = section.api(0)
  for (let have = 0; have < payloads + 1; ) {
    have += (await api.blocks({ from: have, wait: 5000 })).blocks.length
  }
  const status = await timed(api, '/status', scrapes)
  const metrics = await timed(api, '/metrics', scrapes)
  const q = (times, p) => times[Math.min(times.length - 1, Math.floor(p * times.length))].toFixed(2)
  console.log(
    JSON.stringify({
      peers,
      payloads,
      scrapes,
      metricsBytes: metrics.bytes,
      metricsMs: { p50: q(metrics.times, 0.5), p99: q(metrics.times, 0.99) },
      statusMs: { p50: q(status.times, 0.5), p99: q(status.times, 0.99) },
      // Peer 0's CPU per request; the scrape's own cost is the difference.
      cpuMsPerMetrics: (metrics.cpuMs / scrapes).toFixed(2),
      cpuMsPerStatus: (status.cpuMs / scrapes).toFixed(2),
    }),
  )
} finally {
  await section.close()
}
