/**
 * A rebased member's payloads without a network (docs/epochs.md §4): the decided protocol's codec
 * and bounds, a member's answers from its delivered blocks (its own votes only), and the lookup
 * over a fake source: what f+1 members answer, a liar outvoted, windows and pages, members that no
 * longer keep the blocks; then which payloads are voted again, in the order voted.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Logger, PeerId } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { type Block, opaque } from '@parsec-section/parsec-core'
import {
  type DecidedReport,
  decodeDecidedAnswer,
  decodeDecidedRequest,
  encodeDecidedAnswer,
} from '../src/decided.js'
import { isSectionError } from '../src/errors.js'
import { publicIdFromPeerId } from '../src/identity.js'
import { DecidedRequest } from '../src/pb/decided.js'
import type { DeliveredBlock } from '../src/section/api.js'
import { DecidedLookup, type DecidedSource } from '../src/section/decided-lookup.js'
import { MissedPayloads } from '../src/section/missed-payloads.js'
import { OwnVotes, payloadDigest, payloadKey } from '../src/section/own-votes.js'
import type { StoredMissed } from '../src/storage.js'

const silent: Logger = Object.assign(() => {}, {
  error: () => {},
  trace: () => {},
  enabled: false,
  newScope: () => silent,
})
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text)
const malformed = (error: unknown) => isSectionError(error) && error.code === 'MalformedMessage'

async function peers(n: number): Promise<PeerId[]> {
  return Promise.all(
    Array.from({ length: n }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))),
  )
}

/** A block of `text` voted by `voters`. */
function block(text: string, ...voters: PeerId[]): Block {
  return {
    payload: opaque(bytes(text)),
    proofs: voters.map((p) => ({ publicId: publicIdFromPeerId(p), signature: new Uint8Array(64) })),
  }
}

describe('decided codec', () => {
  it('round-trips requests and answers', () => {
    const key = payloadDigest(bytes('a'))
    const request = decodeDecidedRequest(
      DecidedRequest.encode({ from: 5n, to: 9n, keys: [Uint8Array.from(key)] }),
    )
    assert.deepEqual(request, { from: 5, to: 9, keys: [Uint8Array.from(key)] })
    const reports: DecidedReport[] = [
      { status: 'ok', found: [{ key, position: 7 }] },
      { status: 'ok', found: [] },
      { status: 'not-retained', retainedFrom: 12 },
      { status: 'not-ready' },
    ]
    for (const report of reports) {
      const back = decodeDecidedAnswer(encodeDecidedAnswer(report))
      assert.deepEqual(
        back.status === 'ok'
          ? { ...back, found: back.found.map((f) => ({ ...f, key: Uint8Array.from(f.key) })) }
          : back,
        report.status === 'ok'
          ? { ...report, found: report.found.map((f) => ({ ...f, key: Uint8Array.from(f.key) })) }
          : report,
      )
    }
  })

  it('refuses garbage, a range too long or backwards, keys of another size, with a typed error', () => {
    assert.throws(() => decodeDecidedRequest(new Uint8Array([0x08, 0xff])), malformed)
    assert.throws(() => decodeDecidedAnswer(new Uint8Array([0x08, 0xff])), malformed)
    const key = Uint8Array.from(payloadDigest(bytes('a')))
    assert.throws(
      () => decodeDecidedRequest(DecidedRequest.encode({ from: 0n, to: 10_001n, keys: [key] })),
      malformed,
    )
    assert.throws(
      () => decodeDecidedRequest(DecidedRequest.encode({ from: 9n, to: 5n, keys: [key] })),
      malformed,
    )
    assert.throws(
      () => decodeDecidedRequest(DecidedRequest.encode({ from: 0n, to: 5n, keys: [new Uint8Array(31)] })),
      malformed,
    )
    const many = Array.from({ length: 1025 }, () => key)
    assert.throws(
      () => decodeDecidedRequest(DecidedRequest.encode({ from: 0n, to: 5n, keys: many })),
      malformed,
    )
  })
})

