import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { encodeObservation, genesis, MockSecretId, mockId, toHex, utf8 } from '@parsec-section/parsec-core'
import {
  addressPrefix,
  admissionRecordOf,
  decodeAdmissionRecord,
  decodeMessage,
  decodeMessageOf,
  decodeRemoveInfo,
  encodeAdmissionRecord,
  encodeMessage,
  genesisRecord,
  invitation,
  MAX_CONTACTS,
  Membership,
  MembershipError,
  mergeSteps,
  mockPeerIds,
  NEVER,
  resolveConfig,
  type Step,
  signInvitation,
  signJoinRequest,
  signLeaveRequest,
  signReady,
  solvePow,
  ticketDigest,
} from '../src/index.js'
import { FAST, Harness } from './harness.js'
import { ids, seededRandom, signedBlock } from './support.js'

function founder(names: readonly string[], config = FAST) {
  const record = genesisRecord(ids(names))
  const machine = Membership.found({
    us: new MockSecretId(names[0]),
    now: 0,
    rng: seededRandom(3),
    config,
    record,
  })
  machine.start()
  machine.blocks([signedBlock(genesis(ids(names)), names)], 0)
  return machine
}

function requestBytes(machine: Membership, name: string): Uint8Array {
  const state = machine.state!
  const nonce = utf8(`n-${name}`)
  const powNonce = solvePow(
    { sectionId: state.sectionId, peer: mockId(name), head: state.head, nonce },
    FAST.powBits ?? 4,
  )
  return encodeMessage(
    signJoinRequest(new MockSecretId(name), {
      sectionId: state.sectionId,
      addrs: [],
      head: state.head,
      nonce,
      powNonce,
    }),
  )
}

function outcomes(step: Step): string[] {
  return step.messages
    .filter((m) => m.kind === 'candidateReply')
    .map((m) => {
      const reply = decodeMessage(m.bytes, mockPeerIds)
      if (reply.kind !== 'candidateReply') return '?'
      return reply.outcome.kind === 'admit' ? 'admit' : `${reply.outcome.kind}:${reply.outcome.reason}`
    })
}

/** Makes `machine` suspect `silent` (decisions without its progress, then the clock). */
function suspect(machine: Membership, silent: string, at = 1_000): Step {
  const names = machine.state!.memberIds().map((id) => id.name)
  const steps: Step[] = []
  for (let i = 1; i <= 5; i++) {
    steps.push(
      machine.decision({ index: i, lastAncestors: new Map(names.map((n) => [n, n === silent ? 0 : i])) }),
    )
  }
  steps.push(machine.tick(at))
  return mergeSteps(...steps)
}

