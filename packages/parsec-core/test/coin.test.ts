/**
 * The coins (spec §6.7, §16): the parity stand-in, how the meta-votes consult a coin, and the RFC's
 * concrete coin on hand-built graphs (leader order, the leader's aux event, the responsiveness
 * threshold and its fallback) and in running sections (termination, the same value on every peer).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { sha3 } from '../src/encoding/hash.js'
import { isDescendant } from '../src/graph/ancestry.js'
import { Graph, type GraphEvent, type NewEvent } from '../src/graph/graph.js'
import {
  type Coin,
  type CoinContext,
  type CoinView,
  concreteCoin,
  explainConcreteCoin,
  leaderOrder,
  MockSecretId,
  mockId,
  opaque,
  Parsec,
  type PublicId,
  parityCoin,
  responsivenessThreshold,
  roundHash,
  toHex,
  utf8,
} from '../src/index.js'
import { MetaElection } from '../src/meta-voting/election.js'
import { MetaEvent } from '../src/meta-voting/meta-event.js'
import {
  BOTH,
  coinPass,
  FALSE,
  MetaVote,
  NO_COIN,
  nextVotes,
  STEP_FORCED_FALSE,
  STEP_FORCED_TRUE,
  STEP_GENUINE_FLIP,
  type StageView,
  TRUE,
} from '../src/meta-voting/meta-vote.js'
import { genesis } from '../src/observations/observation.js'
import { ObservationStore } from '../src/observations/store.js'
import { Rng } from '../src/rng.js'

const NAMES = ['Alice', 'Bob', 'Carol', 'Dave', 'Eric', 'Fred', 'Gina']

function hashDistance(id: PublicId, hash: Uint8Array): Uint8Array {
  const h = sha3(id.encoded)
  return h.map((byte, i) => byte ^ hash[i])
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i]
  return 0
}

describe('parity coin', () => {
  it('is round parity whatever the context', () => {
    for (let round = 0; round < 6; round++) {
      const context = { round, flipRound: round - 1 } as CoinContext
      assert.equal(parityCoin.toss(context), round % 2 === 1)
    }
  })
})

describe('meta-votes consult the coin when leaving step 2 without a supermajority', () => {
  // Voter under vote seen by 4 voters. The creator's list reached step 2 of round 0 with aux t;
  // the three others' latest entries at step 2 carry aux t, f, f: 2 t + 2 f is a supermajority
  // of aux values (spec §6.7), but neither value alone is.
  const n = 4
  const parent = [
    new MetaVote(0, STEP_FORCED_TRUE, BOTH, BOTH, TRUE, 0),
    new MetaVote(0, STEP_FORCED_FALSE, BOTH, BOTH, TRUE, 0),
    new MetaVote(0, STEP_GENUINE_FLIP, BOTH, BOTH, TRUE, 0),
  ]
  const others = [
    new MetaVote(0, STEP_GENUINE_FLIP, TRUE, TRUE, TRUE, 0),
    new MetaVote(0, STEP_GENUINE_FLIP, FALSE, FALSE, FALSE, 0),
    new MetaVote(0, STEP_GENUINE_FLIP, FALSE, FALSE, FALSE, 0),
  ]
  const sums = new Float64Array(3)
  for (const other of others) sums[2] += other.contribution
  const view: StageView = { sums, decisions: new Uint8Array(3), offset: 0, stages: 3 }

  it('passes the round of the new estimate and the round whose step 2 is left', () => {
    const temp = nextVotes(parent, view, NO_COIN, n)
    assert.equal(temp.length, 4)
    assert.equal(temp[3].toString(), '1/0 e- b- a-')
    const calls: [number, number][] = []
    const final = coinPass(
      temp,
      (round, flipRound) => {
        calls.push([round, flipRound])
        return false
      },
      n,
    )
    assert.deepEqual(calls, [[1, 0]])
    assert.equal(final[3].toString(), '1/0 ef b- a-')
  })

  it('keeps the meta-vote waiting in step 2 while the coin is unknown', () => {
    const temp = nextVotes(parent, view, NO_COIN, n)
    const final = coinPass(temp, () => undefined, n)
    assert.equal(final.length, 4)
    assert.equal(final[3].toString(), '1/0 e- b- a-')
  })
})

describe('concrete coin: leadership order (spec §16.2)', () => {
  const ids = NAMES.map(mockId)
  const last = sha3(utf8('last decision'))

  it('sorts the voters by the xor distance of H(id) to the round hash', () => {
    for (const voter of ids) {
      for (let round = 0; round < 4; round++) {
        const hash = roundHash(voter, last, round)
        const order = leaderOrder(ids, hash)
        assert.deepEqual([...order].sort(), ids.map((_, i) => i).sort())
        for (let i = 1; i < order.length; i++) {
          const a = hashDistance(ids[order[i - 1]], hash)
          const b = hashDistance(ids[order[i]], hash)
          assert.ok(compareBytes(a, b) < 0, 'nearest first')
        }
      }
    }
  })

  it('is deterministic and differs per voter under vote, per round and per last decision', () => {
    const orders = new Set<string>()
    const leaders = new Set<number>()
    for (const voter of ids) {
      for (let round = 0; round < 4; round++) {
        const order = leaderOrder(ids, roundHash(voter, last, round))
        assert.deepEqual(order, leaderOrder(ids, roundHash(voter, last, round)))
        orders.add(order.join(','))
        leaders.add(order[0])
      }
    }
    // 28 (voter, round) pairs over 7 voters: the orders are not one fixed ranking.
    assert.ok(orders.size >= 20, `${orders.size} distinct orders`)
    assert.ok(leaders.size >= 5, `${leaders.size} distinct leaders`)
    const other = sha3(utf8('another decision'))
    const changed = ids.filter(
      (voter) =>
        leaderOrder(ids, roundHash(voter, last, 0)).join() !==
        leaderOrder(ids, roundHash(voter, other, 0)).join(),
    )
    assert.ok(changed.length >= 5, 'the previous decision changes the order')
  })

  it('waits ceil(log2 N) Response events', () => {
    const expected: [number, number][] = [
      [1, 0],
      [2, 1],
      [3, 2],
      [4, 2],
      [5, 3],
      [8, 3],
      [9, 4],
      [16, 4],
      [17, 5],
      [100, 7],
    ]
    for (const [n, threshold] of expected) assert.equal(responsivenessThreshold(n), threshold, `N = ${n}`)
  })
})

// ------------------------------------------------------------------------------------------------
// Hand-built graphs: 4 voters (peer index = position = voter), meta-votes about voter 0, round 0.

const ROUND = 0
const VOTER = 0

class GraphBuilder {
  readonly ids: PublicId[]
  readonly graph = new Graph()
  readonly last = sha3(utf8('previous block'))
  private serial = 0

  constructor(readonly size = 4) {
    this.ids = NAMES.slice(0, size).map(mockId)
  }

  /** An event with a chosen hash parity (the coin's value if it is the source). */
  add(
    creator: number,
    kind: 'initial' | 'requesting' | 'request' | 'response',
    selfParent: GraphEvent | undefined,
    otherParent: GraphEvent | undefined,
    bit: boolean,
    list?: readonly MetaVote[],
  ): GraphEvent {
    const hash = sha3(utf8(`event ${++this.serial}`))
    hash[31] = (hash[31] & 0xfe) | (bit ? 1 : 0)
    const input: NewEvent = {
      creator,
      kind,
      selfParent: selfParent?.index ?? -1,
      otherParent: otherParent?.index ?? -1,
      recipient: -1,
      observationKey: -1,
      hash,
      signature: new Uint8Array(0),
    }
    const event = this.graph.prepare(input, this.size)
    this.graph.commit(event, input)
    if (list !== undefined) {
      // The same meta-votes about every voter (only voter 0's matter to most tests).
      const meta = new MetaEvent([])
      meta.setVotes(this.ids.map(() => list))
      event.meta = meta
    }
    return event
  }

  view(): CoinView {
    return {
      graph: this.graph,
      voters: [0, 1, 2, 3],
      positionOf: (peer) => (peer < 4 ? peer : undefined),
      peerId: (peer) => this.ids[peer],
      lastConsensused: this.last,
      memo: new Map(),
    }
  }

  /** The leadership order for (voter 0, round 0). */
  order(): number[] {
    return leaderOrder(this.ids, roundHash(this.ids[VOTER], this.last, ROUND))
  }
}

