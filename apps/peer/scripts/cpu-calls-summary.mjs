#!/usr/bin/env node
// Summarises the files cpu-calls-preload.cjs wrote: per call name, CPU seconds per peer, its share
// of the peers' CPU, calls per peer and µs per call (inclusive: a call's time includes the wrapped
// calls it makes). Usage: node cpu-calls-summary.mjs DIR [--top N] [--json]
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '40' }, json: { type: 'boolean', default: false } },
})
const dir = positionals[0]
if (dir === undefined) {
  console.error('usage: cpu-calls-summary.mjs DIR [--top N] [--json]')
  process.exit(2)
}
const files = readdirSync(dir).filter((name) => /^\d+\.json$/.test(name))
if (files.length === 0) {
  console.error(`no <pid>.json in ${dir}`)
  process.exit(1)
}
let totalUs = 0
const calls = new Map()
for (const file of files) {
  const peer = JSON.parse(readFileSync(join(dir, file), 'utf8'))
  totalUs += peer.totalUs
  for (const [name, { us, n }] of Object.entries(peer.calls)) {
    const entry = calls.get(name) ?? { us: 0, n: 0 }
    entry.us += us
    entry.n += n
    calls.set(name, entry)
  }
}
const peers = files.length
const rows = [...calls]
  .sort((a, b) => b[1].us - a[1].us)
  .slice(0, Number(values.top))
  .map(([name, { us, n }]) => ({
    name,
    cpuSecondsPerPeer: us / peers / 1e6,
    share: us / totalUs,
    callsPerPeer: n / peers,
    microsPerCall: n === 0 ? 0 : us / n,
  }))
if (values.json) {
  console.log(JSON.stringify({ peers, cpuSecondsPerPeer: totalUs / peers / 1e6, rows }, null, 2))
} else {
  console.log(`${peers} peers, ${(totalUs / peers / 1e6).toFixed(2)} CPU-s per peer (inclusive figures)`)
  console.log('CPU-s/peer  share  calls/peer  µs/call  call')
  for (const r of rows) {
    console.log(
      `${r.cpuSecondsPerPeer.toFixed(3).padStart(10)}  ${(100 * r.share).toFixed(1).padStart(5)}%  ${Math.round(r.callsPerPeer).toString().padStart(10)}  ${Math.round(r.microsPerCall).toString().padStart(7)}  ${r.name}`,
    )
  }
}
