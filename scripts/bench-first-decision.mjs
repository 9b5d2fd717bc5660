// How long a fresh section takes to agree its first block (the genesis observation) with nothing
// else to do, and what that costs: a local section of `parsec-peer start` processes (LocalSection)
// is started, and every peer's status polled until all of them decided a block. Prints, every
// poll, the seconds since start, the peers that decided, the first peer's graph size and the mean
// CPU per peer (ms).
//   node scripts/bench-first-decision.mjs [--peers N] [--mode single|supermajority]   (after `pnpm build`)

import { parseArgs } from 'node:util'
import { LocalSection } from '../apps/peer/dist/src/local-section.js'

const { values } = parseArgs({
  options: {
    peers: { type: 'string', default: '16' },
    mode: { type: 'string', default: 'supermajority' },
    'poll-ms': { type: 'string', default: '2000' },
  },
})
const peers = Number(values.peers)
const mode = values.mode
if (!Number.isInteger(peers) || peers < 1 || (mode !== 'single' && mode !== 'supermajority')) {
  console.error('usage: bench-first-decision.mjs [--peers N] [--mode single|supermajority] [--poll-ms MS]')
  process.exit(2)
}
const pollMs = Number(values['poll-ms'])
const section = await LocalSection.create({ peers, mode })
const signals = section.guardSignals('bench-first-decision')
try {
  const t0 = Date.now()
  await Promise.all(section.peers.map((peer) => section.start(peer.index)))
  await section.waitConnected(120_000)
  const connectedAt = (Date.now() - t0) / 1000
  console.log(`${peers} peers (${mode}) connected after ${connectedAt.toFixed(1)} s`)
  const apis = section.peers.map((peer) => section.api(peer.index))
  const deadline = Date.now() + 300_000
  while (!signals.interrupted && Date.now() < deadline) {
    const status = await Promise.all(apis.map((api) => api.status()))
    const decided = status.filter((s) => s.decidedBlocks > 0).length
    const cpuMs = status.reduce((sum, s) => sum + s.cpuMs, 0) / peers
    const seconds = (Date.now() - t0) / 1000
    console.log(
      `${seconds.toFixed(1)} s: decided at ${decided} of ${peers}, graph ${status[0].graphSize} events, CPU ${cpuMs.toFixed(0)} ms per peer`,
    )
    if (decided === peers) {
      console.log(`first decision everywhere ${(seconds - connectedAt).toFixed(1)} s after connecting`)
      break
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs))
  }
} finally {
  signals.dispose()
  await section.close()
}
