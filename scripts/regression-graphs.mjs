// Writes the project's own regression graphs: seeded simulations under the reference's rules
// (parity coin), each honest peer's gossip graph dumped in the reference's DOT layout, with the
// blocks its replay yields (`<peer>.expected.json`, the reference vectors' format). Before writing,
// every replay must yield the blocks that peer agreed in the simulation. The graphs live in
// packages/parsec-core/test/graphs and are replayed by regression.test.ts (the README's test
// command), so a bare clone tests replay and dump without the reference's vectors. (No Byzantine
// run: an agreed accusation's evidence is not in the DOT layout, so such a graph does not parse.)
// Usage: pnpm build && node scripts/regression-graphs.mjs
import assert from 'node:assert/strict'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { dumpDot, parseRecording, replay } from '../packages/parsec-core/dist/src/dot/index.js'
import { simulate } from '../packages/simulation/dist/src/index.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '../packages/parsec-core/test/graphs')

/** Each run: its options (parity coin added), and which peers' graphs to keep. */
const RUNS = [
  {
    name: 'supermajority-4',
    options: { seed: 3, genesisSize: 4, opaque: 5, peersToAdd: 0, peersToRemove: 0 },
    peers: ['Alice', 'Dave'],
  },
  {
    name: 'single-5',
    options: { seed: 7, genesisSize: 5, opaque: 6, consensusMode: 'single', peersToAdd: 0, peersToRemove: 0 },
    peers: ['Bob'],
  },
  {
    name: 'add-remove-5',
    options: { seed: 11, genesisSize: 5, opaque: 4, peersToAdd: 1, peersToRemove: 1 },
    peers: ['Alice'],
  },
]

const withoutVoters = (blocks) => blocks.map(({ voters: _v, ...rest }) => JSON.stringify(rest))

rmSync(root, { recursive: true, force: true })
for (const run of RUNS) {
  let engines
  const result = simulate({ ...run.options, coin: 'parity', atEnd: (e) => (engines = e) })
  assert.ok(result.agreed, `${run.name}: the simulation did not agree (${JSON.stringify(result.violations)})`)
  for (const peer of run.peers) {
    const dot = dumpDot(engines.get(peer))
    const replayed = replay(parseRecording(dot).record)
    const agreed = result.peers[peer]
    assert.deepEqual(
      withoutVoters(replayed.blocks).slice(0, agreed.length),
      withoutVoters(agreed),
      `${run.name}/${peer}`,
    )
    const dir = join(root, run.name)
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, `${peer}.dot`), dot)
    const expected = {
      simulation: { ...run.options, coin: 'parity' },
      our_id: replayed.ourId,
      consensus_mode: replayed.consensusMode,
      events: replayed.events,
      blocks: replayed.blocks,
      consensus_history: replayed.consensusHistory,
      block_group_sizes: replayed.decisionSizes,
    }
    writeFileSync(join(dir, `${peer}.expected.json`), `${JSON.stringify(expected, null, 1)}\n`)
    console.log(`${run.name}/${peer}: ${replayed.events} events, ${replayed.blocks.length} blocks`)
  }
}
