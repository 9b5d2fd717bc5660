import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PeerStatus } from '../src/catchup.js'
import { SectionError } from '../src/errors.js'
import { publicIdFromPeerId } from '../src/identity.js'
import { runSelfCheck, type SelfCheckMember } from '../src/self-check.js'

async function members(count: number): Promise<SelfCheckMember[]> {
  const out: SelfCheckMember[] = []
  for (let i = 0; i < count; i++) {
    const peerId = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    out.push({ peerId, publicId: publicIdFromPeerId(peerId) })
  }
  return out
}

/** Runs the self-check against members answering by `answer` (each call counted). */
async function check(others: SelfCheckMember[], answer: (peer: PeerId, call: number) => PeerStatus) {
  const calls = new Map<string, number>()
  const result = await runSelfCheck({
    others,
    ask: async (peer) => {
      const call = (calls.get(peer.toString()) ?? 0) + 1
      calls.set(peer.toString(), call)
      return answer(peer, call)
    },
    ourLatest: undefined,
    ourEventAt: () => undefined,
    timeoutMs: 60_000,
    retryMs: 1,
    signal: new AbortController().signal,
  })
  return { result, calls: others.map((m) => calls.get(m.peerId.toString()) ?? 0) }
}

const holdsNothing: PeerStatus = { graphSize: 10, ourLatest: undefined }
const notMember = () => new SectionError('NotAMember', 'the member no longer counts us as one (removed)')

describe('the start-up self-check and members that removed us', () => {
  it('a member answering NotAMember is named in `refused` and not asked again', async () => {
    const others = await members(4)
    const refuser = others[0].peerId
    const { result, calls } = await check(others, (peer, call) => {
      if (peer.equals(refuser)) throw notMember()
      // One member unreachable at first: asked again.
      if (peer.equals(others[1].peerId) && call === 1) throw new Error('connection refused')
      return holdsNothing
    })
    assert.deepEqual(
      result.refused.map((m) => m.peerId.toString()),
      [refuser.toString()],
    )
    assert.equal(calls[0], 1, 'the refusal is final')
    assert.ok(result.answers.length >= result.needed)
    assert.equal(result.timedOut, false)
  })

  it('every member refusing ends the check at once (no waiting for the timeout)', async () => {
    const others = await members(6)
    const { result, calls } = await check(others, () => {
      throw notMember()
    })
    assert.equal(result.refused.length, 6)
    assert.deepEqual(result.answers, [])
    assert.equal(result.timedOut, false)
    assert.deepEqual(calls, [1, 1, 1, 1, 1, 1])
  })
})