describe('Membership machine scenarios', () => {
  it('join while a removal is pending: deferred at N = 5, admitted at N = 7', () => {
    const five = founder(['Alice', 'Bob', 'Carol', 'Dave', 'Eric'])
    const removal = suspect(five, 'Eric')
    assert.deepEqual(
      removal.votes.map((v) => v.kind),
      ['remove'],
    )
    assert.deepEqual(outcomes(five.joinRequest(mockId('Zoe'), requestBytes(five, 'Zoe'))), ['defer:Budget'])
    const seven = founder(['Alice', 'Bob', 'Carol', 'Dave', 'Eric', 'Fred', 'Gina'])
    suspect(seven, 'Gina')
    assert.deepEqual(outcomes(seven.joinRequest(mockId('Zoe'), requestBytes(seven, 'Zoe'))), ['admit'])
  })

  it('a Sybil burst: at most maxCandidates admitted, the rest deferred in a bounded queue', () => {
    const machine = founder(['Alice', 'Bob', 'Carol', 'Dave', 'Eric', 'Fred', 'Gina'])
    const all: string[] = []
    for (let i = 0; i < 40; i++) {
      all.push(
        ...outcomes(
          machine.joinRequest(
            mockId(`sybil${i}`),
            requestBytes(machine, `sybil${i}`),
            `/ip4/10.0.${i}.1/tcp/1`,
          ),
        ),
      )
    }
    assert.equal(all.filter((o) => o === 'admit').length, FAST.maxCandidates ?? 2)
    assert.equal(all.filter((o) => o === 'defer:TooManyCandidates').length, 38)
    assert.ok(machine.peerState('sybil0') === 'candidate' && machine.peerState('sybil2') === 'outsider')
  })

  it('rate-limits per address prefix', () => {
    const machine = founder(['Alice', 'Bob', 'Carol', 'Dave'], {
      ...FAST,
      prefixRate: { burst: 2, perSecond: 0.001 },
    })
    const from = (i: number) =>
      machine.joinRequest(mockId(`p${i}`), requestBytes(machine, `p${i}`), `/ip4/10.1.2.${i}/tcp/4001`)
    const replies = [0, 1, 2].map((i) => outcomes(from(i))[0])
    assert.deepEqual(replies.slice(2), ['reject:RateLimited'])
    const other = machine.joinRequest(mockId('q'), requestBytes(machine, 'q'), '/ip4/10.1.3.1/tcp/4001')
    assert.notEqual(outcomes(other)[0], 'reject:RateLimited')
    assert.equal(addressPrefix('/ip4/10.1.2.3/tcp/1'), 'ip4:10.1.2')
    assert.equal(addressPrefix('/ip6/2001:db8:1::5/tcp/1'), 'ip6:2001:db8:1')
    assert.equal(addressPrefix('/ip6/2001:db8:1:0:0:0:0:6/udp/1'), 'ip6:2001:db8:1')
  })

  it('a joiner silent after its Add is removed after the join grace (N ≥ 4)', () => {
    const h = new Harness(['Alice', 'Bob', 'Carol', 'Dave'], FAST)
    h.trafficEvery = 2
    const eric = h.addJoiner('Eric')
    h.run(() => eric.machine.role === 'ready')
    eric.alive = false
    h.run(() => h.voterNames.includes('Eric'))
    const addedAt = h.now
    assert.equal(h.node('Alice').machine.peerState('Eric'), 'joining')
    h.run(() => !h.voterNames.includes('Eric'))
    assert.ok(h.now - addedAt >= (FAST.joinGraceMs ?? 0))
    assert.ok(
      h
        .node('Alice')
        .events.some((e) => e.type === 'member:left' && e.peer.name === 'Eric' && e.reason === 'removed'),
    )
  })

  it('a member that left never rejoins under its old id (the engine never re-adds it); a new key joins', () => {
    const h = new Harness(['Alice', 'Bob', 'Carol', 'Dave', 'Eric'], FAST)
    h.trafficEvery = 3
    const eric = h.node('Eric')
    h.handle(eric, eric.machine.command({ kind: 'leave' }))
    h.run(() => eric.machine.role === 'removed')
    assert.throws(() => eric.machine.command({ kind: 'join', contacts: [mockId('Alice')] }))
    const removedAt = h.now
    h.run(() => h.now >= removedAt + (FAST.rejoinCooldownMs ?? 0))
    assert.throws(
      () => eric.machine.command({ kind: 'join', contacts: [mockId('Alice')] }),
      (e) => e instanceof MembershipError && e.code === 'InvalidArgument',
    )
    // A fresh machine under the old id is refused by every member, for good.
    const ghost = h.addJoiner('Eric', ['Alice', 'Bob'])
    h.run(() => ghost.events.filter((e) => e.type === 'join:rejected').length >= 4)
    for (const e of ghost.events) {
      if (e.type === 'join:rejected') assert.deepEqual([e.reason, e.retryAfterMs], ['Resurrection', NEVER])
    }
    for (let i = 0; i < 50; i++) h.step()
    assert.equal(ghost.machine.role, 'outsider')
    // The same operator under a new key joins.
    const fresh = h.addJoiner('Erica', ['Alice', 'Bob'])
    h.run(() => fresh.machine.role === 'member')
    assert.equal(h.node('Alice').machine.state!.isMember('Eric'), false)
    assert.equal(new Set(h.stateHashes().values()).size, 1)
  })

  it('a candidate whose Ready never arrives restarts after candidateTimeoutMs and then joins', () => {
    const h = new Harness(['Alice', 'Bob', 'Carol', 'Dave'], FAST)
    let dropReady = true
    h.dropMessage = (e) => dropReady && e.kind === 'ready'
    const eric = h.addJoiner('Eric')
    h.run(() => eric.machine.role === 'ready')
    const readyAt = h.now
    h.run(() => eric.machine.role !== 'ready')
    assert.ok(h.now - readyAt >= (FAST.candidateTimeoutMs ?? 0))
    dropReady = false
    h.run(() => eric.machine.role === 'member')
  })

  it('a joiner whose replay outlasts candidateTimeoutMs presents its ticket again before Ready: no timeout', () => {
    const h = new Harness(['Alice', 'Bob', 'Carol', 'Dave'], FAST)
    const timeoutSteps = (FAST.candidateTimeoutMs ?? 0) / h.stepMs
    // A history the joiner replays in twice the members' candidate timeout (one block per step).
    const history = 2 * timeoutSteps
    for (let i = 0; i < history; i++) h.opaqueTraffic(`h${i}`)
    h.step()
    h.replayBlocksPerStep = 1
    const eric = h.addJoiner('Eric')
    const steps = h.run(() => eric.machine.role === 'member')
    // The members forgot it (no Ready within the timeout) while it replayed; its ticket presented
    // again re-admits it at once, instead of after one more timeout (bench-join's +510 steps at
    // 10,000 paced blocks).
    assert.ok(steps < history + timeoutSteps / 4, `joined ${steps} steps after its request`)
    assert.equal(eric.engineLog.filter((l) => l.includes(':catchUp:')).length, 1, 'no restart')
    h.run(() => [...h.nodes.values()].every((n) => n.fed === h.blocks.length))
    assert.equal(new Set(h.stateHashes().values()).size, 1)
  })

  it('a ticket presented again restarts the member’s wait for Ready (as forgetting and re-admitting would)', () => {
    const machine = founder(['Alice', 'Bob', 'Carol', 'Dave'])
    const timeout = FAST.candidateTimeoutMs ?? 0
    const bytes = requestBytes(machine, 'Zoe')
    assert.deepEqual(outcomes(machine.joinRequest(mockId('Zoe'), bytes)), ['admit'])
    machine.tick(timeout - 10)
    assert.deepEqual(outcomes(machine.joinRequest(mockId('Zoe'), bytes)), ['admit'])
    machine.tick(timeout + 10)
    assert.equal(machine.peerState('Zoe'), 'candidate')
    machine.tick(2 * timeout - 10)
    assert.equal(machine.peerState('Zoe'), 'outsider')
  })

  it('a ticket that went stale while the joiner replayed: refused when presented again, a fresh one joins', () => {
    const config = { ...FAST, ticketMaxAge: 1 }
    const h = new Harness(['Alice', 'Bob', 'Carol', 'Dave', 'Fred'], config)
    const history = (2 * (FAST.candidateTimeoutMs ?? 0)) / h.stepMs
    for (let i = 0; i < history; i++) h.opaqueTraffic(`h${i}`)
    h.step()
    h.replayBlocksPerStep = 1
    const eric = h.addJoiner('Eric')
    h.run(() => eric.machine.role === 'candidate')
    const firstTicket = eric.machine.state!.head
    // A membership block after its ticket's head: with ticketMaxAge 1 the ticket is stale.
    h.handle(h.node('Dave'), h.node('Dave').machine.command({ kind: 'leave' }))
    h.run(() => !h.voterNames.includes('Dave'))
    const removeAt = h.blocks.findIndex((b) => b.payload.kind === 'remove')
    // One member's answers are lost: the refusals of f+1 suffice.
    h.dropMessage = (e) => e.kind === 'candidateReply' && e.from.name === 'Alice'
    h.run(() => eric.machine.role !== 'candidate')
    h.dropMessage = () => false
    // Restarted on the members' refusals of the ticket it presented again, before its own replay
    // reached the Remove that made it stale (or a timeout).
    assert.ok(eric.events.some((e) => e.type === 'join:rejected' && e.reason === 'StaleTicket'))
    assert.ok(eric.fed <= removeAt, `replayed ${eric.fed} blocks, the Remove is at ${removeAt}`)
    h.replayBlocksPerStep = Number.POSITIVE_INFINITY
    h.run(() => eric.machine.role === 'member')
    const add = h.blocks.find((b) => b.payload.kind === 'add' && b.payload.peer.name === 'Eric')
    assert.ok(add?.payload.kind === 'add')
    const record = decodeAdmissionRecord(add.payload.relatedInfo, mockPeerIds)
    assert.notDeepEqual(record.head, firstTicket, 'admitted on a fresh ticket')
    assert.equal(h.blocks.filter((b) => b.payload.kind === 'add').length, 1)
    h.run(() =>
      [...h.nodes.values()].every((n) => !n.alive || n.engine !== 'voter' || n.fed === h.blocks.length),
    )
    assert.equal(new Set(h.stateHashes().values()).size, 1)
  })

  it('a joiner asks again, backing off, while no member answers (none serves before the genesis block is agreed)', () => {
    const names = ['Alice', 'Bob', 'Carol', 'Dave']
    const config = { ...FAST, joinInfoRetryMs: 100 }
    const alice = Membership.found({
      us: new MockSecretId('Alice'),
      now: 0,
      rng: seededRandom(3),
      config,
      record: genesisRecord(ids(names)),
    })
    alice.start()
    const zoe = Membership.join({
      us: new MockSecretId('Zoe'),
      now: 0,
      rng: seededRandom(9),
      config,
      sectionId: alice.sectionId,
      contacts: [mockId('Alice')],
    })
    const asks = (step: Step) =>
      step.messages.filter((m) => decodeMessage(m.bytes, mockPeerIds).kind === 'joinInfoRequest')
    const first = asks(zoe.start())
    assert.equal(first.length, 1)
    // The genesis block is not agreed yet: Alice does not answer.
    assert.deepEqual(alice.joinInfoRequest(mockId('Zoe'), first[0].bytes).messages, [])
    assert.equal(zoe.tick(99).nextWakeupAt, 100, 'wakes up to ask again')
    assert.deepEqual(asks(zoe.tick(99)), [])
    const again = asks(zoe.tick(100))
    assert.equal(again.length, 1, 'asks again after joinInfoRetryMs')
    assert.deepEqual(asks(zoe.tick(299)), [], 'then after twice as long')
    assert.equal(asks(zoe.tick(300)).length, 1)
    // Once the genesis block is agreed, Alice answers the next ask and Zoe sends her ticket.
    alice.blocks([signedBlock(genesis(ids(names)), names)], 0)
    const info = alice.joinInfoRequest(mockId('Zoe'), first[0].bytes)
    assert.equal(info.messages.length, 1)
    zoe.joinInfo(mockId('Alice'), info.messages[0].bytes)
    assert.equal(zoe.role, 'requesting')
    assert.deepEqual(asks(zoe.tick(2_000)), [], 'no more asks once a JoinInfo came')
  })

  it('a joiner keeps the longest valid chain: a shorter one is dropped with a warning, not a fault', () => {
    const h = new Harness(['Alice', 'Bob', 'Carol', 'Dave', 'Eric'], FAST)
    h.trafficEvery = 3
    const alice = h.node('Alice')
    const oldInfo = alice.machine.joinInfoRequest(
      mockId('Zoe'),
      encodeMessage({ kind: 'joinInfoRequest', sectionId: h.sectionId }),
    )
    h.handle(h.node('Eric'), h.node('Eric').machine.command({ kind: 'leave' }))
    h.run(() => !h.voterNames.includes('Eric'))
    h.run(() => alice.fed === h.blocks.length)
    const newInfo = alice.machine.joinInfoRequest(
      mockId('Zoe'),
      encodeMessage({ kind: 'joinInfoRequest', sectionId: h.sectionId }),
    )
    const zoe = Membership.join({
      us: new MockSecretId('Zoe'),
      now: h.now,
      rng: seededRandom(9),
      config: FAST,
      sectionId: h.sectionId,
      contacts: [mockId('Alice')],
    })
    zoe.start()
    const first = zoe.joinInfo(mockId('Alice'), newInfo.messages[0].bytes)
    assert.equal(zoe.role, 'requesting')
    assert.deepEqual(
      first.messages.map((m) => m.to.name),
      ['Alice', 'Bob', 'Carol', 'Dave'],
    )
    // Bob may just lag one membership block behind Alice: an honest member, so no fault.
    const stale = zoe.joinInfo(mockId('Bob'), oldInfo.messages[0].bytes)
    assert.deepEqual(stale.faults, [])
    assert.deepEqual(
      stale.warnings.map((w) => [w.kind, w.kind === 'Dropped' && w.detail.startsWith('StaleChain from Bob')]),
      [['Dropped', true]],
    )
    assert.equal(zoe.role, 'requesting')
  })

  it('a joiner takes admissions only from the members it asked, for its own ticket', () => {
    const h = new Harness(['Alice', 'Bob', 'Carol', 'Dave'], FAST)
    const info = h
      .node('Alice')
      .machine.joinInfoRequest(
        mockId('Zoe'),
        encodeMessage({ kind: 'joinInfoRequest', sectionId: h.sectionId }),
      )
    const zoe = Membership.join({
      us: new MockSecretId('Zoe'),
      now: h.now,
      rng: seededRandom(9),
      config: FAST,
      sectionId: h.sectionId,
      contacts: [mockId('Alice')],
    })
    zoe.start()
    zoe.joinInfo(mockId('Alice'), info.messages[0].bytes)
    assert.equal(zoe.role, 'requesting')
    const forgedAdmit = (ticketDigest: Uint8Array) =>
      encodeMessage({
        kind: 'candidateReply',
        sectionId: h.sectionId,
        ticketDigest,
        outcome: { kind: 'admit', agreedBlocks: 1_000_000 },
      })
    // A non-member (no ticket digest: it never saw our request) and a member naming no ticket.
    for (const from of ['Mallory', 'Bob']) {
      const step = zoe.candidateReply(mockId(from), forgedAdmit(new Uint8Array(0)))
      assert.deepEqual(step.engine, [], from)
      assert.equal(zoe.role, 'requesting', from)
    }
  })

  it('a joiner refuses to work for more than maxPowBits (a JoinInfo asking 255 bits froze it)', () => {
    const h = new Harness(['Alice', 'Bob', 'Carol', 'Dave'], { ...FAST, powBits: 8 })
    const info = h
      .node('Alice')
      .machine.joinInfoRequest(
        mockId('Zoe'),
        encodeMessage({ kind: 'joinInfoRequest', sectionId: h.sectionId }),
      )
    const zoe = Membership.join({
      us: new MockSecretId('Zoe'),
      now: h.now,
      rng: seededRandom(9),
      config: { ...FAST, maxPowBits: 6 },
      sectionId: h.sectionId,
      contacts: [mockId('Alice')],
    })
    zoe.start()
    const step = zoe.joinInfo(mockId('Alice'), info.messages[0].bytes)
    assert.deepEqual(step.messages, [])
    assert.equal(zoe.role, 'outsider')
    assert.ok(step.warnings.some((w) => w.kind === 'Dropped' && w.detail.includes('maxPowBits')))
    assert.equal(resolveConfig().maxPowBits, 24)
  })

  it('a joiner keeps a bounded contact list (discovery answers are unauthenticated)', () => {
    const zoe = Membership.join({
      us: new MockSecretId('Zoe'),
      now: 0,
      rng: seededRandom(9),
      config: FAST,
      sectionId: new Uint8Array(32),
      contacts: [mockId('Alice')],
    })
    zoe.start()
    const flood = Array.from({ length: 1000 }, (_, i) => mockId(`provider${i}`))
    const asked = zoe.addContacts(flood).messages.length
    assert.ok(asked <= MAX_CONTACTS - 1, `${asked} JoinInfo requests`)
    assert.equal(zoe.addContacts([mockId('late')]).messages.length, 0)
  })

  it('a joiner switches its catch-up server when the transport fails', () => {
    const h = new Harness(['Alice', 'Bob', 'Carol', 'Dave'], FAST)
    const eric = h.addJoiner('Eric')
    h.run(() => eric.machine.role === 'ready')
    const server = eric.engineLog.find((l) => l.includes(':catchUp:'))?.split(':')[2]
    assert.ok(server)
    const step = eric.machine.transportHint(mockId(server), false)
    const next = step.engine.find((d) => d.kind === 'catchUp')
    assert.ok(next?.kind === 'catchUp' && next.from.name !== server)
    assert.equal(eric.machine.transportHint(mockId('Zed'), false).engine.length, 0)
  })

  it('the invitation policy admits an invited joiner without work', () => {
    const h = new Harness(['Alice', 'Bob', 'Carol', 'Dave'], FAST)
    for (const name of h.voterNames)
      h.node(name).machine.command({ kind: 'setPolicy', policy: invitation(1) })
    const uninvited = h.addJoiner('Mallory')
    h.run(() => uninvited.events.some((e) => e.type === 'join:rejected'), 100)
    assert.ok(uninvited.events.some((e) => e.type === 'join:rejected' && e.reason === 'BadInvitation'))
    const token = signInvitation(new MockSecretId('Alice'), {
      sectionId: h.sectionId,
      invitee: mockId('Eric'),
      serial: 0,
    })
    const eric = h.addJoiner('Eric')
    h.handle(
      eric,
      eric.machine.command({ kind: 'join', contacts: h.voterNames.map(mockId), invitation: token }),
    )
    h.run(() => eric.machine.role === 'member')
    assert.equal(h.node('Bob').machine.state!.invitesUsed('Alice'), 1)
  })

  it('a Remove vote carries the member’s current addHash', () => {
    const machine = founder(['Alice', 'Bob', 'Carol', 'Dave'])
    const step = suspect(machine, 'Dave')
    const vote = step.votes[0]
    assert.ok(vote?.kind === 'remove')
    assert.deepEqual(decodeRemoveInfo(vote.relatedInfo).addHash, machine.state!.member('Dave')!.addHash)
  })
})