/** A list about the voter that reached step 2 of round 0 (with an aux value, or not yet). */
function atStep2(aux: boolean): MetaVote[] {
  return [
    new MetaVote(0, STEP_FORCED_TRUE, BOTH, BOTH, TRUE, 0),
    new MetaVote(0, STEP_FORCED_FALSE, BOTH, BOTH, TRUE, 0),
    new MetaVote(0, STEP_GENUINE_FLIP, BOTH, BOTH, aux ? TRUE : 0, 0),
  ]
}

/** The list of a creator that left step 2 without a coin: round 1 starts with no estimate. */
function leftStep2(): MetaVote[] {
  return [...atStep2(true), new MetaVote(1, STEP_FORCED_TRUE, 0, 0, 0, 0)]
}

function toss(view: CoinView, event: GraphEvent) {
  const votes = event.meta?.votes?.[0] ?? leftStep2()
  return explainConcreteCoin({
    round: ROUND + 1,
    flipRound: ROUND,
    voter: VOTER,
    eventIndex: event.index,
    votes,
    election: view,
  })
}

describe('concrete coin on a hand-built graph (spec §16.3-16.4)', () => {
  for (const bit of [false, true]) {
    it(`is the LSB of the leader's aux event hash when that event is seen (${bit ? 1 : 0})`, () => {
      const b = new GraphBuilder()
      const [leader, c] = b.order()
      const initial = b.ids.map((_, p) => b.add(p, 'initial', undefined, undefined, !bit))
      // The leader reaches step 2 without an aux value, then casts it, then keeps it.
      const l1 = b.add(leader, 'requesting', initial[leader], undefined, !bit, atStep2(false))
      const l2 = b.add(leader, 'requesting', l1, undefined, bit, atStep2(true))
      const l3 = b.add(leader, 'requesting', l2, undefined, !bit, atStep2(true))
      const c1 = b.add(c, 'requesting', initial[c], undefined, !bit, atStep2(true))
      const e = b.add(c, 'response', c1, l3, !bit, leftStep2())
      const choice = toss(b.view(), e)
      assert.equal(choice.reason, 'leader')
      assert.equal(choice.source, l2, "the leader's earliest event carrying its aux value")
      assert.equal(choice.value, bit)
      assert.equal(concreteCoin.toss({ ...contextOf(b.view(), e) }), bit)
    })
  }

  it('waits for the threshold, then takes the highest-ranked aux event seen', () => {
    const b = new GraphBuilder()
    const [leader, second, third, c] = b.order()
    assert.equal(responsivenessThreshold(4), 2)
    const initial = b.ids.map((_, p) => b.add(p, 'initial', undefined, undefined, false))
    const l1 = b.add(leader, 'requesting', initial[leader], undefined, true, atStep2(true))
    b.add(second, 'requesting', initial[second], undefined, true, atStep2(true))
    const t1 = b.add(third, 'requesting', initial[third], undefined, true, atStep2(true))
    const t2 = b.add(third, 'requesting', t1, undefined, false, atStep2(true))
    // c's own aux event, then sync events that see the third's aux event but neither the
    // leader's nor the second's.
    const c1 = b.add(c, 'requesting', initial[c], undefined, false, atStep2(true))
    const c2 = b.add(c, 'response', c1, t2, false, leftStep2())
    const view = b.view()
    assert.equal(toss(view, c2).reason, 'waiting', 'one Response since its aux value')
    assert.equal(toss(view, c2).value, undefined)
    const c3 = b.add(c, 'requesting', c2, undefined, false, leftStep2())
    const c4 = b.add(c, 'request', c3, t2, false, leftStep2())
    assert.equal(toss(view, c4).reason, 'waiting', 'Requesting and Request events do not count')
    const c5 = b.add(c, 'response', c4, t2, false, leftStep2())
    const fallback = toss(view, c5)
    assert.equal(fallback.reason, 'fallback')
    assert.equal(fallback.source, t1, 'the aux event of the highest-ranked peer seen (the third)')
    assert.equal(fallback.value, true)
    // The leader's aux event, once seen, is the source again, also past the threshold.
    const c6 = b.add(c, 'response', c5, l1, false, leftStep2())
    const led = toss(view, c6)
    assert.equal(led.reason, 'leader')
    assert.equal(led.source, l1)
    // A fresh view (no cached facts) of the same graph gives the same answers.
    for (const event of [c2, c4, c5, c6]) {
      const again = toss(b.view(), event)
      const first = toss(view, event)
      assert.deepEqual([again.value, again.reason, again.source], [first.value, first.reason, first.source])
    }
  })

  it('falls back to its own aux event when it ranks highest among those seen', () => {
    const b = new GraphBuilder()
    const [leader, c] = b.order()
    const initial = b.ids.map((_, p) => b.add(p, 'initial', undefined, undefined, false))
    b.add(leader, 'requesting', initial[leader], undefined, false, atStep2(true))
    const c1 = b.add(c, 'requesting', initial[c], undefined, true, atStep2(true))
    const other = [0, 1, 2, 3].find((p) => p !== leader && p !== c)!
    const c2 = b.add(c, 'response', c1, initial[other], false, leftStep2())
    const c3 = b.add(c, 'response', c2, undefined, false, leftStep2())
    const choice = toss(b.view(), c3)
    assert.equal(choice.reason, 'fallback')
    assert.equal(choice.source, c1)
    assert.equal(choice.value, true)
  })
})

