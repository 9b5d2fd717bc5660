/**
 * Malice detection (spec §9.2, fixed per §15): every detector triggered with crafted events, and
 * honest traffic triggering none. Dave is the Byzantine peer: his events are forged with his own
 * (mock) key, so they pass signature checks and only the protocol rules can catch them.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { encodeContent, eventHash, packEvent } from '../src/graph/event.js'
import {
  type Cause,
  describeBlock,
  encodeObservation,
  type Fault,
  genesis,
  isParsecError,
  type MaliceType,
  MockSecretId,
  mockId,
  opaque,
  type PackedEvent,
  Parsec,
  type ParsecOptions,
  utf8,
} from '../src/index.js'
import { NAMES, seededRandom } from './support.js'

const SEED = 7

interface Section {
  readonly nodes: Record<string, Parsec>
  readonly faults: Fault[]
}

function section(size = 4, options: Record<string, ParsecOptions> = {}): Section {
  const ids = NAMES.slice(0, size).map(mockId)
  const nodes: Record<string, Parsec> = {}
  for (const name of NAMES.slice(0, size)) {
    nodes[name] = Parsec.fromGenesis({ us: new MockSecretId(name), genesis: ids, ...options[name] })
  }
  return { nodes, faults: [] }
}

/** `from` syncs with `to` (request and response); faults found on either side are collected. */
function sync(s: Section, from: string, to: string): void {
  const a = s.nodes[from]
  const b = s.nodes[to]
  const { response, faults } = b.handleRequest(a.ourId, a.createGossip(b.ourId))
  s.faults.push(...faults)
  s.faults.push(...a.handleResponse(b.ourId, response).faults)
}

/** Random honest syncs among `names`, tolerating the errors a removal causes. */
function gossip(s: Section, names: string[], syncs: number, seed = SEED): void {
  const random = seededRandom(seed)
  for (let i = 0; i < syncs; i++) {
    const from = names[Math.floor(random() * names.length)]
    const recipients = s.nodes[from].gossipRecipients().filter((id) => names.includes(id.name))
    if (recipients.length === 0) continue
    const to = recipients[Math.floor(random() * recipients.length)].name
    try {
      sync(s, from, to)
    } catch (error) {
      if (!isParsecError(error) || !['InvalidPeerState', 'InvalidSelfState'].includes(error.code)) throw error
    }
  }
}

const dave = new MockSecretId('Dave')
const forge = (cause: Cause): PackedEvent => packEvent(dave, cause).packed

/** Dave's message to `to`: the events, closed by a Requesting addressed to `to`. */
function daveSends(
  s: Section,
  to: string,
  events: PackedEvent[],
): { faults: readonly Fault[]; error?: string } {
  const last = events[events.length - 1]
  const closing = forge({ kind: 'requesting', selfParent: hashOf(last), recipient: mockId(to) })
  try {
    const outcome = s.nodes[to].handleRequest(dave.publicId, { packedEvents: [...events, closing] })
    s.faults.push(...outcome.faults)
    return { faults: outcome.faults }
  } catch (error) {
    if (!isParsecError(error)) throw error
    s.faults.push(...error.faults)
    return { faults: error.faults, error: error.code }
  }
}

/** The hash of `node`'s latest event (the public `latestEventOf` of its own id). */
function ourLastHash(node: Parsec): Uint8Array {
  const latest = node.latestEventOf(node.ourId)
  assert.ok(latest)
  return latest.hash
}

function hashOf(event: PackedEvent): Uint8Array {
  return eventHash(encodeContent(event.creator, event.cause))
}

/** Dave's latest event that `to` holds: `to` pulls from Dave, ending with Dave's Request. */
function daveTip(s: Section, to: string): PackedEvent {
  sync(s, to, 'Dave')
  const hash = ourLastHash(s.nodes.Dave)
  const event = s.nodes.Dave.packedEvents().find((e) => Buffer.from(hashOf(e)).equals(hash))
  assert.ok(event)
  return event
}

function maliceOf(faults: readonly Fault[], offender: string): MaliceType[] {
  return faults.flatMap((f) => (f.kind === 'malice' && f.offender.name === offender ? [f.malice.type] : []))
}

