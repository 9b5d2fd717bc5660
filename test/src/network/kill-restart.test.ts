/**
 * Durability across processes: a 7-peer section (Single mode) of `parsec-peer start` processes on
 * 127.0.0.1. While payloads are voted at random live peers, two victims are killed with SIGKILL at
 * seeded random points: between two batches, as soon as a vote at the victim was accepted, or
 * racing a vote sent to the victim (which then may or may not have been persisted). The
 * five survivors must agree on every payload voted at them; after both victims restart from their
 * data directories, all seven must agree on every payload any peer ever accepted (a vote is
 * persisted before its POST returns), with no fork seen by anyone and nothing delivered twice.
 * The victims restart well within the unresponsive window (set to 5 minutes here): they resume as
 * members, and all seven still count seven members (test/src/system/kill.system.ts has the
 * members that stay down longer and are removed).
 *
 * The seed is `KILL_SEED` (default 1); it picks the batches, the targets, the victims, the kill
 * points and the pacing. Timing between processes is not seeded, so a seed names a schedule, not
 * an exact interleaving.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Rng } from '@parsec-section/simulation'
import { type ApiClient, type BlocksJson, LocalSection, type StatusJson } from 'parsec-peer/local-section'

const SEED = Number(process.env.KILL_SEED ?? 1)
const PEERS = 7
const VICTIMS = 2
const PAYLOADS = 60
/** Payloads voted after the restart: at live peers, then one at each restarted victim. */
const AFTER_RESTART = 3
/** Every wait of the test (connecting, agreeing before and after the restart) ends by then. */
const BUDGET_MS = 120_000
/** The longest a single long-poll of GET /blocks waits before the deadline is checked again. */
const POLL_WAIT_MS = 2000
/** Nobody is removed for silence during the test: the victims are back long before. */
const UNRESPONSIVE_MS = 300_000

type Block = BlocksJson['blocks'][number]
/** GET /status also names the members of whom this peer's graph holds a fork. */
type Status = StatusJson

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const payloadOf = (text: string) => new TextEncoder().encode(text)
const shape = (list: readonly Block[]) => list.map((b) => [b.position, b.kind, b.payload ?? null])
const opaqueTexts = (list: readonly Block[]) =>
  list.filter((b) => b.kind === 'opaque').map((b) => Buffer.from(b.payload ?? '', 'hex').toString('utf8'))

/**
 * How a victim dies at its batch: `between` before the batch is sent (to another peer); the batch
 * sent to the victim and `after-vote` SIGKILL as soon as its POST returned, or `racing` SIGKILL
 * `afterMs` after the POST was sent.
 */
type KillMode = 'between' | 'after-vote' | 'racing'
const KILL_MODES: readonly KillMode[] = ['between', 'after-vote', 'racing']

interface KillPlan {
  readonly victim: number
  readonly batch: number
  readonly mode: KillMode
  readonly afterMs: number
}

