/**
 * Faults name their real offender: the engine's step faults say who misbehaved (for malice, the
 * creator of a relayed event), and the `fault` event must keep it, never blaming the member that
 * only relayed the evidence.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { type Logger, type PeerId, TypedEventEmitter } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { emptyStep, type Fault, ParsecError, type Step } from '@parsec-section/parsec-core'
import { publicIdFromPeerId, type SectionFault } from '../src/index.js'
import type { ParsecSectionEvents } from '../src/section/api.js'
import { classify } from '../src/section/failure.js'
import { Journal } from '../src/section/journal.js'
import type { Lifecycle } from '../src/section/lifecycle.js'
import { Reporter } from '../src/section/reporter.js'

const quiet: Logger = Object.assign(() => {}, {
  enabled: false,
  error: () => {},
  trace: () => {},
  newScope: () => quiet,
})

/**
 * Us (A), a member B that relays, and C, who forked. C is named by the engine's fault alone (it
 * may be a member added after genesis that no record of ours names yet): it must be blamed.
 */
async function setting() {
  const [b, c] = await Promise.all(
    Array.from({ length: 2 }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))),
  )
  const target = new TypedEventEmitter<ParsecSectionEvents>()
  const faults: SectionFault[] = []
  target.addEventListener('fault', (event) => faults.push(event.detail))
  const reporter = new Reporter(target, {}, quiet)
  const lifecycle = { engine: undefined } as unknown as Lifecycle
  const journal = new Journal(undefined, lifecycle, reporter, quiet)
  return { b, c, journal, reporter, faults }
}

function forkBy(offender: PeerId): Fault {
  return {
    kind: 'malice',
    offender: publicIdFromPeerId(offender),
    malice: { type: 'Fork', event: new Uint8Array(32).fill(9) },
  }
}

describe('fault offenders', () => {
  it('a fork relayed by B is blamed on its creator C, with B as the sender', async () => {
    const { b, c, journal, faults } = await setting()
    const step: Step<unknown> = { ...emptyStep(), faults: [forkBy(c)] }
    journal.take(step, b)
    assert.equal(faults.length, 1)
    const [fault] = faults
    assert.ok(fault.offender.equals(c), `offender ${fault.offender} is not C`)
    assert.ok(fault.peer.equals(b), 'the sender is B')
    assert.equal(fault.evidence, 'malice')
    assert.equal(fault.code, 'Fork')
    assert.equal(fault.evidence === 'malice' ? fault.malice.type : undefined, 'Fork')
    // The message adds what the fields do not: neither the code nor the offender again.
    assert.match(fault.message, /^event [0-9a-f]+/)
    assert.doesNotMatch(fault.message, /Fork|12D3/)
  })

  it('a message the engine refuses keeps both its malice (C) and the sender’s rejection (B)', async () => {
    const { b, c, reporter, faults } = await setting()
    const rejected: Fault = {
      kind: 'rejected',
      offender: publicIdFromPeerId(b),
      code: 'UnknownOtherParent',
      detail: 'no such parent',
    }
    const error = new ParsecError('UnknownOtherParent', 'no such parent', [forkBy(c), rejected])
    const failure = classify(error, undefined, undefined, false)
    assert.equal(failure.kind, 'protocol')
    if (failure.kind === 'protocol') reporter.protocolFault(b, failure)
    assert.deepEqual(
      faults.map((f) => [f.offender.toString(), f.peer.toString(), f.evidence, f.code]),
      [
        [c.toString(), b.toString(), 'malice', 'Fork'],
        [b.toString(), b.toString(), 'rejected', 'UnknownOtherParent'],
      ],
    )
  })

  it('bad bytes are the sender’s own fault', async () => {
    const { b, reporter, faults } = await setting()
    const failure = classify(new ParsecError('InvalidMessage', 'empty message'), undefined, undefined, false)
    if (failure.kind === 'protocol') reporter.protocolFault(b, failure)
    const decode = classify(
      Object.assign(new Error('x'), { name: 'InvalidDataLengthError' }),
      undefined,
      undefined,
      false,
    )
    if (decode.kind === 'protocol') reporter.protocolFault(b, decode)
    assert.deepEqual(
      faults.map((f) => [f.offender.toString(), f.evidence, f.code]),
      [
        [b.toString(), 'rejected', 'InvalidMessage'],
        [b.toString(), 'message', 'MessageTooLarge'],
      ],
    )
  })
})
