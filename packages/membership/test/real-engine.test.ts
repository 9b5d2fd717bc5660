/**
 * Membership over the REAL engine: four parsec-core engines gossip in a seeded loop, each with a
 * Membership machine fed its engine's steps. An outsider joins through the protocol (JoinInfo,
 * JoinRequest, admission, observer catch-up, Ready, Add votes, its own engine deciding Add(us)),
 * then a member leaves gracefully (Remove votes, its engine's drain) and the operators remove
 * another one (proposeRemove). M1 (equal prefixes, equal
 * SectionState hashes) is checked after every round, M2 (engine voters = SectionState members) and
 * the served chain's verification at the end.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { mockId, toHex } from '@parsec-section/parsec-core'
import { decodeMessageOf, encodeMessage, verifyChain } from '../src/index.js'
import { type RealPeer, RealSection } from './real-engine.js'

const CONFIG = {
  powBits: 4,
  probationBlocks: 0,
  minBlocksBetweenAdds: 0,
  readyLag: 2,
  lingerMs: 500,
}

/** M1: peers that folded the same number of blocks hold the same SectionState hash. */
function checkM1(section: RealSection, seed: number): void {
  const byCount = new Map<number, { name: string; hash: string }>()
  for (const peer of section.peers.values()) {
    for (const [count, hash] of peer.hashes) {
      const other = byCount.get(count)
      if (other === undefined) byCount.set(count, { name: peer.name, hash })
      else
        assert.equal(hash, other.hash, `seed ${seed}: M1 at ${count} blocks, ${peer.name} vs ${other.name}`)
    }
  }
}

/** M2: every live voter's engine voters equal its SectionState members. */
function checkM2(peer: RealPeer, seed: number): void {
  const engineVoters = peer
    .engine!.view()
    .voters.map((id) => id.name)
    .sort()
  const members = peer.machine
    .state!.memberIds()
    .map((id) => id.name)
    .sort()
  assert.deepEqual(engineVoters, members, `seed ${seed}: M2 at ${peer.name}`)
}