function contextOf(view: CoinView, event: GraphEvent): CoinContext {
  return {
    round: ROUND + 1,
    flipRound: ROUND,
    voter: VOTER,
    eventIndex: event.index,
    votes: event.meta?.votes?.[0] ?? leftStep2(),
    election: view,
  }
}

describe("the election's coin hook", () => {
  it('asks the coin with the view of the election when a meta-vote leaves step 2 undecided', () => {
    // 5 voters; Eric never made an event, so only the genesis vote names him. Bob's meta-votes
    // reached step 2 of round 0 with aux t; Alice's carry aux t, Carol's and Dave's aux f: 2 + 2
    // aux values are a supermajority of 5, neither value alone is, so Bob's next event needs the coin.
    const b = new GraphBuilder(5)
    const store = new ObservationStore('supermajority')
    const genesisEntry = store.intern(genesis(b.ids), b.ids[1])
    genesisEntry.createdByUs = true
    // Split the same way at steps 0 and 1 (nothing decided there either).
    const step2 = (value: number) =>
      [STEP_FORCED_TRUE, STEP_FORCED_FALSE, STEP_GENUINE_FLIP].map(
        (step) => new MetaVote(0, step, value, value, value, 0),
      )
    const initial = [0, 1, 2, 3].map((p) => b.add(p, 'initial', undefined, undefined, false))
    const a1 = b.add(0, 'requesting', initial[0], undefined, true, step2(TRUE))
    const c1 = b.add(2, 'response', initial[2], a1, false, step2(FALSE))
    const d1 = b.add(3, 'response', initial[3], c1, false, step2(FALSE))
    const b1 = b.add(1, 'requesting', initial[1], undefined, true, step2(TRUE))
    const e = b.add(1, 'response', b1, d1, false)
    const contexts: CoinContext[] = []
    const recording: Coin = {
      name: 'recording',
      toss: (context) => {
        contexts.push(context)
        return concreteCoin.toss(context)
      },
    }
    // Named by its events: the ids of the peers that have events in the graph.
    const byEvents = (peer: number) => (b.graph.hasEventsOf(peer) ? b.ids[peer] : undefined)
    const election = new MetaElection([0, 1, 2, 3, 4], b.graph, store, recording, byEvents)
    assert.equal(election.peerId(4)?.name, 'Eric', 'named by the genesis vote')
    assert.equal(election.peerId(2)?.name, 'Carol', 'named by its events')
    assert.deepEqual(election.lastConsensused, genesisEntry.hash, 'the genesis before any decision')
    election.buildMetaEvent(e)
    assert.deepEqual(
      contexts.map((c) => [c.round, c.flipRound, c.voter, c.eventIndex]),
      [0, 1, 2, 3, 4].map((voter) => [1, 0, voter, e.index]),
    )
    const votes = e.meta!.votes!
    const reasons = new Set<string>()
    for (const context of contexts) {
      assert.equal(context.election, election)
      assert.equal(context.votes.length, 4)
      assert.equal(context.votes[3].toString(), '1/0 e- b- a-')
      const choice = explainConcreteCoin(context)
      const order = choice.order!
      reasons.add(choice.reason)
      // Bob sees the aux events of Alice, Carol, Dave and his own, not Eric's (he has none).
      if (order[0] === 4) assert.equal(choice.reason, 'waiting', 'one Response of the 3 to wait for')
      else assert.equal(choice.reason, 'leader')
      const last = votes[context.voter][3]
      if (choice.value === undefined) assert.equal(last.toString(), '1/0 e- b- a-')
      else assert.equal(last.est, choice.value ? TRUE : FALSE)
    }
    assert.deepEqual([...reasons].sort(), ['leader', 'waiting'])
  })
})

