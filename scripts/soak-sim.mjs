// The simulation's side of the soak (issue 12's "the same for a 16-peer simulation"): N in-process
// peers (the seeded simulation, membership hosted) vote payloads until their graphs created E
// events, with epochs of C blocks (0: none). Sampled at 1% of E, then every 5%: the process's heap
// (after a forced GC, so run with --expose-gc) and the events the engines hold (current and retired
// graphs, all peers). Prints one JSON line {"peers","checkpointBlocks","events","blocks","samples"}
// and, with a 4th argument, draws it as an SVG.
//   node --expose-gc scripts/soak-sim.mjs PEERS EVENTS CHECKPOINT_BLOCKS [OUT.svg]   (build first)
import { writeFileSync } from 'node:fs'
import { simulate } from '../packages/simulation/dist/src/index.js'
import { chartSvg } from './chart.mjs'

const [peers, events, checkpointBlocks] = process.argv.slice(2, 5).map(Number)
const svg = process.argv[5]
if (![peers, events, checkpointBlocks].every(Number.isInteger)) {
  console.error('usage: node --expose-gc scripts/soak-sim.mjs PEERS EVENTS CHECKPOINT_BLOCKS [OUT.svg]')
  process.exit(2)
}
const marks = [
  Math.ceil(events / 100),
  ...Array.from({ length: 20 }, (_, k) => Math.ceil(((k + 1) * events) / 20)),
]
const samples = []
const started = Date.now()
const result = simulate({
  seed: 1,
  genesisSize: peers,
  // Payloads keep coming until the events are reached (then the run stops at once).
  opaque: 1_000_000,
  probOpaque: 0.5,
  maxSteps: 100_000_000,
  stallSteps: 1_000_000,
  membership: { config: { checkpointBlocks } },
  onStep: ({ eventsCreated, eventsHeld }) => {
    while (marks.length > 0 && eventsCreated >= marks[0]) {
      marks.shift()
      globalThis.gc?.()
      samples.push({
        events: eventsCreated,
        heapBytes: [process.memoryUsage().heapUsed],
        eventsHeld: [eventsHeld],
      })
      console.error(
        `${((Date.now() - started) / 1000).toFixed(0)} s: ${eventsCreated} events, heap ${(process.memoryUsage().heapUsed / 1e6).toFixed(1)} MB, ${eventsHeld} events held`,
      )
    }
    return marks.length === 0
  },
})
const cut = result.violations.every((v) => v.invariant === 'termination')
console.log(JSON.stringify({ peers, checkpointBlocks, events, agreed: cut, samples }))
if (svg !== undefined) {
  const title = `simulation: ${peers} peers, ${checkpointBlocks === 0 ? 'no epochs' : `epochs of ${checkpointBlocks} blocks`}`
  writeFileSync(
    svg,
    await chartSvg(samples, title, [
      { title: 'heap', unit: 'MB', values: (s) => s.heapBytes, divisor: 1e6 },
      { title: 'events held (all peers)', unit: 'thousands', values: (s) => s.eventsHeld, divisor: 1e3 },
    ]),
  )
}
if (!cut) {
  console.error(JSON.stringify(result.violations.slice(0, 3)))
  process.exit(1)
}