describe("a member's answer", () => {
  it("finds the requester's own payloads in its delivered blocks, and says why it cannot answer", async () => {
    const [member, requester, other, stranger] = await peers(4)
    const delivered: DeliveredBlock[] = [
      { position: 10, block: block('mine', requester, other), description: undefined as never },
      { position: 11, block: block('theirs', other), description: undefined as never },
      { position: 12, block: block('mine too', requester), description: undefined as never },
    ]
    const missed = new MissedPayloads(
      {
        journal: {
          blocks: (from, limit) => delivered.filter((d) => d.position >= from && d.position < from + limit),
          retainedFrom: 10,
          deliveredCount: 13,
        },
        roster: {
          memberOf: (peer) =>
            [requester, other].some((p) => p.equals(peer))
              ? ({ publicId: publicIdFromPeerId(peer as PeerId) } as never)
              : undefined,
        },
        ownVotes: new OwnVotes(),
        storage: undefined,
        vote: async () => {},
        voters: () => [],
        us: member,
      },
      { run: async () => undefined },
      silent,
    )
    const keys = ['mine', 'theirs', 'mine too', 'never'].map((t) => payloadDigest(bytes(t)))
    const answer = missed.answer(requester, 10, 13, keys)
    assert.equal(answer?.status, 'ok')
    assert.deepEqual(
      answer?.status === 'ok' ? answer.found.map((f) => f.position) : [],
      [10, 12],
      "its own payloads only: another's payload of the same bytes is not its",
    )
    assert.deepEqual(missed.answer(requester, 5, 13, keys), { status: 'not-retained', retainedFrom: 10 })
    assert.deepEqual(missed.answer(requester, 10, 14, keys), { status: 'not-ready' })
    assert.equal(missed.answer(stranger, 10, 13, keys), undefined, 'a non-member is refused')
    // Restored after a restart, an earlier epoch's block has no proofs: whose it is is not known.
    delivered[1] = {
      position: 11,
      block: { ...block('theirs'), proofs: [] },
      description: undefined as never,
    }
    assert.deepEqual(missed.answer(requester, 10, 13, keys), { status: 'not-retained', retainedFrom: 12 })
    assert.equal(missed.answer(requester, 12, 13, keys)?.status, 'ok')
  })
})

