/**
 * The snapshot hook's parts without a network: the protocol's codec, the f+1 rule, a member's
 * answers, and a newcomer's fetch over a fake source (a lying member outvoted; a member serving
 * bytes that do not match the agreed digest skipped, and reported).
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Logger, PeerId } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { isSectionError } from '../src/errors.js'
import { publicIdFromPeerId } from '../src/identity.js'
import { SnapshotChunk, SnapshotRequest } from '../src/pb/snapshot.js'
import type { SnapshotHook } from '../src/section/api.js'
import {
  SnapshotFetch,
  type SnapshotFetchResult,
  type SnapshotSource,
} from '../src/section/snapshot-fetch.js'
import { SnapshotNewcomer } from '../src/section/snapshot-newcomer.js'
import { Snapshots } from '../src/section/snapshots.js'
import {
  type DigestReport,
  decodeSnapshotChunk,
  decodeSnapshotRequest,
  encodeSnapshotAnswer,
} from '../src/snapshot.js'
import { StateAssembly } from '../src/snapshot-chunks.js'
import { agreedDigest, reportsNeeded } from '../src/snapshot-quorum.js'

const silent: Logger = Object.assign(() => {}, {
  error: () => {},
  trace: () => {},
  enabled: false,
  newScope: () => silent,
})

const sha256 = (bytes: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(bytes).digest())
const bytes = (text: string): Uint8Array<ArrayBuffer> => new TextEncoder().encode(text)

async function peers(n: number): Promise<PeerId[]> {
  return Promise.all(
    Array.from({ length: n }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))),
  )
}

describe('snapshot codec', () => {
  it('round-trips requests and answers', () => {
    const request = decodeSnapshotRequest(
      SnapshotRequest.encode({ position: 25n, offset: 1024n, maxBytes: 7 }),
    )
    assert.deepEqual(request, { position: 25n, offset: 1024n, maxBytes: 7 })
    const ok = decodeSnapshotChunk(
      encodeSnapshotAnswer({ status: 'ok', digest: bytes('d'), total: 10, data: bytes('abc') }, 4),
    )
    assert.equal(ok.status, SnapshotChunk.Status.OK)
    assert.deepEqual([ok.digest, ok.total, ok.offset, ok.data], [bytes('d'), 10n, 4n, bytes('abc')])
    for (const status of ['unknown', 'not-ready', 'too-large'] as const) {
      const chunk = decodeSnapshotChunk(encodeSnapshotAnswer({ status }, 0))
      assert.equal(chunk.data.length, 0)
      assert.notEqual(chunk.status, SnapshotChunk.Status.OK)
    }
  })

  it('refuses bytes that are not a message with a typed error', () => {
    for (const decode of [decodeSnapshotRequest, decodeSnapshotChunk]) {
      assert.throws(
        () => decode(new Uint8Array([0x08, 0xff])),
        (error: unknown) => isSectionError(error) && error.code === 'MalformedMessage',
      )
    }
  })
})

describe("a newcomer's checks on a member's chunks", () => {
  const digest = bytes('agreed')
  const chunk = (over: Partial<SnapshotChunk>): SnapshotChunk => ({
    status: SnapshotChunk.Status.OK,
    digest,
    total: 10n,
    offset: 0n,
    data: bytes('0123'),
    ...over,
  })
  const code = (expected: string) => (error: unknown) => isSectionError(error) && error.code === expected

  it('puts a state together chunk by chunk', () => {
    const assembly = new StateAssembly(digest, 100, 4)
    assert.equal(assembly.take(chunk({})), 'more')
    assert.equal(assembly.take(chunk({ offset: 4n, data: bytes('4567') })), 'more')
    assert.deepEqual(assembly.take(chunk({ offset: 8n, data: bytes('89') })), bytes('0123456789'))
    assert.equal(
      new StateAssembly(digest, 100, 4).take(chunk({ status: SnapshotChunk.Status.UNKNOWN })),
      'gone',
    )
  })

  it('refuses another digest, a state over the bound, a moving length, a wrong offset or size', () => {
    assert.throws(
      () => new StateAssembly(digest, 100, 4).take(chunk({ digest: bytes('x') })),
      code('UnexpectedMessage'),
    )
    assert.throws(() => new StateAssembly(digest, 9, 4).take(chunk({})), code('MessageTooLarge'))
    assert.throws(
      () => new StateAssembly(digest, 100, 4).take(chunk({ total: 2n ** 60n })),
      code('MalformedMessage'),
    )
    assert.throws(
      () => new StateAssembly(digest, 100, 4).take(chunk({ offset: 4n })),
      code('MalformedMessage'),
    )
    assert.throws(() => new StateAssembly(digest, 100, 2).take(chunk({})), code('MalformedMessage'))
    assert.throws(
      () => new StateAssembly(digest, 100, 4).take(chunk({ data: new Uint8Array(0) })),
      code('MalformedMessage'),
    )
    const assembly = new StateAssembly(digest, 100, 4)
    assembly.take(chunk({}))
    assert.throws(() => assembly.take(chunk({ offset: 4n, total: 11n })), code('MalformedMessage'))
  })
})

describe('the f+1 rule', () => {
  const voters = ['a', 'b', 'c', 'd']
  const honest = bytes('honest')
  const lie = bytes('lie')

  it('needs f+1 reports: 1 of 1-3 voters, 2 of 4-6, 3 of 7', () => {
    assert.deepEqual([1, 2, 3, 4, 6, 7].map(reportsNeeded), [1, 1, 1, 2, 2, 3])
  })

  it('outvotes a lying voter and counts each voter once, non-voters never', () => {
    assert.equal(
      agreedDigest(
        [
          { peer: 'd', digest: lie },
          { peer: 'a', digest: honest },
        ],
        voters,
      ),
      undefined,
    )
    // The liar repeating itself, or strangers agreeing with it, count for nothing.
    const flood = [
      { peer: 'd', digest: lie },
      { peer: 'd', digest: lie },
      { peer: 'x', digest: lie },
      { peer: 'y', digest: lie },
      { peer: 'a', digest: honest },
    ]
    assert.equal(agreedDigest(flood, voters), undefined)
    const agreed = agreedDigest([...flood, { peer: 'b', digest: honest }], voters)
    assert.deepEqual(agreed?.digest, honest)
    assert.deepEqual(agreed?.from, ['a', 'b'])
  })
})

describe('a member answers from its digests', () => {
  function member(state: Uint8Array | undefined, delivered = 100, maxStateBytes = 1000) {
    const hook: SnapshotHook = {
      digest: (position) => bytes(`digest ${position}`),
      state: () => state,
      digestOf: sha256,
      install: () => {},
    }
    return new Snapshots(hook, maxStateBytes, () => delivered, silent)
  }

  it('not-ready before the checkpoint, unknown for one it does not hold, ok with a chunk', async () => {
    const snapshots = member(bytes('0123456789'))
    assert.equal((await snapshots.answer(150, 0, 0)).status, 'not-ready')
    assert.equal((await snapshots.answer(50, 0, 0)).status, 'unknown')
    snapshots.checkpointDelivered(50)
    await Promise.resolve()
    assert.deepEqual(await snapshots.answer(50, 0, 0), {
      status: 'ok',
      digest: bytes('digest 50'),
      total: 0,
      data: new Uint8Array(0),
    })
    const chunk = await snapshots.answer(50, 8, 4)
    assert.ok(chunk.status === 'ok')
    assert.deepEqual([chunk.total, chunk.data], [10, bytes('89')])
  })

  it('keeps the last two checkpoints, refuses a state over its bound', async () => {
    const snapshots = member(new Uint8Array(2000))
    for (const position of [12, 25, 38]) snapshots.checkpointDelivered(position)
    await Promise.resolve()
    assert.equal(snapshots.digestAt(12), undefined)
    assert.ok(snapshots.digestAt(25) !== undefined && snapshots.digestAt(38) !== undefined)
    assert.equal((await snapshots.answer(38, 0, 100)).status, 'too-large')
  })
})

describe("a newcomer's fetch", () => {
  const state = bytes('the state at 24')
  const digest = sha256(state)

  /** A source where each peer answers per `behaviour`; counts the fetches each got. */
  function source(
    behaviour: Map<string, 'honest' | 'liar' | 'bad-bytes' | 'not-ready' | 'unknown' | 'down'>,
  ) {
    const fetched = new Map<string, number>()
    const rounds = { count: 0 }
    const src: SnapshotSource = {
      async digest(peer): Promise<DigestReport> {
        const kind = behaviour.get(peer.toString())
        if (kind === 'down') throw Object.assign(new Error('refused'), { name: 'UnsupportedProtocolError' })
        if (kind === 'not-ready') return { status: 'not-ready' }
        if (kind === 'unknown') return { status: 'unknown' }
        return { status: 'ok', digest: kind === 'liar' ? sha256(bytes('a lie')) : digest }
      },
      async fetch(peer) {
        fetched.set(peer.toString(), (fetched.get(peer.toString()) ?? 0) + 1)
        const kind = behaviour.get(peer.toString())
        return kind === 'bad-bytes' ? bytes('not the state') : kind === 'liar' ? bytes('a lie') : state
      },
    }
    return { src, fetched, rounds }
  }

  function newcomer(src: SnapshotSource) {
    const installed: { position: number; state: Uint8Array }[] = []
    const mismatches: string[] = []
    const failures: string[] = []
    const fetch = new SnapshotFetch(
      src,
      { digestOf: sha256, install: (position, s) => void installed.push({ position, state: s }) },
      {
        mismatch: (peer) => mismatches.push(peer.toString()),
        failed: (peer) => failures.push(peer.toString()),
      },
      { retryMs: 1, maxRetryMs: 5 },
      silent,
      // Deterministic: the order given (the bad server first).
      (items) => items,
    )
    return { fetch, installed, mismatches, failures }
  }

  it('installs what f+1 report, skipping a member whose bytes do not match (a fault), outvoting a liar', async () => {
    const [us, bad, good, liar, other] = await peers(5)
    const { src, fetched } = source(
      new Map([
        [bad.toString(), 'bad-bytes'],
        [good.toString(), 'honest'],
        [liar.toString(), 'liar'],
        [other.toString(), 'down'],
      ] as const),
    )
    const { fetch, installed, mismatches, failures } = newcomer(src)
    const done = await fetch.run(24, [us, bad, good, liar, other], us, new AbortController().signal)
    assert.ok(done !== undefined)
    assert.ok(done.kind === 'installed')
    assert.equal(done.from.toString(), good.toString())
    assert.deepEqual(installed, [{ position: 24, state }])
    assert.deepEqual(mismatches, [bad.toString()])
    assert.deepEqual(failures, [other.toString()])
    assert.equal(fetched.get(liar.toString()), undefined, 'the outvoted liar is never fetched from')
  })

  it('asks again while fewer than f+1 agree, and stops when aborted', async () => {
    const [us, a, b, c] = await peers(4)
    const behaviour = new Map<string, 'honest' | 'not-ready'>([
      [a.toString(), 'honest'],
      [b.toString(), 'not-ready'],
      [c.toString(), 'not-ready'],
    ])
    const { src } = source(behaviour)
    const { fetch, installed } = newcomer(src)
    const run = fetch.run(24, [us, a, b, c], us, new AbortController().signal)
    // b delivers the checkpoint a moment later: f+1 = 2 agree.
    setTimeout(() => behaviour.set(b.toString(), 'honest'), 20)
    const done = await run
    assert.equal(done?.kind === 'installed' ? done.position : undefined, 24)
    assert.equal(installed.length, 1)

    const stuck = new Map<string, 'not-ready'>([a, b, c].map((p) => [p.toString(), 'not-ready']))
    const controller = new AbortController()
    const never = newcomer(source(stuck).src)
    const running = never.fetch.run(24, [us, a, b, c], us, controller.signal)
    setTimeout(() => controller.abort(), 20)
    assert.equal(await running, undefined)
    assert.equal(never.installed.length, 0)
  })

  it('gives up once too many voters no longer hold the state for f+1 to report it', async () => {
    const [us, a, b, c] = await peers(4)
    // f+1 = 2 of 4: with two of the three others past it, one is left.
    const behaviour = new Map<string, 'honest' | 'unknown'>([
      [a.toString(), 'honest'],
      [b.toString(), 'unknown'],
      [c.toString(), 'unknown'],
    ])
    const { fetch, installed } = newcomer(source(behaviour).src)
    const done = await fetch.run(24, [us, a, b, c], us, new AbortController().signal)
    assert.deepEqual(done, { kind: 'gone' })
    assert.equal(installed.length, 0)
  })
})