describe('operator commands (the simulation’s --add / --remove)', () => {
  it('proposeAdd: every member votes the same key; the rules still apply', () => {
    const h = new Harness(['Alice', 'Bob', 'Carol', 'Dave'], FAST)
    for (const name of h.voterNames)
      h.handle(h.node(name), h.node(name).machine.command({ kind: 'proposeAdd', peer: mockId('Eric') }))
    h.run(() => h.voterNames.includes('Eric'), 50)
    const add = h.blocks.find((b) => b.payload.kind === 'add')!
    assert.equal(add.payload.kind === 'add' && add.payload.relatedInfo.length, 0)
    // A second one while Eric has not been heard from: P = {Eric} defers it (budget).
    const alice = h.node('Alice')
    const step = alice.machine.command({ kind: 'proposeAdd', peer: mockId('Fred') })
    assert.deepEqual(step.votes, [])
    assert.deepEqual(
      step.events.map((e) => e.type === 'change:deferred' && e.reason),
      ['Budget'],
    )
  })

  it('proposeRemove: refused at N = 3 (#313), voted at N = 4', () => {
    const three = founder(['Alice', 'Bob', 'Carol'])
    const refused = three.command({ kind: 'proposeRemove', peer: mockId('Carol') })
    assert.deepEqual(refused.votes, [])
    assert.ok(
      refused.events.some(
        (e) => e.type === 'change:deferred' && e.change === 'remove' && e.reason === 'Budget',
      ),
    )
    const four = founder(['Alice', 'Bob', 'Carol', 'Dave'])
    const voted = four.command({ kind: 'proposeRemove', peer: mockId('Dave') })
    assert.deepEqual(
      voted.votes.map((v) => v.kind === 'remove' && v.peer.name),
      ['Dave'],
    )
  })
})

