/**
 * WAN-like local sections: `demo --wan-delay-ms D --wan-jitter-ms J` agrees through the delaying
 * proxies, a section's peers are known to each other only by their proxies' addresses, and bad
 * combinations of the flags are refused. Loopback only.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { LocalSection } from 'parsec-peer/local-section'
import { assertUsage, cli } from './cli-support.js'

describe('WAN-like local sections', { concurrency: 2 }, () => {
  it('demo --wan-delay-ms 30 --wan-jitter-ms 10: 3 peers agree on 10 payloads', async () => {
    const run = await cli(
      ['demo', '--peers', '3', '--payloads', '10', '--wan-delay-ms', '30', '--wan-jitter-ms', '10', '--json'],
      // About 3 s alone; a CI run beside another test file once took more than 60 s.
      { timeoutMs: 150_000 },
    )
    assert.equal(run.status, 0, run.stderr)
    const summary = JSON.parse(run.stdout)
    assert.equal(summary.agreed, true, run.stdout)
    assert.equal(summary.membersAgreed, true)
    assert.equal(summary.blocks, 11)
    assert.equal(summary.wan.delayMs, 30)
    assert.equal(summary.wan.jitterMs, 10)
    // The seed is printed on stderr, to repeat the run with --wan-seed.
    assert.match(run.stderr, new RegExp(`30 ± 10 ms each way \\(seed ${summary.wan.seed}\\)`))
  })

  it('the genesis and each peer announce its proxy, not its listen port', async () => {
    const section = await LocalSection.create({ peers: 2, wan: { delayMs: 5, jitterMs: 2, seed: 7 } })
    try {
      assert.equal(section.wanSeed, 7)
      const genesis = readFileSync(section.genesisFile, 'utf8')
      for (const peer of section.peers) {
        assert.ok(peer.proxy !== undefined)
        assert.equal(peer.address, peer.proxy.multiaddr)
        assert.notEqual(peer.address, peer.listen)
        assert.ok(genesis.includes(peer.address), 'the genesis has the proxy address')
        assert.ok(!genesis.includes(peer.listen), 'the genesis has no listen address')
      }
      await section.startAll()
      await section.waitConnected(20_000)
      for (const peer of section.peers) {
        assert.deepEqual(
          peer.ready?.listen.map((addr) => addr.replace(/\/p2p\/.*$/, '')),
          [peer.address],
        )
      }
    } finally {
      await section.close()
    }
  })

  it('refuses --wan-jitter-ms alone, or above the delay', async () => {
    assertUsage(await cli(['demo', '--wan-jitter-ms', '5']), /--wan-jitter-ms needs --wan-delay-ms/)
    assertUsage(
      await cli(['demo', '--wan-delay-ms', '5', '--wan-jitter-ms', '6']),
      /--wan-jitter-ms must not exceed --wan-delay-ms/,
    )
    assertUsage(
      await cli(['bench-live', '--wan-delay-ms', '5']),
      /--wan-delay-ms runs the throughput part only/,
    )
  })
})
