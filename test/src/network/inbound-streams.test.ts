/**
 * What a peer's inbound sync streams may hold. A stream the idle timeout ends frees its place under
 * the per-connection stream limit even when the partner never closes its side (live, half-closed
 * streams kept a member's 4 places full). Messages announced at the size limit and never completed,
 * from a member over several connections and from a non-member, do not keep the memory they made
 * the peer buffer: the streams are aborted at their deadline and the buffers released.
 */
import assert from 'node:assert/strict'
import { fork } from 'node:child_process'
import { once } from 'node:events'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey, Stream } from '@libp2p/interface'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { lpStream } from '@libp2p/utils'
import { yamux } from '@libp2p/yamux'
import {
  constants,
  decodeSync,
  encodeSync,
  type ParsecSectionEvents,
  publicIdFromPeerId,
  secretIdFromPrivateKey,
} from '@parsec-section/p2p-section'
import { Parsec } from '@parsec-section/parsec-core'
import { createLibp2p, type Libp2p } from 'libp2p'
import type { SenderConfig, SenderReport } from './large-message-sender.js'
import { startSection, type TestSection, waitFor } from './support.js'

type SectionLinkError = ParsecSectionEvents['link:error']['detail']
const MiB = 1024 * 1024

async function rawNode(privateKey: PrivateKey): Promise<Libp2p> {
  return createLibp2p({
    privateKey,
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
  })
}

/** Resolves when `happened()` holds, checked on each of `events` of the stream; rejects after `timeoutMs`. */
function onStream(
  stream: Stream,
  events: readonly ('close' | 'drain' | 'remoteCloseWrite')[],
  happened: () => boolean,
  timeoutMs: number,
  what: string,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (!happened()) return
      cleanup()
      resolve()
    }
    const timer = setTimeout(() => {
      cleanup()
      reject(new Error(`${what}: not within ${timeoutMs} ms`))
    }, timeoutMs)
    const cleanup = (): void => {
      clearTimeout(timer)
      for (const event of events) stream.removeEventListener(event, check)
    }
    for (const event of events) stream.addEventListener(event, check)
    check()
  })
}

/**
 * A full garbage collection. The test runner gives no `--expose-gc`; V8 lets it be switched on at
 * run time, and a new context then sees `gc`.
 */
function collector(): () => void {
  const existing = (globalThis as { gc?: () => void }).gc
  if (existing !== undefined) return existing
  setFlagsFromString('--expose-gc')
  return runInNewContext('gc') as () => void
}