describe('deferral through the protocol', () => {
  it('a joiner held back by the young cap is admitted once the first newcomer has aged', () => {
    const config = { ...FAST, probationBlocks: 20 }
    const h = new Harness(['Alice', 'Bob', 'Carol', 'Dave'], config)
    h.trafficEvery = 2
    const eric = h.addJoiner('Eric')
    h.run(() => eric.machine.role === 'member')
    const fred = h.addJoiner('Fred')
    const heldBack = () =>
      h
        .node('Alice')
        .events.some((e) => e.type === 'change:deferred' && e.peer.name === 'Fred' && e.reason === 'YoungCap')
    h.run(heldBack, 200)
    assert.equal(fred.machine.role, 'requesting')
    const ericAt = h.blocks.findIndex((b) => b.payload.kind === 'add' && b.payload.peer.name === 'Eric')
    h.run(() => fred.machine.role === 'member')
    const fredAt = h.blocks.findIndex((b) => b.payload.kind === 'add' && b.payload.peer.name === 'Fred')
    assert.ok(fredAt - ericAt > 20, `Fred added ${fredAt - ericAt} blocks after Eric`)
    assert.equal(new Set(h.stateHashes().values()).size, 1)
  })
})

describe('a removal we did not decide ourselves', () => {
  it('after f+1 refusals the member confirms with JoinInfo and drains on a verified chain without it', () => {
    const names = ['Alice', 'Bob', 'Carol', 'Dave', 'Eric']
    const record = genesisRecord(ids(names))
    const make = (name: string) => {
      const m = Membership.found({
        us: new MockSecretId(name),
        now: 0,
        rng: seededRandom(5),
        config: FAST,
        record,
      })
      m.start()
      m.blocks([signedBlock(genesis(ids(names)), names)], 0)
      return m
    }
    const eric = make('Eric')
    const alice = make('Alice')
    const removal = suspect(alice, 'Eric').votes[0]
    assert.ok(removal?.kind === 'remove')
    alice.blocks([signedBlock(removal, ['Alice', 'Bob', 'Carol', 'Dave'])], 1)
    const infoRequest = encodeMessage({ kind: 'joinInfoRequest', sectionId: alice.sectionId })
    const info = alice.joinInfoRequest(mockId('Eric'), infoRequest).messages[0].bytes

    // One refusal is not enough (f = 1 at N = 5); the second makes Eric ask both.
    assert.equal(eric.engineSelf({ refusedBy: mockId('Alice') }).messages.length, 0)
    const asked = eric.engineSelf({ refusedBy: mockId('Bob') })
    assert.deepEqual(
      asked.messages.map((m) => [m.to.name, m.kind]),
      [
        ['Alice', 'joinInfoRequest'],
        ['Bob', 'joinInfoRequest'],
      ],
    )
    // A chain no longer than ours proves nothing.
    const own = eric.joinInfoRequest(mockId('Zed'), infoRequest).messages[0].bytes
    assert.equal(eric.joinInfo(mockId('Bob'), own).engine.length, 0)
    assert.equal(eric.role, 'member')
    const confirmed = eric.joinInfo(mockId('Alice'), info)
    assert.deepEqual(confirmed.engine, [{ kind: 'serveOnly' }])
    assert.equal(eric.role, 'draining')
    const done = eric.tick(FAST.lingerMs ?? 0)
    assert.deepEqual(
      done.events.filter((e) => e.type === 'self:removed'),
      [{ type: 'self:removed', reason: 'removed' }],
    )
  })
})

