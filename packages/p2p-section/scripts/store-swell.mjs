// How far a peer's LevelDB store strays from its live size while it runs (BENCHMARKS.md, "The
// store's creep and swing"): 14 epochs of 1,000 blocks and 2,000 events of 500 bytes, keeping the
// last 3,000 blocks, appended 25 blocks and 50 events at a time as fast as the disk syncs them. The
// directory is read after every append of epochs 4 to 13 (compactions run meanwhile) and divided by
// the live records' bytes. Run after `pnpm build`: `node packages/p2p-section/scripts/store-swell.mjs`.
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { openLevelDatastore } from '../dist/src/level-datastore.js'
import { SectionStorage } from '../dist/src/storage.js'

const RECORD = 500
const RETENTION = 3_000
const dir = mkdtempSync(join(tmpdir(), 'store-swell-'))
const path = join(dir, 'store')
const datastore = await openLevelDatastore(path)
const storage = new SectionStorage(datastore, 'swell')
await storage.load(peerIdFromPrivateKey(await generateKeyPair('Ed25519')), () => {})
await storage.loadBlocks(() => {})
const bytes = () =>
  readdirSync(path).reduce(
    (sum, file) => sum + (statSync(join(path, file), { throwIfNoEntry: false })?.size ?? 0),
    0,
  )
const records = (n) => Array.from({ length: n }, () => new Uint8Array(randomBytes(RECORD)))
const ratios = []
let position = 0
let previousEpochEvents = 0
for (let epoch = 0; epoch < 14; epoch++) {
  for (let batch = 0; batch < 40; batch++) {
    await storage.append(records(50), batch * 50, records(25), position, position + 25 - RETENTION)
    position += 25
    if (epoch < 4) continue
    const live = (position - storage.blocksFrom + previousEpochEvents + (batch + 1) * 50) * RECORD
    ratios.push(bytes() / live)
  }
  await storage.saveEpoch({
    epoch: epoch + 1,
    start: position,
    eventsBefore: 0,
    genesis: [new Uint8Array(32)],
    relatedInfo: new Uint8Array(1),
    chain: new Uint8Array(1),
  })
  previousEpochEvents = 2_000
  if (epoch > 0) await storage.dropEvents(epoch - 1)
}
await storage.settled()
await datastore.close()
rmSync(dir, { recursive: true, force: true })
ratios.sort((a, b) => a - b)
const at = (q) => ratios[Math.floor(q * (ratios.length - 1))].toFixed(2)
const share = (above) => `${Math.round((100 * ratios.filter((r) => r > above).length) / ratios.length)}%`
const mean = (ratios.reduce((a, b) => a + b, 0) / ratios.length).toFixed(2)
console.log(
  JSON.stringify({
    readings: ratios.length,
    mean,
    median: at(0.5),
    p90: at(0.9),
    max: at(1),
    over1_5: share(1.5),
    over2: share(2),
  }),
)
