/**
 * A peer's data directory damaged or from another version, with `parsec-peer start` processes on
 * 127.0.0.1: a LevelDB without its CURRENT file, a stored event with a flipped byte and a store in a
 * newer format each make `start` exit 2 with one clear line, before anything is sent, and change
 * nothing on disk; a store in format 2 (no removal record) or format 1 (no checksums) is migrated
 * at start and the peer resumes.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { LevelDatastore } from 'datastore-level'
import { Key } from 'interface-datastore'
import { type BlocksJson, LocalSection, PEER_BIN } from 'parsec-peer/local-section'

interface Run {
  status: number | null
  stderr: string
}

/** Runs `parsec-peer start` for `peer` of `section` as LocalSection would, to completion. */
function startOnce(section: LocalSection, peer: number, timeoutMs = 20_000): Promise<Run> {
  const { keyFile, listen, dataDir } = section.peers[peer]
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        PEER_BIN,
        'start',
        '--key',
        keyFile,
        '--genesis',
        section.genesisFile,
        '--listen',
        listen,
        '--data-dir',
        dataDir,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    )
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('error', reject)
    child.on('close', (status) => {
      clearTimeout(timer)
      resolve({ status, stderr })
    })
  })
}

/** Exit 2 with one line on stderr matching `pattern`. */
function assertRefused(run: Run, pattern: RegExp): void {
  assert.equal(run.status, 2, `exit status (stderr: ${run.stderr})`)
  const lines = run.stderr.trim().split('\n')
  assert.equal(lines.length, 1, `one line on stderr: ${run.stderr}`)
  assert.match(lines[0], /^parsec-peer start: /)
  assert.match(lines[0], pattern)
}

/** Every file under `dir` with its size. */
function listing(dir: string): string[] {
  const out: string[] = []
  const walk = (path: string): void => {
    for (const name of readdirSync(path).sort()) {
      const file = join(path, name)
      if (statSync(file).isDirectory()) walk(file)
      else out.push(`${relative(dir, file)} ${statSync(file).size}`)
    }
  }
  walk(dir)
  return out
}

/** Opens a stopped peer's LevelDB, runs `body` on it and closes it. */
async function withStore<T>(dataDir: string, body: (store: LevelDatastore) => Promise<T>): Promise<T> {
  const store = new LevelDatastore(join(dataDir, 'datastore'), { createIfMissing: false })
  await store.open()
  try {
    return await body(store)
  } finally {
    await store.close()
  }
}

/** The section's records in a stopped peer's store (not libp2p's own, e.g. its peer records). */
function contents(dataDir: string): Promise<Map<string, string>> {
  return withStore(dataDir, async (store) => {
    const entries = new Map<string, string>()
    for await (const { key, value } of store.query({ prefix: '/parsec/' }))
      entries.set(key.toString(), Buffer.from(value).toString('hex'))
    return entries
  })
}

async function blocksUntil(
  section: LocalSection,
  peer: number,
  count: number,
): Promise<BlocksJson['blocks']> {
  const deadline = Date.now() + 60_000
  const blocks: BlocksJson['blocks'] = []
  while (blocks.length < count) {
    if (Date.now() > deadline) throw new Error(`peer ${peer}: ${blocks.length} of ${count} blocks after 60 s`)
    blocks.push(...(await section.api(peer).blocks({ from: blocks.length, wait: 2000 })).blocks)
  }
  return blocks
}

