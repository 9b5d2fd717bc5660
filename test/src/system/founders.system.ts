/**
 * System test: a section of 4 founders, each `parsec-peer start` process in a network namespace
 * of its own with its own TEST-NET address (192.0.2.10-13), the namespaces joined by a bridge.
 * The genesis comes from `parsec-peer keygen` and `parsec-peer genesis` with those addresses; the
 * peers agree on payloads voted at each of them over their control APIs, hold the same blocks, stop
 * cleanly, and the lab leaves no namespace or interface behind. Root and iproute2 needed; run by
 * `node scripts/test-system.mjs`, not by `pnpm test`.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { promisify } from 'node:util'
import { type BlocksJson, PEER_BIN } from 'parsec-peer/local-section'
import { NetnsLab } from './netns.js'
import { NetnsPeer } from './netns-peer.js'

const PEERS = 4
const VOTES_PER_PEER = 2
const TIMEOUT_MS = 60_000

const run = promisify(execFile)

/** Runs the CLI in the host's namespace (keygen and genesis need no network); stdout. */
async function cli(args: string[]): Promise<string> {
  return (await run(process.execPath, [PEER_BIN, ...args], { timeout: 30_000 })).stdout
}

/** What every peer must agree on in a block (not when it delivered it, nor whose votes it holds). */
function agreed(block: BlocksJson['blocks'][number]): unknown {
  return { position: block.position, kind: block.kind, payload: block.payload, peers: block.peers }
}

async function waitUntil(what: string, deadline: number, check: () => Promise<boolean>): Promise<void> {
  for (;;) {
    if (await check()) return
    if (Date.now() >= deadline) throw new Error(`timed out waiting until ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

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
    const peerIds = await Promise.all(keys.map(async (key) => (await cli(['keygen', '--out', key])).trim()))
    const genesisFile = join(dir, 'genesis.json')
    const addrs = peerIds.flatMap((id, i) => ['--addr', `${id}=${NetnsPeer.listenAddress(lab, i)}`])
    const sectionId = (await cli(['genesis', ...keys, ...addrs, '--out', genesisFile])).trim()

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

    await waitUntil('every peer is connected to the 3 others', deadline, async () => {
      const statuses = await Promise.all(peers.map((p) => p.api.status()))
      return statuses.every((s) => s.connected.length === PEERS - 1)
    })

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
    const [first, ...others] = sequences.map((blocks) => blocks.map(agreed))
    for (const [i, sequence] of others.entries()) {
      assert.deepEqual(sequence, first, `peer ${i + 1} holds the blocks peer 0 holds`)
    }
    assert.equal(sequences[0][0].kind, 'genesis')
    assert.deepEqual(
      sequences[0]
        .slice(1)
        .map((b) => b.payload)
        .sort(),
      [...voted].sort(),
      'one block per voted payload',
    )

    const exits = await Promise.all(peers.map((p) => p.stop()))
    assert.deepEqual(
      exits,
      peers.map(() => ({ code: 0, signal: null })),
      'every peer stops cleanly on SIGTERM',
    )
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
