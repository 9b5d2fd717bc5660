import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  decodeMessage,
  Ed25519SecretId,
  ed25519Scheme,
  encodeMessage,
  MockSecretId,
  mockId,
  opaque,
  Parsec,
  ParsecError,
  utf8,
} from '../src/index.js'
import { seededRandom, TestSection } from './support.js'

describe('engine', () => {
  it('agrees over Ed25519 identities and the wire encoding', () => {
    const secrets = Array.from({ length: 4 }, () => Ed25519SecretId.generate())
    const ids = secrets.map((s) => s.publicId)
    const nodes = secrets.map((us) => Parsec.fromGenesis({ us, genesis: ids, consensusMode: 'single' }))
    nodes.forEach((node, i) => {
      node.voteFor(opaque(utf8(`payload-${i}`)))
    })
    const random = seededRandom(42)
    const blocks: string[][] = nodes.map(() => [])
    for (let step = 0; step < 2000 && blocks.some((b) => b.length < 5); step++) {
      const from = nodes[Math.floor(random() * 4)]
      const recipients = from.gossipRecipients()
      const toId = recipients[Math.floor(random() * recipients.length)]
      const to = nodes[ids.findIndex((id) => id.name === toId.name)]
      const request = decodeMessage(encodeMessage(from.createGossip(to.ourId)), ed25519Scheme)
      const { response } = to.handleRequest(from.ourId, request)
      from.handleResponse(to.ourId, decodeMessage(encodeMessage(response), ed25519Scheme))
      nodes.forEach((node, i) => {
        for (let b = node.poll(); b; b = node.poll()) blocks[i].push(b.payload.kind)
      })
    }
    for (const list of blocks) assert.deepEqual(list, ['genesis', 'opaque', 'opaque', 'opaque', 'opaque'])
  })

  it('rejects a duplicate vote and votes by non-members with typed errors', () => {
    const section = new TestSection(4, seededRandom(1))
    const alice = section.nodes[0]
    alice.voteFor(opaque(utf8('x')))
    assert.ok(alice.haveVotedFor(opaque(utf8('x'))))
    assert.throws(
      () => alice.voteFor(opaque(utf8('x'))),
      (e) => e instanceof ParsecError && e.code === 'DuplicateVote',
    )
    assert.throws(
      () => alice.createGossip(mockId('Mallory')),
      (e) => e instanceof ParsecError && e.code === 'UnknownPeer',
    )
    const joiner = Parsec.fromExisting({
      us: new MockSecretId('Eric'),
      genesis: ['Alice', 'Bob', 'Carol', 'Dave'].map(mockId),
      section: ['Alice', 'Bob', 'Carol', 'Dave'].map(mockId),
    })
    assert.equal(joiner.canVote(), false)
    assert.deepEqual(joiner.gossipRecipients(), [])
    assert.throws(
      () => joiner.voteFor(opaque(utf8('y'))),
      (e) => e instanceof ParsecError && e.code === 'InvalidSelfState',
    )
    assert.throws(
      () => Parsec.fromGenesis({ us: new MockSecretId('Zed'), genesis: [mockId('Alice')] }),
      (e) => e instanceof ParsecError && e.code === 'InvalidArgument',
    )
  })

  it('a sole voter decides its own votes at once', () => {
    const solo = Parsec.fromGenesis({ us: new MockSecretId('Alice'), genesis: [mockId('Alice')] })
    solo.voteFor(opaque(utf8('one')))
    solo.voteFor(opaque(utf8('two')))
    const kinds: string[] = []
    for (let b = solo.poll(); b; b = solo.poll()) kinds.push(b.payload.kind)
    assert.deepEqual(kinds, ['genesis', 'opaque', 'opaque'])
    assert.deepEqual(solo.ourUnpolledObservations(), [])
  })
})
