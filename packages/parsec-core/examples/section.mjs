// The PARSEC engine on its own: four peers in one process, with Ed25519 identities, gossip carried
// by function calls (an application puts a network between them), each voting one payload. `node
// section.mjs` exits 0 once every peer agreed on the same blocks, in the same order.
import { Ed25519SecretId, opaque, Parsec, payloadText, utf8 } from '@parsec-section/parsec-core'

// Identities: a secret per peer; the genesis group is their public ids.
const secrets = [1, 2, 3, 4].map(() => Ed25519SecretId.generate())
const group = secrets.map((secret) => secret.publicId)

// Engines: one per peer, from the same genesis group (Supermajority: a payload becomes a block
// once more than two thirds of the peers voted it; 'single': once any one did).
const peers = secrets.map((us) => Parsec.fromGenesis({ us, genesis: group, consensusMode: 'single' }))
const blocks = peers.map(() => []) // blocks[i]: what peer i agreed, in order

/** What a host does with every step: persist step.events (not here), deliver blocks, send message. */
function take(i, step) {
  if (step.error !== undefined) console.error(`peer ${i}: bad input: ${step.error.message}`)
  for (const { block } of step.blocks) blocks[i].push(block)
  return step.message
}
// A sole founder's genesis block and the like are agreed outside a call: poll() hands them over.
for (const [i, parsec] of peers.entries()) for (let b = parsec.poll(); b; b = parsec.poll()) blocks[i].push(b)

// Votes: each peer votes one opaque payload.
for (const [i, parsec] of peers.entries()) take(i, parsec.voteFor(opaque(utf8(`payload from peer ${i}`))))

// Gossip: each round, every peer syncs with a random recipient (request, then response).
const done = () => blocks.every((list) => list.length === 5) // genesis + 4 payloads
for (let round = 0; !done(); round++) {
  if (round > 500) throw new Error('no agreement after 500 rounds')
  for (const [i, parsec] of peers.entries()) {
    const recipients = parsec.gossipRecipients()
    const partner = recipients[Math.floor(Math.random() * recipients.length)]
    const j = group.findIndex((id) => id.name === partner.name)
    const request = take(i, parsec.createGossip(partner))
    const response = take(j, peers[j].handleRequest(group[i], request))
    take(i, parsec.handleResponse(group[j], response))
  }
}

// Every peer holds the same blocks in the same order.
const orders = blocks.map((list) =>
  list.map((b) => (b.payload.kind === 'opaque' ? payloadText(b.payload.payload) : b.payload.kind)),
)
for (const order of orders)
  if (JSON.stringify(order) !== JSON.stringify(orders[0])) throw new Error('disagreement')
console.log(orders[0].join('\n'))
