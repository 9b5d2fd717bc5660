// What an epoch switch costs a saturated section: N in-process peers (libp2p on 127.0.0.1, memory
// datastores) voted 256-bit random payloads with at most 1,000 not yet delivered at peer 0, until
// peer 0 delivered --blocks blocks; then, per epoch, its blocks, how long it took, and the gap from
// its checkpoint block to the next epoch's first block; and the blocks per second in all. Run it
// with --checkpoint-blocks 0 (no epochs) beside the same run with epochs to see the cost.
//
//   pnpm build && node scripts/epoch-switch-timeline.mjs [--peers 4] [--checkpoint-blocks 1000] [--blocks 12000]
import { randomBytes } from 'node:crypto'
import { parseArgs } from 'node:util'
import { connectAll, startSection } from '../test/dist/src/network/support.js'

const { values } = parseArgs({
  options: {
    peers: { type: 'string', default: '4' },
    'checkpoint-blocks': { type: 'string', default: '1000' },
    blocks: { type: 'string', default: '12000' },
  },
})
const peers = Number(values.peers)
const checkpointBlocks = Number(values['checkpoint-blocks'])
const total = Number(values.blocks)
if (
  !Number.isInteger(peers) ||
  peers < 1 ||
  !Number.isInteger(checkpointBlocks) ||
  checkpointBlocks < 0 ||
  !(total > 0)
) {
  console.error(
    'usage: epoch-switch-timeline.mjs [--peers N >= 1] [--checkpoint-blocks K >= 0] [--blocks B > 0]',
  )
  process.exit(2)
}

const section = await startSection(peers, { membership: { checkpointBlocks } })
await connectAll(section.nodes)
const started = performance.now()
/** Peer 0's delivery time (ms from the start) and kind of each block, by position. */
const at = []
const kinds = []
let delivered = 0
section.nodes[0].services.section.addEventListener('block', ({ detail }) => {
  at[detail.position] = performance.now() - started
  kinds[detail.position] = detail.description.kind
  delivered++
})
let voted = 0
let stop = false
const voting = section.nodes.map(async (node) => {
  while (!stop) {
    if (voted - delivered > 1000) {
      await new Promise((resolve) => setTimeout(resolve, 5))
      continue
    }
    const batch = Array.from({ length: 25 }, () => {
      voted++
      return node.services.section.vote(randomBytes(32))
    })
    await Promise.allSettled(batch)
  }
})
while (delivered < total) await new Promise((resolve) => setTimeout(resolve, 100))
stop = true
await Promise.allSettled(voting)
await section.stop()

const last = at.length - 1
let start = 0
for (let p = 0; p <= last; p++) {
  if (kinds[p] !== 'checkpoint') continue
  const gap = p + 1 <= last ? `${(at[p + 1] - at[p]).toFixed(0)} ms` : '-'
  console.log(
    `epoch ending at ${p}: ${p + 1 - start} blocks in ${(at[p] - (at[start - 1] ?? 0)).toFixed(0)} ms; checkpoint to the next block ${gap}`,
  )
  start = p + 1
}
console.log(
  `${peers} peers, checkpoint every ${checkpointBlocks || 'never'}: ${(delivered / (at[last] / 1000)).toFixed(0)} blocks/s`,
)
process.exit(0)