describe("a rebased member's lookup", () => {
  const options = { retryMs: 1, maxRetryMs: 2 }
  /** Members answering from `decided` (payload text → position); a liar finds nothing. */
  function source(
    decided: Map<string, number>,
    how: { liar?: PeerId; notRetained?: PeerId[]; down?: PeerId[] } = {},
  ) {
    const asked: { peer: string; from: number; to: number; keys: number }[] = []
    const positions = new Map([...decided].map(([text, position]) => [payloadKey(bytes(text)), position]))
    const src: DecidedSource = {
      ask: async (peer, from, to, keys) => {
        asked.push({ peer: peer.toString(), from, to, keys: keys.length })
        if (how.down?.some((p) => p.equals(peer))) throw new Error('unreachable')
        if (how.notRetained?.some((p) => p.equals(peer))) return { status: 'not-retained', retainedFrom: to }
        if (how.liar?.equals(peer)) return { status: 'ok', found: [] }
        const found = keys.flatMap((key) => {
          const position = positions.get(Buffer.from(key).toString('base64'))
          return position !== undefined && position >= from && position < to ? [{ key, position }] : []
        })
        return { status: 'ok', found }
      },
    }
    return { src, asked }
  }

  it('settles what f+1 members report, outvoting a liar, a window and a page at a time', async () => {
    const [us, a, b, c, d] = await peers(5)
    const decided = new Map([
      ['p1', 3],
      ['p3', 12_500],
    ])
    const { src, asked } = source(decided, { liar: d })
    const lookup = new DecidedLookup(src, () => {}, { ...options, maxKeys: 2 }, silent)
    const digests = ['p1', 'p2', 'p3'].map((t) => payloadDigest(bytes(t)))
    const result = await lookup.run(digests, 0, 15_000, [us, a, b, c, d], us, new AbortController().signal)
    assert.deepEqual(
      [...(result?.decided ?? [])].sort(),
      [
        [payloadKey(bytes('p1')), 3],
        [payloadKey(bytes('p3')), 12_500],
      ].sort(),
    )
    assert.equal(result?.unknown.size, 0)
    // 10,000 blocks a window; two keys a page; p1 found in the first window is not asked again.
    const ranges = [...new Set(asked.map((q) => `${q.from}-${q.to}:${q.keys}`))]
    assert.deepEqual(ranges, ['0-10000:2', '0-10000:1', '10000-15000:2'])
    assert.ok(!asked.some((q) => q.peer === us.toString()), 'never asks itself')
  })

  it('asks again while fewer than f+1 answer alike, and stops when aborted', async () => {
    const [us, a, b, c] = await peers(4)
    const { src, asked } = source(new Map([['p1', 3]]), { down: [b, c] })
    const lookup = new DecidedLookup(src, () => {}, options, silent)
    const controller = new AbortController()
    const running = lookup.run([payloadDigest(bytes('p1'))], 0, 10, [us, a, b, c], us, controller.signal)
    while (asked.length < 9) await new Promise((resolve) => setTimeout(resolve, 1))
    controller.abort()
    assert.equal(await running, undefined)
  })

  it('gives up once too few members keep the blocks for f+1 to answer: the rest is of unknown fate', async () => {
    const [us, a, b, c] = await peers(4)
    const { src } = source(new Map([['p1', 3]]), { notRetained: [b, c] })
    const lookup = new DecidedLookup(src, () => {}, options, silent)
    const result = await lookup.run(
      [payloadDigest(bytes('p1'))],
      0,
      10,
      [us, a, b, c],
      us,
      new AbortController().signal,
    )
    assert.deepEqual([...(result?.unknown ?? [])], [payloadKey(bytes('p1'))])
  })

  /** A rebased member's `MissedPayloads` over `src`, recording what it votes and stores. */
  function rebased(
    us: PeerId,
    voters: PeerId[],
    src: DecidedSource,
    ownVotes: OwnVotes,
    delivered: DeliveredBlock[] = [],
  ) {
    const voted: string[] = []
    const stored: StoredMissed[][] = []
    let done!: () => void
    const finished = new Promise<void>((resolve) => {
      done = resolve
    })
    const missed = new MissedPayloads(
      {
        journal: {
          blocks: (from) => delivered.filter((d) => d.position >= from),
          retainedFrom: 0,
          deliveredCount: 0,
        },
        roster: { memberOf: () => undefined },
        ownVotes,
        storage: {
          saveMissed: async (kept) => {
            stored.push([...kept])
            done()
          },
        },
        vote: async (payload) => {
          voted.push(text(payload))
          ownVotes.voted(payload)
        },
        voters: () => voters,
        us,
      },
      new DecidedLookup(src, () => {}, options, silent),
      silent,
    )
    return { missed, voted, stored, finished }
  }
  const text = (payload: Uint8Array) => new TextDecoder().decode(payload)

  it('votes again, in the order voted, what was not decided; settles the rest; stores what is left', async () => {
    const [us, a, b, c] = await peers(4)
    const { src } = source(new Map([['p2', 7]]))
    const ownVotes = new OwnVotes()
    for (const t of ['p1', 'p2', 'p3']) ownVotes.voted(bytes(t))
    const open = ownVotes.setAside()
    assert.equal(ownVotes.open().length, 0, 'a switch meanwhile votes none of them')
    assert.ok(
      ownVotes.some((p) => text(p) === 'p3'),
      'still open',
    )
    const { missed, voted, stored, finished } = rebased(us, [us, a, b, c], src, ownVotes)
    const entry = { from: 0, to: 10, payloads: open }
    assert.deepEqual(missed.keptWith(entry), [entry], 'stored with the rebase')
    missed.begin(entry)
    await finished
    assert.deepEqual(voted, ['p1', 'p3'])
    assert.deepEqual(ownVotes.open().map(text), ['p1', 'p3'])
    assert.equal(ownVotes.size, 2, 'p2 settled')
    assert.deepEqual(stored, [[]], 'nothing left set aside')
  })

  it('a member that missed only the checkpoint block asks nobody and votes every payload again', async () => {
    const [us, a, b, c] = await peers(4)
    const { src, asked } = source(new Map())
    const ownVotes = new OwnVotes()
    for (const t of ['p1', 'p2']) ownVotes.voted(bytes(t))
    const { missed, voted, finished } = rebased(us, [us, a, b, c], src, ownVotes)
    // It delivered up to 548; the checkpoint block is 549, the epoch starts at 550.
    missed.begin({ from: 549, to: 550, payloads: ownVotes.setAside() })
    await finished
    assert.deepEqual(voted, ['p1', 'p2'])
    assert.equal(asked.length, 0)
  })

  it('after a restart, asks again and votes only what its engine holds no vote of and did not deliver', async () => {
    const [us, a, b, c] = await peers(4)
    const { src } = source(new Map([['p2', 7]]))
    const ownVotes = new OwnVotes()
    // Voted again before the restart: p1 is undecided in the current engine, p3 delivered since.
    ownVotes.voted(bytes('p1'))
    const delivered: DeliveredBlock[] = [
      { position: 12, block: block('p3', us, a), description: undefined as never },
    ]
    const { missed, voted, stored, finished } = rebased(us, [us, a, b, c], src, ownVotes, delivered)
    const entry = { from: 0, to: 10, payloads: ['p1', 'p2', 'p3', 'p4'].map(bytes) }
    missed.resume([entry], Promise.resolve())
    assert.ok(
      ownVotes.some((p) => text(p) === 'p4'),
      'set aside at once',
    )
    assert.deepEqual(missed.keptWith({ from: 20, to: 30, payloads: [] }).length, 2)
    await finished
    assert.deepEqual(voted, ['p4'])
    assert.deepEqual(ownVotes.open().map(text), ['p1', 'p4'])
    assert.deepEqual(stored, [[]])
  })
})

