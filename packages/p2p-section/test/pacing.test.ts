import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { type Libp2pEvents, type Logger, type PeerId, TypedEventEmitter } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { opaque, Parsec } from '@parsec-section/parsec-core'
import { createGenesis, type ParsecSectionEvents, secretIdFromPrivateKey } from '../src/index.js'
import { Connections } from '../src/section/connections.js'
import { Pacing } from '../src/section/pacing.js'
import { Reporter } from '../src/section/reporter.js'
import { Roster } from '../src/section/roster.js'

const silent: Logger = Object.assign(() => {}, {
  error: () => {},
  trace: () => {},
  enabled: false,
  newScope: () => silent,
})

const PROGRESS_WINDOW_MS = 1_000

/** Pacing for the first of four members, its engine running with one payload pending; no network. */
async function fourMembers() {
  const keys = await Promise.all(Array.from({ length: 4 }, () => generateKeyPair('Ed25519')))
  const [us, ...others] = keys.map((key) => peerIdFromPrivateKey(key))
  const genesis = createGenesis([us, ...others].map((peerId) => ({ peerId })))
  const engine = Parsec.restoring({
    us: secretIdFromPrivateKey(keys[0]),
    genesis: genesis.members.map((m) => m.publicId),
    relatedInfo: genesis.relatedInfo,
    consensusMode: genesis.mode,
  }).finish()
  engine.begin()
  engine.voteFor(opaque(Uint8Array.of(1)))
  const events = new TypedEventEmitter<Libp2pEvents>()
  const connected: string[] = []
  const service = new TypedEventEmitter<ParsecSectionEvents>()
  service.addEventListener('peer:connected', (event) => connected.push(event.detail.toString()))
  const reporter = new Reporter(service, {}, silent)
  const roster = new Roster(
    { peerId: us, peerStore: { merge: async () => Promise.reject() } },
    genesis.members,
    () => engine,
  )
  const connections = new Connections(
    { events, connectionManager: { getConnections: () => [] } },
    roster,
    reporter,
    { connected: () => {}, disconnected: () => {} },
  )
  connections.start()
  let now = 0
  const pacing = new Pacing(
    () => engine,
    roster,
    connections,
    {
      schedule: {
        intervalMs: 10,
        lightIntervalMs: 100,
        backlogForFastest: 10,
        idleIntervalMs: 1_000,
        jitter: 0,
        maxPerSecond: 10,
        maxConcurrent: 1,
      },
      progressWindowMs: PROGRESS_WINDOW_MS,
      now: () => now,
    },
    () => false,
  )
  const connect = (peer: PeerId) => events.safeDispatchEvent('peer:connect', { detail: peer })
  const disconnect = (peer: PeerId) => events.safeDispatchEvent('peer:disconnect', { detail: peer })
  return {
    others,
    engine,
    pacing,
    connections,
    connected,
    connect,
    disconnect,
    advance: (ms: number) => (now += ms),
  }
}

describe('pacing', () => {
  it('is busy only while more than two thirds of the voters (us included) are connected', async () => {
    const { others, engine, pacing, connect, disconnect } = await fourMembers()
    assert.ok(engine.pendingObservationCount > 0)
    assert.equal(pacing.mode(), 'stalled')
    connect(others[0])
    assert.equal(pacing.mode(), 'stalled', '2 of 4 live')
    connect(others[1])
    assert.equal(pacing.mode(), 'busy', '3 of 4 live')
    disconnect(others[0])
    assert.equal(pacing.mode(), 'stalled')
  })

  it('counts connections of members only', async () => {
    const { others, pacing, connections, connected, connect } = await fourMembers()
    const stranger = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    connect(stranger)
    connect(others[0])
    connect(others[0])
    assert.deepEqual(connections.list(), [others[0].toString()])
    assert.deepEqual(connected, [others[0].toString()], 'one peer:connected per member connection')
    assert.equal(pacing.mode(), 'stalled')
  })

  it('falls back to the slow pace once nothing was decided nor seen for the progress window', async () => {
    const { others, pacing, connect, advance } = await fourMembers()
    for (const peer of others) connect(peer)
    assert.equal(pacing.mode(), 'busy')
    advance(PROGRESS_WINDOW_MS)
    assert.equal(pacing.mode(), 'busy')
    advance(1)
    assert.equal(pacing.mode(), 'stalled')
  })
})
