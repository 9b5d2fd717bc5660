/**
 * Bad input over real libp2p: a non-member dialing the sync protocol, and a member's key in the
 * hands of an attacker sending garbage, truncated, oversized and forged-signature messages. Each is
 * rejected with its typed error and a fault event naming the peer; the honest peers keep agreeing.
 * A link that breaks mid-message (the peer's process killed) is not bad input: a `link:error`,
 * never a fault.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey, Stream } from '@libp2p/interface'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { lpStream } from '@libp2p/utils'
import { yamux } from '@libp2p/yamux'
import {
  decodeSync,
  encodeSync,
  type ParsecSectionEvents,
  publicIdFromPeerId,
  type SectionFault,
  secretIdFromPrivateKey,
} from '@parsec-section/p2p-section'
import { Parsec } from '@parsec-section/parsec-core'
import { createLibp2p, type Libp2p } from 'libp2p'
import { payloadTexts, startSection, type TestSection, waitFor } from './support.js'

const MAX_MESSAGE_BYTES = 1 << 20
type SectionLinkError = ParsecSectionEvents['link:error']['detail']

async function rawNode(privateKey: PrivateKey): Promise<Libp2p> {
  return createLibp2p({
    privateKey,
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
  })
}

describe('bad input over libp2p', () => {
  let section: TestSection
  let attacker: Libp2p
  const faults: SectionFault[][] = []
  const linkErrors: SectionLinkError[][] = []

  before(async () => {
    // Four members; the fourth member's key is the attacker's.
    section = await startSection(4, { maxMessageBytes: MAX_MESSAGE_BYTES }, 1)
    section.nodes.forEach((node, i) => {
      faults[i] = []
      linkErrors[i] = []
      node.services.section.addEventListener('fault', (event) => faults[i].push(event.detail))
      node.services.section.addEventListener('link:error', (event) => linkErrors[i].push(event.detail))
    })
    // Every member past its start-up self-check (it answers NOT_READY before).
    await Promise.all(section.nodes.map((node) => node.services.section.ready()))
    attacker = await rawNode(section.keys[3])
    await attacker.peerStore.merge(section.nodes[0].peerId, { multiaddrs: section.nodes[0].getMultiaddrs() })
  })

  after(async () => {
    await attacker?.stop()
    await section?.stop()
  })

  const target = () => section.nodes[0]
  /** Waits until node 0 has reported more than `seen` faults. */
  const nextFault = (seen: number, what: string) =>
    waitFor(
      section.nodes,
      () => faults[0].length > seen,
      10_000,
      () => what,
      'fault',
    )
  const protocol = () => target().services.section.protocol

  /** Opens a sync stream from the attacker to node 0 and waits for the next fault there. */
  async function expectFault(send: (stream: Stream) => Promise<void>, code: string): Promise<SectionFault> {
    const seen = faults[0].length
    const stream = await attacker.dialProtocol(target().peerId, protocol())
    await send(stream).catch(() => {})
    await nextFault(seen, `no fault for ${code}`)
    const fault = faults[0][seen]
    assert.equal(fault.code, code, fault.message)
    assert.equal(fault.kind, 'protocol')
    assert.ok(fault.peer.equals(attacker.peerId), 'the fault names the sender')
    assert.ok(fault.offender.equals(attacker.peerId), 'and blames it')
    stream.abort(new Error('done'))
    return fault
  }

  it('a non-member dialing the sync protocol is refused', async () => {
    const stranger = await rawNode(await generateKeyPair('Ed25519'))
    try {
      const seen = faults[0].length
      const stream = await stranger.dialProtocol(target().getMultiaddrs()[0], protocol())
      const lp = lpStream(stream)
      await lp.write(new Uint8Array([1, 2, 3])).catch(() => {})
      await nextFault(seen, 'no fault')
      assert.equal(faults[0][seen].code, 'NotAMember')
      assert.ok(faults[0][seen].peer.equals(stranger.peerId))
      await assert.rejects(lp.read({ signal: AbortSignal.timeout(5_000) }))
    } finally {
      await stranger.stop()
    }
  })

  it('garbage bytes are a MalformedMessage', async () => {
    await expectFault(async (stream) => {
      await lpStream(stream).write(new Uint8Array([0xff, 0xff, 0xff, 0x01, 0x42, 0x13, 0x37]))
    }, 'MalformedMessage')
  })

  it('a truncated message is a MalformedMessage', async () => {
    const engine = attackerEngine()
    const bytes = encodeSync(
      'request',
      engine.createGossip(publicIdFromPeerId(target().peerId)).message!.packedEvents,
      1 << 20,
    ) as Uint8Array
    // A valid frame around half an envelope, then a frame cut short by closing the stream.
    await expectFault(async (stream) => {
      await lpStream(stream).write(bytes.subarray(0, bytes.length >> 1))
    }, 'MalformedMessage')
    await expectFault(async (stream) => {
      stream.send(new Uint8Array([0x80, 0x08, 1, 2, 3])) // announces 1024 bytes, sends 3
      await stream.close()
    }, 'MalformedMessage')
  })

  it('an oversized message is refused from its length prefix', async () => {
    const fault = await expectFault(async (stream) => {
      // Announces 64 MiB; only the prefix and a few bytes are ever sent.
      stream.send(new Uint8Array([0x80, 0x80, 0x80, 0x20, 0, 0, 0]))
    }, 'MessageTooLarge')
    assert.match(fault.message, /too long/)
  })

  let engine: Parsec | undefined
  function attackerEngine(): Parsec {
    engine ??= Parsec.fromGenesis({
      us: secretIdFromPrivateKey(section.keys[3]),
      genesis: section.genesis.members.map((m) => m.publicId),
      consensusMode: 'single',
    })
    return engine
  }

  it('a forged signature is a SignatureFailure, after an honest exchange works', async () => {
    const engine = attackerEngine()
    const partner = publicIdFromPeerId(target().peerId)
    const stream = await attacker.dialProtocol(target().peerId, protocol())
    const lp = lpStream(stream, { maxDataLength: 1 << 24 })
    // One honest exchange: the attacker's key is a member's, so it is answered.
    await lp.write(
      encodeSync('request', engine.createGossip(partner).message!.packedEvents, 1 << 20) as Uint8Array,
    )
    const reply = decodeSync(await lp.read({ signal: AbortSignal.timeout(10_000) }), 100_000, () => undefined)
    assert.equal(reply.kind, 'response')
    engine.handleResponse(partner, { packedEvents: reply.packedEvents })
    // Then a request whose newest event carries a forged signature.
    const events = [...engine.createGossip(partner).message!.packedEvents]
    const last = events[events.length - 1]
    events[events.length - 1] = { ...last, signature: new Uint8Array(64).fill(7) }
    const seen = faults[0].length
    await lp.write(encodeSync('request', events, 1 << 20) as Uint8Array)
    await nextFault(seen, 'no fault')
    assert.equal(faults[0][seen].code, 'SignatureFailure', faults[0][seen].message)
    assert.ok(faults[0][seen].peer.equals(attacker.peerId))
    await assert.rejects(lp.read({ signal: AbortSignal.timeout(5_000) }), 'the stream is reset')
  })

  it('a connection dying mid-message is a link error, not a fault', async () => {
    const seenFaults = faults[0].length
    const inbound = () =>
      linkErrors[0].filter((e) => e.direction === 'inbound' && e.peer.equals(attacker.peerId))
    const seenLinks = inbound().length
    const stream = await attacker.dialProtocol(target().peerId, protocol())
    stream.send(new Uint8Array([0x80, 0x08, 1, 2, 3])) // announces 1024 bytes, sends 3
    // What SIGKILL does to the attacker's sockets: gone, mid-frame.
    for (const connection of attacker.getConnections(target().peerId)) connection.abort(new Error('killed'))
    await waitFor(
      section.nodes,
      () => inbound().length > seenLinks,
      10_000,
      () => 'no link error',
      'link:error',
    )
    const error = inbound()[seenLinks]
    assert.equal(error.kind, 'transport')
    assert.equal(error.code, 'ConnectionClosed', error.message)
    assert.equal(faults[0].length, seenFaults, 'a broken link is not a fault')
  })

  it('the honest peers keep agreeing', async () => {
    const honest = section.nodes
    for (let i = 0; i < 9; i++) {
      await honest[i % honest.length].services.section.vote(new TextEncoder().encode(`after attack ${i}`))
    }
    const has = (list: (typeof section.blocks)[number]) =>
      payloadTexts(list).filter((t) => t.includes('after attack')).length
    await waitFor(
      honest,
      () => section.blocks.every((list) => has(list) === 9),
      60_000,
      () => `after-attack blocks per peer ${section.blocks.map(has)}`,
    )
    const first = payloadTexts(section.blocks[0])
    for (const list of section.blocks) assert.deepEqual(payloadTexts(list).slice(0, first.length), first)
    // Nothing was reported against an honest peer.
    for (const list of faults) {
      for (const fault of list)
        assert.ok(
          fault.offender.equals(attacker.peerId) ||
            !section.nodes.some((n) => n.peerId.equals(fault.offender)),
        )
    }
  })
})
