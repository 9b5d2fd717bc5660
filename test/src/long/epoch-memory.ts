// What a section keeps per epoch (docs/epochs.md), in one process on 127.0.0.1: 4 section nodes
// with short epochs (K blocks) and a short drain, voted payloads continuously; every STEP epochs
// (of node 0) the script forces a GC and prints process.memoryUsage() against the epoch, then the
// bytes per epoch (a least-squares slope over the samples after the warm-up). Run after
// `pnpm build`:
//   node --expose-gc test/dist/src/long/epoch-memory.js [--store level|memory|none] [--epochs N] [--k K]
//        [--step S] [--drain MS] [--snapshots E1,E2]
// --store: level (a LevelDB per node in a temporary directory), memory (libp2p's in-memory
// datastore, the default without one) or none (persist: false). --snapshots writes a heap
// snapshot (v8.writeHeapSnapshot) at those epochs, for scripts/heap-diff.mjs (not a test: no .long/.test suffix).
import '@parsec-section/p2p-section/polyfill'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { writeHeapSnapshot } from 'node:v8'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createGenesis, createSectionNode, openLevelDatastore } from '@parsec-section/p2p-section'
import type { LevelDatastore } from 'datastore-level'

type Node = Awaited<ReturnType<typeof createSectionNode>>
type Sample = { epoch: number } & NodeJS.MemoryUsage
const maybeGc = (globalThis as { gc?: () => void }).gc

const { values } = parseArgs({
  options: {
    store: { type: 'string', default: 'level' },
    epochs: { type: 'string', default: '200' },
    k: { type: 'string', default: '30' },
    step: { type: 'string', default: '20' },
    drain: { type: 'string', default: '500' },
    retention: { type: 'string', default: '200' },
    warmup: { type: 'string', default: '40' },
    snapshots: { type: 'string', default: '' },
    payload: { type: 'string', default: '64' },
  },
})
const STORE = values.store ?? 'level'
const EPOCHS = Number(values.epochs)
const K = Number(values.k)
const STEP = Number(values.step)
const WARMUP = Number(values.warmup)
const SNAPSHOTS = new Set(values.snapshots ? values.snapshots.split(',').map(Number) : [])
if (maybeGc === undefined) throw new Error('run with node --expose-gc')
const gc: () => void = maybeGc

const dir = mkdtempSync(join(tmpdir(), 'parsec-epoch-memory-'))
const keys = await Promise.all(Array.from({ length: 4 }, () => generateKeyPair('Ed25519')))
const genesis = createGenesis(
  keys.map((key) => ({ peerId: peerIdFromPrivateKey(key) })),
  'single',
)
const stores: LevelDatastore[] = []
const nodes: Node[] = []
const delivered = [0, 0, 0, 0]
for (const [i, key] of keys.entries()) {
  let datastore: LevelDatastore | undefined
  if (STORE === 'level') {
    datastore = await openLevelDatastore(join(dir, `peer${i}`))
    stores.push(datastore)
  }
  const node = await createSectionNode({
    discovery: false,
    genesis,
    privateKey: key,
    listen: ['/ip4/127.0.0.1/tcp/0'],
    start: false,
    membership: { checkpointBlocks: K },
    epochDrainMs: Number(values.drain),
    blockRetention: Number(values.retention),
    ...(STORE === 'none' ? { persist: false } : {}),
    ...(datastore === undefined ? {} : { datastore }),
  })
  node.services.section.addEventListener('block', () => delivered[i]++)
  nodes.push(node)
}
for (const node of nodes) await node.start()
for (const node of nodes)
  for (const other of nodes)
    if (other !== node) await node.peerStore.merge(other.peerId, { multiaddrs: other.getMultiaddrs() })

const epoch = () => nodes[0].services.section.status().epoch
let stop = false
let voted = 0
const payload = new Uint8Array(Number(values.payload))
const voting = (async () => {
  while (!stop) {
    // At most ~200 payloads voted and not delivered at the slowest node.
    if (voted - Math.min(...delivered) > 200) {
      await new Promise((resolve) => setTimeout(resolve, 20))
      continue
    }
    for (const [i, node] of nodes.entries()) {
      payload[0] = i
      new DataView(payload.buffer).setUint32(1, voted)
      await node.services.section.vote(payload.slice())
      voted++
    }
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
})()

const samples: Sample[] = []
const started = Date.now()
console.log(`store ${STORE}, K ${K}, drain ${values.drain} ms, retention ${values.retention} blocks`)
console.log('epoch\tsecs\theapUsed\theapTotal\texternal\tarrayBuffers\trss\tgraph\tdelivered')
let next = 0
while (next <= EPOCHS) {
  const e = epoch()
  if (e < next) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    continue
  }
  // The drain window of the previous epoch ends, then GC twice (weak refs, finalizers).
  await new Promise((resolve) => setTimeout(resolve, Number(values.drain) + 100))
  gc()
  await new Promise((resolve) => setTimeout(resolve, 10))
  gc()
  const m = process.memoryUsage()
  const s = nodes[0].services.section.status()
  samples.push({ epoch: e, ...m })
  console.log(
    [
      e,
      ((Date.now() - started) / 1000).toFixed(0),
      m.heapUsed,
      m.heapTotal,
      m.external,
      m.arrayBuffers,
      m.rss,
      s.graphSize,
      s.deliveredBlocks,
    ].join('\t'),
  )
  for (const at of SNAPSHOTS) {
    if (at <= e && at > e - STEP) {
      gc()
      console.log(`snapshot ${writeHeapSnapshot(join(process.cwd(), `epoch-${at}.heapsnapshot`))}`)
    }
  }
  next = e + STEP
}
stop = true
await voting.catch(() => {})

/** Least-squares slope of `field` against the epoch over the samples after the warm-up. */
function slope(field: 'heapUsed' | 'heapTotal' | 'external' | 'arrayBuffers' | 'rss'): number {
  const pts = samples.filter((s) => s.epoch >= WARMUP)
  if (pts.length < 2) return NaN
  const mx = pts.reduce((a, s) => a + s.epoch, 0) / pts.length
  const my = pts.reduce((a, s) => a + s[field], 0) / pts.length
  const num = pts.reduce((a, s) => a + (s.epoch - mx) * (s[field] - my), 0)
  const den = pts.reduce((a, s) => a + (s.epoch - mx) ** 2, 0)
  return num / den
}
console.log(
  `bytes per epoch (4 nodes in one process, from epoch ${WARMUP}): ${(
    ['heapUsed', 'heapTotal', 'external', 'arrayBuffers', 'rss'] as const
  )
    .map((f) => `${f} ${Math.round(slope(f))}`)
    .join(', ')}`,
)
await Promise.all(nodes.map((n) => n.stop()))
for (const s of stores) await s.close().catch(() => {})
rmSync(dir, { recursive: true, force: true })
