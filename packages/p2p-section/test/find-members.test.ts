/**
 * `findMembers` (the joiner's discovery directive) on its own, against a scripted content routing:
 * providers of the section's CID become engine ids, each once, in the order found, their addresses
 * merged into the peer store; providers without an Ed25519 key are skipped; `limit` ends the lookup;
 * a lookup cut short by its signal resolves with what it found.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { ContentRouting, PeerData, PeerId, PeerInfo, RoutingOptions } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { CID } from 'multiformats/cid'
import { findMembers } from '../src/find-members.js'
import { publicIdFromPeerId } from '../src/identity.js'
import { sectionCid } from '../src/shared-dht.js'

const SECTION = 'ab'.repeat(32)

/** A content routing that answers `findProviders` with `providers`, then hangs until aborted if `hang`. */
function routingOf(providers: readonly PeerInfo[], hang = false) {
  const asked: CID[] = []
  const routing = {
    async *findProviders(cid: CID, options: RoutingOptions = {}): AsyncGenerator<PeerInfo> {
      asked.push(cid)
      for (const provider of providers) yield provider
      if (hang) {
        await new Promise<void>((_resolve, reject) => {
          options.signal?.addEventListener('abort', () => reject(options.signal?.reason))
        })
      }
    },
  } as unknown as ContentRouting
  return { routing, asked }
}

function recordingPeerStore() {
  const merged: [string, string[]][] = []
  return {
    merged,
    peerStore: {
      async merge(id: PeerId, data: PeerData) {
        merged.push([id.toString(), (data.multiaddrs ?? []).map(String)])
        return undefined as never
      },
    },
  }
}

describe('findMembers', () => {
  it("gives the providers' engine ids, each once, and their addresses to the peer store", async () => {
    const peers = await Promise.all(
      [1, 2, 3].map(async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))),
    )
    const secp = peerIdFromPrivateKey(await generateKeyPair('secp256k1'))
    const addr = (n: number) => multiaddr(`/ip4/198.51.100.${n}/tcp/4001`)
    const { routing, asked } = routingOf([
      { id: peers[0], multiaddrs: [addr(1)] },
      { id: secp, multiaddrs: [addr(9)] },
      { id: peers[1], multiaddrs: [] },
      { id: peers[0], multiaddrs: [addr(1)] },
      { id: peers[2], multiaddrs: [addr(3)] },
    ])
    const { peerStore, merged } = recordingPeerStore()
    const found = await findMembers({ contentRouting: routing, peerStore }, SECTION, { exclude: peers[2] })
    assert.deepEqual(asked.map(String), [sectionCid(SECTION).toString()], 'the section CID')
    assert.deepEqual(
      found.map((id) => id.name),
      [peers[0], peers[1]].map((p) => publicIdFromPeerId(p).name),
      'engine ids, each once; no key other than Ed25519; not the excluded',
    )
    assert.deepEqual(merged, [[peers[0].toString(), ['/ip4/198.51.100.1/tcp/4001']]])
  })

  it('stops at `limit`, and a lookup cut short by its signal resolves with what it found', async () => {
    const peers = await Promise.all(
      [1, 2].map(async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))),
    )
    const infos = peers.map((id) => ({ id, multiaddrs: [] }))
    const limited = await findMembers({ contentRouting: routingOf(infos, true).routing }, SECTION, {
      limit: 1,
    })
    assert.equal(limited.length, 1)
    // A ref'd timer (AbortSignal.timeout's is not: the test would end before it fires).
    const abort = new AbortController()
    const timer = setTimeout(() => abort.abort(new Error('lookup deadline')), 50)
    const cut = await findMembers({ contentRouting: routingOf(infos, true).routing }, SECTION, {
      signal: abort.signal,
    }).finally(() => clearTimeout(timer))
    assert.deepEqual(
      cut.map((id) => id.name),
      peers.map((p) => publicIdFromPeerId(p).name),
    )
  })
})
