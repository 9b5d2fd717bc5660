import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Ed25519SecretId, ed25519Id, MockSecretId, opaque, Parsec, utf8 } from '@parsec-section/parsec-core'
import { decodeSync, encodeSync } from '../src/index.js'

function engineWithEvents(count: number): Parsec {
  const secret = Ed25519SecretId.generate()
  const engine = Parsec.fromGenesis({ us: secret, genesis: [secret.publicId], consensusMode: 'single' })
  for (let i = 0; i < count; i++) engine.voteFor(opaque(utf8(`payload ${i}`.padEnd(256, '.'))))
  return engine
}

describe('sync codec', () => {
  it('round-trips a message', () => {
    const events = engineWithEvents(3).packedEvents()
    const decoded = decodeSync(encodeSync('response', events, 1 << 20), 1000)
    assert.equal(decoded.kind, 'response')
    assert.equal(decoded.packedEvents.length, events.length)
    assert.deepEqual(
      decoded.packedEvents.map((e) => e.signature),
      events.map((e) => e.signature),
    )
  })

  it('sends the longest prefix that fits the size limit, never nothing', () => {
    const events = engineWithEvents(20).packedEvents()
    const bytes = encodeSync('request', events, 4096)
    assert.ok(bytes.length <= 4096)
    const decoded = decodeSync(bytes, 1000)
    assert.ok(decoded.packedEvents.length > 1 && decoded.packedEvents.length < events.length)
    assert.equal(decodeSync(encodeSync('request', events, 10), 1000).packedEvents.length, 1)
  })

  it('rejects malformed envelopes and too many events with typed errors', () => {
    const events = engineWithEvents(5).packedEvents()
    const bytes = encodeSync('request', events, 1 << 20)
    assert.throws(() => decodeSync(bytes, 2), { code: 'MessageTooLarge' })
    assert.throws(() => decodeSync(bytes.subarray(0, bytes.length - 3), 1000), { code: 'MalformedMessage' })
    assert.throws(() => decodeSync(Uint8Array.of(0xff, 0xff, 0xff), 1000), { code: 'MalformedMessage' })
    assert.throws(() => decodeSync(new Uint8Array(0), 1000), { code: 'MalformedMessage' })
    // A mock identity's event is not an Ed25519 event.
    const mock = Parsec.fromGenesis({
      us: new MockSecretId('Alice'),
      genesis: [new MockSecretId('Alice').publicId],
    })
    assert.throws(() => decodeSync(encodeSync('request', mock.packedEvents(), 1 << 20), 1000), {
      code: 'MalformedMessage',
    })
    assert.ok(ed25519Id(events[0].creator.encoded))
  })
})