// More seeds locally: MEMBERSHIP_REAL_SEEDS=50 node scripts/test.mjs real-engine
const SEEDS = Number(process.env.MEMBERSHIP_REAL_SEEDS ?? 3)
for (let seed = 1; seed <= SEEDS; seed++) {
  test(`real engines: an outsider joins through the protocol and a member leaves (seed ${seed})`, () => {
    const section = new RealSection(['Alice', 'Bob', 'Carol', 'Dave'], CONFIG, seed)
    const founders = ['Alice', 'Bob', 'Carol', 'Dave'].map((n) => section.peer(n))
    const step = () => {
      section.step()
      checkM1(section, seed)
      for (const peer of section.voters())
        if (peer.machine.role === 'member' && peer.machine.state!.seq > 0) checkM2(peer, seed)
    }
    const run = (until: () => boolean, max: number, what: string) => {
      for (let i = 0; i < max && !until(); i++) step()
      assert.ok(until(), `seed ${seed}: ${what} not done after ${max} rounds`)
    }
    run(() => founders.every((p) => (p.machine.state?.seq ?? 0) >= 1), 3000, 'genesis')

    const eric = section.addJoiner('Eric', ['Alice', 'Bob'])
    run(() => eric.events.some((e) => e.type === 'self:joined'), 20_000, 'Eric joining')
    assert.equal(eric.machine.role, 'member')
    assert.deepEqual(eric.faults, [], `seed ${seed}: ${JSON.stringify(eric.faults)}`)
    run(
      () => founders.every((p) => p.events.some((e) => e.type === 'member:joined' && e.peer.name === 'Eric')),
      5000,
      'members folding Add(Eric)',
    )

    const dave = section.peer('Dave')
    section.apply(dave, dave.machine.command({ kind: 'leave' }))
    run(() => dave.mode === 'stopped', 20_000, "Dave's leave and drain")
    assert.ok(dave.events.some((e) => e.type === 'self:removed' && e.reason === 'left'))
    const stayers = ['Alice', 'Bob', 'Carol', 'Eric'].map((n) => section.peer(n))
    run(
      () => stayers.every((p) => p.machine.state?.isMember('Dave') === false),
      20_000,
      'stayers folding Remove(Dave)',
    )
    for (const peer of stayers) {
      assert.ok(
        peer.events.some((e) => e.type === 'member:left' && e.peer.name === 'Dave' && e.reason === 'left'),
        `seed ${seed}: ${peer.name} saw Dave leave`,
      )
      assert.deepEqual(peer.faults, [], `seed ${seed}: ${peer.name} faults ${JSON.stringify(peer.faults)}`)
    }
    // An operator removal of a live member (proposeRemove at three of four): it learns of its
    // removal from the members refusing its gossip, confirms it by JoinInfo and drains.
    const carol = section.peer('Carol')
    for (const name of ['Alice', 'Bob', 'Eric']) {
      const peer = section.peer(name)
      section.apply(peer, peer.machine.command({ kind: 'proposeRemove', peer: carol.secret.publicId }))
    }
    run(() => carol.mode === 'stopped', 20_000, "Carol's removal and drain")
    assert.ok(carol.events.some((e) => e.type === 'self:removed' && e.reason === 'removed'))
    stayers.splice(stayers.indexOf(carol), 1)
    run(
      () => stayers.every((p) => p.machine.state?.isMember('Carol') === false),
      20_000,
      'stayers folding Remove(Carol)',
    )
    // Let the stayers reach a common count, then compare.
    run(
      () => new Set(stayers.map((p) => p.machine.state!.agreedBlocks)).size === 1,
      5000,
      'a common block count',
    )
    const hashes = new Set(stayers.map((p) => toHex(p.machine.state!.hash())))
    assert.equal(hashes.size, 1, `seed ${seed}: M1 at the end`)
    for (const peer of stayers) checkM2(peer, seed)
    assert.deepEqual(
      stayers[0].machine.state!.memberIds().map((id) => id.name),
      ['Alice', 'Bob', 'Eric'],
    )

    // The chain a member serves verifies, and gives the member's own state.
    const alice = section.peer('Alice')
    const served = alice.machine.joinInfoRequest(mockId('Zed'), joinInfoRequestBytes(alice))
    const reply = served.messages.find((m) => m.kind === 'joinInfo')
    assert.ok(reply, `seed ${seed}: Alice answered JoinInfo`)
    const info = decodeMessageOf(reply.bytes, 'joinInfo', alice.machine.ids)
    const verified = verifyChain(alice.machine.sectionId, info.record, info.chain, { ids: alice.machine.ids })
    assert.equal(verified.seq, alice.machine.state!.seq)
    assert.deepEqual(verified.head, alice.machine.state!.head)
    assert.deepEqual(
      verified.memberIds().map((id) => id.name),
      alice.machine.state!.memberIds().map((id) => id.name),
    )
  })
}

function joinInfoRequestBytes(peer: RealPeer): Uint8Array {
  return encodeMessage({ kind: 'joinInfoRequest', sectionId: peer.machine.sectionId })
}

for (const size of [2, 3]) {
  test(`real engines: a graceful leave from ${size} succeeds through the leaver's drain (#313)`, () => {
    for (let seed = 1; seed <= 3; seed++) {
      const names = ['Alice', 'Bob', 'Carol'].slice(0, size)
      const section = new RealSection(names, CONFIG, seed)
      const peers = names.map((n) => section.peer(n))
      const run = (until: () => boolean, max: number, what: string) => {
        for (let i = 0; i < max && !until(); i++) {
          section.step()
          checkM1(section, seed)
        }
        assert.ok(until(), `seed ${seed}: ${what} not done after ${max} rounds`)
      }
      run(() => peers.every((p) => (p.machine.state?.seq ?? 0) >= 1), 3000, 'genesis')
      const leaver = peers[size - 1]
      section.apply(leaver, leaver.machine.command({ kind: 'leave' }))
      const stayers = peers.slice(0, size - 1)
      run(
        () =>
          leaver.mode === 'stopped' && stayers.every((p) => p.machine.state?.isMember(leaver.name) === false),
        20_000,
        'the leave',
      )
      assert.ok(leaver.events.some((e) => e.type === 'self:removed' && e.reason === 'left'))
      for (const peer of stayers) {
        checkM2(peer, seed)
        assert.ok(peer.events.some((e) => e.type === 'member:left' && e.peer.name === leaver.name))
      }
    }
  })
}

