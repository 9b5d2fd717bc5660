/**
 * The membership host carries out the machine's peer directives and feeds it transport outcomes
 * (a scripted machine, no network): `keepAlive` and `acceptSync` become peer-store tags,
 * `partnerWeight` the roster's weight for the gossip partner; the machine hears of a member
 * reached or not only when that changes (not at the first success), and never of a stranger. A
 * failed membership message is sent again before the machine hears of the failure.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Logger, Peer, PeerData, PeerId, PeerQuery, PrivateKey, Tag } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { emptyStep, type Step } from '@parsec-section/membership'
import type { Parsec, PublicId } from '@parsec-section/parsec-core'
import { publicIdFromPeerId } from '../src/identity.js'
import { PeerBans } from '../src/limits/peer-bans.js'
import { MembershipHost, type MembershipHostParts } from '../src/section/membership-host.js'
import { KEEP_ALIVE_TAG, PeerTags } from '../src/section/peer-tags.js'
import { Roster } from '../src/section/roster.js'

const quiet: Logger = Object.assign(() => {}, {
  enabled: false,
  error: () => {},
  trace: () => {},
  newScope: () => quiet,
})

function tagStore() {
  const peers = new Map<string, { id: PeerId; tags: Map<string, Tag> }>()
  const asPeer = (p: { id: PeerId; tags: Map<string, Tag> }): Peer => ({
    id: p.id,
    addresses: [],
    protocols: [],
    metadata: new Map(),
    tags: p.tags,
  })
  return {
    has: (peer: PeerId, tag: string) => peers.get(peer.toString())?.tags.has(tag) ?? false,
    async merge(id: PeerId, data: PeerData): Promise<Peer> {
      const peer = peers.get(id.toString()) ?? { id, tags: new Map<string, Tag>() }
      peers.set(id.toString(), peer)
      for (const [name, tag] of Object.entries(data.tags ?? {})) {
        if (tag === undefined) peer.tags.delete(name)
        else peer.tags.set(name, { value: tag.value ?? 0 })
      }
      return asPeer(peer)
    },
    async all(query?: PeerQuery): Promise<Peer[]> {
      return [...peers.values()].map(asPeer).filter((p) => (query?.filters ?? []).every((f) => f(p)))
    },
  }
}

/**
 * A host running a scripted machine (a member that answers transport hints with `hint`), with the
 * parts a test gives and inert stand-ins for the rest.
 */
function scriptedHost(
  privateKey: PrivateKey,
  parts: Pick<MembershipHostParts, 'roster'> & Partial<Omit<MembershipHostParts, 'epochSwitch'>>,
  hint: (peer: PublicId, ok: boolean) => Step,
  resendDelaysMs?: readonly number[],
) {
  const machine = {
    state: undefined,
    verifiedState: undefined,
    role: 'member',
    start: () => emptyStep(),
    tick: () => emptyStep(),
    transportHint: hint,
  }
  const unused = {} as never
  const host = new MembershipHost(
    { peerId: peerIdFromPrivateKey(privateKey), privateKey },
    {
      lifecycle: unused,
      journal: { observe: () => {}, flush: async () => {} } as never,
      reporter: unused,
      pacing: unused,
      wire: unused,
      discovery: unused,
      bans: new PeerBans(),
      tags: unused,
      joining: unused,
      keepRemoval: async () => {},
      drain: { start: () => {}, stop: () => {} },
      epochSwitch: unused,
      ...parts,
    },
    { tickMs: 60_000, addrs: () => [], ...(resendDelaysMs === undefined ? {} : { resendDelaysMs }) },
    quiet,
  )
  const internals = host as unknown as { started: boolean; run(m: unknown): void; apply(step: Step): void }
  internals.started = true
  internals.run(machine)
  return { host, apply: (step: Step) => internals.apply(step) }
}