function signedVote(payload: ReturnType<typeof opaque>) {
  return { payload, signature: dave.sign(encodeObservation(payload)) }
}

function warmUp(s: Section): void {
  gossip(s, Object.keys(s.nodes), 40)
}

describe('malice detection', () => {
  it('IncorrectGenesis: rejected, accused, echoed by peers who never saw it, agreed, offender removed', () => {
    const s = section()
    warmUp(s)
    const tip = daveTip(s, 'Alice')
    const wrong = genesis([mockId('Alice'), mockId('Bob'), mockId('Dave')])
    const bad = forge({ kind: 'observation', selfParent: hashOf(tip), vote: signedVote(wrong) })
    const { faults, error } = daveSends(s, 'Alice', [bad])
    assert.equal(error, 'InvalidEvent')
    assert.deepEqual(maliceOf(faults, 'Dave'), ['IncorrectGenesis'])
    gossip(s, ['Alice', 'Bob', 'Carol', 'Dave'], 400)
    for (const name of ['Alice', 'Bob', 'Carol']) {
      const node = s.nodes[name]
      const blocks = []
      for (let b = node.poll(); b !== undefined; b = node.poll()) blocks.push(describeBlock(b))
      const accusation = blocks.find((b) => b.kind === 'accusation')
      assert.ok(accusation, `${name} agreed on the accusation`)
      assert.equal(accusation.kind === 'accusation' && accusation.offender, 'Dave')
      assert.equal(accusation.kind === 'accusation' && accusation.malice, 'IncorrectGenesis')
      assert.ok(!node.voters().some((id) => id.name === 'Dave'), `${name} removed Dave from the voters`)
    }
    assert.deepEqual(
      s.faults.filter((f) => f.offender.name !== 'Dave'),
      [],
      'no honest peer is ever blamed',
    )
  })

  it('OtherParentBySameCreator and SelfParentByDifferentCreator: rejected and accused', () => {
    const s = section()
    warmUp(s)
    const tip = daveTip(s, 'Alice')
    const own = forge({ kind: 'request', selfParent: hashOf(tip), otherParent: hashOf(tip) })
    assert.deepEqual(maliceOf(daveSends(s, 'Alice', [own]).faults, 'Dave'), ['OtherParentBySameCreator'])
    const alicesLast = ourLastHash(s.nodes.Alice)
    const stolen = forge({ kind: 'requesting', selfParent: alicesLast, recipient: mockId('Bob') })
    const outcome = daveSends(s, 'Alice', [stolen])
    assert.equal(outcome.error, 'InvalidEvent')
    assert.deepEqual(maliceOf(outcome.faults, 'Dave'), ['SelfParentByDifferentCreator'])
  })

  it('InvalidRequest and InvalidResponse: a sync event breaking Requesting→Request→Response', () => {
    const s = section()
    warmUp(s)
    const tip = daveTip(s, 'Alice')
    // A Request whose other-parent is Alice's Request, not a Requesting addressed to Dave.
    const aliceRequest = ourLastHash(s.nodes.Alice)
    const request = forge({ kind: 'request', selfParent: hashOf(tip), otherParent: aliceRequest })
    assert.deepEqual(maliceOf(daveSends(s, 'Alice', [request]).faults, 'Dave'), ['InvalidRequest'])
    // A Response to a Request that did not answer a Requesting of Dave's.
    gossip(s, ['Alice', 'Bob'], 4)
    const response = forge({ kind: 'response', selfParent: hashOf(tip), otherParent: aliceRequest })
    assert.deepEqual(maliceOf(daveSends(s, 'Alice', [response]).faults, 'Dave'), ['InvalidResponse'])
  })

  it('a Request reusing an answered Requesting is kept and accused', () => {
    const s = section()
    warmUp(s)
    // Alice asks Dave; Dave answers honestly, then makes a second Request for the same Requesting.
    const requesting = s.nodes.Alice.createGossip(dave.publicId)
    const alicesRequesting = requesting.packedEvents[requesting.packedEvents.length - 1]
    const { response } = s.nodes.Dave.handleRequest(mockId('Alice'), requesting)
    s.nodes.Alice.handleResponse(dave.publicId, response)
    const first = ourLastHash(s.nodes.Dave)
    const second = forge({ kind: 'request', selfParent: first, otherParent: hashOf(alicesRequesting) })
    const { faults, error } = daveSends(s, 'Alice', [second])
    assert.equal(error, undefined)
    assert.ok(maliceOf(faults, 'Dave').includes('InvalidRequest'))
  })

  it('UnexpectedGenesis, DuplicateVote and Fork: the events stay, the creator is accused', () => {
    const s = section()
    warmUp(s)
    let tip = daveTip(s, 'Alice')
    const regenesis = forge({
      kind: 'observation',
      selfParent: hashOf(tip),
      vote: signedVote(genesis(NAMES.slice(0, 4).map(mockId))),
    })
    const unexpected = daveSends(s, 'Alice', [regenesis])
    assert.equal(unexpected.error, undefined)
    assert.ok(maliceOf(unexpected.faults, 'Dave').includes('UnexpectedGenesis'))
    assert.ok(maliceOf(unexpected.faults, 'Dave').includes('DuplicateVote'), 'genesis voted twice')

    s.nodes.Dave.voteFor(opaque(utf8('once')))
    tip = daveTip(s, 'Bob')
    const again = forge({
      kind: 'observation',
      selfParent: hashOf(tip),
      vote: signedVote(opaque(utf8('once'))),
    })
    assert.deepEqual(maliceOf(daveSends(s, 'Bob', [again]).faults, 'Dave'), ['DuplicateVote'])

    tip = daveTip(s, 'Carol')
    const parent = tip.cause.kind === 'initial' ? undefined : tip.cause.selfParent
    assert.ok(parent)
    const sibling = forge({ kind: 'requesting', selfParent: parent, recipient: mockId('Bob') })
    assert.deepEqual(maliceOf(daveSends(s, 'Carol', [sibling]).faults, 'Dave'), ['Fork'])
  })

  it('MissingGenesis: a genesis member whose second event is not its genesis vote', () => {
    const s = section()
    const initial = s.nodes.Dave.packedEvents()[0]
    const skip = forge({ kind: 'requesting', selfParent: hashOf(initial), recipient: mockId('Alice') })
    const { faults } = daveSends(s, 'Alice', [initial, skip])
    assert.ok(maliceOf(faults, 'Dave').includes('MissingGenesis'))
  })

  it('InvalidAccusation: accusing an honest peer of a fork it never made', () => {
    const s = section()
    warmUp(s)
    const tip = daveTip(s, 'Alice')
    const bobsEvent = ourLastHash(s.nodes.Bob)
    const lie = {
      kind: 'accusation' as const,
      offender: mockId('Bob'),
      malice: { type: 'Fork' as const, event: bobsEvent },
    }
    const vote = forge({
      kind: 'observation',
      selfParent: hashOf(tip),
      vote: { payload: lie, signature: dave.sign(encodeObservation(lie)) },
    })
    const { faults } = daveSends(s, 'Alice', [vote])
    assert.deepEqual(maliceOf(faults, 'Dave'), ['InvalidAccusation'])
    assert.deepEqual(maliceOf(faults, 'Bob'), [])
  })

  it('Accomplice: a peer that holds the evidence of a fork and never accuses', () => {
    // Carol runs without detection: she relays Dave's fork and never accuses him.
    const s = section(4, { Carol: { maliceDetection: 'off' } })
    warmUp(s)
    const toAlice = s.nodes.Dave.createGossip(mockId('Alice'))
    const real = toAlice.packedEvents[toAlice.packedEvents.length - 1]
    assert.ok(real.cause.kind === 'requesting')
    const sibling = forge({
      kind: 'requesting',
      selfParent: real.cause.selfParent,
      recipient: mockId('Carol'),
    })
    const toCarol = [...toAlice.packedEvents.slice(0, -1), sibling]
    s.faults.push(...s.nodes.Alice.handleRequest(dave.publicId, toAlice).faults)
    s.nodes.Carol.handleRequest(dave.publicId, { packedEvents: toCarol })
    gossip(s, ['Alice', 'Bob', 'Carol'], 120)
    assert.ok(maliceOf(s.faults, 'Dave').includes('Fork'))
    assert.ok(maliceOf(s.faults, 'Carol').includes('Accomplice'), 'Carol is found an accomplice')
    assert.deepEqual(maliceOf(s.faults, 'Alice'), [])
    assert.deepEqual(maliceOf(s.faults, 'Bob'), [])
  })

  it('PrematureGossip: gossip to a peer that has not joined yet fails, its events stay', () => {
    const s = section()
    warmUp(s)
    const joiner = Parsec.fromExisting({
      us: new MockSecretId('Eric'),
      genesis: NAMES.slice(0, 4).map(mockId),
      section: NAMES.slice(0, 4).map(mockId),
    })
    const request = { packedEvents: s.nodes.Alice.packedEvents() }
    assert.throws(
      () => joiner.handleRequest(mockId('Alice'), request),
      (error) => isParsecError(error) && error.code === 'PrematureGossip',
    )
    assert.equal(joiner.graphSize, request.packedEvents.length)
  })

  it('bad signatures and unknown parents are rejected before the graph, the sender in the faults', () => {
    const s = section()
    warmUp(s)
    const request = s.nodes.Bob.createGossip(mockId('Alice'))
    const last = request.packedEvents[request.packedEvents.length - 1]
    const forged = { ...last, signature: new Uint8Array(last.signature.length) }
    const size = s.nodes.Alice.graphSize
    const expectRejected = (events: PackedEvent[], code: string) => {
      try {
        s.nodes.Alice.handleRequest(mockId('Bob'), { packedEvents: events })
        assert.fail('must throw')
      } catch (error) {
        assert.ok(isParsecError(error))
        assert.equal(error.code, code)
        assert.deepEqual(
          error.faults.map((f) => [f.kind, f.offender.name]),
          [['rejected', 'Bob']],
        )
      }
    }
    expectRejected([...request.packedEvents.slice(0, -1), forged], 'SignatureFailure')
    assert.equal(
      s.nodes.Alice.graphSize,
      size + request.packedEvents.length - 1,
      'the forged event is not stored',
    )
    const orphan = packEvent(new MockSecretId('Bob'), {
      kind: 'requesting',
      selfParent: new Uint8Array(32).fill(9),
      recipient: mockId('Alice'),
    }).packed
    expectRejected([orphan], 'UnknownSelfParent')
    const bob = new MockSecretId('Bob')
    const payload = opaque(utf8('x'))
    const badVote = packEvent(bob, {
      kind: 'observation',
      selfParent: hashOf(last),
      vote: { payload, signature: dave.sign(encodeObservation(payload)) },
    }).packed
    expectRejected([last, badVote], 'SignatureFailure')
  })

  it('our own sync event keeps the pattern: a request not ending in a Requesting to us is refused', () => {
    const s = section()
    warmUp(s)
    const request = s.nodes.Bob.createGossip(mockId('Alice'))
    const size = s.nodes.Alice.graphSize
    assert.throws(
      () => s.nodes.Alice.handleRequest(mockId('Bob'), { packedEvents: request.packedEvents.slice(0, -1) }),
      (error) => isParsecError(error) && error.code === 'InvalidMessage',
    )
    assert.equal(s.nodes.Alice.graphSize, size + request.packedEvents.length - 1, 'no sync event of ours')
  })

  it('honest gossip triggers no detector', () => {
    const s = section(7)
    for (const name of NAMES.slice(0, 7))
      for (const payload of ['x', 'y', 'z']) s.nodes[name].voteFor(opaque(utf8(payload)))
    gossip(s, NAMES.slice(0, 7), 600, 11)
    assert.deepEqual(
      s.faults.map((f) => `${f.offender.name} ${f.kind === 'malice' ? f.malice.type : f.code}`),
      [],
    )
    assert.equal(s.nodes.Alice.decidedBlockCount, 4)
  })
})
