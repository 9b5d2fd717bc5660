/**
 * Discovery follows the roster, not the genesis (no network: scripted components): the members it
 * dials are the roster's current others, so a member added later is dialled and a removed one is
 * no longer.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { ComponentLogger, Logger, Peer, PeerId } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { type DiscoveryComponents, type DiscoveryRoster, SectionDiscovery } from '../src/discovery.js'
import { createGenesis } from '../src/genesis.js'
import { publicIdFromPeerId } from '../src/identity.js'
import type { RosterMember } from '../src/section/roster.js'

const quiet: Logger = Object.assign(() => {}, {
  enabled: false,
  error: () => {},
  trace: () => {},
  newScope: () => quiet,
})
const logger: ComponentLogger = { forComponent: () => quiet }

describe('discovery follows the roster', () => {
  it('dials the members the roster holds now: one added later, and no longer one removed', async () => {
    const [us, founder, joiner] = await Promise.all(
      [1, 2, 3].map(async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))),
    )
    const member = (peerId: PeerId): RosterMember => ({
      peerId,
      publicId: publicIdFromPeerId(peerId),
      addrs: [multiaddr('/ip4/198.51.100.1/tcp/4001')],
    })
    const genesis = createGenesis([{ peerId: us }, { peerId: founder }])
    let others: RosterMember[] = [member(founder)]
    const dials: string[] = []
    const waiters: { peer: string; count: number; resolve: () => void }[] = []
    const dialled = (peer: PeerId, count: number) =>
      new Promise<void>((resolve) => {
        waiters.push({ peer: peer.toString(), count, resolve })
        check()
      })
    const check = () => {
      for (const w of [...waiters]) {
        if (dials.filter((d) => d === w.peer).length >= w.count) {
          waiters.splice(waiters.indexOf(w), 1)
          w.resolve()
        }
      }
    }
    const components = {
      peerId: us,
      logger,
      peerStore: {
        get: async (id: PeerId): Promise<Peer> =>
          ({ id, addresses: [{ multiaddr: multiaddr('/ip4/198.51.100.1/tcp/4001') }] }) as unknown as Peer,
      },
      connectionManager: {
        // Connected, yet never counted as such (isConnected below): dialled again every round.
        openConnection: async (peer: PeerId) => {
          dials.push(peer.toString())
          check()
        },
      },
    } as unknown as DiscoveryComponents
    const roster: DiscoveryRoster = {
      others: () => others,
      memberOf: (peer) => others.find((m) => m.peerId.equals(peer)),
      wasMember: () => false,
      chainSeq: () => 0,
    }
    const discovery = new SectionDiscovery(
      components,
      genesis.sectionId,
      roster,
      () => undefined,
      () => false,
      {
        lookupIntervalMs: 10,
      },
    )
    // A ref'd timer keeps the process alive while discovery's (unref'd) ones run; fails a stuck run.
    const deadline = setTimeout(() => assert.fail(`stuck: dials ${dials}`), 10_000)
    discovery.start()
    try {
      await dialled(founder, 2)
      // The founder leaves, a joiner is added (an agreed change the roster follows).
      others = [member(joiner)]
      const atChange = dials.filter((d) => d === founder.toString()).length
      await dialled(joiner, 3)
      const after = dials.filter((d) => d === founder.toString()).length
      assert.ok(after <= atChange + 1, `the removed member is no longer dialled (${atChange} then ${after})`)
      assert.ok(!dials.includes(us.toString()), 'never ourselves')
    } finally {
      discovery.stop()
      clearTimeout(deadline)
    }
  })
})
