/**
 * System test: a founder of a genesis of one and 6 peers joining it by `parsec-peer start --join
 * SECTION_ID --bootstrap FOUNDER`, each process in a network namespace of its own with its own
 * TEST-NET address (192.0.2.10-16). No joiner has a genesis file: each finds the section through
 * the founder's address, is admitted, catches up and is voted in; all 7 then hold the same blocks
 * (from position 0) and the same members, and stop cleanly. Root and iproute2 needed; run by
 * `node scripts/test-system.mjs join`, not by `pnpm test`.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { BlocksJson } from 'parsec-peer/local-section'
import { QUICK_JOIN_ARGS } from 'parsec-peer/quick-membership'
import { NetnsLab } from './netns.js'
import { NetnsPeer } from './netns-peer.js'
import { assertSameBlocks, assertStopCleanly, hostCli, waitUntil } from './system-support.js'

const JOINERS = 6
const TIMEOUT_MS = 120_000

describe('a founder and 6 joiners, each in its own network namespace', {
  timeout: TIMEOUT_MS + 20_000,
}, () => {
  let dir: string
  let lab: NetnsLab
  const peers: NetnsPeer[] = []

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'parsec-system-join-'))
    lab = NetnsLab.create({ hosts: 1 + JOINERS })
  })

  after(async () => {
    await lab?.close()
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })

  it('all 7 agree on blocks and members over TEST-NET addresses', async () => {
    const deadline = Date.now() + TIMEOUT_MS
    const keys = Array.from({ length: 1 + JOINERS }, (_, i) => join(dir, `peer-${i}.key.json`))
    const peerIds = await Promise.all(
      keys.map(async (key) => (await hostCli(['keygen', '--out', key])).trim()),
    )
    const genesisFile = join(dir, 'genesis.json')
    const founderAddr = NetnsPeer.listenAddress(lab, 0)
    const sectionId = (
      await hostCli(['genesis', keys[0], '--addr', `${peerIds[0]}=${founderAddr}`, '--out', genesisFile])
    ).trim()
    const common = (i: number) => ({
      keyFile: keys[i],
      dataDir: join(dir, `peer-${i}`),
      socketDir: dir,
      readyTimeoutMs: TIMEOUT_MS,
      extraArgs: QUICK_JOIN_ARGS,
    })
    peers.push(await NetnsPeer.start(lab, 0, { ...common(0), genesisFile }))
    const bootstrap = [`${founderAddr}/p2p/${peerIds[0]}`]
    peers.push(
      ...(await Promise.all(
        Array.from({ length: JOINERS }, (_, j) =>
          NetnsPeer.start(lab, j + 1, { ...common(j + 1), join: { sectionId, bootstrap } }),
        ),
      )),
    )
    for (const peer of peers) {
      assert.equal(peer.ready.sectionId, sectionId)
      assert.equal(peer.ready.peerId, peerIds[peer.index])
    }

    // Payloads keep flowing while they join: from 4 members on, the next one is admitted only once
    // the previous one aged --probation-blocks agreed blocks.
    let voting = true
    let n = 0
    const votes = (async () => {
      while (voting) {
        await peers[0].api.vote([Buffer.from(`system test: tick ${n++}`)]).catch(() => {})
        await new Promise((resolve) => setTimeout(resolve, 300))
      }
    })()
    const expected = [...peerIds].sort()
    try {
      await waitUntil(
        'all 7 are members and list the same 7',
        deadline,
        async () => {
          const statuses = await Promise.all(peers.map((p) => p.api.status().catch(() => undefined)))
          return statuses.every(
            (s) => s?.self === 'member' && JSON.stringify(s.members) === JSON.stringify(expected),
          )
        },
        500,
      )
    } finally {
      voting = false
      await votes
    }

    const last = Buffer.from('system test: after the joins')
    assert.equal(await peers[JOINERS].api.vote([last]), 1)
    const sequences = await Promise.all(
      peers.map(async (peer) => {
        const blocks: BlocksJson['blocks'] = []
        while (!blocks.some((b) => b.payload === last.toString('hex'))) {
          const left = deadline - Date.now()
          if (left <= 0) throw new Error(`peer ${peer.index} did not deliver the last payload`)
          blocks.push(...(await peer.api.blocks(blocks.length, Math.min(left, 5000))).blocks)
        }
        return blocks.slice(0, blocks.findIndex((b) => b.payload === last.toString('hex')) + 1)
      }),
    )
    assertSameBlocks(sequences)
    // Every joiner was added, and no one else. A second Add of one joiner (a ticket decided after it
    // joined) is a no-op of the membership chain (docs/membership.md), so count peers, not blocks.
    assert.deepEqual(
      [...new Set(sequences[0].filter((b) => b.kind === 'add').map((b) => b.peer))].sort(),
      peerIds.slice(1).sort(),
      'an Add for each joiner, none for anyone else',
    )
    const statuses = await Promise.all(peers.map((p) => p.api.status()))
    for (const status of statuses) assert.deepEqual(status.members, expected)

    await assertStopCleanly(peers)
  })

  it('leaves no namespace or interface of the run behind', async () => {
    await lab.close()
    assert.deepEqual(lab.leftovers(), { namespaces: [], interfaces: [] })
  })
})
