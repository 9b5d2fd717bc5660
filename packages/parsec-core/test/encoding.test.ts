import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { decodeBlock, encodeBlock } from '../src/block-codec.js'
import { BincodeReader } from '../src/encoding/bincode.js'
import { fromHex, toHex, utf8 } from '../src/encoding/bytes.js'
import { sipHash13 } from '../src/encoding/siphash.js'
import { isParsecError } from '../src/errors.js'
import { Ed25519SecretId, ed25519Id, ed25519Scheme } from '../src/identity/ed25519.js'
import { MockSecretId, mockId, mockScheme } from '../src/identity/mock.js'
import {
  checkpoint,
  encodeObservation,
  genesis,
  observationHash,
  opaque,
} from '../src/observations/observation.js'
import { readObservation } from '../src/observations/read.js'

describe('encoding (spec §1 vectors)', () => {
  it('SipHash-1-3 matches rustc DefaultHasher', () => {
    const out = sipHash13([utf8('hello world'), new Uint8Array(32).fill(7)])
    assert.equal(toHex(out.slice().reverse()), '6f9d217985c0aaab')
  })

  it('SipHash streams across part boundaries', () => {
    const data = utf8('the quick brown fox jumps over the lazy dog')
    const whole = sipHash13([data])
    for (let cut = 0; cut <= data.length; cut++) {
      assert.deepEqual(sipHash13([data.subarray(0, cut), data.subarray(cut)]), whole)
    }
  })

  it('observation hashes match the reference', () => {
    const group = ['Alice', 'Bob', 'Carol', 'Dave'].map(mockId)
    assert.equal(
      toHex(observationHash(genesis(group))),
      '181acff73711013c5df11e21c5edd964e180a3e02896ba627983aebc0651e1dd',
    )
    assert.equal(
      toHex(observationHash(opaque(utf8('0')))),
      'c93ff2cda7e9dd6a49b12c4fccdbaa0fe1b25b1e92421f288b06bfe53122be0f',
    )
    assert.equal(
      toHex(observationHash(opaque(utf8('A')))),
      'b6d1c725f300e054b0942ee3726dbf8a83f40062a3d32704acbbc7b128679b22',
    )
  })

  it('a checkpoint observation (ours, variant 5) reads back as written', () => {
    const written = checkpoint(utf8('checkpoint bytes'))
    const encoded = encodeObservation(written)
    assert.equal(encoded[0], 5)
    assert.deepEqual(readObservation(new BincodeReader(encoded), mockScheme), written)
  })

  it('mock signatures verify only with the right key and data', () => {
    const alice = new MockSecretId('Alice')
    const data = utf8('payload')
    const signature = alice.sign(data)
    assert.ok(alice.publicId.verify(signature, data))
    assert.ok(!mockId('Bob').verify(signature, data))
    assert.ok(!alice.publicId.verify(signature, utf8('payload!')))
  })

  it('Ed25519 ids sign, verify and serialise as the 32-byte key', () => {
    const secret = Ed25519SecretId.generate()
    const data = utf8('hello')
    const signature = secret.sign(data)
    assert.equal(signature.length, 64)
    assert.equal(secret.publicId.encoded.length, 32)
    assert.ok(secret.publicId.verify(signature, data))
    signature[0] ^= 1
    assert.ok(!secret.publicId.verify(signature, data))
  })

  it('Ed25519 signs as RFC 8032 says (its test 1) and refuses a small-order key that signs anything', () => {
    const secret = new Ed25519SecretId(
      fromHex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60'),
    )
    assert.equal(secret.publicId.name, 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a')
    const signature = secret.sign(new Uint8Array(0))
    assert.equal(
      toHex(signature),
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
    )
    assert.ok(secret.publicId.verify(signature, new Uint8Array(0)))
    // The identity point as a key, with R the identity and S = 0, passes the verification equation
    // for any message (node's OpenSSL accepts it): no one holds its secret, so anyone could forge.
    const identityPoint = new Uint8Array(32)
    identityPoint[0] = 1
    const forged = new Uint8Array(64)
    forged[0] = 1
    assert.ok(!ed25519Id(identityPoint).verify(forged, utf8('any event at all')))
    assert.ok(!secret.publicId.verify(signature.subarray(0, 63), new Uint8Array(0)))
  })

  it('a block (its observation and proofs) reads back as written; the observation alone as a block with no proofs', () => {
    const voters = [Ed25519SecretId.generate(), Ed25519SecretId.generate(), Ed25519SecretId.generate()]
    const payload = opaque(utf8('payload'))
    const proofs = voters
      .map((v) => ({ publicId: v.publicId, signature: v.sign(utf8('vote')) }))
      .sort((a, b) => Buffer.compare(a.publicId.orderKey, b.publicId.orderKey))
    const encoded = encodeBlock({ payload, proofs })
    const back = decodeBlock(encoded, ed25519Scheme)
    assert.deepEqual(encodeObservation(back.payload), encodeObservation(payload))
    assert.deepEqual(
      back.proofs.map((p) => [p.publicId.name, toHex(p.signature)]),
      proofs.map((p) => [p.publicId.name, toHex(p.signature)]),
    )
    assert.deepEqual(decodeBlock(encodeBlock({ payload, proofs: [] }), ed25519Scheme).proofs, [])
    // What a host stored before it kept proofs.
    assert.deepEqual(decodeBlock(encodeObservation(payload), ed25519Scheme).proofs, [])
    // Cut short, trailing bytes, proofs out of voter order or doubled: typed errors.
    const invalid = (e: unknown) => isParsecError(e) && e.code === 'InvalidMessage'
    assert.throws(() => decodeBlock(encoded.subarray(0, encoded.length - 1), ed25519Scheme), invalid)
    assert.throws(() => decodeBlock(Uint8Array.of(...encoded, 0), ed25519Scheme), invalid)
    const proofBytes = 32 + 64
    const start = encoded.length - 3 * proofBytes
    const swapped = Uint8Array.of(
      ...encoded.subarray(0, start),
      ...encoded.subarray(start + proofBytes, start + 2 * proofBytes),
      ...encoded.subarray(start, start + proofBytes),
      ...encoded.subarray(start + 2 * proofBytes),
    )
    assert.throws(() => decodeBlock(swapped, ed25519Scheme), invalid)
    const doubledBytes = Uint8Array.of(...encoded.subarray(0, start + proofBytes), ...encoded.subarray(start))
    doubledBytes.set(new Uint8Array(8), start - 8)
    doubledBytes[start - 8] = 4
    assert.throws(() => decodeBlock(doubledBytes, ed25519Scheme), invalid)
    // A block whose proofs came otherwise (another member's chain) is stored in voter order, once each.
    const names = (bytes: Uint8Array) => decodeBlock(bytes, ed25519Scheme).proofs.map((p) => p.publicId.name)
    const sorted = proofs.map((p) => p.publicId.name)
    assert.deepEqual(names(encodeBlock({ payload, proofs: [...proofs].reverse() })), sorted)
    assert.deepEqual(
      names(encodeBlock({ payload, proofs: [proofs[2], proofs[0], proofs[2], proofs[1]] })),
      sorted,
    )
  })
})
