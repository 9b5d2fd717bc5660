/**
 * The service's epoch switch over fake parts: a rebase the machine asks for while a switch is
 * still running is not lost (the machine's state has moved on already: dropping it left the engine
 * epochs behind its machine for good).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Logger } from '@libp2p/interface'
import { MockSecretId, mockId, Parsec, type PublicId, utf8 } from '@parsec-section/parsec-core'
import { EpochSwitch, type EpochSwitchParts } from '../src/section/epoch-switch.js'
import { Epochs } from '../src/section/epochs.js'
import type { Lifecycle } from '../src/section/lifecycle.js'

const silent: Logger = Object.assign(() => {}, {
  error: () => {},
  trace: () => {},
  enabled: false,
  newScope: () => silent,
})

const FOUR = ['Alice', 'Bob', 'Carol', 'Dave'].map(mockId)

/** A switch over fakes whose store writes take a turn of the event loop each. */
function switching() {
  const alice = new MockSecretId('Alice')
  const lifecycle = {
    engine: Parsec.fromGenesis({ us: alice, genesis: FOUR, consensusMode: 'supermajority' }) as
      | Parsec
      | undefined,
    failStore: (error: unknown) => {
      throw error
    },
  }
  const rebased: { epoch: number; start: number }[] = []
  const adopted: number[] = []
  const started: { epoch: number; start: number }[] = []
  /** What the journal holds: every block before the checkpoint at `late` delivered (`lateBy`). */
  const held = { delivered: -1 }
  const tick = () => new Promise<void>((resolve) => setImmediate(resolve))
  const epochs = new Epochs(lifecycle as unknown as Lifecycle)
  const parts = {
    lifecycle,
    journal: {
      flush: tick,
      rebase: (epoch: number, start: number) => rebased.push({ epoch, start }),
      startEpoch: (epoch: number, start: number) => started.push({ epoch, start }),
      take: () => {},
      adoptCheckpoint: (_block: unknown, position: number) => adopted.push(position),
      get deliveredCount() {
        return held.delivered
      },
      get decidedCount() {
        return held.delivered
      },
    },
    epochs,
    claims: { clear: () => {} },
    storage: undefined,
    ownVotes: { open: () => [utf8('ours, not delivered')], setAside: () => [] },
    checkpointBlock: (position: number) =>
      position === 29 ? { payload: { kind: 'checkpoint', payload: utf8('cp') }, proofs: [] } : undefined,
    secret: () => alice,
    consensusMode: () => 'supermajority',
    wrap: (id: PublicId) => id,
    chain: () => [],
    nudge: () => {},
  } as unknown as EpochSwitchParts
  return {
    epochSwitch: new EpochSwitch(parts, 60_000, silent),
    epochs,
    rebased,
    adopted,
    started,
    held,
    lifecycle,
  }
}

const start = (epoch: number, at: number) => ({
  epoch,
  start: at,
  genesis: FOUR,
  relatedInfo: utf8(`checkpoint ${epoch}`),
})

describe('epoch switch', () => {
  it('a rebase asked while a rebase runs is applied once it is done', async () => {
    const { epochSwitch, epochs, rebased } = switching()
    epochSwitch.rebase(start(3, 30))
    assert.ok(epochSwitch.active)
    // The machine moved on again before the first rebase finished (our new engine lags too).
    epochSwitch.rebase(start(5, 50))
    epochSwitch.rebase(start(4, 40))
    for (let i = 0; i < 20 && (epochSwitch.active || epochs.current < 5); i++) await epochSwitch.settled()
    assert.deepEqual(rebased, [
      { epoch: 3, start: 30 },
      { epoch: 5, start: 50 },
    ])
    assert.equal(epochs.current, 5)
    epochSwitch.stop()
  })

  it('a rebase to an epoch we are already in or past is ignored', async () => {
    const { epochSwitch, epochs, rebased } = switching()
    epochSwitch.rebase(start(2, 20))
    epochSwitch.rebase(start(2, 20))
    while (epochSwitch.active) await epochSwitch.settled()
    epochSwitch.rebase(start(1, 10))
    assert.ok(!epochSwitch.active)
    assert.deepEqual(rebased, [{ epoch: 2, start: 20 }])
    assert.equal(epochs.current, 2)
    epochSwitch.stop()
  })

  it('a rebase one block late takes the checkpoint from the chain and switches, keeping its blocks', async () => {
    const { epochSwitch, epochs, rebased, adopted, started, held, lifecycle } = switching()
    epochs.current = 2
    // Every block before the checkpoint at 29 delivered; the others decided it and dropped epoch 2.
    held.delivered = 29
    epochSwitch.rebase(start(3, 30))
    while (epochSwitch.active) await epochSwitch.settled()
    assert.deepEqual(rebased, [], 'no blocks dropped, no gap')
    assert.deepEqual(adopted, [29])
    assert.deepEqual(started, [{ epoch: 3, start: 30 }])
    assert.ok(
      lifecycle.engine?.haveVotedFor({ kind: 'opaque', payload: utf8('ours, not delivered') }),
      'our payload not delivered is voted again in the new engine',
    )
    // Further behind (a payload block missed too): a rebase, blocks dropped.
    held.delivered = 35
    epochSwitch.rebase(start(5, 50))
    while (epochSwitch.active) await epochSwitch.settled()
    assert.deepEqual(rebased, [{ epoch: 5, start: 50 }])
    epochSwitch.stop()
  })

  it('nextSwitch resolves when the switch under way ends, or after its timeout', async () => {
    const { epochSwitch, epochs } = switching()
    const waiting = epochSwitch.nextSwitch(60_000).then(() => epochs.current)
    epochSwitch.rebase(start(2, 20))
    assert.equal(await waiting, 2, 'released once the new engine runs')
    const started = Date.now()
    // Its timer does not keep the process alive (unref): this one does, meanwhile.
    const alive = setTimeout(() => {}, 1_000)
    await epochSwitch.nextSwitch(20)
    clearTimeout(alive)
    assert.ok(Date.now() - started >= 15, 'no switch: released by its timeout')
    epochSwitch.stop()
  })
})
