import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { parseIp, SectionError, SourceRateLimiter, sourceNetwork, TokenBuckets } from '../src/index.js'

describe('token buckets', () => {
  it('a burst of `capacity` passes, then the refill rate holds', () => {
    const buckets = new TokenBuckets({ capacity: 3, refillPerSecond: 2, maxKeys: 10 })
    for (let i = 0; i < 3; i++) assert.equal(buckets.take('a', 1000), true, `burst ${i}`)
    assert.equal(buckets.take('a', 1000), false, 'empty')
    assert.equal(buckets.take('a', 1499), false, 'not a whole token back yet')
    assert.equal(buckets.take('a', 1500), true, '2/s: one token after 500 ms')
    assert.equal(buckets.take('a', 1500), false)
    // Long idle: refilled to capacity, no more.
    assert.equal(buckets.available('a', 100_000), 3)
    for (let i = 0; i < 3; i++) assert.equal(buckets.take('a', 100_000), true)
    assert.equal(buckets.take('a', 100_000), false)
    // Other keys are untouched.
    assert.equal(buckets.take('b', 100_000), true)
  })

  it('a refused take spends nothing; a cost above one; time going backwards refills nothing', () => {
    const buckets = new TokenBuckets({ capacity: 4, refillPerSecond: 1, maxKeys: 10 })
    assert.equal(buckets.take('a', 0, 3), true)
    assert.equal(buckets.take('a', 0, 2), false)
    assert.equal(buckets.available('a', 0), 1)
    assert.equal(buckets.take('a', 1000, 2), true)
    assert.equal(buckets.take('a', 500), false, 'an earlier now gives nothing back')
    assert.equal(buckets.available('a', 1000), 0)
  })

  it('tracks at most maxKeys keys, forgetting the least recently used', () => {
    const buckets = new TokenBuckets({ capacity: 1, refillPerSecond: 0, maxKeys: 3 })
    for (const key of ['a', 'b', 'c']) assert.equal(buckets.take(key, 0), true)
    assert.equal(buckets.take('a', 1), false, 'a used again: now the most recent')
    assert.equal(buckets.take('d', 2), true, 'a fourth key evicts b, the least recently used')
    assert.equal(buckets.size, 3)
    assert.equal(buckets.has('b'), false)
    assert.equal(buckets.has('a'), true)
    assert.equal(buckets.take('a', 3), false, 'a kept its empty bucket')
    // A flood of fresh keys: memory stays bounded.
    for (let i = 0; i < 10_000; i++) buckets.take(`flood ${i}`, 4)
    assert.equal(buckets.size, 3)
    assert.deepEqual(
      ['flood 9997', 'flood 9998', 'flood 9999'].map((k) => buckets.has(k)),
      [true, true, true],
    )
  })

  it('refuses nonsense options with a typed error', () => {
    assert.throws(
      () => new TokenBuckets({ capacity: 0, refillPerSecond: 1, maxKeys: 1 }),
      (e) => e instanceof SectionError && e.code === 'InvalidArgument',
    )
    assert.throws(() => new TokenBuckets({ capacity: 1, refillPerSecond: 1, maxKeys: 0 }), SectionError)
    assert.throws(() => new TokenBuckets({ capacity: 1, refillPerSecond: -1, maxKeys: 2 }), SectionError)
  })
})

