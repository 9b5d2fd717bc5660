/**
 * The DHT shared by every section, on 127.0.0.1.
 *
 * - A section whose members know nothing but a DHT-only node's address (an in-process
 *   `createDhtNode`, the node `parsec-peer dht` runs, so that its provider records can be watched):
 *   the members find each other through it, provide the section's CID (the membership machine's
 *   `provide` directive), and a fresh node that knows only the DHT node finds members (peer ids and
 *   working addresses) with `findSectionPeers`, and their engine ids with `findMembers` (a joiner's
 *   `findMembers` directive).
 * - `parsec-peer dht` as a process: it prints its peer id and addresses, serves the shared DHT
 *   protocol, keeps the identity of `--key`, and exits 0 on SIGTERM; the same section and fresh
 *   node through it; nonsense arguments exit 2.
 */
import assert from 'node:assert/strict'
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PeerInfo } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import {
  constants,
  createDhtNode,
  createGenesis,
  createSectionNode,
  findMembers,
  findSectionPeers,
  peerIdFromPublicId,
  publicIdFromPeerId,
  sectionCid,
} from '@parsec-section/p2p-section'
import { MemoryDatastore } from 'datastore-core'
import type { Key } from 'interface-datastore'
import { cli } from '../cli-support.js'
import { type TestNode, waitFor } from './support.js'

const BIN = join(dirname(fileURLToPath(import.meta.url)), '../../../../apps/peer/bin/parsec-peer.js')

/** A datastore that tells whenever kad-dht stores a provider record (its key ends in the provider's peer id). */
class WatchedDatastore extends MemoryDatastore {
  readonly providers = new Set<string>()
  private readonly waiting: { peers: readonly string[]; resolve: () => void }[] = []

  override put(key: Key, value: Uint8Array): Key | Promise<Key> {
    const result = super.put(key, value)
    const text = key.toString()
    if (text.includes('/provider/')) {
      this.providers.add(text.slice(text.lastIndexOf('/') + 1))
      for (const waiter of this.waiting.filter((w) => w.peers.every((p) => this.providers.has(p)))) {
        this.waiting.splice(this.waiting.indexOf(waiter), 1)
        waiter.resolve()
      }
    }
    return result
  }

  /** Resolves once every one of `peers` has a provider record here; rejects after `timeoutMs`. */
  providersStored(peers: readonly string[], timeoutMs: number): Promise<void> {
    if (peers.every((p) => this.providers.has(p))) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(new Error(`timed out after ${timeoutMs} ms: provider records of ${[...this.providers]}`)),
        timeoutMs,
      )
      this.waiting.push({
        peers,
        resolve: () => {
          clearTimeout(timer)
          resolve()
        },
      })
    })
  }
}

/** Three members whose genesis holds no address: `dhtAddr` is all they know. */
async function startMembers(dhtAddr: string) {
  const keys = await Promise.all(Array.from({ length: 3 }, () => generateKeyPair('Ed25519')))
  const genesis = createGenesis(
    keys.map((key) => ({ peerId: peerIdFromPrivateKey(key) })),
    'single',
  )
  const members: TestNode[] = []
  try {
    for (const key of keys) {
      members.push(
        await createSectionNode({
          genesis,
          privateKey: key,
          listen: ['/ip4/127.0.0.1/tcp/0'],
          bootstrap: [dhtAddr],
          lookupIntervalMs: 500,
        }),
      )
    }
  } catch (error) {
    await Promise.all(members.map((m) => m.stop()))
    throw error
  }
  return { genesis, members, memberIds: members.map((m) => m.peerId.toString()) }
}

/** The members found each other by peer id through the DHT node alone. */
function membersConnected(members: readonly TestNode[]): Promise<void> {
  return waitFor(
    members,
    () => members.every((m) => m.services.section.status().connected.length === members.length - 1),
    60_000,
    () => `connected per member ${members.map((m) => m.services.section.status().connected.length)}`,
    'peer:connected',
  )
}

/**
 * A fresh node that knows only the DHT node's address looks the section up by its id: it finds
 * members only, each once, with the addresses they listen on, and one of them answers a dial.
 */