describe('a section of peer processes with SIGKILLed members', () => {
  it(`KILL_SEED=${SEED}: 7 peers, 2 killed while voting, restarted from their data`, {
    timeout: BUDGET_MS + 30_000,
  }, async (t) => {
    const started = Date.now()
    const deadline = started + BUDGET_MS
    const rng = new Rng(SEED)
    const batches: string[][] = []
    for (let i = 0; i < PAYLOADS; ) {
      const size = Math.min(rng.range(1, 4), PAYLOADS - i)
      batches.push(Array.from({ length: size }, (_, j) => `kill-${SEED}-${i + j}`))
      i += size
    }
    const victims = rng.shuffle(Array.from({ length: PEERS }, (_, i) => i)).slice(0, VICTIMS)
    const live = Array.from({ length: PEERS }, (_, i) => i).filter((i) => !victims.includes(i))
    const kills: KillPlan[] = []
    for (const victim of victims) {
      let batch: number
      do batch = rng.range(1, batches.length - 1)
      while (kills.some((k) => k.batch === batch))
      kills.push({ victim, batch, mode: rng.pick(KILL_MODES), afterMs: rng.below(60) })
    }
    const plan = `KILL_SEED=${SEED}: ${kills
      .map(
        (k) =>
          `victim ${k.victim} killed at batch ${k.batch}/${batches.length} ` +
          (k.mode === 'racing' ? `racing a vote (+${k.afterMs} ms)` : k.mode),
      )
      .join(', ')}; survivors ${live.join(', ')}`
    t.diagnostic(plan)

    /** Payload text → the peer whose POST /votes accepted it. */
    const acceptedBy = new Map<string, number>()
    /** Payloads sent to a victim whose POST failed because it was killed: may or may not appear. */
    const uncertain = new Set<string>()
    /** The blocks this test has read from each peer (its current run). */
    const lists: Block[][] = Array.from({ length: PEERS }, () => [])
    /** A victim's blocks read just before its kill: its restart must restore at least these. */
    const beforeKill: Block[][] = Array.from({ length: PEERS }, () => [])

    const section = await LocalSection.create({
      peers: PEERS,
      mode: 'single',
      startArgs: ['--unresponsive-ms', String(UNRESPONSIVE_MS)],
    })
    const names = section.peers.map((p) => p.peerId)
    const nameOf = (peerId: string) => {
      const index = names.indexOf(peerId)
      return index < 0 ? peerId : `peer ${index}`
    }
    const running = () => section.peers.filter((p) => p.api !== undefined).map((p) => p.index)

    /** Every running peer's status, for error messages. */
    async function state(): Promise<string> {
      const lines = await Promise.all(
        section.peers.map(async (p) => {
          if (p.api === undefined) return `peer ${p.index}: stopped`
          const s = (await p.api.status().catch((e) => String(e))) as Status | string
          if (typeof s === 'string') return `peer ${p.index}: ${s}`
          return (
            `peer ${p.index}: delivered ${s.deliveredBlocks}, decided ${s.decidedBlocks}, graph ${s.graphSize}, ` +
            `pending ${s.pendingObservations}, connected ${s.connected.length}, faults ${s.faults}, ` +
            `forked [${s.forkedMembers.map(nameOf)}]; read ${lists[p.index].length}`
          )
        }),
      )
      return `${plan}\n  ${lines.join('\n  ')}`
    }

    /** Reads blocks (long-polling) until `done` holds for each of `peers`, or throws at the deadline. */
    async function readUntil(
      peers: readonly number[],
      done: (list: readonly Block[]) => boolean,
      what: string,
    ): Promise<void> {
      for (;;) {
        const pending = peers.filter((i) => !done(lists[i]))
        if (pending.length === 0) return
        const left = deadline - Date.now()
        if (left <= 0) {
          throw new Error(
            `${what}: not reached by peers ${pending.join(', ')} within ${BUDGET_MS} ms of the start\n${await state()}`,
          )
        }
        await Promise.all(
          pending.map(async (i) => {
            const answer = await section
              .api(i)
              .blocks({ from: lists[i].length, wait: Math.min(left, POLL_WAIT_MS) })
            assert.equal(answer.from, lists[i].length, `${plan}: peer ${i} answered from ${answer.from}`)
            lists[i].push(...answer.blocks)
          }),
        )
      }
    }

    /** Waits until `peers` all hold the same first N blocks, N the most any holds once `done` holds. */
    async function agree(
      peers: readonly number[],
      done: (list: readonly Block[]) => boolean,
      what: string,
    ): Promise<Block[]> {
      await readUntil(peers, done, what)
      const length = Math.max(...peers.map((i) => lists[i].length))
      await readUntil(peers, (list) => list.length >= length, `${what} (all at ${length} blocks)`)
      const reference = lists[peers[0]].slice(0, length)
      for (const i of peers) {
        assert.deepEqual(
          shape(lists[i].slice(0, length)),
          shape(reference),
          `${plan}: ${what}: peer ${i} and peer ${peers[0]} differ in their first ${length} blocks`,
        )
      }
      return reference
    }

    /** Positions contiguous from 0, the genesis first and only opaque blocks after it, no payload twice. */
    function checkList(i: number, list: readonly Block[], what: string): void {
      list.forEach((block, position) => {
        assert.equal(block.position, position, `${plan}: ${what}: peer ${i} position ${position}`)
      })
      assert.equal(list[0]?.kind, 'genesis', `${plan}: ${what}: peer ${i} starts with the genesis`)
      const others = list.slice(1).filter((b) => b.kind !== 'opaque')
      assert.deepEqual(others, [], `${plan}: ${what}: peer ${i} holds only opaque blocks after the genesis`)
      const texts = opaqueTexts(list)
      const twice = texts.filter((text, k) => texts.indexOf(text) !== k)
      assert.deepEqual(twice, [], `${plan}: ${what}: peer ${i} delivered payloads twice`)
      const unknown = texts.filter((text) => !acceptedBy.has(text) && !uncertain.has(text))
      assert.deepEqual(unknown, [], `${plan}: ${what}: peer ${i} delivered payloads nobody voted`)
    }

    async function checkNoForks(peers: readonly number[], what: string): Promise<void> {
      const statuses = (await Promise.all(peers.map((i) => section.api(i).status()))) as Status[]
      statuses.forEach((status, k) => {
        assert.deepEqual(
          status.forkedMembers.map(nameOf),
          [],
          `${plan}: ${what}: peer ${peers[k]} holds forks of members`,
        )
      })
    }

    const contains = (texts: Iterable<string>) => {
      const wanted = [...texts]
      return (list: readonly Block[]) => {
        const held = new Set(opaqueTexts(list))
        return wanted.every((text) => held.has(text))
      }
    }

    try {
      await section.startAll()
      await section.waitConnected(deadline - Date.now())
      t.diagnostic(`started and connected after ${Date.now() - started} ms`)

      // ------------------------------------------------ phase 1: vote, killing both victims on the way
      const voteMs: number[] = []
      const alive = new Set(Array.from({ length: PEERS }, (_, i) => i))
      const snapshot = async (victim: number) => {
        beforeKill[victim] = (await section.api(victim).blocks({ from: 0, limit: 10_000 })).blocks
      }
      for (let b = 0; b < batches.length; b++) {
        const k = kills.find((k) => k.batch === b)
        const killNow = async () => {
          if (k === undefined) return
          await section.kill(k.victim)
          alive.delete(k.victim)
        }
        if (k !== undefined) await snapshot(k.victim)
        if (k?.mode === 'between') await killNow()
        const target = k !== undefined && k.mode !== 'between' ? k.victim : rng.pick([...alive])
        const api: ApiClient = section.api(target)
        const sent = Date.now()
        const vote = api.vote(batches[b].map(payloadOf)).then(
          (accepted) => ({ accepted }),
          (error: unknown) => ({ error }),
        )
        if (k?.mode === 'racing') {
          await delay(k.afterMs)
          await killNow()
        }
        const result = await vote
        voteMs.push(Date.now() - sent)
        if (k !== undefined && k.mode !== 'between') {
          const outcome =
            'accepted' in result ? 'answered' : `failed (${(result.error as Error).cause ?? result.error})`
          t.diagnostic(`victim ${k.victim}: the vote of batch ${b} ${outcome} after ${voteMs.at(-1)} ms`)
        }
        if (k?.mode === 'after-vote') await killNow()
        if ('accepted' in result) {
          assert.equal(result.accepted, batches[b].length, `${plan}: batch ${b} at peer ${target}`)
          for (const text of batches[b]) acceptedBy.set(text, target)
        } else {
          // Only a vote racing its peer's kill may fail; it was persisted or not, either is fine.
          assert.equal(k?.mode, 'racing', `${plan}: batch ${b} at peer ${target} failed: ${result.error}`)
          for (const text of batches[b]) uncertain.add(text)
        }
        await delay(rng.below(200))
      }
      assert.deepEqual(running(), live, `${plan}: only the survivors run`)
      const votedAtLive = [...acceptedBy].filter(([, peer]) => live.includes(peer)).map(([text]) => text)
      const votedAtVictims = [...acceptedBy].filter(([, peer]) => !live.includes(peer)).map(([text]) => text)
      t.diagnostic(
        `voted ${acceptedBy.size} payloads (${votedAtVictims.length} at victims, ${uncertain.size} uncertain; ` +
          `POST /votes took ${voteMs.sort((a, b) => a - b)[voteMs.length >> 1]} ms median, ${voteMs.at(-1)} ms max) ` +
          `after ${Date.now() - started} ms`,
      )

      // (1) The survivors deliver every payload voted at them, in the same order.
      const survivorsAgree = await agree(live, contains(votedAtLive), 'survivors deliver the live votes')
      for (const i of live) checkList(i, lists[i], 'survivors')
      await checkNoForks(live, 'survivors')
      const victimVotesMissing = votedAtVictims.filter((text) => !opaqueTexts(survivorsAgree).includes(text))
      t.diagnostic(
        `survivors agree on ${survivorsAgree.length} blocks after ${Date.now() - started} ms; ` +
          `${victimVotesMissing.length} votes accepted by victims are not among them: ${victimVotesMissing}`,
      )

      // ------------------------------------------------ phase 2: restart the victims from their data
      // What a victim delivered before its kill comes back, at the same positions.
      for (const victim of victims) {
        await section.start(victim)
        assert.equal(
          section.peers[victim].ready?.self,
          'member',
          `${plan}: victim ${victim} resumes as a member`,
        )
        const restored = (await section.api(victim).blocks({ from: 0, limit: 10_000 })).blocks
        lists[victim] = restored
        assert.ok(
          restored.length >= beforeKill[victim].length,
          `${plan}: victim ${victim} restored ${restored.length} blocks, delivered ${beforeKill[victim].length} before its kill`,
        )
        assert.deepEqual(
          shape(restored.slice(0, beforeKill[victim].length)),
          shape(beforeKill[victim]),
          `${plan}: victim ${victim} restores the blocks it delivered before its kill`,
        )
      }
      for (let i = 0; i < AFTER_RESTART; i++) {
        const text = `kill-${SEED}-after-${i}`
        const target = rng.pick(live)
        assert.equal(
          await section.api(target).vote([payloadOf(text)]),
          1,
          `${plan}: ${text} at peer ${target}`,
        )
        acceptedBy.set(text, target)
      }
      for (const victim of victims) {
        const text = `kill-${SEED}-restarted-${victim}`
        assert.equal(
          await section.api(victim).vote([payloadOf(text)]),
          1,
          `${plan}: ${text} at peer ${victim}`,
        )
        acceptedBy.set(text, victim)
      }

      // (2) All seven hold the same blocks, including every payload ever accepted by any peer.
      const everyone = Array.from({ length: PEERS }, (_, i) => i)
      const all = await agree(everyone, contains(acceptedBy.keys()), 'all peers deliver every accepted vote')
      assert.deepEqual(
        shape(all.slice(0, survivorsAgree.length)),
        shape(survivorsAgree),
        `${plan}: the blocks the survivors agreed on stay first`,
      )
      // (4) Nothing delivered twice, nothing unknown, positions contiguous, at every peer.
      for (const i of everyone) checkList(i, lists[i], 'after the restart')
      // (3) No peer holds a fork of anyone.
      await checkNoForks(everyone, 'after the restart')
      // (5) Nobody was removed: all seven count the seven founders as members.
      for (const i of everyone) {
        const status = await section.api(i).status()
        assert.equal(status.self, 'member', `${plan}: peer ${i}`)
        assert.deepEqual(status.members, [...names].sort(), `${plan}: peer ${i} counts the 7 founders`)
      }
      const lost = [...acceptedBy.keys()].filter((text) => !opaqueTexts(all).includes(text))
      assert.deepEqual(lost, [], `${plan}: accepted payloads missing`)
      const uncertainDelivered = [...uncertain].filter((text) => opaqueTexts(all).includes(text)).length
      t.diagnostic(
        `all ${PEERS} agree on ${all.length} blocks (${acceptedBy.size} accepted payloads, ` +
          `${uncertainDelivered} of ${uncertain.size} uncertain ones) after ${Date.now() - started} ms`,
      )
    } catch (error) {
      for (const p of section.peers) {
        if (p.stderr.length > 0) t.diagnostic(`peer ${p.index} stderr: ${p.stderr.join(' | ')}`)
      }
      throw error
    } finally {
      await section.close()
    }
  })
})