describe('concurrent Adds (split votes)', () => {
  it('members put the first pending Add (by key) through first; a stuck Add lapses after candidateTimeoutMs', () => {
    const machine = founder(['Alice', 'Bob', 'Carol', 'Dave'])
    const state = machine.state!
    const addOf = (name: string) => ({
      kind: 'add' as const,
      peer: mockId(name),
      relatedInfo: encodeAdmissionRecord({
        sectionId: state.sectionId,
        peer: mockId(name),
        addrs: [],
        head: state.head,
        nonce: utf8(name),
      }),
    })
    const [first, second] = [addOf('Hank'), addOf('Kate')].sort((a, b) =>
      toHex(encodeObservation(a)) < toHex(encodeObservation(b)) ? -1 : 1,
    )
    // The later Add is vouched for (f + 1 = 2 at N = 4) while the earlier one is pending with one
    // vote: the earlier one is ahead of it, so seconding the later one waits (J = 1).
    machine.observedVote(mockId('Bob'), first)
    machine.tick(1_000)
    machine.observedVote(mockId('Bob'), second)
    const held = machine.observedVote(mockId('Carol'), second)
    assert.deepEqual(held.votes, [])
    assert.ok(held.events.some((e) => e.type === 'change:deferred' && e.peer.name === second.peer.name))
    // Had the earlier one been vouched for, it would go through although the later one is pending
    // (seen, not voted by us: our own pending Add counts in J whatever its key).
    const other = founder(['Alice', 'Bob', 'Carol', 'Dave'])
    other.observedVote(mockId('Bob'), second)
    other.observedVote(mockId('Bob'), first)
    assert.deepEqual(other.observedVote(mockId('Dave'), first).votes, [first])
    // Our own vote lapses too, but is never cast again (the engine takes one vote per key).
    other.observedVote(mockId('Carol'), first)
    assert.deepEqual(other.tick((FAST.candidateTimeoutMs ?? 0) * 3).votes, [])
    // The earlier one never completes: it stops blocking `candidateTimeoutMs` after it was seen,
    // and the later one (seen later) goes through.
    const later = machine.tick(FAST.candidateTimeoutMs ?? 0)
    assert.deepEqual(later.votes, [second])
  })
})

