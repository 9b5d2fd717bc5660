// The membership machine beside the engine, hosted by hand: four founders, each a PARSEC engine
// and a `Membership` machine; one of them leaves. The host feeds every agreed block to the machine,
// casts the machine's votes in the engine and delivers its messages (here by function calls).
// `node leave.mjs` exits 0 once the three others agree that the section has three members.
import { genesisRecord, Membership } from '@parsec-section/membership'
import { Ed25519SecretId, Parsec, Rng } from '@parsec-section/parsec-core'

const secrets = [1, 2, 3, 4].map(() => Ed25519SecretId.generate())
const ids = secrets.map((secret) => secret.publicId)
// The genesis record: its SHA-256 is the section id a joiner needs (nothing else).
const record = genesisRecord(ids)
let now = 0 // the host's clock, in ms: the machines never read one
const peers = secrets.map((us, i) => {
  const rng = new Rng(i + 1) // seeded randomness for the machine (ticket nonces, jitter)
  return {
    us,
    engine: Parsec.fromGenesis({ us, genesis: ids }),
    machine: Membership.found({ us, record, now, rng: () => rng.float() }),
    position: 0, // blocks handed to the machine so far
  }
})
const byName = new Map(peers.map((peer) => [peer.us.publicId.name, peer]))

/** Carries out a machine step: votes into the engine, messages to the other machines. */
function apply(peer, step) {
  for (const observation of step.votes) engine(peer, peer.engine.voteFor(observation))
  for (const { to, bytes } of step.messages) {
    const target = byName.get(to.name)
    if (target !== undefined) apply(target, target.machine.receive(peer.us.publicId, bytes))
  }
  for (const event of step.events)
    if (event.type !== 'section:fragile') console.log(`${peer.us.publicId.name.slice(0, 8)}: ${event.type}`)
}
/** Carries out an engine step: its agreed blocks go to the machine, in order. */
function engine(peer, step) {
  for (const { block } of step.blocks) apply(peer, peer.machine.blocks([block], peer.position++))
  return step.message
}

for (const peer of peers) {
  for (let block = peer.engine.poll(); block; block = peer.engine.poll())
    apply(peer, peer.machine.blocks([block], peer.position++))
  apply(peer, peer.machine.start())
}
const choose = new Rng(99) // the gossip partners, seeded: the same run every time
/** One round: every peer ticks its machine and syncs with a random recipient. */
function round() {
  now += 100
  for (const peer of peers) {
    if (peer.engine.isRemoved) continue
    apply(peer, peer.machine.tick(now))
    const recipients = peer.engine.gossipRecipients().filter((id) => !byName.get(id.name).engine.isRemoved)
    if (recipients.length === 0) continue
    const partner = byName.get(recipients[choose.below(recipients.length)].name)
    const request = engine(peer, peer.engine.createGossip(partner.us.publicId))
    // No answer: the partner refused the request (step.error), e.g. from a peer it holds removed.
    const response = engine(partner, partner.engine.handleRequest(peer.us.publicId, request))
    if (response !== undefined) engine(peer, peer.engine.handleResponse(partner.us.publicId, response))
  }
}
function until(done, what) {
  for (let i = 0; !done(); i++) {
    if (i > 500) throw new Error(`${what}: not after 500 rounds`)
    round()
  }
}

// The genesis block first: a member may leave only once the section's genesis is agreed.
until(() => peers.every((peer) => peer.position > 0), 'the genesis block')
// The fourth founder leaves: it votes its own Remove and tells the others, who vote it too.
const leaver = peers[3]
apply(leaver, leaver.machine.command({ kind: 'leave' }))
const others = peers.slice(0, 3)
until(() => others.every((peer) => peer.machine.state.memberIds().length === 3), 'the leave')
console.log(
  `members now: ${others[0].machine.state
    .memberIds()
    .map((id) => id.name.slice(0, 8))
    .join(', ')}`,
)
