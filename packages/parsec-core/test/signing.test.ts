/**
 * The public event-crafting functions (`signEvent`, `packedEventHash`, `hasValidSignature`): what
 * tools use to forge events by hand, with no hook on the engine.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  hasValidSignature,
  isParsecError,
  MockSecretId,
  mockId,
  type PackedEvent,
  Parsec,
  packedEventHash,
  signEvent,
} from '../src/index.js'

const NAMES = ['Alice', 'Bob', 'Carol', 'Dave']
const ids = NAMES.map(mockId)

function founder(name: string): Parsec {
  return Parsec.fromGenesis({ us: new MockSecretId(name), genesis: ids })
}

describe('signEvent, packedEventHash, hasValidSignature', () => {
  it('sign and hash events as the engine does', () => {
    const alice = founder('Alice')
    const events = alice.packedEvents(0)
    const initial = signEvent(new MockSecretId('Alice'), { kind: 'initial' })
    assert.deepEqual(initial, events[0])
    assert.ok(hasValidSignature(initial))
    const latest = alice.latestEventOf(alice.ourId)
    assert.ok(latest)
    assert.deepEqual(packedEventHash(events[events.length - 1]), latest.hash)
  })

  it('a corrupted signature does not verify', () => {
    const event = signEvent(new MockSecretId('Bob'), { kind: 'initial' })
    const signature = Uint8Array.from(event.signature)
    signature[0] ^= 0xff
    assert.equal(hasValidSignature({ ...event, signature }), false)
  })

  it('an engine refuses a forged event of its own it does not hold, and a restore from its store takes it', () => {
    const dave = founder('Dave')
    const bob = founder('Bob')
    const parent = dave.latestEventOf(dave.ourId)
    assert.ok(parent)
    // An event of Dave's he never made (a Requesting after his latest event), relayed to him.
    const forged: PackedEvent = signEvent(new MockSecretId('Dave'), {
      kind: 'requesting',
      selfParent: parent.hash,
      recipient: mockId('Bob'),
    })
    const gossip = bob.createGossip(dave.ourId)
    const request = {
      packedEvents: [...gossip.packedEvents.slice(0, -1), forged, ...gossip.packedEvents.slice(-1)],
    }
    assert.throws(
      () => dave.handleRequest(bob.ourId, request),
      (error) => isParsecError(error) && error.code === 'UnknownOwnEvent',
    )
    const restored = Parsec.restore({
      us: new MockSecretId('Dave'),
      genesis: ids,
      events: [...dave.packedEvents(0), forged],
    })
    assert.equal(restored.graphSize, dave.graphSize + 1)
  })
})