describe('parsec-peer start over a damaged or foreign data directory', () => {
  let section: LocalSection
  /** Peer 0 is stopped and restarted; peer 1 stays up and must never hear from a refused start. */
  const victim = 0
  let dataDir: string
  let root: string
  before(async () => {
    section = await LocalSection.create({ peers: 2 })
    await section.startAll()
    await section.waitConnected(30_000)
    await section.api(victim).vote([new TextEncoder().encode('stored before the damage')])
    await blocksUntil(section, victim, 2)
    await blocksUntil(section, 1, 2)
    assert.equal((await section.stop(victim)).code, 0)
    dataDir = section.peers[victim].dataDir
    root = `/parsec/${section.sectionId}`
  })
  after(async () => {
    await section?.close()
  })

  /** Peer 1's graph size: unchanged while the victim is refused (it sent nothing). */
  const heard = async () => (await section.api(1).status()).graphSize

  it('refuses a LevelDB without its CURRENT file and deletes nothing', async () => {
    const current = join(dataDir, 'datastore', 'CURRENT')
    const saved = readdirSync(join(dataDir, 'datastore'))
    assert.ok(saved.includes('CURRENT'))
    const text = readFileSync(current)
    unlinkSync(current)
    try {
      const before = listing(dataDir)
      const graph = await heard()
      assertRefused(
        await startOnce(section, victim),
        /StorageCorrupt: .*datastore holds files but no CURRENT file.*nothing was changed/,
      )
      assert.deepEqual(listing(dataDir), before, 'every file is still there, with its size')
      assert.equal(await heard(), graph)
    } finally {
      writeFileSync(current, text)
    }
  })

  it('refuses a stored event with a flipped byte, naming it, and sends nothing', async () => {
    const key = new Key(`${root}/events/000000000003`)
    const original = await withStore(dataDir, async (store) => {
      const value = await store.get(key)
      const flipped = Uint8Array.from(value)
      flipped[flipped.length - 1] ^= 0x01 // a byte of the event's signature
      await store.put(key, flipped)
      return value
    })
    try {
      const before = await contents(dataDir)
      const graph = await heard()
      assertRefused(
        await startOnce(section, victim),
        new RegExp(`StorageCorrupt: stored record ${key.toString()} is damaged`),
      )
      assert.deepEqual(await contents(dataDir), before, 'the store is unchanged')
      assert.equal(await heard(), graph)
    } finally {
      await withStore(dataDir, (store) => store.put(key, original))
    }
  })

  it('refuses a store in a newer format', async () => {
    const format = new Key(`${root}/format`)
    await withStore(dataDir, (store) => store.put(format, new TextEncoder().encode('7')))
    try {
      const before = await contents(dataDir)
      assertRefused(await startOnce(section, victim), /StorageVersion: .*storage format 7 by a newer version/)
      assert.deepEqual(await contents(dataDir), before)
    } finally {
      // What a format-2 store holds: the same sealed records, the format record "2".
      await withStore(dataDir, (store) => store.put(format, new TextEncoder().encode('2')))
    }
  })

  it('migrates a store in format 2 at start and resumes', async () => {
    const before = await contents(dataDir)
    assert.equal(Buffer.from(before.get(`${root}/format`) ?? '', 'hex').toString(), '2')
    await section.start(victim)
    assert.equal(section.peers[victim].ready?.self, 'member')
    assert.equal((await section.stop(victim)).code, 0)
    const after = await contents(dataDir)
    assert.equal(Buffer.from(after.get(`${root}/format`) ?? '', 'hex').toString(), '6')
    for (const [key, value] of before) {
      if (key !== `${root}/format`) assert.equal(after.get(key), value, `${key} keeps its bytes`)
    }
  })

  it('migrates a store in format 1 at start and resumes', async () => {
    // Format 1: the same records without their 8-byte checksums, and no format record.
    await withStore(dataDir, async (store) => {
      for await (const { key, value } of store.query({ prefix: `${root}/` })) {
        if (key.toString() === `${root}/format`) await store.delete(key)
        else await store.put(key, value.slice(8))
      }
    })
    const before = await contents(dataDir)
    await section.start(victim)
    await section.api(victim).vote([new TextEncoder().encode('after the migration')])
    const [mine, theirs] = await Promise.all([blocksUntil(section, victim, 3), blocksUntil(section, 1, 3)])
    const shape = (list: BlocksJson['blocks']) =>
      list.slice(0, 3).map((b) => [b.position, b.kind, b.payload ?? null])
    assert.deepEqual(shape(mine), shape(theirs))
    for (const peer of [victim, 1]) assert.deepEqual((await section.api(peer).status()).forkedMembers, [])
    assert.equal((await section.stop(victim)).code, 0)
    const after = await contents(dataDir)
    assert.equal(Buffer.from(after.get(`${root}/format`) ?? '', 'hex').toString(), '6')
    for (const [key, value] of before) {
      assert.equal(after.get(key)?.slice(16), value, `${key} keeps its bytes after its checksum`)
    }
  })
})
