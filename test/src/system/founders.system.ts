/**
 * System test: a section of 4 founders, each `parsec-peer start` process in a network namespace
 * of its own with its own TEST-NET address (192.0.2.10-13), the namespaces joined by a bridge.
 * The genesis comes from `parsec-peer keygen` and `parsec-peer genesis` with those addresses; the
 * peers agree on payloads voted at each of them over their control APIs, hold the same blocks, stop
 * cleanly, and the lab leaves no namespace or interface behind. Root and iproute2 needed; run by
 * `node scripts/test-system.mjs`, not by `pnpm test`.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { BlocksJson } from 'parsec-peer/local-section'
import { NetnsLab } from './netns.js'
import { NetnsPeer } from './netns-peer.js'
import { assertSameBlocks, assertStopCleanly, hostCli, waitUntil } from './system-support.js'

const PEERS = 4
const VOTES_PER_PEER = 2
const TIMEOUT_MS = 60_000

describe('4 founders, each in its own network namespace', { timeout: 2 * TIMEOUT_MS }, () => {
  let dir: string
  let lab: NetnsLab
  const peers: NetnsPeer[] = []

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'parsec-system-'))
    lab = NetnsLab.create({ hosts: PEERS })
  })

  after(async () => {
    await lab?.close()
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })

  it('agrees on the payloads voted at every peer, over TEST-NET addresses', async () => {
    const deadline = Date.now() + TIMEOUT_MS
    const keys = Array.from({ length: PEERS }, (_, i) => join(dir, `peer-${i}.key.json`))
    const peerIds = await Promise.all(
      keys.map(async (key) => (await hostCli(['keygen', '--out', key])).trim()),
    )
    const genesisFile = join(dir, 'genesis.json')
    const addrs = peerIds.flatMap((id, i) => ['--addr', `${id}=${NetnsPeer.listenAddress(lab, i)}`])
    const sectionId = (await hostCli(['genesis', ...keys, ...addrs, '--out', genesisFile])).trim()

    peers.push(
      ...(await Promise.all(
        keys.map((keyFile, i) =>
          NetnsPeer.start(lab, i, {
            keyFile,
            genesisFile,
            dataDir: join(dir, `peer-${i}`),
            socketDir: dir,
            readyTimeoutMs: TIMEOUT_MS,
          }),
        ),
      )),
    )
    for (const peer of peers) {
      assert.equal(peer.ready.sectionId, sectionId)
      assert.equal(peer.ready.peerId, peerIds[peer.index])
      assert.deepEqual(peer.ready.listen, [
        `${NetnsPeer.listenAddress(lab, peer.index)}/p2p/${peerIds[peer.index]}`,
      ])
    }

    await waitUntil(
      'every peer is connected to the 3 others',
      deadline,
      async () => {
        const statuses = await Promise.all(peers.map((p) => p.api.status()))
        return statuses.every((s) => s.connected.length === PEERS - 1)
      },
      200,
    )

    const voted: string[] = []
    for (const peer of peers) {
      const payloads = Array.from({ length: VOTES_PER_PEER }, (_, j) =>
        Buffer.from(`system test: peer ${peer.index} payload ${j}`),
      )
      assert.equal(await peer.api.vote(payloads), VOTES_PER_PEER)
      voted.push(...payloads.map((p) => p.toString('hex')))
    }

    // The genesis block, then one block per voted payload.
    const expected = 1 + voted.length
    const sequences = await Promise.all(
      peers.map(async (peer) => {
        const blocks: BlocksJson['blocks'] = []
        while (blocks.length < expected) {
          const left = deadline - Date.now()
          if (left <= 0)
            throw new Error(`peer ${peer.index} delivered ${blocks.length} of ${expected} blocks`)
          blocks.push(...(await peer.api.blocks(blocks.length, Math.min(left, 5000))).blocks)
        }
        return blocks
      }),
    )
    assertSameBlocks(sequences)
    assert.deepEqual(
      sequences[0]
        .slice(1)
        .map((b) => b.payload)
        .sort(),
      [...voted].sort(),
      'one block per voted payload',
    )

    await assertStopCleanly(peers)
  })

  it('leaves no namespace or interface of the run behind', async () => {
    const namespaces = [lab.bridgeNamespace, ...lab.hosts.map((h) => h.namespace)]
    const during = lab.leftovers()
    assert.deepEqual(during.namespaces.sort(), namespaces.sort(), 'the lab exists until closed')
    assert.deepEqual(during.interfaces, [], "the host's own namespace has none of the lab's interfaces")
    await lab.close()
    assert.deepEqual(lab.leftovers(), { namespaces: [], interfaces: [] })
  })
})
