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
  const tick = () => new Promise<void>((resolve) => setImmediate(resolve))
  const epochs = new Epochs(lifecycle as unknown as Lifecycle)
  const parts = {
    lifecycle,
    journal: {
      flush: tick,
      rebase: (epoch: number, start: number) => rebased.push({ epoch, start }),
      startEpoch: () => {},
      take: () => {},
    },
    epochs,
    claims: { clear: () => {} },
    storage: undefined,
    ownVotes: { open: () => [], setAside: () => [] },
    secret: () => alice,
    consensusMode: () => 'supermajority',
    wrap: (id: PublicId) => id,
    chain: () => [],
    nudge: () => {},
  } as unknown as EpochSwitchParts
  return { epochSwitch: new EpochSwitch(parts, 60_000, silent), epochs, rebased }
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
