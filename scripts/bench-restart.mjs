// What a restart costs in memory: a local section of `parsec-peer start` processes (LocalSection)
// is voted random 256-byte payloads until the first peer's graph holds --events events; the first
// peer's resident memory (VmRSS) is sampled, the peer is stopped (SIGTERM) and started again from
// its data directory, and sampled again once it holds at least as many events. The other peers,
// never restarted, are sampled alongside as the reference.
//   node scripts/bench-restart.mjs [--events N] [--peers N]   (after `pnpm build`)

import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { LocalSection } from '../apps/peer/dist/src/local-section.js'

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '100000' },
    peers: { type: 'string', default: '4' },
    // Heap snapshots (in the working directory) of the restarted peer and of peer 1 at the end.
    snapshot: { type: 'boolean', default: false },
    // Keep the section's directory (keys, genesis, data directories) there.
    keep: { type: 'string' },
  },
})
if (values.snapshot)
  process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --heapsnapshot-signal=SIGUSR2`
const target = Number(values.events)
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** Resident memory in MB: anonymous (heaps) and file-backed (mapped files: LevelDB's tables). */
function rssMb(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const field = (name) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)[1]) / 1024
  return { anon: field('RssAnon'), file: field('RssFile') }
}

/** The median of a few samples a second apart, per peer. */
async function sampleRss(section) {
  const samples = section.peers.map(() => [])
  for (let i = 0; i < 5; i++) {
    section.peers.forEach((peer, p) => {
      samples[p].push(rssMb(peer.child.pid))
    })
    await sleep(1000)
  }
  return samples.map((list) => list.sort((a, b) => a.anon - b.anon)[2])
}

const section = await LocalSection.create({
  peers: Number(values.peers),
  ...(values.keep === undefined ? {} : { dir: values.keep, keepDir: true }),
})
const fail = (error) => {
  section.killAllNow()
  console.error(error)
  process.exit(1)
}
process.on('SIGINT', () => fail(new Error('interrupted')))
try {
  await section.startAll()
  await section.waitConnected(60_000)
  const started = Date.now()
  for (;;) {
    const status = await section.api(0).status()
    if (status.graphSize >= target) break
    await Promise.all(
      section.peers.map((_, p) => section.api(p).vote(Array.from({ length: 25 }, () => randomBytes(256)))),
    )
  }
  // Let the votes in flight settle.
  for (let i = 0; i < 120; i++) {
    const statuses = await Promise.all(section.peers.map((_, p) => section.api(p).status()))
    if (statuses.every((s) => s.pendingObservations === 0)) break
    await sleep(500)
  }
  const before = await section.api(0).status()
  const rssBefore = await sampleRss(section)
  const restartAt = Date.now()
  await section.stop(0)
  await section.start(0)
  const readyMs = Date.now() - restartAt
  for (;;) {
    const status = await section.api(0).status()
    if (status.graphSize >= before.graphSize && status.deliveredBlocks >= before.deliveredBlocks) break
    await sleep(200)
  }
  await sleep(2000)
  const after = await section.api(0).status()
  const rssAfter = await sampleRss(section)
  if (values.snapshot) {
    for (const p of [0, 1]) {
      section.peers[p].child.kill('SIGUSR2')
      await sleep(30_000)
    }
  }
  const fmt = (list) => list.map((mb) => `${mb.anon.toFixed(0)}+${mb.file.toFixed(0)}`).join(' / ')
  console.log(
    JSON.stringify({
      events: before.graphSize,
      blocks: before.deliveredBlocks,
      buildSeconds: Math.round((restartAt - started) / 1000),
      restartReadyMs: readyMs,
      rssBeforeMb: rssBefore,
      rssAfterMb: rssAfter,
      eventsAfter: after.graphSize,
    }),
  )
  console.log(
    `${before.graphSize} events, ${before.deliveredBlocks} blocks: RSS (anonymous + file-backed MB, peer 0 restarted / the others) ` +
      `before ${fmt(rssBefore)}, after ${fmt(rssAfter)}; restarted peer ready in ${readyMs} ms`,
  )
} catch (error) {
  fail(error)
}
await section.close()
