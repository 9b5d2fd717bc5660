/**
 * The membership machine's keepAlive and acceptSync directives as peer-store tags (scripted peer
 * store, no network): set and removed as the directives say, set again when libp2p's reconnect
 * queue dropped a kept member's tag, and an earlier run's tags on non-members removed at start.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Logger, Peer, PeerData, PeerId, PeerQuery, Tag } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import {
  CATCH_UP_TAG,
  CATCH_UP_VALUE,
  KEEP_ALIVE_TAG,
  KEEP_ALIVE_VALUE,
  PeerTags,
} from '../src/section/peer-tags.js'

const quiet: Logger = Object.assign(() => {}, {
  enabled: false,
  error: () => {},
  trace: () => {},
  newScope: () => quiet,
})

/** A peer store holding tags only, as libp2p's merges them (undefined removes). */
function tagStore() {
  const peers = new Map<string, { id: PeerId; tags: Map<string, Tag> }>()
  return {
    peers,
    tagsOf: (peer: PeerId) => Object.fromEntries(peers.get(peer.toString())?.tags ?? []),
    async merge(id: PeerId, data: PeerData): Promise<Peer> {
      const peer = peers.get(id.toString()) ?? { id, tags: new Map<string, Tag>() }
      peers.set(id.toString(), peer)
      for (const [name, tag] of Object.entries(data.tags ?? {})) {
        if (tag === undefined) peer.tags.delete(name)
        else peer.tags.set(name, { value: tag.value ?? 0 })
      }
      return { id, addresses: [], protocols: [], metadata: new Map(), tags: peer.tags }
    },
    async all(query?: PeerQuery): Promise<Peer[]> {
      return [...peers.values()]
        .map((p) => ({ id: p.id, addresses: [], protocols: [], metadata: new Map(), tags: p.tags }) as Peer)
        .filter((p) => (query?.filters ?? []).every((f) => f(p)))
    },
  }
}

async function peers(n: number): Promise<PeerId[]> {
  return Promise.all(
    Array.from({ length: n }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))),
  )
}

function setup(us: PeerId) {
  const store = tagStore()
  const events = new EventTarget()
  const tags = new PeerTags({ peerId: us, peerStore: store, events }, quiet)
  return { store, events, tags }
}

describe('peer tags', () => {
  it('a member added later is tagged keep-alive (and catch-up), untagged when removed', async () => {
    const [us, founder, joiner] = await peers(3)
    const { store, tags } = setup(us)
    await tags.start()
    tags.keepAlive(founder, true)
    // A candidate we admitted: served catch-up, not kept alive.
    tags.acceptSync(joiner, true)
    await tags.settled()
    assert.deepEqual(store.tagsOf(founder), { [KEEP_ALIVE_TAG]: { value: KEEP_ALIVE_VALUE } })
    assert.deepEqual(store.tagsOf(joiner), { [CATCH_UP_TAG]: { value: CATCH_UP_VALUE } })
    // Its Add is agreed: kept alive too.
    tags.keepAlive(joiner, true)
    await tags.settled()
    assert.deepEqual(store.tagsOf(joiner), {
      [KEEP_ALIVE_TAG]: { value: KEEP_ALIVE_VALUE },
      [CATCH_UP_TAG]: { value: CATCH_UP_VALUE },
    })
    assert.ok(tags.keeps(joiner))
    // Removed (the founder, say): both tags go, other tags stay.
    await store.merge(founder, { tags: { 'kad-peer': { value: 1 } } })
    tags.keepAlive(founder, false)
    tags.acceptSync(founder, false)
    await tags.settled()
    assert.deepEqual(store.tagsOf(founder), { 'kad-peer': { value: 1 } })
    assert.ok(!tags.keeps(founder))
    // Never ourselves.
    tags.keepAlive(us, true)
    await tags.settled()
    assert.deepEqual(store.tagsOf(us), {})
    tags.stop()
  })

  it('on then off at once ends off; a failed redial (libp2p dropped the tag) sets it again while wanted', async () => {
    const [us, a, b] = await peers(3)
    const { store, events, tags } = setup(us)
    await tags.start()
    tags.keepAlive(a, true)
    tags.keepAlive(a, false)
    tags.keepAlive(b, true)
    await tags.settled()
    assert.deepEqual(store.tagsOf(a), {})
    // libp2p's reconnect queue gave up on b and on a: it removed b's keep-alive tag.
    await store.merge(b, { tags: { [KEEP_ALIVE_TAG]: undefined } })
    events.dispatchEvent(new CustomEvent('peer:reconnect-failure', { detail: b }))
    events.dispatchEvent(new CustomEvent('peer:reconnect-failure', { detail: a }))
    await tags.settled()
    assert.deepEqual(store.tagsOf(b), { [KEEP_ALIVE_TAG]: { value: KEEP_ALIVE_VALUE } })
    assert.deepEqual(store.tagsOf(a), {})
    tags.stop()
  })

  it("at start, an earlier run's tags on peers no longer kept are removed, the kept ones stay", async () => {
    const [us, kept, former] = await peers(3)
    const { store, tags } = setup(us)
    const both = { [KEEP_ALIVE_TAG]: { value: KEEP_ALIVE_VALUE }, [CATCH_UP_TAG]: { value: CATCH_UP_VALUE } }
    await store.merge(kept, { tags: both })
    await store.merge(former, { tags: { ...both, other: { value: 5 } } })
    // The machine (opened before the tags start) keeps `kept`.
    tags.keepAlive(kept, true)
    await tags.start()
    assert.deepEqual(store.tagsOf(kept), { [KEEP_ALIVE_TAG]: { value: KEEP_ALIVE_VALUE } })
    assert.deepEqual(store.tagsOf(former), { other: { value: 5 } })
    tags.stop()
  })
})
