// A seeded simulation of a section whose members change: 4 founders, 2 outsiders that join through
// the membership protocol and 1 member that leaves, every peer a real engine and membership
// machine. `node join.mjs` exits 0 when the run kept every invariant and every honest peer holds
// the same blocks and the same members; the same seed gives the same run, byte for byte.
import { simulate } from '@parsec-section/simulation'

const result = simulate({
  seed: 7,
  genesisSize: 4,
  opaque: 3,
  membership: { joins: 2, leaves: 1 },
  log: () => {}, // progress lines (none here)
})

if (!result.agreed) {
  for (const v of result.violations) console.error(`${v.invariant} at step ${v.step}: ${v.detail}`)
  process.exit(1)
}
const { members, joined, left } = result.membership
console.log(`joined ${joined.join(', ')}; left ${left.join(', ')}`)
console.log(`members at the end: ${Object.values(members)[0].join(', ')}`)
console.log(`${result.steps} steps (${result.simulatedMs} simulated ms), ${result.events} events`)
const blocks = result.peers[result.honest[0]]
console.log(`${blocks.length} blocks, the membership ones:`)
blocks.forEach((block, position) => {
  if (block.kind === 'add' || block.kind === 'remove')
    console.log(`  ${position}: ${block.kind} ${block.peer}`)
})
