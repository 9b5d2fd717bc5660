/**
 * Discovery provides the section's CID in the shared DHT when the membership machine says so (no
 * network: a scripted content routing): nothing before the `provide` directive; then at once, again
 * on the lookup backoff while no DHT peer takes the record, every reprovide interval once one did,
 * and a provide under way is aborted by stop. `cancelProvide` ends it and cancels the reprovide.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { ComponentLogger, ContentRouting, Logger, RoutingOptions } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { CID } from 'multiformats/cid'
import {
  type DiscoveryComponents,
  type DiscoveryOptions,
  type DiscoveryRoster,
  SectionDiscovery,
} from '../src/discovery.js'
import { createGenesis } from '../src/genesis.js'
import { sectionCid } from '../src/shared-dht.js'

const quiet: Logger = Object.assign(() => {}, {
  enabled: false,
  error: () => {},
  trace: () => {},
  newScope: () => quiet,
})
const logger: ComponentLogger = { forComponent: () => quiet }

/** What one provide call does: how many DHT peers take the record, or how it fails. */
type Step = number | Error | 'hang'

interface ProvideCall {
  readonly cid: CID
  readonly at: number
  readonly signal?: AbortSignal
}

/** A content routing whose provides follow `steps`; `calls` resolves the n-th call as it starts. */
function scriptedRouting(steps: readonly Step[]) {
  const calls: ProvideCall[] = []
  const waiting = new Map<number, () => void>()
  const cancelled: CID[] = []
  const routing = {
    async cancelReprovide(cid: CID): Promise<void> {
      cancelled.push(cid)
    },
    async provide(cid: CID, options: RoutingOptions = {}): Promise<void> {
      const index = calls.length
      calls.push({ cid, at: Date.now(), ...(options.signal === undefined ? {} : { signal: options.signal }) })
      waiting.get(index + 1)?.()
      const step = steps[index] ?? 'hang'
      if (step instanceof Error) throw step
      if (step === 'hang') {
        await new Promise<void>((_resolve, reject) => {
          options.signal?.addEventListener('abort', () => reject(options.signal?.reason))
        })
        return
      }
      for (let i = 0; i < step; i++) {
        options.onProgress?.(
          new CustomEvent('kad-dht:query:peer-response', { detail: { messageName: 'ADD_PROVIDER' } }),
        )
      }
    },
  } as unknown as ContentRouting
  /** Resolves once the `n`-th provide (from 1) has started. */
  const started = (n: number): Promise<void> =>
    calls.length >= n ? Promise.resolve() : new Promise((resolve) => waiting.set(n, resolve))
  return { routing, calls, started, cancelled }
}

async function discoveryWith(routing: ContentRouting, options: DiscoveryOptions) {
  const key = await generateKeyPair('Ed25519')
  const peerId = peerIdFromPrivateKey(key)
  // A section of one: no member to look up, only the provides.
  const genesis = createGenesis([{ peerId }])
  const components = { peerId, contentRouting: routing, logger } as unknown as DiscoveryComponents
  const roster: DiscoveryRoster = {
    others: () => [],
    memberOf: () => undefined,
    wasMember: () => false,
    chainSeq: () => undefined,
  }
  const discovery = new SectionDiscovery(
    components,
    genesis.sectionId,
    roster,
    () => undefined,
    () => false,
    options,
  )
  return { genesis, discovery }
}

/** Resolves with `promise`, or fails after `ms` (discovery's timers are unref'd: this one keeps the process alive). */
async function within<T>(promise: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(what())), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

describe('discovery provides the section CID', () => {
  it('at start, again on the backoff while no DHT peer took it, then every reprovide interval', async () => {
    const { routing, calls, started } = scriptedRouting([0, new Error('query failed'), 2, 1, 'hang'])
    const { genesis, discovery } = await discoveryWith(routing, {
      lookupIntervalMs: 20,
      maxLookupIntervalMs: 30,
      reprovideIntervalMs: 60,
    })
    discovery.start()
    try {
      await new Promise((resolve) => setTimeout(resolve, 50))
      assert.equal(calls.length, 0, 'no provide before the machine asks')
      // The machine's `provide` directive (a member, once started).
      discovery.provide()
      await within(started(5), 10_000, () => `${calls.length} provides after 10 s`)
    } finally {
      discovery.stop()
    }
    const expected = sectionCid(genesis.sectionId).toString()
    for (const call of calls) assert.equal(call.cid.toString(), expected)
    const gaps = calls.slice(1).map((call, i) => call.at - calls[i].at)
    // Timers never fire early (1 ms of clock rounding allowed).
    assert.ok(gaps[0] >= 19, `after no DHT peer took it: the lookup interval (${gaps[0]} ms)`)
    assert.ok(gaps[1] >= 29, `after a failure: doubled, up to the cap (${gaps[1]} ms)`)
    assert.ok(gaps[2] >= 59, `after a success: the reprovide interval (${gaps[2]} ms)`)
    assert.ok(gaps[3] >= 59, `and again (${gaps[3]} ms)`)
    assert.equal(calls[4].signal?.aborted, true, 'stop aborts the provide under way')
  })

  it('cancelProvide stops providing, aborts a provide under way and cancels the reprovide', async () => {
    const { routing, calls, started, cancelled } = scriptedRouting([1, 'hang'])
    const { genesis, discovery } = await discoveryWith(routing, {
      lookupIntervalMs: 20,
      reprovideIntervalMs: 20,
    })
    discovery.provide()
    assert.equal(calls.length, 0, 'not before start')
    discovery.start()
    try {
      await within(started(2), 10_000, () => `${calls.length} provides after 10 s`)
      assert.ok(discovery.isProviding)
      // The machine's `cancelProvide` (our removal's drain is over).
      discovery.cancelProvide()
      assert.equal(discovery.isProviding, false)
      assert.equal(calls[1].signal?.aborted, true, 'the provide under way is aborted')
      await new Promise((resolve) => setImmediate(resolve)) // The cancel is asked on the next tick.
      assert.deepEqual(
        cancelled.map(String),
        [sectionCid(genesis.sectionId).toString()],
        'the DHT no longer reprovides it',
      )
      await new Promise((resolve) => setTimeout(resolve, 100))
      assert.equal(calls.length, 2, 'no provide after the cancel')
    } finally {
      discovery.stop()
    }
  })
})
