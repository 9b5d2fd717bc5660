/**
 * Discovery and unreachable partners, in one process on 127.0.0.1.
 *
 * - Members that know only member 0's address find each other through the section's kad-dht and
 *   its gossipsub announce topic, and agree.
 * - A genesis member that never starts (its address known, nobody listening) costs the others
 *   nothing but a dial now and then, spaced by a capped exponential backoff: no gossip (no signed
 *   Requesting event) is ever created for it, and the others keep agreeing.
 * - Without a supermajority of members alive, no decision is possible: the live members must not
 *   gossip at full speed (every exchange adds signed sync events), or the graph grows without
 *   bound (before the fix, about 1000 events a second between two members of four).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { multiaddr } from '@multiformats/multiaddr'
import { type ParsecSectionEvents, publicIdFromPeerId, type SectionFault } from '@parsec-section/p2p-section'
import { Rng } from '@parsec-section/simulation'
import { freePorts } from 'parsec-peer/local-section'
import { engineOf, payloadTexts, startSection, type TestNode, type TestSection, waitFor } from './support.js'

const SEED = Number(process.env.NETWORK_SEED ?? 1)
type SectionLinkError = ParsecSectionEvents['link:error']['detail']
const encode = (text: string) => new TextEncoder().encode(text)

/** Requesting events (our gossip to a partner) in `node`'s graph addressed to `name`. */
function requestsTo(node: TestNode, name: string): number {
  return engineOf(node)
    .packedEvents()
    .filter((e) => e.cause.kind === 'requesting' && e.cause.recipient.name === name).length
}

/** Records the faults and link errors every node reports. */
function recordProblems(section: TestSection) {
  const faults: SectionFault[][] = section.nodes.map(() => [])
  const linkErrors: { at: number; error: SectionLinkError }[][] = section.nodes.map(() => [])
  section.nodes.forEach((node, i) => {
    node.services.section.addEventListener('fault', (e) => faults[i].push(e.detail))
    node.services.section.addEventListener('link:error', (e) =>
      linkErrors[i].push({ at: Date.now(), error: e.detail }),
    )
  })
  return { faults, linkErrors }
}

async function voteAtRandom(section: TestSection, rng: Rng, count: number, prefix: string): Promise<void> {
  for (let i = 0; i < count; i++) {
    await section.nodes[rng.below(section.nodes.length)].services.section.vote(encode(`${prefix} ${i}`))
  }
}

/** Waits until every node has delivered `expected` blocks, then checks they agree. */
async function expectAgreement(section: TestSection, expected: number): Promise<void> {
  await waitFor(
    section.nodes,
    () => section.blocks.every((list) => list.length >= expected),
    60_000,
    () => `seed ${SEED}: blocks per peer ${section.blocks.map((b) => b.length)}`,
  )
  const first = payloadTexts(section.blocks[0])
  assert.equal(first.length, expected)
  assert.equal(new Set(first).size, expected, 'no payload delivered twice')
  for (const list of section.blocks) assert.deepEqual(payloadTexts(list), first, `seed ${SEED}`)
}

