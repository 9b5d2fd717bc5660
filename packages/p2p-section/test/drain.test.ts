import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it, mock } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Logger } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { Parsec } from '@parsec-section/parsec-core'
import { type DecodedSync, decodeSync, encodeSyncSignal, type SyncStatus } from '../src/codec.js'
import { publicIdFromPeerId } from '../src/identity.js'
import type { SectionState } from '../src/section/api.js'
import { Drain, type DrainParts } from '../src/section/drain.js'
import type { GossipPartner } from '../src/section/roster.js'
import type { Channel } from '../src/section/stream-cache.js'

const silent: Logger = Object.assign(() => {}, {
  error: () => {},
  trace: () => {},
  enabled: false,
  newScope: () => silent,
})

const INTERVAL_MS = 1_000

/** Lets the final syncs started by a round run to their end (their awaits are all immediate). */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve))
}

interface FakeMember {
  readonly partner: GossipPartner
  /** Whether our engine knows it lacks events we hold (else the drain is done with it at once). */
  lacks: boolean
  /** What it answers a final sync; `fail` breaks the stream once. */
  answer: SyncStatus | 'fail'
  /** The requests it received. */
  readonly received: DecodedSync[]
  drops: number
}

/** A drain over fake parts: our engine removed (serve-only) with three remaining members. */
async function draining() {
  const members: FakeMember[] = []
  for (let i = 0; i < 3; i++) {
    const peerId = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    members.push({
      partner: { id: publicIdFromPeerId(peerId), peerId, weight: 1 },
      lacks: true,
      answer: 'ok',
      received: [],
      drops: 0,
    })
  }
  const byName = (name: string) => members.find((m) => m.partner.id.name === name) as FakeMember
  const byPeer = (key: string) => members.find((m) => m.partner.peerId.toString() === key) as FakeMember
  const engine = {
    isRemoved: true,
    // Serve-only: the final sync holds the events the member lacks, no new event.
    createGossip: (id: { name: string }) => ({
      message: byName(id.name).lacks ? { packedEvents: [] } : undefined,
    }),
  }
  const lifecycle: { engine: Parsec; started: boolean; state: SectionState } = {
    engine: engine as unknown as Parsec,
    started: true,
    state: 'running',
  }
  const parts: DrainParts = {
    lifecycle,
    roster: { gossipPartners: () => members.map((m) => m.partner), resolve: () => undefined },
    epoch: () => 0,
    streams: {
      get: async (peerId) => {
        const member = byPeer(peerId.toString())
        const channel = {
          stream: { abort: () => {} },
          lp: {
            write: async (bytes: Uint8Array) => {
              member.received.push(decodeSync(bytes, 10, () => undefined))
            },
            read: async () => {
              if (member.answer === 'fail') {
                member.answer = 'ok'
                throw new Error('stream reset')
              }
              return encodeSyncSignal('response', member.answer)
            },
          },
        }
        return channel as unknown as Channel
      },
      drop: (peer) => {
        byPeer(peer.toString()).drops++
      },
    },
    exchanging: () => false,
  }
  const drain = new Drain(
    parts,
    { intervalMs: INTERVAL_MS, responseTimeoutMs: 10_000, maxEventsPerMessage: 10 },
    silent,
  )
  return { drain, members, engine, lifecycle }
}

describe('the drain: final syncs of a removed peer', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout'] }))
  afterEach(() => mock.timers.reset())

  it('tells each remaining member to pull, again every interval, until it answers not-member', async () => {
    const { drain, members } = await draining()
    const [refuses, takes, holdsAll] = members
    refuses.answer = 'not-member'
    holdsAll.lacks = false
    drain.start()
    assert.equal(drain.active, true)
    await settle()
    // A catch-up request: the member pulls what it lacks (a final sync has no sync event).
    for (const member of [refuses, takes]) {
      assert.deepEqual(
        member.received.map((r) => [r.kind, r.status, r.packedEvents.length]),
        [['request', 'catch-up', 0]],
      )
    }
    assert.equal(holdsAll.received.length, 0, 'a member that holds all we hold is not told')
    mock.timers.tick(INTERVAL_MS)
    await settle()
    mock.timers.tick(INTERVAL_MS)
    await settle()
    assert.equal(takes.received.length, 3, 'told again every interval')
    assert.equal(refuses.received.length, 1, 'not told again once it answered not-member')
    assert.equal(holdsAll.received.length, 0)
    drain.stop()
    assert.equal(drain.active, false)
    mock.timers.tick(10 * INTERVAL_MS)
    await settle()
    assert.equal(takes.received.length, 3, 'nothing once the drain is over')
  })

  it('a broken stream is dropped and the member told again at the next round', async () => {
    const { drain, members } = await draining()
    const [broken] = members
    broken.answer = 'fail'
    drain.start()
    await settle()
    assert.equal(broken.received.length, 1)
    assert.equal(broken.drops, 1)
    mock.timers.tick(INTERVAL_MS)
    await settle()
    assert.equal(broken.received.length, 2)
    assert.equal(broken.drops, 1)
    drain.stop()
  })

  it('waits for the service to run; with our removal shown by the chain alone, tells every member', async () => {
    const { drain, members, engine, lifecycle } = await draining()
    // The machine drains (f+1 members' chains showed our removal) before our engine decided it:
    // no serve-only engine to ask what a member lacks, so every member is told.
    engine.isRemoved = false
    members[2].lacks = false
    lifecycle.state = 'checking'
    drain.start()
    assert.equal(drain.begun, true, 'no more gossip from the start of the drain')
    await settle()
    mock.timers.tick(INTERVAL_MS)
    await settle()
    assert.ok(
      members.every((m) => m.received.length === 0),
      'nothing before the service runs',
    )
    // A drain resumed at start: once the self-check is done, the final syncs go.
    lifecycle.state = 'running'
    mock.timers.tick(INTERVAL_MS)
    await settle()
    assert.deepEqual(
      members.map((m) => m.received.length),
      [1, 1, 1],
    )
    drain.stop()
    assert.equal(drain.begun, true, 'still no gossip once the drain is over')
  })
})
