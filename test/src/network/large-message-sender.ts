/**
 * A child process for tests that announces large sync messages and never completes them, so that
 * the memory a peer keeps for them can be measured in the peer's process alone.
 *
 * Started with `fork(thisFile, [JSON of SenderConfig])`. Each sender (a member's key, or a fresh
 * key for a non-member) opens `connections` connections to the target with `streams` sync streams
 * each; every stream gets a length prefix announcing `announced` bytes, then `sent` bytes at once,
 * then a few bytes every 100 ms. It reports `{ opened, open }` to the parent after sending and
 * whenever a stream ends, and stops when the parent sends `stop`.
 */
import '@parsec-section/p2p-section/polyfill'
import { generateKeyPair, privateKeyFromProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey, Stream } from '@libp2p/interface'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'

export interface SenderConfig {
  readonly target: string
  readonly protocol: string
  readonly announced: number
  readonly sent: number
  readonly senders: readonly {
    /** A member's private key (protobuf, hex); absent: a fresh key (a non-member). */
    readonly key?: string
    readonly connections: number
    readonly streams: number
  }[]
}

export interface SenderReport {
  /** Everything is sent (the streams still open trickle on). */
  readonly sent: boolean
  /** Streams the target accepted at negotiation. */
  readonly opened: number
  /** Of those, still open (not reset nor closed by the target). */
  readonly open: number
}

function varint(value: number): Uint8Array {
  const bytes: number[] = []
  while (value >= 0x80) {
    bytes.push((value & 0x7f) | 0x80)
    value = Math.floor(value / 0x80)
  }
  bytes.push(value)
  return Uint8Array.from(bytes)
}

/** Sends without waiting; a stream already ended takes nothing. */
function send(stream: Stream, bytes: Uint8Array): void {
  if (stream.status !== 'open' || stream.writeStatus !== 'writable') return
  try {
    stream.send(bytes)
  } catch {
    // Ended meanwhile.
  }
}

async function main(config: SenderConfig): Promise<void> {
  const nodes: Libp2p[] = []
  const streams: Stream[] = []
  const timers: NodeJS.Timeout[] = []
  let sent = false
  const report = (): void => {
    const open = streams.filter((stream) => stream.status === 'open').length
    process.send?.({ sent, opened: streams.length, open } satisfies SenderReport)
  }
  process.on('message', async (message) => {
    if (message !== 'stop') return
    for (const timer of timers) clearInterval(timer)
    await Promise.all(nodes.map((node) => node.stop()))
    process.exit(0)
  })
  for (const sender of config.senders) {
    const key: PrivateKey =
      sender.key === undefined
        ? await generateKeyPair('Ed25519')
        : privateKeyFromProtobuf(Buffer.from(sender.key, 'hex'))
    for (let c = 0; c < sender.connections; c++) {
      const node = await createLibp2p({
        privateKey: key,
        transports: [tcp()],
        connectionEncrypters: [noise()],
        streamMuxers: [yamux()],
      })
      nodes.push(node)
      for (let s = 0; s < sender.streams; s++) {
        let stream: Stream
        try {
          stream = await node.dialProtocol(multiaddr(config.target), config.protocol)
        } catch {
          continue // refused: nothing held
        }
        streams.push(stream)
        stream.addEventListener('close', report)
        send(stream, varint(config.announced))
        send(stream, new Uint8Array(config.sent).fill(7))
        timers.push(setInterval(() => send(stream, new Uint8Array(64).fill(1)), 100))
      }
    }
  }
  // Everything sent has left (the target's window granted it) or the stream is gone.
  await Promise.all(
    streams.map(
      (stream) =>
        new Promise<void>((resolve) => {
          const check = (): void => {
            if (stream.writeBufferLength > 0 && stream.status === 'open') return
            stream.removeEventListener('drain', check)
            stream.removeEventListener('close', check)
            resolve()
          }
          stream.addEventListener('drain', check)
          stream.addEventListener('close', check)
          check()
        }),
    ),
  )
  sent = true
  report()
}

main(JSON.parse(process.argv[2]) as SenderConfig).catch((error) => {
  console.error(error)
  process.exit(1)
})