describe('source networks', () => {
  it('IPv4 by /24, from a string or a multiaddr', () => {
    assert.equal(sourceNetwork('192.0.2.77'), '192.0.2.0/24')
    assert.equal(sourceNetwork(multiaddr('/ip4/192.0.2.1/tcp/4001')), '192.0.2.0/24')
    assert.equal(sourceNetwork('192.0.3.1'), '192.0.3.0/24')
    assert.equal(sourceNetwork('198.51.100.9', { ip4: 32, ip6: 64 }), '198.51.100.9/32')
  })

  it('IPv6 by /48, whatever the notation', () => {
    const network = '2001:db8:1:0:0:0:0:0/48'
    assert.equal(sourceNetwork('2001:db8:1::1'), network)
    assert.equal(sourceNetwork('2001:0db8:0001:ffff:1:2:3:4'), network)
    assert.equal(sourceNetwork(multiaddr('/ip6/2001:db8:1:2::9/tcp/1')), network)
    assert.equal(sourceNetwork('fe80::1%eth0'), 'fe80:0:0:0:0:0:0:0/48')
    assert.notEqual(sourceNetwork('2001:db8:2::1'), network)
    assert.equal(sourceNetwork('2001:db8:1:2:3:4:5:6', { ip4: 24, ip6: 64 }), '2001:db8:1:2:0:0:0:0/64')
  })

  it('an IPv4-mapped IPv6 address is its IPv4 address', () => {
    assert.equal(sourceNetwork('::ffff:192.0.2.200'), '192.0.2.0/24')
    assert.equal(sourceNetwork('::ffff:c000:0201'), '192.0.2.0/24')
    assert.equal(sourceNetwork(multiaddr('/ip6/::ffff:192.0.2.5/tcp/1')), '192.0.2.0/24')
    assert.deepEqual(parseIp('::ffff:192.0.2.5'), Uint8Array.from([192, 0, 2, 5]))
    // Not mapped: an IPv4-compatible tail elsewhere stays IPv6.
    assert.equal(parseIp('64:ff9b::192.0.2.5')?.length, 16)
  })

  it('not an IP address: undefined', () => {
    for (const text of [
      '',
      'localhost',
      '1.2.3',
      '1.2.3.256',
      '1::2::3',
      '1:2:3:4:5:6:7:8:9',
      'g::1',
      ':1:2',
    ]) {
      assert.equal(sourceNetwork(text), undefined, text)
    }
    assert.equal(sourceNetwork(multiaddr('/dns4/example.com/tcp/1')), undefined)
    assert.deepEqual(parseIp('::'), new Uint8Array(16))
    assert.equal(parseIp('1:2:3:4:5:6:7::')?.length, 16)
  })
})

describe('rate limits per peer and per source network', () => {
  const limits = {
    perPeer: { capacity: 2, refillPerSecond: 1 },
    perNetwork: { capacity: 3, refillPerSecond: 1 },
    maxKeys: 100,
  }

  it('fresh peer ids from one /24 share its bucket; another /24 has its own', () => {
    const limiter = new SourceRateLimiter(limits)
    const net = sourceNetwork('192.0.2.1')
    assert.deepEqual(
      ['p1', 'p2', 'p3', 'p4'].map((peer) => limiter.take(peer, net, 0)),
      ['allowed', 'allowed', 'allowed', 'network'],
    )
    assert.equal(limiter.take('p5', sourceNetwork('192.0.2.250'), 0), 'network', 'same /24')
    assert.equal(limiter.take('p5', sourceNetwork('192.0.3.1'), 0), 'allowed', 'another /24')
    assert.equal(limiter.take('p1', net, 1000), 'allowed', 'refilled after a second')
  })

  it('one peer may not take its whole network’s share, and a refusal spends nothing', () => {
    const limiter = new SourceRateLimiter(limits)
    const net = sourceNetwork('2001:db8:7::1')
    assert.deepEqual(
      [0, 0, 0].map((now) => limiter.take('p', net, now)),
      ['allowed', 'allowed', 'peer'],
    )
    assert.equal(limiter.take('q', net, 0), 'allowed', 'the refused take left the network a token')
    assert.equal(limiter.take('r', net, 0), 'network')
    assert.equal(limiter.take('r', undefined, 0), 'allowed', 'no network: the peer bucket alone')
  })

  it('a connection’s network is its remote address’s, IPv4-mapped included', async () => {
    const limiter = new SourceRateLimiter({ ...limits, perPeer: { capacity: 10, refillPerSecond: 1 } })
    const peers = await Promise.all(
      [0, 1].map(async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))),
    )
    const a = { remotePeer: peers[0], remoteAddr: multiaddr('/ip4/198.51.100.1/tcp/1') }
    const b = { remotePeer: peers[1], remoteAddr: multiaddr('/ip6/::ffff:198.51.100.2/tcp/1') }
    assert.deepEqual(
      [a, b, a, b].map((connection) => limiter.takeFor(connection, 0)),
      ['allowed', 'allowed', 'allowed', 'network'],
    )
  })

  it('memory stays bounded under a flood of sources', () => {
    const limiter = new SourceRateLimiter({ ...limits, maxKeys: 50 })
    for (let i = 0; i < 5000; i++) limiter.take(`peer ${i}`, sourceNetwork(`10.${i >> 8}.${i & 255}.1`), i)
    assert.deepEqual(limiter.tracked, { peers: 50, networks: 50 })
  })
})