// ------------------------------------------------------------------------------------------------
// Running sections.

describe('concrete coin in running sections', () => {
  it('gives every peer the same value for the same (election, voter, round) at the same event', () => {
    // Every meta-vote of every peer that reached step 2 of a round is asked what the coin would
    // be if it left that step there; the same event (same ancestry, same election) must give the
    // same answer on every peer that holds it, whenever each peer asks.
    const seen = new Map<string, string>()
    let compared = 0
    let leaders = 0
    for (let seed = 1; seed <= 12; seed++) {
      const rng = new Rng(seed)
      const size = 4 + (seed % 2)
      const ids = NAMES.slice(0, size).map(mockId)
      const nodes = ids.map((id) =>
        Parsec.fromGenesis({ us: new MockSecretId(id.name), genesis: ids, coin: concreteCoin }),
      )
      const asked = nodes.map(() => new Set<string>())
      nodes.forEach((node, i) => {
        node.voteFor(opaque(utf8(`payload ${i}`)))
      })
      for (let sync = 0; sync < 300; sync++) {
        const from = rng.range(0, size - 1)
        const recipients = nodes[from].gossipRecipients()
        const to = NAMES.indexOf(rng.pick(recipients).name)
        const request = nodes[from].createGossip(nodes[to].ourId)
        const { response } = nodes[to].handleRequest(nodes[from].ourId, request)
        nodes[from].handleResponse(nodes[to].ourId, response)
        for (const i of [from, to]) {
          const election = nodes[i].inspect().election as MetaElection
          const epoch = toHex(election.lastConsensused)
          for (const event of election.graph.events) {
            const votes = event.meta?.votes
            if (votes == null) continue
            votes.forEach((list, position) => {
              const voter = election.voters[position]
              for (let round = 0; round * 3 + STEP_GENUINE_FLIP < list.length; round++) {
                const key = `${epoch} ${toHex(election.graph.hash(event.index))} ${election.peerId(voter)!.name} ${round}`
                if (asked[i].has(key)) continue
                asked[i].add(key)
                const choice = explainConcreteCoin({
                  round: round + 1,
                  flipRound: round,
                  voter,
                  eventIndex: event.index,
                  votes: list,
                  election,
                })
                if (choice.reason === 'leader') {
                  leaders++
                  const source = choice.source!
                  assert.equal(choice.value, (election.graph.hash(source.index)[31] & 1) === 1)
                  assert.equal(source.creator, choice.order![0])
                  assert.ok(isDescendant(event, source))
                }
                const source = choice.source ? toHex(election.graph.hash(choice.source.index)) : '-'
                const answer = `${choice.value} ${choice.reason} ${source}`
                const earlier = seen.get(key)
                if (earlier === undefined) seen.set(key, answer)
                else {
                  compared++
                  assert.equal(answer, earlier, `seed ${seed}: ${key}`)
                }
              }
            })
          }
        }
      }
    }
    assert.ok(compared > 50, `only ${compared} answers compared across peers`)
    assert.ok(leaders > 0, 'some answers come from the leader')
  })
})
