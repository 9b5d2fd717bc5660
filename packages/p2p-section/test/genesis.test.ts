import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { createGenesis, genesisToFile, parseGenesis } from '../src/index.js'

async function peers(n: number) {
  const keys = await Promise.all(Array.from({ length: n }, () => generateKeyPair('Ed25519')))
  return keys.map((key) => peerIdFromPrivateKey(key))
}

describe('genesis', () => {
  it('the section id ignores member order and addresses, and depends on members and mode', async () => {
    const [a, b, c] = await peers(3)
    const one = createGenesis([{ peerId: a }, { peerId: b }], 'single')
    const two = createGenesis(
      [{ peerId: b, addrs: [multiaddr('/ip4/127.0.0.1/tcp/4001')] }, { peerId: a }],
      'single',
    )
    assert.equal(one.sectionId, two.sectionId)
    assert.match(one.sectionId, /^[0-9a-f]{64}$/)
    assert.notEqual(createGenesis([{ peerId: a }, { peerId: b }], 'supermajority').sectionId, one.sectionId)
    assert.notEqual(createGenesis([{ peerId: a }, { peerId: c }], 'single').sectionId, one.sectionId)
  })

  it('round-trips through the file format', async () => {
    const [a, b] = await peers(2)
    const genesis = createGenesis(
      [{ peerId: a, addrs: [multiaddr('/ip4/127.0.0.1/tcp/4001')] }, { peerId: b }],
      'supermajority',
      Uint8Array.of(1, 2, 3),
    )
    const parsed = parseGenesis(JSON.stringify(genesisToFile(genesis)))
    assert.equal(parsed.sectionId, genesis.sectionId)
    assert.equal(parsed.mode, 'supermajority')
    assert.deepEqual(genesisToFile(parsed), genesisToFile(genesis))
  })

  it('refuses malformed files with InvalidGenesis', async () => {
    const [a] = await peers(1)
    const bad = [
      'not json',
      '[]',
      '{"version":2,"mode":"single","members":[]}',
      '{"version":1,"mode":"fast","members":[]}',
      '{"version":1,"mode":"single","members":[]}',
      '{"version":1,"mode":"single","members":[{"peerId":"nope"}]}',
      `{"version":1,"mode":"single","members":[{"peerId":"${a}","addrs":["/ip4/999.0.0.1/tcp/1"]}]}`,
      `{"version":1,"mode":"single","members":[{"peerId":"${a}"},{"peerId":"${a}"}]}`,
      `{"version":1,"mode":"single","members":[{"peerId":"${a}"}],"relatedInfo":"xyz"}`,
    ]
    for (const text of bad) assert.throws(() => parseGenesis(text), { code: 'InvalidGenesis' }, text)
  })
})