test('real engines: a crashed member is suspected by decisions and clock, then removed', () => {
  for (let seed = 1; seed <= 3; seed++) {
    const names = ['Alice', 'Bob', 'Carol', 'Dave', 'Eric']
    const config = { ...CONFIG, unresponsiveDecisions: 4, unresponsiveMs: 1_000 }
    const section = new RealSection(names, config, seed)
    const peers = names.map((n) => section.peer(n))
    const run = (until: () => boolean, max: number, what: string) => {
      for (let i = 0; i < max && !until(); i++) {
        section.step()
        checkM1(section, seed)
      }
      assert.ok(until(), `seed ${seed}: ${what} not done after ${max} rounds`)
    }
    run(() => peers.every((p) => (p.machine.state?.seq ?? 0) >= 1), 3000, 'genesis')
    const eric = section.peer('Eric')
    eric.mode = 'stopped' // crashes: no gossip, no messages, no ticks
    const crashedAt = section.now
    const stayers = peers.slice(0, 4)
    run(() => stayers.every((p) => p.machine.state?.isMember('Eric') === false), 30_000, "Eric's removal")
    // Not before the clock allowed it.
    assert.ok(section.now - crashedAt >= config.unresponsiveMs, `seed ${seed}`)
    for (const peer of stayers) {
      checkM2(peer, seed)
      assert.ok(
        peer.events.some((e) => e.type === 'member:left' && e.peer.name === 'Eric' && e.reason === 'removed'),
      )
      assert.deepEqual(peer.faults, [])
    }
  }
})

test('real engines: a sole founder grows to 5 through the protocol (fragile phase, one at a time)', () => {
  for (let seed = 1; seed <= 3; seed++) {
    const section = new RealSection(['Alice'], CONFIG, seed)
    const run = (until: () => boolean, max: number, what: string) => {
      for (let i = 0; i < max && !until(); i++) {
        section.step()
        checkM1(section, seed)
        for (const peer of section.voters())
          if (peer.machine.role === 'member' && peer.machine.state!.seq > 0) checkM2(peer, seed)
      }
      assert.ok(until(), `seed ${seed}: ${what} not done after ${max} rounds`)
    }
    const alice = section.peer('Alice')
    assert.equal(alice.machine.state?.seq, 1, 'a sole founder folds its genesis block at once')
    const joined: string[] = ['Alice']
    for (const name of ['Bob', 'Carol', 'Dave', 'Eric']) {
      const joiner = section.addJoiner(name, joined)
      run(() => joiner.machine.role === 'member', 20_000, `${name} joining`)
      assert.deepEqual(joiner.faults, [], `seed ${seed}: ${name}: ${JSON.stringify(joiner.faults)}`)
      joined.push(name)
      run(
        () => joined.every((n) => section.peer(n).machine.state?.isMember(name) === true),
        20_000,
        `everyone folding Add(${name})`,
      )
    }
    assert.ok(alice.events.some((e) => e.type === 'section:fragile'))
    for (const name of joined) checkM2(section.peer(name), seed)
  }
})

test('real engines: members the joiner never reached second its Add after f+1 identical votes', () => {
  for (let seed = 1; seed <= 3; seed++) {
    const section = new RealSection(['Alice', 'Bob', 'Carol', 'Dave'], CONFIG, seed)
    const founders = ['Alice', 'Bob', 'Carol', 'Dave'].map((n) => section.peer(n))
    const run = (until: () => boolean, max: number, what: string) => {
      for (let i = 0; i < max && !until(); i++) {
        section.step()
        checkM1(section, seed)
      }
      assert.ok(until(), `seed ${seed}: ${what} not done after ${max} rounds`)
    }
    run(() => founders.every((p) => (p.machine.state?.seq ?? 0) >= 1), 3000, 'genesis')
    // Eric's messages reach Alice and Bob only: Carol and Dave never see its ticket nor its Ready.
    section.dropMessage = (e) => e.from.name === 'Eric' && (e.to === 'Carol' || e.to === 'Dave')
    const eric = section.addJoiner('Eric', ['Alice', 'Bob'])
    run(() => eric.machine.role === 'member', 20_000, 'Eric joining')
    run(
      () => founders.every((p) => p.machine.state?.isMember('Eric') === true),
      5000,
      'members folding Add(Eric)',
    )
    const add = section
      .peer('Alice')
      .machine.state!.chain.find((entry) => entry.change.kind === 'add' && entry.change.peer.name === 'Eric')
    assert.ok(add)
    // Alice and Bob alone are no supermajority of 4: a seconder signed the block.
    const signers = add.proofs.map((p) => p.publicId.name)
    assert.ok(
      signers.includes('Carol') || signers.includes('Dave'),
      `seed ${seed}: signers ${signers.join(',')}`,
    )
    for (const peer of founders) checkM2(peer, seed)
  }
})