describe('our open payloads', () => {
  it('counts matching open ones; one set aside holds back waiters until it is settled or delivered', async () => {
    const us = publicIdFromPeerId(peerIdFromPrivateKey(await generateKeyPair('Ed25519')))
    const isB = (payload: Uint8Array) => payload[0] === 0x62 // "b…"
    const votes = new OwnVotes()
    for (const name of ['b1', 'b2', 'x', 'b3']) votes.voted(bytes(name))
    assert.equal(votes.count(isB), 3)
    assert.equal(votes.someAside(isB), false)
    // A rebase sets them aside: none open, some aside.
    votes.setAside()
    assert.equal(votes.count(isB), 0)
    assert.equal(votes.someAside(isB), true)
    let woken = 0
    const wait = () =>
      votes.asideChanged().then(() => {
        woken++
      })
    const first = wait()
    votes.settle(bytes('b1'))
    await first
    assert.equal(woken, 1)
    // Delivered in a block of ours: settled too.
    const second = wait()
    const block: Block = {
      payload: opaque(bytes('b2')),
      proofs: [{ publicId: us, signature: new Uint8Array(64) }],
    }
    votes.delivered(block, us)
    await second
    assert.equal(woken, 2)
    votes.settle(bytes('b3'))
    assert.equal(votes.someAside(isB), false, 'x is aside, but it does not match')
    // The service stops: whoever waits wakes up (and finds the service stopped).
    const third = wait()
    votes.wake()
    await third
    assert.equal(woken, 3)
  })
})
