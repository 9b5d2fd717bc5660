/**
 * A real I/O error on the synced write path, with `parsec-peer start` processes on 127.0.0.1: one
 * member of four runs under a file-size limit (`ulimit -f`), so LevelDB's log write fails with
 * EFBIG ("File too large") once the log outgrows it, as on a full disk. The member reports
 * `StorageFailed` and exits 1 with one clear line naming the cause; the three others keep
 * agreeing; restarted without the limit over the same data directory, it resumes and nobody
 * holds a fork of it.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { after, describe, it } from 'node:test'
import { type BlocksJson, LocalSection, PEER_BIN } from 'parsec-peer/local-section'

/** The limit, in the shell's blocks (512 or 1024 bytes): far above what starting needs. */
const FILE_SIZE_LIMIT_BLOCKS = 400
const BUDGET_MS = 90_000

const text = (value: string) => new TextEncoder().encode(value)
type Block = BlocksJson['blocks'][number]
const payloads = (list: readonly Block[]) =>
  list.filter((b) => b.kind === 'opaque').map((b) => Buffer.from(b.payload ?? '', 'hex').toString('utf8'))

async function readBlocks(
  section: LocalSection,
  peer: number,
  done: (list: Block[]) => boolean,
  deadline: number,
) {
  const list: Block[] = []
  while (!done(list)) {
    if (Date.now() > deadline) throw new Error(`peer ${peer}: only ${list.length} blocks by the deadline`)
    list.push(...(await section.api(peer).blocks({ from: list.length, wait: 2000 })).blocks)
  }
  return list
}

describe('a parsec-peer start process whose disk writes fail', { skip: process.platform === 'win32' }, () => {
  let section: LocalSection | undefined
  after(async () => {
    await section?.close()
  })

  it('exits 1 naming the cause, never forks, and resumes after a restart', {
    timeout: BUDGET_MS + 30_000,
  }, async (t) => {
    const deadline = Date.now() + BUDGET_MS
    section = await LocalSection.create({ peers: 4 })
    const local = section
    await Promise.all([0, 1, 2].map((i) => local.start(i)))
    const victim = local.peers[3]
    const child = spawn(
      'sh',
      [
        '-c',
        `ulimit -f ${FILE_SIZE_LIMIT_BLOCKS} && exec "$@"`,
        'sh',
        process.execPath,
        PEER_BIN,
        'start',
        '--key',
        victim.keyFile,
        '--genesis',
        local.genesisFile,
        '--listen',
        victim.listen,
        '--data-dir',
        victim.dataDir,
        '--json',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    const events: { event: string; code?: string; message?: string }[] = []
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    const ready = new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout }).on('line', (line) => {
        const event = JSON.parse(line)
        events.push(event)
        if (event.event === 'ready') resolve()
      })
      exited.then((code) => reject(new Error(`the victim exited (${code}) before it was ready: ${stderr}`)))
    })
    try {
      await ready
      // Vote at the three others until the victim's log outgrows its limit and it stops.
      let voted = 0
      let code: number | null | undefined
      exited.then((c) => {
        code = c
      })
      while (code === undefined) {
        if (Date.now() > deadline) throw new Error(`the victim still runs after ${voted} payloads`)
        const batch = Array.from({ length: 20 }, () => text(`before ${voted++} ${'x'.repeat(100)}`))
        await local.api(voted % 3).vote(batch)
      }
      t.diagnostic(
        `the victim stopped after ${voted} payloads were voted: ${stderr.trim().split('\n').pop()}`,
      )
      assert.equal(code, 1, `exit status (stderr: ${stderr})`)
      const failed = events.find((e) => e.event === 'failed')
      assert.ok(failed !== undefined, `a failed event: ${JSON.stringify(events.slice(-5))}`)
      assert.equal(failed.code, 'StorageFailed')
      assert.match(failed.message ?? '', /File too large/)
      const lines = stderr.trim().split('\n')
      assert.match(
        lines[lines.length - 1],
        /^parsec-peer start: StorageFailed: writing to the store failed .*File too large/,
      )
      assert.deepEqual(
        events.filter((e) => e.event === 'fault'),
        [],
        'its own failure is nobody else’s fault',
      )

      // The three others keep agreeing without it.
      await local.api(0).vote([text('without the victim')])
      const lists = await Promise.all(
        [0, 1, 2].map((i) =>
          readBlocks(local, i, (list) => payloads(list).includes('without the victim'), deadline),
        ),
      )
      const shortest = Math.min(...lists.map((l) => l.length))
      for (const list of lists)
        assert.deepEqual(payloads(list.slice(0, shortest)), payloads(lists[0].slice(0, shortest)))

      // Restarted without the limit over the same data directory: it resumes its own chain.
      await local.start(3)
      await local.api(3).vote([text('after the restart')])
      const all = await Promise.all(
        [0, 1, 2, 3].map((i) =>
          readBlocks(local, i, (list) => payloads(list).includes('after the restart'), deadline),
        ),
      )
      const length = Math.min(...all.map((l) => l.length))
      for (const list of all)
        assert.deepEqual(payloads(list.slice(0, length)), payloads(all[0].slice(0, length)))
      for (const i of [0, 1, 2, 3])
        assert.deepEqual((await local.api(i).status()).forkedMembers, [], `peer ${i}`)
    } finally {
      child.kill('SIGKILL')
    }
  })
})