async function findFromScratch(
  dhtAddr: string,
  sectionId: string,
  members: readonly TestNode[],
): Promise<void> {
  const memberIds = members.map((m) => m.peerId.toString())
  const fresh = await createDhtNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
  try {
    await fresh.dial(multiaddr(dhtAddr))
    const found: PeerInfo[] = []
    for await (const peer of findSectionPeers(fresh.contentRouting, sectionId, {
      signal: AbortSignal.timeout(30_000),
    })) {
      found.push(peer)
    }
    const foundIds = found.map((p) => p.id.toString())
    assert.ok(foundIds.length >= 1, 'at least one member found')
    for (const id of foundIds) assert.ok(memberIds.includes(id), `${id} is a member`)
    assert.equal(new Set(foundIds).size, foundIds.length, 'each provider once')
    const member = members[memberIds.indexOf(foundIds[0])]
    const listening = member.getMultiaddrs().map((a) => a.decapsulateCode(421).toString())
    assert.ok(found[0].multiaddrs.length > 0, 'with addresses')
    for (const addr of found[0].multiaddrs) {
      const bare = addr.decapsulateCode(421).toString()
      assert.ok(listening.includes(bare), `${bare} is where the member listens`)
    }
    // libp2p put them in the fresh node's peer store: a dial by peer id uses them.
    const connection = await fresh.dial(found[0].id)
    assert.equal(connection.remotePeer.toString(), foundIds[0])
  } finally {
    await fresh.stop()
  }
}

/**
 * The joiner's `findMembers` (what the membership host runs for the machine's directive) from a
 * non-member node that knows only the DHT node: members' engine ids, each once, their addresses in
 * the peer store.
 */
async function findMembersFromScratch(
  dhtAddr: string,
  sectionId: string,
  members: readonly TestNode[],
): Promise<void> {
  const names = members.map((m) => publicIdFromPeerId(m.peerId).name)
  const fresh = await createDhtNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
  try {
    await fresh.dial(multiaddr(dhtAddr))
    const found = await findMembers(fresh, sectionId, { signal: AbortSignal.timeout(30_000) })
    assert.ok(found.length >= 1, 'at least one member found')
    for (const id of found) assert.ok(names.includes(id.name), `${id.name} is a member's engine id`)
    assert.equal(new Set(found.map((id) => id.name)).size, found.length, 'each once')
    const peer = await fresh.peerStore.get(peerIdFromPublicId(found[0]))
    assert.ok(peer.addresses.length > 0, 'its addresses in the peer store')
    const limited = await findMembers(fresh, sectionId, { limit: 1, signal: AbortSignal.timeout(30_000) })
    assert.equal(limited.length, 1, 'at most `limit`')
  } finally {
    await fresh.stop()
  }
}

describe('the shared DHT', () => {
  it('members known only through a DHT node find each other, provide the section CID, and a fresh node finds them', {
    timeout: 120_000,
  }, async () => {
    // In process, so that the provider records it receives can be watched.
    const datastore = new WatchedDatastore()
    const dht = await createDhtNode({ listen: ['/ip4/127.0.0.1/tcp/0'], datastore })
    const dhtAddr = dht.getMultiaddrs()[0].toString()
    try {
      const { genesis, members, memberIds } = await startMembers(dhtAddr)
      try {
        // Each member's record reached the DHT node (members provide once started, and again).
        await datastore.providersStored(memberIds, 60_000)
        await membersConnected(members)
        await findFromScratch(dhtAddr, genesis.sectionId, members)
        await findMembersFromScratch(dhtAddr, genesis.sectionId, members)
      } finally {
        await Promise.all(members.map((m) => m.stop()))
      }
    } finally {
      await dht.stop()
    }
  })

  it('a section CID depends on the section id alone', () => {
    const id = 'ab'.repeat(32)
    assert.equal(sectionCid(id).toString(), sectionCid(id).toString())
    assert.notEqual(sectionCid(id).toString(), sectionCid('cd'.repeat(32)).toString())
    assert.equal(sectionCid(id).code, 0x55, 'raw codec')
    assert.equal(sectionCid(id).version, 1)
    // CIDv1, raw, sha2-256 of 'parsec-section/v1/abab...': computed apart (Python's hashlib and base32).
    assert.equal(sectionCid(id).toString(), 'bafkreigdb6fe4tam374snlwxnbbpc3eyqjrdb5pmz33ntc6jzymkcea7eu')
    assert.throws(() => sectionCid('not hex'), { name: 'SectionError' })
  })
})

let dir: string
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'parsec-dht-test-'))
})
after(() => {
  rmSync(dir, { recursive: true, force: true })
})

