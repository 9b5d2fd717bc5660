// Embedding a PARSEC section in an application: four founding members in one process, on
// 127.0.0.1, agree on one order of a few votes. `node embed.mjs` exits 0 once every member has
// delivered every vote as a block, in the same order. (CI runs this very file in a new project
// that installed the packed packages: scripts/test-install.mjs.)
import '@parsec-section/p2p-section/polyfill' // Node 20 only: libp2p 3 needs Promise.withResolvers
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createGenesis, createSectionNode } from '@parsec-section/p2p-section'

// Keys: an Ed25519 key per founding member (an application keeps its own, e.g. in a file).
const keys = await Promise.all([1, 2, 3, 4].map(() => generateKeyPair('Ed25519')))

// Genesis: the founding members. Its hash is the section id; every member must use the same one.
const genesis = createGenesis(keys.map((key) => ({ peerId: peerIdFromPrivateKey(key) })))
console.log(`section ${genesis.sectionId.slice(0, 16)}…, ${genesis.members.length} members`)

// Nodes: a libp2p node each, with the section service. Created stopped, so that the `block`
// listener is there before the genesis block (position 0) is delivered by start().
const nodes = []
const delivered = [] // delivered[i]: the payloads member i delivered, in order
for (const privateKey of keys) {
  const node = await createSectionNode({
    privateKey,
    genesis,
    listen: ['/ip4/127.0.0.1/tcp/0'],
    discovery: false, // no DHT or gossipsub here: the members are told where the others listen
    start: false,
  })
  const payloads = []
  node.services.section.addEventListener('block', ({ detail }) => {
    if (detail.description.kind === 'opaque') payloads.push(detail.description.payload)
  })
  nodes.push(node)
  delivered.push(payloads)
}
for (const node of nodes) await node.start()
// A genesis with addresses (or discovery) does this in a real deployment.
for (const node of nodes) {
  for (const other of nodes) {
    if (other !== node) await node.peerStore.merge(other.peerId, { multiaddrs: other.getMultiaddrs() })
  }
}

// Votes: each payload voted at one member becomes a block (the genesis' default mode, 'single').
const votes = ['apple', 'banana', 'cherry']
for (const [i, text] of votes.entries()) {
  await nodes[i % nodes.length].services.section.vote(new TextEncoder().encode(text))
}

// Blocks: wait (at most 60 s) until every member delivered every vote, then compare the orders.
const done = () => delivered.every((payloads) => payloads.length >= votes.length)
await new Promise((resolve, reject) => {
  const timer = setTimeout(
    () => reject(new Error(`no agreement in 60 s: ${JSON.stringify(delivered)}`)),
    60_000,
  )
  const check = () => {
    if (!done()) return
    clearTimeout(timer)
    for (const node of nodes) node.services.section.removeEventListener('block', check)
    resolve()
  }
  for (const node of nodes) node.services.section.addEventListener('block', check)
  check()
})
await Promise.all(nodes.map((node) => node.stop()))

const order = delivered[0].join(', ')
if (!delivered.every((payloads) => payloads.join(', ') === order)) {
  console.error(`members disagree: ${JSON.stringify(delivered)}`)
  process.exit(1)
}
console.log(`all ${nodes.length} members agree: ${order}`)