describe('inbound sync streams', () => {
  describe('a stream ended by the idle timeout frees its place', () => {
    const IDLE_MS = 1_500
    let section: TestSection
    let member: Libp2p

    before(async () => {
      // The fourth member's key is played by a raw node that never closes its side of a stream.
      section = await startSection(4, { idleStreamTimeoutMs: IDLE_MS }, 1)
      // Past the start-up self-check (a member answers NOT_READY before it).
      await Promise.all(section.nodes.map((node) => node.services.section.ready()))
      member = await rawNode(section.keys[3])
      await member.peerStore.merge(section.nodes[0].peerId, { multiaddrs: section.nodes[0].getMultiaddrs() })
    })

    after(async () => {
      await member?.stop()
      await section?.stop()
    })

    it(`more than ${constants.MAX_INBOUND_STREAMS} streams over time, each left idle, are all served`, async () => {
      const target = section.nodes[0]
      const engine = Parsec.fromGenesis({
        us: secretIdFromPrivateKey(section.keys[3]),
        genesis: section.genesis.members.map((m) => m.publicId),
        consensusMode: 'single',
      })
      const partner = publicIdFromPeerId(target.peerId)
      const streams = 2 * constants.MAX_INBOUND_STREAMS + 2
      for (let i = 0; i < streams; i++) {
        const stream = await member.dialProtocol(target.peerId, target.services.section.protocol)
        const lp = lpStream(stream, { maxDataLength: constants.MAX_MESSAGE_BYTES })
        const reply = await (async () => {
          await lp.write(
            encodeSync('request', engine.createGossip(partner).message!.packedEvents, 1 << 20) as Uint8Array,
          )
          return lp.read({ signal: AbortSignal.timeout(10_000) })
        })().catch((error: Error) =>
          assert.fail(`stream ${i + 1} of ${streams} was refused: ${error.message}`),
        )
        const response = decodeSync(reply, constants.MAX_EVENTS_PER_MESSAGE, () => undefined)
        assert.equal(response.kind, 'response')
        engine.handleResponse(partner, { packedEvents: response.packedEvents })
        // Left idle, our side open: the target ends the stream on its own.
        await onStream(
          stream,
          ['remoteCloseWrite', 'close'],
          () => stream.remoteWriteStatus !== 'writable' || stream.status !== 'open',
          IDLE_MS + 10_000,
          `the target ending idle stream ${i + 1}`,
        )
      }
    })
  })

  describe('messages announced at the size limit and never completed', () => {
    const IDLE_MS = 2_000
    const MESSAGE_MS = 3_000
    /** Connections the member opens, each with as many streams as the limit allows. */
    const MEMBER_CONNECTIONS = 3
    /**
     * Bytes sent at once after the prefix: under libp2p's default read buffer (4 MiB), which
     * would otherwise abort the stream by itself, and under the announced size.
     */
    const SENT = Math.min(3 * MiB, constants.MAX_MESSAGE_BYTES - 1)
    let section: TestSection
    const linkErrors: SectionLinkError[] = []

    before(async () => {
      section = await startSection(4, { idleStreamTimeoutMs: IDLE_MS, responseTimeoutMs: MESSAGE_MS }, 1)
      section.nodes[0].services.section.addEventListener('link:error', (e) => linkErrors.push(e.detail))
    })

    after(async () => {
      await section?.stop()
    })

    it('do not keep the memory they made the peer buffer', { timeout: 120_000 }, async (t) => {
      const target = section.nodes[0]
      const gc = collector()
      const arrayBuffers = (): number => {
        gc()
        gc()
        return process.memoryUsage().arrayBuffers
      }
      const baseline = arrayBuffers()
      // The sender runs in its own process: what is measured here is the target's memory alone.
      const config: SenderConfig = {
        target: target.getMultiaddrs()[0].toString(),
        protocol: target.services.section.protocol,
        announced: constants.MAX_MESSAGE_BYTES,
        sent: SENT,
        senders: [
          {
            key: Buffer.from(privateKeyToProtobuf(section.keys[3])).toString('hex'),
            connections: MEMBER_CONNECTIONS,
            streams: constants.MAX_INBOUND_STREAMS,
          },
          { connections: 1, streams: constants.MAX_INBOUND_STREAMS },
        ],
      }
      const sender = fork(fileURLToPath(new URL('./large-message-sender.js', import.meta.url)), [
        JSON.stringify(config),
      ])
      let last: SenderReport = { sent: false, opened: 0, open: 0 }
      const reported = (holds: (report: SenderReport) => boolean, timeoutMs: number, what: string) =>
        new Promise<void>((resolve, reject) => {
          const check = (report: SenderReport): void => {
            if (!holds(report)) return
            cleanup()
            resolve()
          }
          const timer = setTimeout(() => {
            cleanup()
            reject(new Error(`${what}: not within ${timeoutMs} ms (${JSON.stringify(last)})`))
          }, timeoutMs)
          const cleanup = (): void => {
            clearTimeout(timer)
            sender.off('message', check)
          }
          sender.on('message', check)
          check(last)
        })
      sender.on('message', (report: SenderReport) => {
        last = report
      })
      try {
        await reported((report) => report.sent, 60_000, 'sending')
        const peak = arrayBuffers() - baseline
        t.diagnostic(
          `${last.opened} streams opened, each announcing ${constants.MAX_MESSAGE_BYTES} bytes: ` +
            `${(peak / MiB).toFixed(1)} MiB buffered at the peak`,
        )
        assert.ok(peak >= SENT, 'the target buffered what was sent')
        await reported(
          (report) => report.sent && report.open === 0,
          IDLE_MS + MESSAGE_MS + 10_000,
          'the target ending every stream',
        ).catch((error: Error) => t.diagnostic(error.message))
        // The sender sees its streams end before the target has let go of what they carried (its
        // handlers end them on their own timers): the target's memory is read until it is back
        // under the bound, for at most the message timeout again.
        let held = arrayBuffers() - baseline
        for (const until = Date.now() + MESSAGE_MS + 5_000; held >= 2 * MiB && Date.now() < until; ) {
          await new Promise((resolve) => setTimeout(resolve, 200))
          held = arrayBuffers() - baseline
        }
        t.diagnostic(`${(held / MiB).toFixed(1)} MiB still buffered once the deadlines passed`)
        assert.ok(held < 2 * MiB, `${(held / MiB).toFixed(1)} MiB held, ${last.open} streams open`)
        const codes = new Set(linkErrors.map((error) => error.code))
        assert.ok(codes.has('Timeout'), 'a message not completed in time is a Timeout link error')
        assert.ok(codes.has('Busy'), 'large messages beyond the budget are refused at their prefix')
      } finally {
        sender.send('stop')
        if (sender.exitCode === null) await once(sender, 'exit')
      }
      // The section is not harmed.
      await section.nodes[1].services.section.vote(new TextEncoder().encode('after the large messages'))
      await waitFor(
        section.nodes,
        () =>
          section.blocks.every((list) =>
            list.some(
              (b) => b.description.kind === 'opaque' && b.description.payload === 'after the large messages',
            ),
          ),
        60_000,
        () => 'agreement after the large messages',
      )
    })
  })
})
