/**
 * The start-up self-check: a member that would fork itself (restarted without its data, from an
 * old copy of it, or with a key that already runs elsewhere) finds out from the others before it
 * makes an event, makes none, and fails with `SelfCheckFailed`; nobody accuses it and the section
 * keeps agreeing. Its honest run resumes afterwards.
 */
import assert from 'node:assert/strict'
import { cp, mkdtemp, readdir, rm, stat, truncate } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { createSectionNode, type SectionFault } from '@parsec-section/p2p-section'
import { LevelDatastore } from 'datastore-level'
import { connectAll, startSection, type TestNode, type TestSection, waitFor } from './support.js'

describe('start-up self-check', () => {
  let dir: string
  let section: TestSection
  let datastore: LevelDatastore
  let member: TestNode | undefined
  const faults: SectionFault[] = []
  const all = (): TestNode[] => [...section.nodes, ...(member === undefined ? [] : [member])]

  const options = () => ({
    genesis: section.genesis,
    privateKey: section.keys[3],
    listen: ['/ip4/127.0.0.1/tcp/0'],
    discovery: false,
  })

  async function startMember(store: LevelDatastore): Promise<TestNode> {
    const node = await createSectionNode({ ...options(), datastore: store })
    member = node
    await connectAll(all())
    await node.services.section.ready()
    return node
  }

  async function stopMember(): Promise<void> {
    await member?.stop()
    member = undefined
  }

  /** Votes at a live member and waits until every running node delivered it. */
  async function agree(text: string): Promise<void> {
    const nodes = all()
    await nodes[0].services.section.vote(new TextEncoder().encode(text))
    await waitFor(
      nodes,
      () =>
        nodes.every((n) =>
          n.services.section
            .blocks()
            .some((b) => b.description.kind === 'opaque' && b.description.payload === text),
        ),
      60_000,
      () =>
        `agreeing on ${text}: ` +
        nodes
          .map((n) => {
            const status = n.services.section.status()
            return `${status.state} ${status.deliveredBlocks} blocks, ${status.connected.length} connected, backing off ${status.backingOff.length}, pending ${status.pendingObservations}`
          })
          .join(' | '),
    )
  }

  /** A second process with member 3's key and `store` fails its self-check and makes no event. */
  async function expectRefused(store: LevelDatastore | undefined): Promise<void> {
    const node = await createSectionNode({
      ...options(),
      ...(store === undefined ? { persist: false } : { datastore: store }),
    })
    try {
      await connectAll([...all(), node])
      await assert.rejects(node.services.section.ready(), (error: Error & { code?: string }) => {
        assert.equal(error.code, 'SelfCheckFailed')
        assert.match(error.message, /right data directory/)
        return true
      })
      const status = node.services.section.status()
      assert.equal(status.state, 'failed')
      await assert.rejects(node.services.section.vote(new TextEncoder().encode('never')), {
        code: 'SelfCheckFailed',
      })
    } finally {
      await node.stop()
    }
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'parsec-selfcheck-'))
    section = await startSection(4, {}, 1)
    for (const node of section.nodes)
      node.services.section.addEventListener('fault', (e) => faults.push(e.detail))
    datastore = new LevelDatastore(join(dir, 'member'))
    await datastore.open()
    await startMember(datastore)
    await agree('first')
  })

  after(async () => {
    await stopMember()
    await datastore.close().catch(() => {})
    await section.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('refuses a restart without the data directory', async () => {
    await stopMember()
    await expectRefused(undefined)
    await agree('without the lost member')
  })

  it('refuses a second process with a key that is already live', async () => {
    await startMember(datastore)
    await expectRefused(undefined)
    await agree('with the live member')
  })

  it('refuses an old copy of the data directory, and the right one resumes', async () => {
    await stopMember()
    await datastore.close()
    await cp(join(dir, 'member'), join(dir, 'backup'), { recursive: true })
    datastore = new LevelDatastore(join(dir, 'member'))
    await datastore.open()
    await startMember(datastore)
    await member?.services.section.vote(new TextEncoder().encode('after the backup'))
    await agree('after the backup was taken')
    await stopMember()
    const backup = new LevelDatastore(join(dir, 'backup'))
    await backup.open()
    try {
      await expectRefused(backup)
    } finally {
      await backup.close()
    }
    await startMember(datastore)
    await agree('resumed from the right directory')
  })

  it('refuses a store whose write-ahead log lost its tail (a power cut), and the whole one resumes', async () => {
    await member?.services.section.vote(new TextEncoder().encode('in the log'))
    await agree('after the log was written')
    await stopMember()
    await datastore.close()
    await cp(join(dir, 'member'), join(dir, 'whole'), { recursive: true })
    // What a power cut does to writes not yet synced: the log ends early.
    const logs = (await readdir(join(dir, 'member'))).filter((name) => name.endsWith('.log'))
    assert.ok(logs.length > 0, 'LevelDB keeps recent writes in a .log file')
    for (const name of logs) {
      const path = join(dir, 'member', name)
      await truncate(path, Math.floor((await stat(path)).size / 2))
    }
    const cut = new LevelDatastore(join(dir, 'member'))
    await cut.open()
    try {
      await expectRefused(cut)
    } finally {
      await cut.close()
    }
    await rm(join(dir, 'member'), { recursive: true })
    await cp(join(dir, 'whole'), join(dir, 'member'), { recursive: true })
    datastore = new LevelDatastore(join(dir, 'member'))
    await datastore.open()
    await startMember(datastore)
    await agree('resumed from the whole log')
  })

  it('nobody was accused and nobody saw a fork', () => {
    assert.deepEqual(
      faults.map((f) => `${f.code} ${f.message}`),
      [],
    )
    for (const node of all()) assert.deepEqual(node.services.section.status().forkedMembers, [])
  })
})