describe('concurrent Adds and a shrinking section (young cap M7)', () => {
  function addsOf(machine: Membership) {
    const state = machine.state!
    const addOf = (name: string) => ({
      kind: 'add' as const,
      peer: mockId(name),
      relatedInfo: encodeAdmissionRecord({
        sectionId: state.sectionId,
        peer: mockId(name),
        addrs: [],
        head: state.head,
        nonce: utf8(name),
      }),
    })
    return [addOf('Hank'), addOf('Kate')].sort((a, b) =>
      toHex(encodeObservation(a)) < toHex(encodeObservation(b)) ? -1 : 1,
    )
  }

  // Simulation seed 4 of interleaved churn: at N = 4 with a member leaving, members voted two Adds
  // (the later key first); the leave was decided, then both Adds: 5 members, 2 young.
  it('a member leaving: a second Add waits, as the section may first shrink to the fragile phase', () => {
    const machine = founder(['Alice', 'Bob', 'Carol', 'Dave'])
    const state = machine.state!
    const leave = signLeaveRequest(new MockSecretId('Bob'), {
      sectionId: state.sectionId,
      addHash: state.member('Bob')!.addHash,
    })
    machine.leaveRequest(mockId('Bob'), encodeMessage(leave))
    const [first, second] = addsOf(machine)
    machine.observedVote(mockId('Carol'), second)
    assert.deepEqual(machine.observedVote(mockId('Dave'), second).votes, [second])
    machine.observedVote(mockId('Carol'), first)
    const held = machine.observedVote(mockId('Dave'), first)
    assert.deepEqual(held.votes, [])
    assert.ok(held.events.some((e) => e.type === 'change:deferred' && e.peer.name === first.peer.name))
  })

  it('two candidates admitted before the section turned fragile: the Adds go one at a time, not never', () => {
    const machine = founder(['Alice', 'Bob', 'Carol', 'Dave'])
    const state = machine.state!
    const requests = ['Hank', 'Kate'].map((name) => {
      const bytes = requestBytes(machine, name)
      machine.joinRequest(mockId(name), bytes)
      return decodeMessageOf(bytes, 'joinRequest', mockPeerIds)
    })
    const leave = signLeaveRequest(new MockSecretId('Bob'), {
      sectionId: state.sectionId,
      addHash: state.member('Bob')!.addHash,
    })
    machine.leaveRequest(mockId('Bob'), encodeMessage(leave))
    const k = state.agreedBlocks
    const votes = requests.flatMap((request) => {
      const ready = signReady(new MockSecretId(request.peer.name), {
        sectionId: state.sectionId,
        ticketDigest: ticketDigest(admissionRecordOf(request)),
        k,
        historyDigest: state.historyDigest(k)!,
      })
      return machine.ready(request.peer, encodeMessage(ready)).votes
    })
    assert.deepEqual(
      votes.map((v) => v.kind),
      ['add'],
    )
  })

  it('in the fragile phase our own pending Add counts whatever its key: one Add at a time', () => {
    const machine = founder(['Alice', 'Bob', 'Carol'])
    const [first, second] = addsOf(machine)
    // f + 1 = 1 at N = 3: one voucher is enough to second.
    assert.deepEqual(machine.observedVote(mockId('Bob'), second).votes, [second])
    const held = machine.observedVote(mockId('Carol'), first)
    assert.deepEqual(held.votes, [])
  })
})

describe('a joiner whose contacts are gone (parsec#250)', () => {
  it('asks discovery for members when it restarts, and joins through them', () => {
    const h = new Harness(['Alice', 'Bob', 'Carol', 'Dave'], FAST)
    const eric = h.addJoiner('Eric', ['Zed'])
    const step = eric.machine.tick((FAST.candidateTimeoutMs ?? 0) + 1)
    assert.deepEqual(step.discovery, [{ kind: 'findMembers' }])
    h.handle(eric, step)
    h.run(() => eric.machine.role === 'member')
  })
})
