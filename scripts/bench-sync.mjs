// What syncing the section's writes to disk costs, without the network: SectionStorage appends
// batches of 400-byte events to a LevelDB in a temporary directory, one batch after the other
// (as the service's flushes are chained), synced and not. Run after `pnpm build`:
//   node scripts/bench-sync.mjs [BATCHES]
// Prints, per batch size, the mean time per batch and the events per second it allows.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openLevelDatastore } from '../packages/p2p-section/dist/src/level-datastore.js'
import { SectionStorage } from '../packages/p2p-section/dist/src/storage.js'

const batches = Number(process.argv[2] ?? 400)
const owner = { toString: () => '12D3KooWBenchSyncOwner' }
const event = new Uint8Array(400).fill(7)
const dir = mkdtempSync(join(tmpdir(), 'parsec-bench-sync-'))
try {
  console.log(
    '| events per batch | synced: ms per batch | synced: events/s | not synced: ms per batch | not synced: events/s | cost of syncing |',
  )
  console.log('|---:|---:|---:|---:|---:|---:|')
  for (const size of [1, 10, 100]) {
    const results = {}
    for (const sync of [true, false]) {
      const datastore = await openLevelDatastore(join(dir, `${size}-${sync}`))
      const storage = new SectionStorage(datastore, 'bench', { sync })
      await storage.load(owner)
      const events = Array.from({ length: size }, () => event)
      let next = 0
      for (let i = 0; i < 20; i++, next += size) await storage.append(events, next, [], 0)
      const start = process.hrtime.bigint()
      for (let i = 0; i < batches; i++, next += size) await storage.append(events, next, [], 0)
      const ms = Number(process.hrtime.bigint() - start) / 1e6 / batches
      results[sync] = { ms, perSecond: (size * 1000) / ms }
      await datastore.close()
    }
    const s = results.true
    const n = results.false
    console.log(
      `| ${size} | ${s.ms.toFixed(3)} | ${Math.round(s.perSecond)} | ${n.ms.toFixed(3)} | ${Math.round(n.perSecond)} | +${(s.ms - n.ms).toFixed(3)} ms per batch |`,
    )
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}