describe('the membership host and peer directives', () => {
  it('tags, weighs, and reports reached/unreachable members to the machine on a change only', async () => {
    const keys = await Promise.all([1, 2, 3].map(() => generateKeyPair('Ed25519')))
    const [us, member, stranger] = keys.map((key) => peerIdFromPrivateKey(key))
    const memberId = publicIdFromPeerId(member)
    const store = tagStore()
    const tags = new PeerTags({ peerId: us, peerStore: store, events: new EventTarget() }, quiet)
    await tags.start()
    // The engine lets us gossip to `member`.
    const engine = { gossipRecipients: () => [memberId] } as unknown as Parsec
    const roster = new Roster(
      { peerId: us, peerStore: store },
      [us, member].map((peerId) => ({ peerId, publicId: publicIdFromPeerId(peerId), addrs: [] })),
      () => engine,
    )
    const hints: string[] = []
    // The machine as the membership package makes it answer a transport hint about a member.
    const { host, apply } = scriptedHost(keys[0], { roster, tags }, (peer, ok) => {
      hints.push(`${peer.name === memberId.name ? 'member' : 'stranger'} ${ok}`)
      const step = emptyStep()
      step.peers.push({ kind: 'partnerWeight', peer, weight: ok ? 1 : 0.5 })
      return step
    })
    try {
      const weight = () => roster.gossipPartners()[0]?.weight
      assert.equal(weight(), 1)
      // The machine keeps the member (its Add) and serves it catch-up.
      const keep = emptyStep()
      keep.peers.push({ kind: 'keepAlive', peer: memberId, on: true })
      keep.peers.push({ kind: 'partnerWeight', peer: memberId, weight: 0.25 })
      apply(keep)
      await tags.settled()
      assert.ok(store.has(member, KEEP_ALIVE_TAG))
      assert.equal(weight(), 0.25)
      // First success: nothing new (a new member keeps its joining weight).
      host.reached(memberId, true)
      assert.deepEqual(hints, [])
      assert.equal(weight(), 0.25)
      host.reached(memberId, false)
      host.reached(memberId, false)
      assert.deepEqual(hints, ['member false'])
      assert.equal(weight(), 0.5)
      host.reached(memberId, true)
      host.reached(memberId, true)
      assert.deepEqual(hints, ['member false', 'member true'])
      assert.equal(weight(), 1)
      // A stranger (not in the roster): never remembered, never reported.
      host.reached(publicIdFromPeerId(stranger), false)
      host.reached(publicIdFromPeerId(stranger), true)
      assert.deepEqual(hints, ['member false', 'member true'])
      // Removed: untagged, and what we knew of reaching it forgotten.
      const drop = emptyStep()
      drop.peers.push({ kind: 'keepAlive', peer: memberId, on: false })
      apply(drop)
      await tags.settled()
      assert.ok(!store.has(member, KEEP_ALIVE_TAG))
      host.reached(memberId, true)
      assert.deepEqual(hints, ['member false', 'member true'])
    } finally {
      host.stop()
      tags.stop()
    }
  })

  it('sends a failed membership message again, and tells the machine only when every attempt failed', async () => {
    const keys = await Promise.all([1, 2].map(() => generateKeyPair('Ed25519')))
    const [us, member] = keys.map((key) => peerIdFromPrivateKey(key))
    const memberId = publicIdFromPeerId(member)
    const roster = new Roster(
      { peerId: us, peerStore: tagStore() },
      [us, member].map((peerId) => ({ peerId, publicId: publicIdFromPeerId(peerId), addrs: [] })),
      () => undefined,
    )
    const hints: boolean[] = []
    // The wire fails the first `failures` sends of each message, then delivers.
    let failures = 0
    const sent: string[] = []
    let settle: () => void = () => {}
    const wire = {
      async send(_peer: PeerId, bytes: Uint8Array): Promise<void> {
        const text = new TextDecoder().decode(bytes)
        const failed = sent.filter((s) => s === `${text} failed`).length < failures
        sent.push(failed ? `${text} failed` : `${text} sent`)
        settle()
        if (failed) throw new Error('dial timed out')
      },
    }
    const { host, apply } = scriptedHost(
      keys[0],
      { roster, wire: wire as never },
      (_peer, ok) => {
        hints.push(ok)
        return emptyStep()
      },
      [1, 1],
    )
    /** Sends `text` to the member; resolves once `attempts` sends of it were made. */
    const message = async (text: string, attempts: number): Promise<void> => {
      // The host's resend timers are unref'd: this one keeps the test alive, and bounds the wait.
      let timer: ReturnType<typeof setTimeout> | undefined
      const done = new Promise<void>((resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`"${text}": ${sent.join(', ')}`)), 5_000)
        settle = () => {
          if (sent.filter((s) => s.startsWith(`${text} `)).length >= attempts) resolve()
        }
      }).finally(() => clearTimeout(timer))
      const step = emptyStep()
      step.messages.push({ to: memberId, kind: 'ready', bytes: new TextEncoder().encode(text) })
      apply(step)
      await done
      // The outcome reaches the machine after the send's promise settles.
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    try {
      failures = 2
      await message('first', 3)
      assert.deepEqual(sent, ['first failed', 'first failed', 'first sent'])
      assert.deepEqual(hints, [], 'delivered on the third attempt: no failure reported')
      failures = 3
      await message('second', 3)
      assert.deepEqual(sent.slice(3), ['second failed', 'second failed', 'second failed'])
      assert.deepEqual(hints, [false], 'every attempt failed: the machine hears of it once')
    } finally {
      host.stop()
    }
  })
})