describe('discovery over libp2p', () => {
  it('4 members knowing only member 0 find each other and agree', { timeout: 120_000 }, async () => {
    const size = 4
    const payloads = 12
    const section = await startSection(size, { discovery: true, connect: 'first' })
    const { faults } = recordProblems(section)
    try {
      await voteAtRandom(section, new Rng(SEED), payloads, 'found')
      await expectAgreement(section, payloads + 1)
      await waitFor(
        section.nodes,
        () => section.nodes.every((n) => n.services.section.status().connected.length === size - 1),
        60_000,
        () => `connected per node ${section.nodes.map((n) => n.services.section.status().connected.length)}`,
        'peer:connected',
      )
      for (const node of section.nodes) {
        const status = node.services.section.status()
        assert.deepEqual(
          [...status.connected].sort(),
          status.members.filter((m) => m !== status.peerId).sort(),
          'connected to every other member',
        )
        // Before the fix this section never decided anything: no graph of this size.
        assert.ok(
          status.graphSize <= 60 * status.deliveredBlocks,
          `graph of ${status.graphSize} events for ${status.deliveredBlocks} blocks`,
        )
      }
      assert.deepEqual(faults.flat(), [], 'no fault')
    } finally {
      await section.stop()
    }
  })

  it('a member that never starts: no gossip for it, spaced dials, the others agree', {
    timeout: 120_000,
  }, async () => {
    const size = 4
    const payloads = 12
    // Member 3 never starts; everyone holds an address for it where nobody listens.
    const section = await startSection(size, { discovery: true, connect: 'first' }, 1)
    const dead = section.genesis.members.find((m) => !section.nodes.some((n) => n.peerId.equals(m.peerId)))
    assert.ok(dead !== undefined)
    const [port] = await freePorts(1)
    for (const node of section.nodes) {
      await node.peerStore.merge(dead.peerId, { multiaddrs: [multiaddr(`/ip4/127.0.0.1/tcp/${port}`)] })
    }
    const { faults, linkErrors } = recordProblems(section)
    const toDead = (i: number) => linkErrors[i].filter(({ error }) => error.peer.equals(dead.peerId))
    try {
      await voteAtRandom(section, new Rng(SEED + 1), payloads, 'without 3')
      await expectAgreement(section, payloads + 1)
      // Each live member tried the dead one at least twice (the first retry after a backoff). An
      // idle section does not gossip at all, so keep some work pending meanwhile.
      let extra = 0
      const keepBusy = setInterval(() => {
        section.nodes[extra % 3].services.section.vote(encode(`busy ${extra++}`)).catch(() => {})
      }, 300)
      try {
        await waitFor(
          section.nodes,
          () => section.nodes.every((_, i) => toDead(i).length >= 2),
          60_000,
          () => `link errors to the dead member per node ${section.nodes.map((_, i) => toDead(i).length)}`,
          'link:error',
        )
      } finally {
        clearInterval(keepBusy)
      }
      await expectAgreement(section, payloads + 1 + extra)
      const deadName = publicIdFromPeerId(dead.peerId).name
      section.nodes.forEach((node, i) => {
        const status = node.services.section.status()
        assert.equal(requestsTo(node, deadName), 0, `node ${i}: gossip created for an unreachable member`)
        assert.ok(
          status.graphSize <= 60 * status.deliveredBlocks,
          `node ${i}: graph of ${status.graphSize} events for ${status.deliveredBlocks} blocks`,
        )
        const errors = toDead(i)
        for (const { error } of errors) {
          assert.equal(error.kind, 'transport')
          assert.equal(error.direction, 'outbound')
          assert.ok(error.retryInMs !== undefined)
        }
        // Capped exponential backoff: each retry waits (about) twice the one before, up to the
        // cap (jitter ±20%), and no attempt came before its announced retry time.
        for (let k = 1; k < errors.length; k++) {
          const before = errors[k - 1]
          const after = errors[k]
          assert.ok(after.at - before.at >= (before.error.retryInMs ?? 0) - 5, `node ${i}: retried too early`)
          const grown = (after.error.retryInMs ?? 0) >= 1.3 * (before.error.retryInMs ?? 0)
          assert.ok(grown || (after.error.retryInMs ?? 0) >= 0.8 * 30_000, `node ${i}: backoff did not grow`)
        }
        assert.ok(status.backingOff.includes(dead.peerId.toString()))
      })
      assert.deepEqual(faults.flat(), [], 'an unreachable member is not a fault')
    } finally {
      await section.stop()
    }
  })

  it('without a supermajority alive, gossip stays at the idle pace', { timeout: 120_000 }, async () => {
    // 2 members of 4 (a supermajority is 3): the pending genesis observation can never be decided.
    // The absent members' addresses are unknown: nobody dials them, nothing is reported.
    const section = await startSection(4, { discovery: false }, 2)
    const { faults, linkErrors } = recordProblems(section)
    try {
      await waitFor(
        section.nodes,
        () => section.nodes.every((n) => n.services.section.status().connected.length === 1),
        30_000,
        () => 'the two live members did not connect',
        'peer:connected',
      )
      await section.nodes[0].services.section.vote(encode('stuck'))
      // 30 events: 10 exchanges or so.
      const rates = await growthRates(section, 30)
      for (const [i, node] of section.nodes.entries()) {
        assert.equal(node.services.section.status().deliveredBlocks, 0, 'nothing can be decided')
        // Idle pace is about one exchange a second per member (3 new events each, 2 members):
        // about 6 events a second. Fast gossip (50 ms) would make about 120, the storm this
        // guards against about 1000.
        assert.ok(rates[i] <= 20, `node ${i}: ${rates[i].toFixed(0)} events/s without a supermajority`)
      }
      assert.deepEqual(faults.flat(), [])
      assert.deepEqual(linkErrors.flat(), [], 'members without an address are never dialled')
    } finally {
      await section.stop()
    }
  })

  it('a payload that can never be decided does not keep gossip fast', { timeout: 120_000 }, async () => {
    // Supermajority mode, 4 members all alive; one payload voted at one member only can never
    // get the 3 votes it needs. The progress window is cut to 1 ms so that it has passed by the
    // time we measure: gossip must then be at the idle pace, with the payload still pending.
    const section = await startSection(4, { mode: 'supermajority', progressWindowMs: 1 })
    const { faults } = recordProblems(section)
    try {
      await waitFor(
        section.nodes,
        () => section.blocks.every((b) => b.length >= 1),
        30_000,
        () => 'the genesis block was not agreed',
        'block',
      )
      await section.nodes[0].services.section.vote(encode('voted at one member only'))
      const rates = await growthRates(section, 60)
      for (const [i, node] of section.nodes.entries()) {
        const status = node.services.section.status()
        assert.equal(status.deliveredBlocks, 1, 'only the genesis block')
        assert.equal(status.pendingObservations, 1, 'the payload is still pending')
        // Fast gossip among 4 members makes hundreds of events a second; idle about 12.
        assert.ok(rates[i] <= 60, `node ${i}: ${rates[i].toFixed(0)} events/s for an undecidable payload`)
      }
      assert.deepEqual(faults.flat(), [])
    } finally {
      await section.stop()
    }
  })
})

/** Each node's graph growth, in events a second, while every graph grows by `events` (however long that takes). */
async function growthRates(section: TestSection, events: number): Promise<number[]> {
  const sizes = () => section.nodes.map((n) => n.services.section.status().graphSize)
  const before = sizes()
  const started = Date.now()
  await poll(
    () => sizes().every((size, i) => size >= before[i] + events),
    60_000,
    () => `graphs ${sizes()}`,
  )
  const seconds = (Date.now() - started) / 1000
  return sizes().map((size, i) => (size - before[i]) / seconds)
}

/** Resolves once `predicate` holds (checked every 20 ms); rejects after `timeoutMs`. */
function poll(predicate: () => boolean, timeoutMs: number, describe: () => string): Promise<void> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + timeoutMs
    const check = (): void => {
      if (predicate()) resolve()
      else if (Date.now() > deadline) reject(new Error(`timed out after ${timeoutMs} ms: ${describe()}`))
      else setTimeout(check, 20)
    }
    check()
  })
}
