import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Ed25519SecretId, utf8 } from '@parsec-section/parsec-core'
import { VerifyStats } from '../src/verify-stats.js'

describe('VerifyStats', () => {
  it('wraps an id once (every epoch reuses the wrapper its chain proofs hold) and counts its verifications', () => {
    const stats = new VerifyStats()
    const secret = Ed25519SecretId.generate()
    const data = utf8('data')
    const signature = secret.sign(data)
    const first = stats.wrap(secret.publicId)
    // Another epoch's engine: the same id, possibly another object carrying it.
    const again = stats.wrap({ ...secret.publicId, verify: secret.publicId.verify.bind(secret.publicId) })
    assert.equal(again, first)
    assert.equal(first.name, secret.publicId.name)
    assert.ok(first.verify(signature, data))
    assert.ok(!first.verify(signature, utf8('other')))
    assert.equal(stats.count, 2)
    const other = Ed25519SecretId.generate().publicId
    assert.notEqual(stats.wrap(other), first)
    assert.equal(stats.wrap(other).name, other.name)
  })
})