describe("a newcomer's state across checkpoints", () => {
  /** A fetch that resolves when the test says; the journal's hold and release, recorded. */
  function harness(us: PeerId) {
    const runs: { position: number; resolve: (result: SnapshotFetchResult | undefined) => void }[] = []
    const journal: string[] = []
    const emitted: string[] = []
    const newcomer = new SnapshotNewcomer(
      {
        run: (position: number) =>
          new Promise<SnapshotFetchResult | undefined>((resolve) => runs.push({ position, resolve })),
      },
      {
        hold: (from: number) => void journal.push(`hold ${from}`),
        release: () => void journal.push('release'),
      },
      { installed: () => {} },
      { emit: (type: string) => void emitted.push(type), requestFailed: () => {} },
      us,
      silent,
    )
    return { newcomer, runs, journal, emitted }
  }
  const installedAt = async (position: number, from: PeerId): Promise<SnapshotFetchResult> => ({
    kind: 'installed',
    position,
    bytes: 1,
    from,
    digest: new Uint8Array(32),
  })
  const settle = () => new Promise((resolve) => setImmediate(resolve))

  it('goes on fetching across a checkpoint, then releases every block held since its start', async () => {
    const members = await peers(4)
    const voters = members.map(publicIdFromPeerId)
    const { newcomer, runs, journal, emitted } = harness(members[0])
    newcomer.begin(100, voters)
    newcomer.crossed(130, voters)
    newcomer.crossed(160, voters)
    assert.deepEqual(
      runs.map((r) => r.position),
      [99],
      'one fetch, not one per checkpoint crossed',
    )
    runs[0].resolve(await installedAt(99, members[1]))
    await settle()
    assert.deepEqual(journal, ['hold 100', 'release'])
    assert.deepEqual(emitted, ['snapshot:installed'])
    assert.deepEqual(newcomer.status, {
      state: 'installed',
      position: 99,
      bytes: 1,
      from: members[1].toString(),
    })
  })

  it('fetches the state at the last checkpoint crossed once the first is gone', async () => {
    const members = await peers(4)
    const voters = members.map(publicIdFromPeerId)
    const { newcomer, runs, journal } = harness(members[0])
    newcomer.begin(100, voters)
    newcomer.crossed(130, voters)
    newcomer.crossed(160, voters)
    runs[0].resolve({ kind: 'gone' })
    await settle()
    assert.deepEqual(
      runs.map((r) => r.position),
      [99, 159],
    )
    assert.deepEqual(journal, ['hold 100', 'hold 160'], 'the blocks before 160 are dropped, later ones kept')
    runs[1].resolve(await installedAt(159, members[2]))
    await settle()
    assert.deepEqual(journal.at(-1), 'release')
  })

  it('waits for the next checkpoint when the state is gone and none was crossed yet', async () => {
    const members = await peers(4)
    const voters = members.map(publicIdFromPeerId)
    const { newcomer, runs, journal } = harness(members[0])
    newcomer.begin(100, voters)
    runs[0].resolve({ kind: 'gone' })
    await settle()
    assert.equal(runs.length, 1)
    assert.equal(newcomer.status?.state, 'fetching')
    newcomer.crossed(130, voters)
    assert.deepEqual(
      runs.map((r) => r.position),
      [99, 129],
    )
    assert.deepEqual(journal, ['hold 100', 'hold 130'])
  })
})