/** Starts `parsec-peer dht ... --json` and resolves with its first stdout line, parsed. */
function startDht(
  args: string[],
): Promise<{ child: ChildProcessWithoutNullStreams; info: { peerId: string; addrs: string[] } }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'dht', ...args, '--json'])
    let stdout = ''
    let stderr = ''
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`parsec-peer dht printed nothing in 30 s: ${stderr}`))
    }, 30_000)
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d
      const end = stdout.indexOf('\n')
      if (end < 0) return
      clearTimeout(timer)
      resolve({ child, info: JSON.parse(stdout.slice(0, end)) })
    })
    child.on('error', reject)
    child.on('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`parsec-peer dht exited (${code}) before printing: ${stderr}`))
    })
  })
}

function exitOf(child: ChildProcessWithoutNullStreams): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode)
    else child.once('exit', (code) => resolve(code))
  })
}

describe('parsec-peer dht', () => {
  it('prints its peer id and addresses, serves the shared DHT, exits 0 on SIGTERM', {
    timeout: 60_000,
  }, async () => {
    const keyFile = join(dir, 'dht-key.json')
    const keygen = await cli(['keygen', '--out', keyFile, '--json'])
    assert.equal(keygen.status, 0, keygen.stderr)
    const { peerId } = JSON.parse(keygen.stdout) as { peerId: string }
    const { child, info } = await startDht(['--listen', '/ip4/127.0.0.1/tcp/0', '--key', keyFile])
    const client = await createDhtNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
    try {
      assert.deepEqual(Object.keys(info).sort(), ['addrs', 'peerId'])
      assert.equal(info.peerId, peerId, 'the identity of --key')
      assert.ok(info.addrs.length >= 1)
      for (const addr of info.addrs) assert.ok(addr.endsWith(`/p2p/${peerId}`), addr)
      const identified = new Promise<string[]>((resolve) => {
        client.addEventListener('peer:identify', (event) => {
          if (event.detail.peerId.toString() === peerId) resolve(event.detail.protocols)
        })
      })
      await client.dial(multiaddr(info.addrs[0]))
      const protocols = await identified
      assert.ok(
        protocols.includes(constants.SHARED_DHT_PROTOCOL),
        `serves ${constants.SHARED_DHT_PROTOCOL}: ${protocols}`,
      )
      assert.ok(!protocols.some((p) => p.includes('/sync/')), 'no section protocol')
    } finally {
      await client.stop()
      child.kill('SIGTERM')
    }
    assert.equal(await exitOf(child), 0)
  })

  it('is all a section and a joiner need to know of each other', { timeout: 120_000 }, async () => {
    const { child, info } = await startDht(['--listen', '/ip4/127.0.0.1/tcp/0'])
    try {
      const dhtAddr = info.addrs[0]
      const { genesis, members } = await startMembers(dhtAddr)
      try {
        // Members provide their CID at start (their own record first), then found each other
        // through the DHT process: its routing table holds them, and they answer for the CID.
        await membersConnected(members)
        await findFromScratch(dhtAddr, genesis.sectionId, members)
      } finally {
        await Promise.all(members.map((m) => m.stop()))
      }
    } finally {
      child.kill('SIGTERM')
    }
    assert.equal(await exitOf(child), 0)
  })

  const bad: [string[], RegExp][] = [
    [[], /--listen MULTIADDR is required/],
    [['--listen', 'nonsense'], /--listen: 'nonsense' is not a multiaddr/],
    [['--listen', '/ip4/127.0.0.1/udp/4000'], /only \/ip4\/HOST\/tcp\/PORT/],
    [
      ['--listen', '/ip4/127.0.0.1/tcp/0', '--bootstrap', '/ip4/127.0.0.1/tcp/4000'],
      /must end in \/p2p\/PEERID/,
    ],
    [['--listen', '/ip4/127.0.0.1/tcp/0', '--key', '/nonexistent/key.json'], /cannot read key file/],
    [['--listen', '/ip4/127.0.0.1/tcp/0', '--port', '4000'], /Unknown option '--port'/],
    [['--listen', '/ip4/127.0.0.1/tcp/0', 'extra'], /Unexpected argument 'extra'/],
  ]
  for (const [args, pattern] of bad) {
    it(`rejects dht ${args.join(' ') || '(no arguments)'} with exit 2`, async () => {
      const run = await cli(['dht', ...args])
      assert.equal(run.status, 2, `exit status (stderr: ${run.stderr})`)
      const lines = run.stderr.trim().split('\n')
      assert.equal(lines.length, 1, `one line on stderr: ${run.stderr}`)
      assert.match(lines[0], /^parsec-peer dht: /)
      assert.match(lines[0], pattern)
      assert.equal(run.stdout, '')
    })
  }
})
