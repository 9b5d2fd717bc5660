import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  Ed25519SecretId,
  ed25519Id,
  MockSecretId,
  opaque,
  Parsec,
  type PublicId,
  utf8,
} from '@parsec-section/parsec-core'
import { decodeSync, encodeSync, encodeSyncSignal } from '../src/index.js'

function engineWithEvents(count: number): Parsec {
  const secret = Ed25519SecretId.generate()
  const engine = Parsec.fromGenesis({ us: secret, genesis: [secret.publicId], consensusMode: 'single' })
  for (let i = 0; i < count; i++) engine.voteFor(opaque(utf8(`payload ${i}`.padEnd(256, '.'))))
  return engine
}

function must(bytes: Uint8Array | undefined): Uint8Array {
  assert.ok(bytes !== undefined, 'the events fit in the page')
  return bytes
}

const nobody = (): PublicId | undefined => undefined

describe('sync codec', () => {
  it('round-trips a message with the frontier of the requester', () => {
    const engine = engineWithEvents(3)
    const events = engine.packedEvents()
    const decoded = decodeSync(
      must(encodeSync('request', events, 1 << 20, engine.frontier())),
      1000,
      (name) => (name === engine.ourId.name ? engine.ourId : undefined),
    )
    assert.equal(decoded.kind, 'request')
    assert.equal(decoded.status, 'ok')
    assert.equal(decoded.packedEvents.length, events.length)
    assert.deepEqual(
      decoded.packedEvents.map((e) => e.signature),
      events.map((e) => e.signature),
    )
    assert.deepEqual(
      decoded.known.map((k) => [k.creator.name, k.last]),
      [[engine.ourId.name, events.length - 1]],
    )
  })

  it("carries the responder's frontier in a response (an old peer's response has none)", () => {
    const engine = engineWithEvents(2)
    const events = engine.packedEvents()
    const resolve = (name: string) => (name === engine.ourId.name ? engine.ourId : undefined)
    const response = decodeSync(
      must(encodeSync('response', events, 1 << 20, engine.frontier())),
      1000,
      resolve,
    )
    assert.deepEqual(
      response.known.map((k) => [k.creator.name, k.last]),
      [[engine.ourId.name, events.length - 1]],
    )
    const old = decodeSync(must(encodeSync('response', events, 1 << 20)), 1000, resolve)
    assert.deepEqual(old.known, [])
  })

  it('never cuts what a partner lacks to a prefix: more than a page is a catch-up', () => {
    const events = engineWithEvents(20).packedEvents()
    assert.equal(encodeSync('request', events, 4096), undefined)
    const signal = decodeSync(encodeSyncSignal('response', 'catch-up'), 1000, nobody)
    assert.deepEqual([signal.kind, signal.status, signal.packedEvents.length], ['response', 'catch-up', 0])
    const ack = decodeSync(encodeSyncSignal('response', 'ok'), 1000, nobody)
    assert.deepEqual([ack.status, ack.packedEvents.length], ['ok', 0])
  })

  it('carries the epoch (docs/epochs.md §3): a retired engine answers `served`, none `other-epoch`', () => {
    const engine = engineWithEvents(2)
    const events = engine.packedEvents()
    const request = decodeSync(must(encodeSync('request', events, 1 << 20, [], { epoch: 7 })), 1000, nobody)
    assert.deepEqual([request.status, request.epoch], ['ok', 7])
    const served = decodeSync(
      must(encodeSync('response', events, 1 << 20, [], { epoch: 6, served: true })),
      1000,
      nobody,
    )
    assert.deepEqual([served.status, served.epoch, served.packedEvents.length], ['served', 6, events.length])
    const other = decodeSync(encodeSyncSignal('response', 'other-epoch', 9), 1000, nobody)
    assert.deepEqual([other.status, other.epoch, other.packedEvents.length], ['other-epoch', 9, 0])
    // A peer without epochs sends none: epoch 0.
    assert.equal(decodeSync(must(encodeSync('request', events, 1 << 20)), 1000, nobody).epoch, 0)
    assert.throws(() => decodeSync(encodeSyncSignal('request', 'other-epoch', 1), 1000, nobody), {
      code: 'MalformedMessage',
    })
    assert.throws(() => decodeSync(encodeSyncSignal('request', 'served', 1), 1000, nobody), {
      code: 'MalformedMessage',
    })
  })

  it('rejects malformed envelopes and too many events with typed errors', () => {
    const events = engineWithEvents(5).packedEvents()
    const bytes = must(encodeSync('request', events, 1 << 20))
    assert.throws(() => decodeSync(bytes, 2, nobody), { code: 'MessageTooLarge' })
    assert.throws(() => decodeSync(bytes.subarray(0, bytes.length - 3), 1000, nobody), {
      code: 'MalformedMessage',
    })
    assert.throws(() => decodeSync(Uint8Array.of(0xff, 0xff, 0xff), 1000, nobody), {
      code: 'MalformedMessage',
    })
    assert.throws(() => decodeSync(new Uint8Array(0), 1000, nobody), { code: 'MalformedMessage' })
    assert.throws(() => decodeSync(encodeSyncSignal('request', 'not-ready'), 1000, nobody), {
      code: 'MalformedMessage',
    })
    assert.throws(() => decodeSync(encodeSyncSignal('request', 'not-member'), 1000, nobody), {
      code: 'MalformedMessage',
    })
    assert.equal(decodeSync(encodeSyncSignal('response', 'not-member'), 1000, nobody).status, 'not-member')
    // A mock identity's event is not an Ed25519 event.
    const mock = Parsec.fromGenesis({
      us: new MockSecretId('Alice'),
      genesis: [new MockSecretId('Alice').publicId],
    })
    assert.throws(() => decodeSync(must(encodeSync('request', mock.packedEvents(), 1 << 20)), 1000, nobody), {
      code: 'MalformedMessage',
    })
    assert.ok(ed25519Id(events[0].creator.encoded))
  })
})
